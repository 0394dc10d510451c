public import FiscalCore
public import MediatorStore

/// The write line: every store write the core asks for, in order, one batch at a time. A batch
/// is one transaction, so writes that pile up while one is on its way to disk share the next
/// fsync (group commit), and nothing is told to a terminal before its write is done.
extension DeviceCore {
    /// A batch is on disk; `results` has one entry per write, in order.
    public mutating func written(_ id: UInt64, _ results: [StoreWriteResult], now: Instant) -> [Action] {
        var actions: [Action] = []
        guard let batch = line.inFlight, batch.id == id else { return actions }
        precondition(
            results.count == batch.writes.count,
            "a store batch answered \(results.count) of \(batch.writes.count)"
        )
        line.inFlight = nil
        if line.failing != nil {
            line.failing = nil
            actions.append(.log(Note(level: .notice, message: "the store takes writes again", metadata: [:])))
        }
        visitDevice("written")
        for (write, result) in zip(batch.writes, results) {
            switch write {
            case .admit(let record):
                admitted(record, result, now, &actions)
            case .seal(let key, let entry):
                guard let live = requests[key], case .sealing = live.stage else { continue }
                for waiter in live.waiters {
                    let reply: Reply = waiter.kind == .abort ? .state(.sealed, nil) : .sealed(entry, replayed: false)
                    actions.append(.reply(waiter.ticket, reply))
                }
                requests[key] = nil
            case .outcome(let key, _, _):
                if let live = requests[key], case .finishing = live.stage { requests[key] = nil }
            case .zIntent:
                zIntentWritten(now, &actions)
            case .zReport(let z, _):
                zStored(z.zNumber, &actions)
            case .progress, .adopt, .zIntentClosed:
                break
            }
        }
        settle(&actions, now)
        return actions
    }

    /// The store refused a batch (a full disk, an I/O error, a lock held elsewhere). Admissions
    /// in it are refused (never stored: the terminal sends them again); everything else stays
    /// at the head of the line and is tried again after a pause. Meanwhile no sale is admitted.
    public mutating func writeFailed(_ id: UInt64, _ error: FiscalError, now: Instant) -> [Action] {
        var actions: [Action] = []
        guard let batch = line.inFlight, batch.id == id else { return actions }
        line.inFlight = nil
        visitDevice("writeFailed")
        var kept: [StoreWrite] = []
        let refusal = FiscalError(.storeUnavailable, "the store refused the request: \(error.message)")
        for write in batch.writes {
            if case .zIntent = write {
                // Never stored: the RPT|Z it was for does not go out.
                zIntentRefused(error, &actions)
                continue
            }
            guard case .admit(let record) = write else {
                kept.append(write)
                continue
            }
            guard let live = requests[record.key], case .admitting(let aborts, let claimed) = live.stage else {
                continue
            }
            _ = queue.remove { _, queued in queued == record.key }
            for waiter in live.waiters {
                actions.append(
                    .reply(waiter.ticket, .refused(refusal, retryAfter: configuration.unavailableRetryAfter))
                )
            }
            for ticket in aborts {
                actions.append(
                    .reply(ticket, .refused(FiscalError(.notFound, "the request was never stored"), retryAfter: nil))
                )
            }
            requests[record.key] = nil
            if let claimed {
                kept.append(.adopt(claimed, live: activeRequests(of: record.terminalID)))
            }
        }
        line.pending = kept + line.pending
        recordStoreFailure(error, now, &actions)
        settle(&actions, now)
        return actions
    }

    mutating func recordStoreFailure(_ error: FiscalError, _ now: Instant, _ actions: inout [Action]) {
        let pause = line.failing.map { nextPause($0.pause) } ?? configuration.retryBackoff.first
        line.failing = Failing(
            since: line.failing?.since ?? now,
            retryAt: now.advanced(by: pause),
            pause: pause,
            error: error
        )
        actions.append(
            .log(
                Note(
                    level: .error,
                    message: "the store refuses writes; new sales are refused until it takes them",
                    metadata: ["error": error.message, "retry_ms": "\(pause.wholeMilliseconds)"]
                )
            )
        )
    }

    /// The admission's write finished: the request joins the queue, or the store already had it.
    private mutating func admitted(
        _ record: RequestRecord,
        _ result: StoreWriteResult,
        _ now: Instant,
        _ actions: inout [Action]
    ) {
        let key = record.key
        guard var live = requests[key], case .admitting(let aborts, let claimed) = live.stage else { return }
        live.waiters += aborts.map { Waiter(ticket: $0, kind: .abort) }
        switch result {
        case .admitted, .done:
            requests[key] = live
            if claimed != nil || !aborts.isEmpty || admissionBlock(now) != nil {
                _ = queue.remove { _, queued in queued == key }
            }
            if let claimed {
                live.stage = .sealing(claimed)
                requests[key] = live
                line.pending.append(.seal(key, claimed))
            } else if !aborts.isEmpty {
                finish(key, .aborted, FiscalError(.aborted, "aborted by the terminal"), &actions)
            } else if let (error, _) = admissionBlock(now) {
                // Stopping, halted or unreachable since it was offered: it fails now, stored.
                finish(key, .failed, error, &actions)
            } else if reservesAtMediator(live.mode) {
                reserve(key, &live, now, &actions)
            } else {
                // Stored: it may now be granted, from the place it took when it was offered.
                live.stage = .queued
                requests[key] = live
            }
        case .refused(let error):
            requests[key] = nil
            _ = queue.remove { _, queued in queued == key }
            if let claimed { line.pending.append(.adopt(claimed, live: activeRequests(of: key.terminal))) }
            for waiter in live.waiters {
                actions.append(.reply(waiter.ticket, .refused(error, retryAfter: nil)))
            }
        case .existing(let stored, let sealed):
            requests[key] = nil
            _ = queue.remove { _, queued in queued == key }
            if let claimed { line.pending.append(.adopt(claimed, live: activeRequests(of: key.terminal))) }
            let reply: Reply
            if stored.payloadDigest != live.digest {
                reply = .refused(
                    FiscalError(.idempotencyConflict, "request \(key.request) was used for another invoice"),
                    retryAfter: nil
                )
            } else if stored.state == .sealed {
                reply = Self.answer(.commit, record: stored, sealed: sealed)
            } else {
                // Active in the store but not here: only a write this core never made can do that.
                actions.append(
                    .log(
                        Note(
                            level: .error,
                            message: "the store has an unfinished request the device core does not know",
                            metadata: ["request.id": key.request.rawValue, "state": stored.state.rawValue]
                        )
                    )
                )
                reply = .refused(
                    FiscalError(.inProgress, "request \(key.request) is \(stored.state.rawValue); ask RESULT"),
                    retryAfter: configuration.busyRetryAfter
                )
            }
            for waiter in live.waiters {
                actions.append(.reply(waiter.ticket, waiter.kind == .abort ? .state(stored.state, nil) : reply))
            }
        }
    }

    /// A device-free hold, stored: the mediator's nonce and lease go to the terminal, and
    /// nothing goes to the device until its COMMIT.
    private mutating func reserve(_ key: RequestKey, _ live: inout Live, _ now: Instant, _ actions: inout [Action]) {
        let nonce = drawNonce()
        let leaseUntil = now.advanced(by: configuration.lease)
        nonces.issue(nonce, to: key, until: leaseUntil)
        reservations[key] = leaseUntil
        for waiter in live.waiters where waiter.kind == .sale {
            actions.append(
                .reply(
                    waiter.ticket,
                    .prepared(nonce, nextInvoiceSeq: nil, lease: configuration.lease, replayed: false)
                )
            )
        }
        live.waiters.removeAll { $0.kind == .sale }
        live.stage = .reserved(nonce, leaseUntil: leaseUntil)
        requests[key] = live
        line.pending.append(.progress(key, .prepared, nonce: nonce, expectedSeq: nil))
    }

    /// Starts the next batch when none is on its way and the store is not in its pause.
    mutating func startWrite(_ now: Instant, _ actions: inout [Action]) {
        guard line.inFlight == nil, !line.pending.isEmpty else { return }
        if let failing = line.failing, now < failing.retryAt { return }
        let count = min(line.pending.count, 1000)
        let batch = StoreBatch(id: line.nextBatch, writes: Array(line.pending.prefix(count)))
        line.pending.removeFirst(count)
        line.nextBatch += 1
        line.inFlight = batch
        actions.append(.write(batch))
    }
}
