import FiscalCore
import FiscalDevice
import MediatorStore

/// The device side: exchanges that return, the lock passing on, halts and the journal check.
extension DeviceCore {
    /// A device exchange returned. A reply whose token is not the exchange in flight is stale
    /// (it answered an exchange given up on) and is dropped.
    public mutating func exchangeReturned(_ token: UInt64, _ result: DeviceResult, now: Instant) -> [Action] {
        var actions: [Action] = []
        switch slot {
        case .holder(let holder) where holder.exchange?.token == token:
            noteExchange(holder.exchange!, result, now)
            visit(Self.phaseName(holder.phase), "device." + result.kind)
            holderResult(holder, result, now, &actions)
        case .report(let run) where run.exchange?.token == token:
            noteExchange(run.exchange!, result, now)
            visit(slotName, "device." + result.kind)
            reportResult(run, result, now, &actions)
        case .errand(let exchange, let errand) where exchange.token == token:
            noteExchange(exchange, result, now)
            visit("errand." + Self.errandName(errand), "device." + result.kind)
            slot = .idle
            errandResult(errand, result, now, &actions)
        default:
            visit(slotName, "device.stale")
            actions.append(
                .log(Note(level: .notice, message: "dropped a stale device reply", metadata: ["exchange": "\(token)"]))
            )
        }
        settle(&actions, now)
        return actions
    }

    // MARK: The holder's exchanges

    private mutating func holderResult(
        _ holder: Holder,
        _ result: DeviceResult,
        _ now: Instant,
        _ actions: inout [Action]
    ) {
        var holder = holder
        let key = holder.key
        guard var live = requests[key] else { preconditionFailure("the lock holder \(key) is not a live request") }
        switch holder.phase {
        case .preparing(_, var attempts, let intent):
            if let intent {
                live.waiters += intent.tickets.map { Waiter(ticket: $0, kind: .abort) }
                requests[key] = live
            }
            switch result {
            case .prepared(let prepared):
                preparedAtDevice(&holder, prepared, abort: intent, now, &actions)
            case .refused(let error) where error.code == .deviceBusy && intent == nil:
                attempts.count += 1
                retryPrepare(&holder, attempts, busy: true, now, &actions)
            case .refused(let error) where intent == nil:
                if Self.haltCodes.contains(error.code) { raiseHalt(error, now) }
                finish(key, .failed, error, &actions)
                release()
            case .lost(let error) where intent == nil && error.isGarbled && attempts.garbled < 2:
                attempts.count += 1
                attempts.garbled += 1
                retryPrepare(&holder, attempts, busy: false, now, &actions)
            case .lost(let error) where intent == nil:
                finish(key, .failed, unavailable("the device did not take PREPARE: \(error.message)"), &actions)
                release()
            case .refused, .lost:
                // Aborted while the PREPARE was out, and the device did not prepare it (or
                // said nothing we can read: an unknown PREPARE it may hold just expires).
                finish(key, .aborted, intent!.error, &actions)
                release()
            case .sealed, .status, .logged, .report:
                finish(key, .failed, FiscalError(.replyInvalid, "the device answered PREPARE out of turn"), &actions)
                release()
            }
        case .committing(let commit, _):
            switch result {
            case .sealed(let entry) where entry.payloadDigest == live.digest:
                seal(key, entry, &actions)
            case .refused(let error) where error.code == .invalidNonce || error.code == .nonceExpired:
                // Definite: the device did not seal it.
                let reason = FiscalError(error.code, "the device did not seal it (\(error.message)); send it again")
                finish(key, .aborted, reason, &actions)
                release()
            case .refused(let error):
                if Self.haltCodes.contains(error.code) { raiseHalt(error, now) }
                finish(key, .failed, error, &actions)
                release()
            case .lost, .sealed, .prepared, .status, .logged, .report:
                // No readable answer (or not this invoice's): only the journal can say.
                let exchange = makeExchange(.status, now)
                holder.phase = .inDoubt(commit, .asking(exchange, .status, pause: configuration.retryBackoff.first))
                slot = .holder(holder)
                line.pending.append(
                    .progress(key, .inDoubt, nonce: commit.nonce, expectedSeq: commit.expectedSeq)
                )
                actions.append(
                    .log(
                        Note(
                            level: .warning,
                            message: "commit in doubt; asking the device",
                            metadata: [
                                "request.id": key.request.rawValue, "terminal.id": key.terminal.rawValue,
                                "device.seq": "\(commit.expectedSeq)", "device.result": result.kind,
                            ]
                        )
                    )
                )
                actions.append(.exchange(exchange))
            }
        case .inDoubt(let commit, .asking(_, let step, let pause)):
            switch (step, result) {
            case (.status, .status(let status)) where status.nextInvoiceSeq > commit.expectedSeq:
                let exchange = makeExchange(.log(commit.expectedSeq), now)
                holder.phase = .inDoubt(commit, .asking(exchange, .log, pause: pause))
                slot = .holder(holder)
                actions.append(.exchange(exchange))
            case (.status, .status(let status))
            where status.nextInvoiceSeq == commit.expectedSeq && status.preparePending && commit.nonce != nil:
                // The COMMIT never reached the device, which still holds the PREPARE: send it again.
                let exchange = makeExchange(.commit(commit.nonce!), now)
                holder.phase = .committing(commit, exchange)
                slot = .holder(holder)
                actions.append(.exchange(exchange))
            case (.status, .status):
                notSealed(key, now, &actions)
            case (.log, .logged(let entry)) where entry.payloadDigest == live.digest:
                seal(key, entry, &actions)
            case (.log, .logged):
                // Another invoice under that number: this one was not sealed, and that entry is
                // one the store lacks.
                if journal == .none { journal = .wanted }
                notSealed(key, now, &actions)
            default:
                if case .stopping = lifecycle, health.unreachable != nil {
                    giveUp(key, &actions)
                } else {
                    holder.phase = .inDoubt(commit, .waiting(until: now.advanced(by: pause), pause: nextPause(pause)))
                    slot = .holder(holder)
                }
            }
        case .waitingToPrepare, .prepared, .inDoubt(_, .waiting):
            preconditionFailure("an exchange returned for a holder with none in flight")
        }
    }

    private mutating func preparedAtDevice(
        _ holder: inout Holder,
        _ prepared: DeviceReply.Prepared,
        abort intent: AbortIntent?,
        _ now: Instant,
        _ actions: inout [Action]
    ) {
        let key = holder.key
        health.halt = nil
        let deviceExpiry = now.advanced(by: .milliseconds(prepared.ttlMs))
        let stopping: Bool = if case .stopping = lifecycle { true } else { false }
        guard let live = requests[key] else { return }
        if let intent {
            abandonedPrepareUntil = deviceExpiry
            finish(key, .aborted, intent.error, &actions)
            release()
            return
        }
        let commit = Commit(nonce: prepared.nonce, expectedSeq: prepared.nextInvoiceSeq)
        // A device-free hold was committed by its terminal already: it goes on like a FISCALIZE.
        switch live.committedNonce == nil ? live.mode : .fiscalize {
        case .fiscalize:
            // Straight on to COMMIT, even when stopping: the sale finishes.
            let exchange = makeExchange(.commit(prepared.nonce), now)
            holder.phase = .committing(commit, exchange)
            slot = .holder(holder)
            line.pending.append(
                .progress(key, .committing, nonce: prepared.nonce, expectedSeq: prepared.nextInvoiceSeq)
            )
            actions.append(.exchange(exchange))
        case .twoPhase where stopping:
            abandonedPrepareUntil = deviceExpiry
            finish(
                key,
                .aborted,
                FiscalError(.aborted, "the mediator stopped before COMMIT; PREPARE it again"),
                &actions
            )
            release()
        case .twoPhase:
            let lease = min(configuration.lease, max(.milliseconds(prepared.ttlMs - 500), .milliseconds(100)))
            let held = Held(
                nonce: prepared.nonce,
                expectedSeq: prepared.nextInvoiceSeq,
                leaseUntil: now.advanced(by: lease),
                deviceExpiry: deviceExpiry,
                roamingUntil: away[key.terminal].map { $0.advanced(by: configuration.roamingGrace) }
            )
            nonces.issue(prepared.nonce, to: key, until: held.leaseUntil)
            holder.phase = .prepared(held)
            slot = .holder(holder)
            var live = live
            for waiter in live.waiters where waiter.kind == .sale {
                actions.append(
                    .reply(
                        waiter.ticket,
                        .prepared(
                            prepared.nonce,
                            nextInvoiceSeq: prepared.nextInvoiceSeq,
                            lease: lease,
                            replayed: false
                        )
                    )
                )
            }
            live.waiters.removeAll { $0.kind == .sale }
            requests[key] = live
            line.pending.append(
                .progress(key, .prepared, nonce: prepared.nonce, expectedSeq: prepared.nextInvoiceSeq)
            )
        }
    }

    /// PREPARE again later: when an abandoned PREPARE's TTL ends (known), or after a pause
    /// within the retry window (unknown).
    private mutating func retryPrepare(
        _ holder: inout Holder,
        _ attempts: Attempts,
        busy: Bool,
        _ now: Instant,
        _ actions: inout [Action]
    ) {
        if case .stopping = lifecycle {
            finish(holder.key, .failed, FiscalError(.shuttingDown, "the mediator is stopping"), &actions)
            release()
            return
        }
        if busy, let until = abandonedPrepareUntil, until > now {
            holder.phase = .waitingToPrepare(until: until.advanced(by: .milliseconds(5)), attempts)
            slot = .holder(holder)
            return
        }
        let pause = backoff(attempts.count)
        guard attempts.first.duration(to: now.advanced(by: pause)) <= configuration.prepareRetryWindow else {
            let why =
                busy
                ? "the device stays busy with a PREPARE this mediator did not send"
                : "the device's replies to PREPARE are unreadable"
            finish(holder.key, .failed, unavailable(why), &actions)
            release()
            return
        }
        holder.phase = .waitingToPrepare(until: now.advanced(by: pause), attempts)
        slot = .holder(holder)
    }

    /// The device says the in-doubt request was not sealed: it is aborted, to be sent again.
    private mutating func notSealed(_ key: RequestKey, _ now: Instant, _ actions: inout [Action]) {
        finish(key, .aborted, FiscalError(.aborted, "the device did not seal it; send it again"), &actions)
        release()
    }

    /// Stopping with a request in doubt and a device that does not answer: it stays `in_doubt`
    /// in the store, and the next start resolves it from the journal.
    private mutating func giveUp(_ key: RequestKey, _ actions: inout [Action]) {
        let error = unavailable("the outcome is in doubt and the mediator is stopping; ask RESULT once it is back")
        for waiter in requests[key]?.waiters ?? [] {
            actions.append(.reply(waiter.ticket, .refused(error, retryAfter: configuration.unavailableRetryAfter)))
        }
        requests[key] = nil
        release()
    }

    // MARK: Errands

    private mutating func errandResult(
        _ errand: Errand,
        _ result: DeviceResult,
        _ now: Instant,
        _ actions: inout [Action]
    ) {
        switch (errand, result) {
        case (.zStatus, _), (.zReadBack, _):
            zResolutionResult(errand, result, &actions)
        case (.probe, .status(let status)):
            learn(status)
        case (.journalStatus, .status(let status)):
            learn(status)
            if status.nextInvoiceSeq.rawValue > 1 {
                journal = .reading
                line.reading = .missing(upTo: InvoiceSeq(status.nextInvoiceSeq.rawValue - 1))
                actions.append(.read(.missing(upTo: InvoiceSeq(status.nextInvoiceSeq.rawValue - 1))))
            } else {
                journal = .none
            }
        case (.adopt(let seq), .logged(let entry)) where entry.seq == seq:
            adopt(entry, &actions)
            dropFirstAdoption()
        case (.adopt(let seq), .refused(let error)):
            actions.append(
                .log(
                    Note(
                        level: .error,
                        message: "the device has no entry the store lacks; skipping it",
                        metadata: ["device.seq": "\(seq)", "error": "\(error)"]
                    )
                )
            )
            dropFirstAdoption()
        default:
            break  // unanswered: tried again when the device answers
        }
    }

    private mutating func dropFirstAdoption() {
        guard case .adopting(var seqs) = journal else { return }
        seqs.removeFirst()
        journal = seqs.isEmpty ? (moreMissing ? .wanted : .none) : .adopting(seqs)
    }

    /// A journal entry the store lacks: the live sale it belongs to takes it (it was sealed
    /// before, its store write lost), or the store keeps it for whichever request it finds.
    private mutating func adopt(_ entry: JournalEntry, _ actions: inout [Action]) {
        let terminal = TerminalID(entry.posTerminalID)
        health.lastSeq = max(health.lastSeq ?? entry.seq, entry.seq)
        actions.append(
            .log(
                Note(
                    level: .notice,
                    message: "storing a journal entry the store lacked",
                    metadata: ["device.seq": "\(entry.seq)", "terminal.id": entry.posTerminalID]
                )
            )
        )
        let owner = requests.first { key, live in
            guard key.terminal == terminal, live.digest == entry.payloadDigest else { return false }
            switch live.stage {
            case .queued, .admitting: return true
            default: return false
            }
        }
        if let (key, live) = owner {
            var live = live
            switch live.stage {
            case .queued:
                _ = queue.remove { _, queued in queued == key }
                live.stage = .sealing(entry)
                line.pending.append(.seal(key, entry))
            case .admitting(let abort, _):
                _ = queue.remove { _, queued in queued == key }
                live.stage = .admitting(abort: abort, claimed: entry)
            default:
                break
            }
            requests[key] = live
            return
        }
        line.pending.append(.adopt(entry, live: activeRequests(of: terminal)))
    }

    /// The request ids of `terminal` the core still works on (not those only waiting for their
    /// outcome's write): a journal entry is never adopted for one of them by the store.
    func activeRequests(of terminal: TerminalID) -> Set<RequestID> {
        var ids: Set<RequestID> = []
        for (key, live) in requests where key.terminal == terminal {
            if case .finishing = live.stage { continue }
            ids.insert(key.request)
        }
        return ids
    }

    mutating func learn(_ status: DeviceReply.Status) {
        health.deviceID = status.deviceID
        health.emulated = status.emulated
        let last = status.nextInvoiceSeq.rawValue > 1 ? InvoiceSeq(status.nextInvoiceSeq.rawValue - 1) : nil
        if case .running = lifecycle, let last, last > (health.lastSeq ?? InvoiceSeq(0)), journal == .none {
            // The device gave numbers the mediator never saw: find them.
            journal = .wanted
        }
        if let last { health.lastSeq = max(health.lastSeq ?? last, last) }
    }

    // MARK: Bookkeeping

    /// Health after an exchange: reachability, slowness, activity.
    private mutating func noteExchange(_ exchange: Exchange, _ result: DeviceResult, _ now: Instant) {
        lastActivity = now
        if case .lost(let error) = result {
            if error.isGarbled {
                health.garbledInARow += 1
                if health.garbledInARow < 3 { return }
            }
            if health.unreachable == nil { health.unreachable = (now, error.message) }
            return
        }
        health.garbledInARow = 0
        health.unreachable = nil
        health.slow = exchange.started.duration(to: now) > configuration.slowExchange
    }

    mutating func makeExchange(_ command: Command, _ now: Instant) -> Exchange {
        defer { nextToken += 1 }
        return Exchange(token: nextToken, command: command, started: now)
    }

    /// The device sealed the holder's request: its write joins the line and the lock passes on.
    mutating func seal(_ key: RequestKey, _ entry: JournalEntry, _ actions: inout [Action]) {
        guard var live = requests[key] else { return }
        live.stage = .sealing(entry)
        requests[key] = live
        health.lastSeq = max(health.lastSeq ?? entry.seq, entry.seq)
        line.pending.append(.seal(key, entry))
        release()
    }

    /// Gives up a prepared holder: its nonce dies, the device keeps the PREPARE until its TTL.
    mutating func abandon(
        _ key: RequestKey,
        _ held: Held,
        _ error: FiscalError,
        _ now: Instant,
        _ actions: inout [Action]
    ) {
        nonces.revoke(held.nonce)
        if held.deviceExpiry > now { abandonedPrepareUntil = held.deviceExpiry }
        finish(key, .aborted, error, &actions)
        release()
    }

    /// A final state that is not `sealed`: every waiter is answered, and its write joins the line.
    mutating func finish(
        _ key: RequestKey,
        _ state: RequestRecord.State,
        _ error: FiscalError,
        _ actions: inout [Action]
    ) {
        guard var live = requests[key] else { return }
        for waiter in live.waiters {
            let reply: Reply =
                waiter.kind == .abort
                ? .state(state, error) : .refused(error, retryAfter: retryAfter(error.code))
            actions.append(.reply(waiter.ticket, reply))
        }
        live.waiters = []
        live.stage = .finishing(state, error)
        live.position = nil
        requests[key] = live
        line.pending.append(.outcome(key, state, error))
    }

    mutating func release() { slot = .idle }

    mutating func raiseHalt(_ error: FiscalError, _ now: Instant) {
        health.halt = Halt(
            code: error.code,
            message: error.message,
            recheckAt: now.advanced(by: configuration.haltRecheck)
        )
    }

    func unavailable(_ message: String) -> FiscalError { FiscalError(.deviceUnavailable, message) }

    func retryAfter(_ code: ErrorCode) -> Duration? {
        switch code {
        case .deviceUnavailable, .storeUnavailable, .shuttingDown: configuration.unavailableRetryAfter
        case .queueFull, .inProgress: configuration.busyRetryAfter
        default: nil
        }
    }

    func backoff(_ attempt: Int) -> Duration {
        var pause = configuration.retryBackoff.first
        for _ in 1..<max(attempt, 1) where pause < configuration.retryBackoff.max { pause = pause * 2 }
        return min(pause, configuration.retryBackoff.max)
    }

    func nextPause(_ pause: Duration) -> Duration { min(pause * 2, configuration.retryBackoff.max) }

    /// Device refusals that stop every sale until the device is tried again.
    static var haltCodes: Set<ErrorCode> { [.storageFull, .deviceRevoked, .clockRollbackDetected] }
}

extension DeviceCore.Holder {
    /// The exchange in flight for this holder, if any.
    var exchange: DeviceCore.Exchange? {
        switch phase {
        case .preparing(let exchange, _, _), .committing(_, let exchange), .inDoubt(_, .asking(let exchange, _, _)):
            exchange
        case .waitingToPrepare, .prepared, .inDoubt(_, .waiting):
            nil
        }
    }
}

extension DeviceCore.DeviceResult {
    /// A short name for logs and coverage.
    public var kind: String {
        switch self {
        case .prepared: "prepared"
        case .sealed: "sealed"
        case .status: "status"
        case .logged: "logged"
        case .refused(let error): error.code == .deviceBusy ? "busy" : "refused"
        case .lost(let error): error.isGarbled ? "garbled" : "lost"
        case .report: "report"
        }
    }
}

extension FiscalError {
    /// An answer came, but could not be read (as opposed to no answer at all).
    var isGarbled: Bool { code == .replyInvalid || code == .frameInvalid }
}
