public import FiscalCore
public import MediatorStore

/// Terminal messages: what each one does in each state of its request. docs/PROTOCOL.md's
/// table "Every state × message" is this file, and a test drives the core through it.
extension DeviceCore {
    /// FISCALIZE (`mode: .fiscalize`) or PREPARE (`.twoPhase`), after the intake validated the
    /// invoice. A sale refused here (QUEUE_FULL, a halted or unreachable device, a failing store,
    /// shutdown) is not stored at all: RESULT answers NOT_FOUND and the retry rule resends it.
    public mutating func admit(_ record: RequestRecord, ticket: Ticket, now: Instant) -> [Action] {
        var actions: [Action] = []
        expireDue(now, &actions)
        let key = record.key
        visit(key, "admit")
        if let live = requests[key] {
            actions.append(.reply(ticket, readmission(live, key, record, now)))
        } else if let (error, retryAfter) = admissionBlock(now) {
            actions.append(.reply(ticket, .refused(error, retryAfter: retryAfter)))
        } else if let reason = reservesAtMediator(record.mode)
            ? reservationRefusal(for: key.terminal)
            : queue.refusal(for: key.terminal, headLeaving: holderKey == nil)
        {
            actions.append(
                .reply(ticket, .refused(FiscalError(.queueFull, reason), retryAfter: configuration.busyRetryAfter))
            )
        } else {
            requests[key] = Live(
                mode: record.mode,
                digest: record.payloadDigest,
                payload: record.payload,
                waiters: [Waiter(ticket: ticket, kind: .sale)],
                stage: .admitting(abort: [], claimed: nil)
            )
            // It takes its place in the queue now; it is granted only once its write is done.
            // (A device-free hold queues at its COMMIT.)
            if !reservesAtMediator(record.mode) { queue.append(key, for: key.terminal) }
            line.pending.append(.admit(record))
        }
        settle(&actions, now)
        return actions
    }

    /// A sale sent again under a request id the core still holds.
    private func readmission(_ live: Live, _ key: RequestKey, _ record: RequestRecord, _ now: Instant) -> Reply {
        guard live.digest == record.payloadDigest else {
            return .refused(
                FiscalError(.idempotencyConflict, "request \(key.request) was used for another invoice"),
                retryAfter: nil
            )
        }
        if case .holding = live.stage, case .holder(let holder) = slot, holder.key == key,
            case .prepared(let held) = holder.phase, record.mode == .twoPhase
        {
            // The PREPARE's reply was lost: the same nonce again, with what is left of the lease.
            return .prepared(
                held.nonce,
                nextInvoiceSeq: held.expectedSeq,
                lease: now.duration(to: held.leaseUntil),
                replayed: true
            )
        }
        if case .reserved(let nonce, let leaseUntil) = live.stage, record.mode == .twoPhase {
            return .prepared(nonce, nextInvoiceSeq: nil, lease: now.duration(to: leaseUntil), replayed: true)
        }
        if case .finishing = live.stage, let (error, retryAfter) = admissionBlock(now) {
            return .refused(error, retryAfter: retryAfter)
        }
        let state = visibleState(key, live).state
        return .refused(
            FiscalError(.inProgress, "request \(key.request) is \(state.rawValue); ask RESULT"),
            retryAfter: configuration.busyRetryAfter
        )
    }

    /// COMMIT of a terminal-driven request with the nonce its PREPARE returned.
    public mutating func commit(_ key: RequestKey, nonce: Nonce, ticket: Ticket, now: Instant) -> [Action] {
        var actions: [Action] = []
        expireDue(now, &actions)
        visit(key, "commit")
        guard var live = requests[key] else {
            if let issued = nonces.holder(of: nonce), issued != key {
                let error = FiscalError(.invalidNonce, "the nonce was issued for another request")
                actions.append(.reply(ticket, .refused(error, retryAfter: nil)))
            } else {
                actions.append(.reply(ticket, .lookUp(.commit, key)))
            }
            settle(&actions, now)
            return actions
        }
        switch live.stage {
        case .reserved(let reserved, _):
            // A device-free hold: once its nonce checks, it queues like a FISCALIZE; the DEF's
            // PREPARE and COMMIT run back to back when its turn comes.
            // The nonce first (a wrong one is INVALID_NONCE, never "send it again"); then what
            // would stop the sale now (the device, the store, the queue) keeps the hold, with
            // `retry_after`: the same COMMIT sent again later goes through.
            do {
                try nonces.check(nonce, for: key, now: now)
            } catch {
                actions.append(.reply(ticket, .refused(error, retryAfter: nil)))
                break
            }
            if let (error, retryAfter) = admissionBlock(now) {
                actions.append(.reply(ticket, .refused(error, retryAfter: retryAfter)))
                break
            }
            if let reason = queue.refusal(for: key.terminal, headLeaving: holderKey == nil) {
                let error = FiscalError(.queueFull, reason)
                actions.append(.reply(ticket, .refused(error, retryAfter: configuration.busyRetryAfter)))
                break
            }
            nonces.consume(nonce)
            reservations[key] = nil
            live.committedNonce = reserved
            live.waiters.append(Waiter(ticket: ticket, kind: .commit))
            live.stage = .queued
            requests[key] = live
            queue.append(key, for: key.terminal)
        case .queued where live.committedNonce != nil:
            commitAgain(key, &live, nonce, expected: live.committedNonce, ticket, &actions)
        case .admitting, .queued, .settling:
            actions.append(.reply(ticket, .refused(notPrepared(key, "is waiting for the device"), retryAfter: nil)))
        case .holding:
            guard case .holder(var holder) = slot else { preconditionFailure("a holding request without the lock") }
            switch holder.phase {
            case .preparing, .waitingToPrepare:
                if live.committedNonce != nil {
                    commitAgain(key, &live, nonce, expected: live.committedNonce, ticket, &actions)
                } else {
                    actions.append(
                        .reply(ticket, .refused(notPrepared(key, "is still being prepared"), retryAfter: nil))
                    )
                }
            case .prepared(let held):
                do {
                    try nonces.check(nonce, for: key, now: now)
                } catch {
                    actions.append(.reply(ticket, .refused(error, retryAfter: nil)))
                    break
                }
                nonces.consume(nonce)
                live.waiters.append(Waiter(ticket: ticket, kind: .commit))
                requests[key] = live
                let exchange = makeExchange(.commit(nonce), now)
                holder.phase = .committing(held.commit, exchange)
                slot = .holder(holder)
                line.pending.append(
                    .progress(key, .committing, nonce: nonce, expectedSeq: held.expectedSeq)
                )
                actions.append(.exchange(exchange))
            case .committing(let commit, _), .inDoubt(let commit, _):
                commitAgain(key, &live, nonce, expected: live.committedNonce ?? commit.nonce, ticket, &actions)
            }
        case .sealing:
            live.waiters.append(Waiter(ticket: ticket, kind: .commit))
            requests[key] = live
        case .finishing(_, let error):
            actions.append(.reply(ticket, .refused(error, retryAfter: nil)))
        }
        settle(&actions, now)
        return actions
    }

    /// ABORT: gives up a queued or held request. While its PREPARE is at the device the abort
    /// is recorded and answered when the PREPARE returns; once COMMIT has gone out it cannot be
    /// aborted, and the answer says so (`committing`, `in_doubt`).
    public mutating func abort(_ key: RequestKey, ticket: Ticket, now: Instant) -> [Action] {
        var actions: [Action] = []
        expireDue(now, &actions)
        visit(key, "abort")
        guard var live = requests[key] else {
            actions.append(.reply(ticket, .lookUp(.abort, key)))
            settle(&actions, now)
            return actions
        }
        let aborted = FiscalError(.aborted, "aborted by the terminal")
        switch live.stage {
        case .admitting(var tickets, let claimed):
            // Its write is on its way: the abort is applied once it is stored.
            _ = queue.remove { _, queued in queued == key }
            tickets.append(ticket)
            live.stage = .admitting(abort: tickets, claimed: claimed)
            requests[key] = live
        case .queued:
            _ = queue.remove { _, queued in queued == key }
            live.waiters.append(Waiter(ticket: ticket, kind: .abort))
            requests[key] = live
            finish(key, .aborted, aborted, &actions)
        case .reserved(let nonce, _):
            live.waiters.append(Waiter(ticket: ticket, kind: .abort))
            requests[key] = live
            dropReservation(key, nonce, aborted, &actions)
        case .holding:
            guard case .holder(var holder) = slot else { preconditionFailure("a holding request without the lock") }
            switch holder.phase {
            case .preparing(let exchange, let attempts, let intent):
                var intent = intent ?? AbortIntent(tickets: [], error: aborted)
                intent.tickets.append(ticket)
                holder.phase = .preparing(exchange, attempts, abort: intent)
                slot = .holder(holder)
            case .waitingToPrepare:
                live.waiters.append(Waiter(ticket: ticket, kind: .abort))
                requests[key] = live
                finish(key, .aborted, aborted, &actions)
                release()
            case .prepared(let held):
                live.waiters.append(Waiter(ticket: ticket, kind: .abort))
                requests[key] = live
                abandon(key, held, aborted, now, &actions)
            case .committing:
                actions.append(.reply(ticket, .state(.committing, nil)))
            case .inDoubt:
                actions.append(.reply(ticket, .state(.inDoubt, nil)))
            }
        case .settling:
            actions.append(.reply(ticket, .state(.inDoubt, nil)))
        case .sealing:
            actions.append(.reply(ticket, .state(line.failing == nil ? .committing : .inDoubt, nil)))
        case .finishing(let state, let error):
            actions.append(.reply(ticket, .state(state, error)))
        }
        settle(&actions, now)
        return actions
    }

    /// RESULT: the request's state as the core holds it, or a store lookup.
    public mutating func result(_ key: RequestKey, ticket: Ticket, now: Instant) -> [Action] {
        var actions: [Action] = []
        expireDue(now, &actions)
        visit(key, "result")
        if let live = requests[key] {
            let (state, error) = visibleState(key, live)
            actions.append(.reply(ticket, .state(state, error)))
        } else {
            actions.append(.reply(ticket, .lookUp(.result, key)))
        }
        settle(&actions, now)
        return actions
    }

    /// The terminal's connection dropped. A terminal-driven holder keeps the device for the
    /// roaming grace; its queued PREPAREs wait as long. FISCALIZE requests go on.
    public mutating func disconnected(_ terminal: TerminalID, now: Instant) -> [Action] {
        var actions: [Action] = []
        expireDue(now, &actions)
        visitDevice("disconnect")
        away[terminal] = now
        if case .holder(var holder) = slot, holder.key.terminal == terminal, case .prepared(var held) = holder.phase {
            held.roamingUntil = now.advanced(by: configuration.roamingGrace)
            holder.phase = .prepared(held)
            slot = .holder(holder)
            actions.append(
                .log(
                    Note(
                        level: .info,
                        message: "terminal dropped out holding the device; waiting out the roaming grace",
                        metadata: ["terminal.id": terminal.rawValue, "request.id": holder.key.request.rawValue]
                    )
                )
            )
        }
        settle(&actions, now)
        return actions
    }

    /// The terminal is back (a message on a new connection): what it holds and what it queued stay.
    public mutating func returned(_ terminal: TerminalID, now: Instant) -> [Action] {
        var actions: [Action] = []
        visitDevice("return")
        away[terminal] = nil
        if case .holder(var holder) = slot, holder.key.terminal == terminal, case .prepared(var held) = holder.phase {
            held.roamingUntil = nil
            holder.phase = .prepared(held)
            slot = .holder(holder)
        }
        expireDue(now, &actions)
        settle(&actions, now)
        return actions
    }

    /// The answer to COMMIT, ABORT or RESULT for a request the core does not hold, from its
    /// stored `record` (nil: never stored) and, when sealed, its journal entry (nil: pruned).
    public static func answer(_ lookup: Lookup, record: RequestRecord?, sealed: JournalEntry?) -> Reply {
        guard let record else {
            switch lookup {
            case .commit:
                return .refused(
                    FiscalError(.notPrepared, "no request with this id was prepared here; PREPARE it"),
                    retryAfter: nil
                )
            case .abort, .result:
                return .refused(FiscalError(.notFound, "no request with this id was stored here"), retryAfter: nil)
            }
        }
        let error = record.errorCode.map {
            FiscalError(ErrorCode(rawValue: $0), record.errorMessage ?? "request \(record.requestID) \(record.state)")
        }
        switch (lookup, record.state) {
        case (.commit, .sealed):
            guard let sealed else {
                return .refused(
                    FiscalError(
                        .notFound,
                        "request \(record.requestID) was sealed as invoice \(record.invoiceSeq.map(String.init) ?? "?"); its local copy was removed after the cloud confirmed it"
                    ),
                    retryAfter: nil
                )
            }
            return .sealed(sealed, replayed: true)
        case (.commit, .aborted), (.commit, .failed):
            // Never a code that says "send the same message again": a COMMIT of a finished
            // request can only be answered by a new PREPARE.
            guard let error, ![.deviceUnavailable, .storeUnavailable, .shuttingDown, .queueFull].contains(error.code)
            else {
                let why = error.map { " (\($0.code): \($0.message))" } ?? ""
                return .refused(
                    FiscalError(.notPrepared, "request \(record.requestID) was not sealed\(why); PREPARE it again"),
                    retryAfter: nil
                )
            }
            return .refused(error, retryAfter: nil)
        case (.commit, _):
            return .refused(FiscalError(.notPrepared, "request \(record.requestID) is not prepared"), retryAfter: nil)
        case (.abort, .sealed):
            return .state(.sealed, nil)
        case (.result, .sealed):
            return .state(.sealed, nil, sealed: sealed)
        case (.abort, _), (.result, _):
            return .state(record.state, error)
        }
    }

    // MARK: Helpers

    /// The state RESULT reports for a live request.
    func visibleState(_ key: RequestKey, _ live: Live) -> (state: RequestRecord.State, error: FiscalError?) {
        switch live.stage {
        case .admitting, .queued: return (.queued, nil)
        case .reserved: return (.prepared, nil)
        case .settling: return (.inDoubt, nil)
        case .sealing: return (line.failing == nil ? .committing : .inDoubt, nil)
        case .finishing(let state, let error): return (state, error)
        case .holding:
            guard case .holder(let holder) = slot else { return (.queued, nil) }
            switch holder.phase {
            case .preparing, .waitingToPrepare: return (.queued, nil)
            case .prepared: return (.prepared, nil)
            case .committing: return (.committing, nil)
            case .inDoubt: return (.inDoubt, nil)
            }
        }
    }

    /// A COMMIT sent again while the first is on its way: it gets the same answer as the first,
    /// when it comes, if its nonce is the one the request was committed with.
    private mutating func commitAgain(
        _ key: RequestKey,
        _ live: inout Live,
        _ nonce: Nonce,
        expected: Nonce?,
        _ ticket: Ticket,
        _ actions: inout [Action]
    ) {
        if let expected, expected != nonce {
            let error = FiscalError(.invalidNonce, "the nonce is not the one this request was prepared with")
            actions.append(.reply(ticket, .refused(error, retryAfter: nil)))
        } else {
            live.waiters.append(Waiter(ticket: ticket, kind: .commit))
            requests[key] = live
        }
    }

    /// Why a terminal may not reserve one more device-free hold: they are bounded per terminal
    /// and in all, as queue places are (each holds its invoice in memory for up to a lease).
    func reservationRefusal(for terminal: TerminalID) -> String? {
        // Holds reserved, and those whose admission write is on its way.
        let holds = requests.filter { _, live in
            guard reservesAtMediator(live.mode), live.committedNonce == nil else { return false }
            switch live.stage {
            case .reserved, .admitting: return true
            default: return false
            }
        }
        if holds.count >= configuration.queueLimit {
            return "\(holds.count) holds wait for their COMMIT; try again shortly"
        }
        let own = holds.keys.filter { $0.terminal == terminal }.count
        if own >= configuration.perTerminalQueueLimit {
            return
                "this terminal holds \(own) sales waiting for their COMMIT (at most \(configuration.perTerminalQueueLimit))"
        }
        return nil
    }

    /// Whether a sale of this mode is held at the mediator rather than at the device.
    func reservesAtMediator(_ mode: RequestRecord.Mode) -> Bool {
        mode == .twoPhase && configuration.holds == .mediator
    }

    /// The mediator's own nonce for a device-free hold: unguessable without the seed, never
    /// the same twice in one run.
    mutating func drawNonce() -> Nonce {
        noncesDrawn += 1
        var bytes = nonceSeed
        withUnsafeBytes(of: noncesDrawn.bigEndian) { bytes += $0 }
        return Nonce(Hex.encode(Array(SHA256.hash(bytes).prefix(16))))
    }

    /// Ends a device-free hold (ABORT, its lease, shutdown): its nonce dies; nothing was at
    /// the device.
    mutating func dropReservation(_ key: RequestKey, _ nonce: Nonce, _ error: FiscalError, _ actions: inout [Action]) {
        nonces.revoke(nonce)
        reservations[key] = nil
        finish(key, .aborted, error, &actions)
    }

    func notPrepared(_ key: RequestKey, _ why: String) -> FiscalError {
        FiscalError(.notPrepared, "request \(key.request) \(why); COMMIT after PREPARE's reply")
    }
}
