public import FiscalCore
import FiscalDevice
public import MediatorStore

/// Start, recovery, time, shutdown, and the step every event ends with (``settle(_:_:)``).
extension DeviceCore {
    /// Begins recovery: the requests a previous run left unfinished are read, resolved at the
    /// device one at a time, then every journal entry the store lacks is stored. No sale is
    /// admitted before (DEVICE_UNAVAILABLE with `retry_after_ms`); ``Action/ready`` says when.
    public mutating func start(now: Instant) -> [Action] {
        var actions: [Action] = []
        guard case .idle = lifecycle else { return actions }
        lifecycle = .starting(.loading)
        settle(&actions, now)
        return actions
    }

    /// The store's unfinished requests, oldest first. COMMITs that may have reached the device
    /// (committing, in doubt, and FISCALIZEs prepared with a known nonce) are resolved from the
    /// journal; the rest never reached it and are aborted, to be sent again.
    ///
    /// `pendingZ` is the intent an RPT|Z left pending: it is resolved at the device once the
    /// requests are (the device's `z_count`, then QRY|ZREPORT), before the mediator is ready.
    public mutating func loaded(_ records: [RequestRecord], pendingZ: DeviceZIntent? = nil, now: Instant) -> [Action] {
        var actions: [Action] = []
        guard line.reading == .unfinished else { return actions }
        line.reading = nil
        clearReadFailure()
        guard case .starting(.loading) = lifecycle else {
            // Stopped while reading: the next start reads again.
            settle(&actions, now)
            return actions
        }
        unresolvedZ = pendingZ.map { ZResolution(zCountBefore: $0.zCountBefore) }
        var settling: [RequestKey] = []
        for record in records {
            var live = Live(
                mode: record.mode,
                digest: record.payloadDigest,
                payload: record.payload,
                waiters: [],
                stage: .queued
            )
            let mayBeSealed =
                record.state == .committing || record.state == .inDoubt
                || (record.state == .prepared && record.mode == .fiscalize && record.nonce != nil)
            if mayBeSealed, let expected = record.expectedSeq {
                live.stage = .settling(Commit(nonce: record.nonce.map { Nonce($0) }, expectedSeq: InvoiceSeq(expected)))
                requests[record.key] = live
                settling.append(record.key)
            } else {
                requests[record.key] = live
                finish(
                    record.key,
                    .aborted,
                    FiscalError(.aborted, "the mediator restarted before it reached the device; send it again"),
                    &actions
                )
            }
        }
        if !records.isEmpty {
            actions.append(
                .log(
                    Note(
                        level: .notice,
                        message: "settling requests the last run left unfinished",
                        metadata: ["count": "\(records.count)", "in_doubt": "\(settling.count)"]
                    )
                )
            )
        }
        lifecycle = .starting(.settling(settling))
        settle(&actions, now)
        return actions
    }

    /// The fiscal numbers the store lacks, up to the device's last.
    public mutating func found(missing: [InvoiceSeq], now: Instant) -> [Action] {
        var actions: [Action] = []
        guard case .missing = line.reading else { return actions }
        line.reading = nil
        clearReadFailure()
        // A full batch may have more behind it: once these are stored, the check runs again.
        if journal == .reading { journal = missing.isEmpty ? .none : .adopting(missing) }
        moreMissing = missing.count >= Self.adoptionBatch
        settle(&actions, now)
        return actions
    }

    /// A store read failed: it is tried again after a pause, with STORE_FAILING raised.
    public mutating func readFailed(_ error: FiscalError, now: Instant) -> [Action] {
        var actions: [Action] = []
        guard let reading = line.reading else { return actions }
        line.reading = nil
        if case .missing = reading, journal == .reading { journal = .wanted }
        recordStoreFailure(error, now, &actions)
        settle(&actions, now)
        return actions
    }

    /// The upload line found a number missing from the store: look for it in the journal.
    public mutating func checkJournal(now: Instant) -> [Action] {
        var actions: [Action] = []
        if journal == .none { journal = .wanted }
        settle(&actions, now)
        return actions
    }

    /// Time passed: leases, roaming graces, retry pauses and the liveness probe come due.
    public mutating func tick(now: Instant) -> [Action] {
        var actions: [Action] = []
        settle(&actions, now)
        return actions
    }

    /// Graceful shutdown: no new sale, queued ones fail with SHUTTING_DOWN, a prepared
    /// terminal-driven holder is aborted (its COMMIT could not be read any more), the exchange at
    /// the device finishes, and ``Action/drained`` comes once nothing is left to write.
    public mutating func shutdown(now: Instant) -> [Action] {
        var actions: [Action] = []
        switch lifecycle {
        case .stopping: return actions
        case .starting(.settling(let keys)):
            // Still in the store as they were: the next start settles them.
            for key in keys { requests[key] = nil }
        case .idle, .starting, .running: break
        }
        visitDevice("shutdown")
        lifecycle = .stopping(drainedSent: false)
        journal = .none
        if case .holder(let holder) = slot {
            switch holder.phase {
            case .prepared(let held):
                let error = FiscalError(.aborted, "the mediator stopped before COMMIT; PREPARE it again")
                abandon(holder.key, held, error, now, &actions)
            case .waitingToPrepare:
                finish(holder.key, .failed, FiscalError(.shuttingDown, "the mediator is stopping"), &actions)
                release()
            case .preparing, .committing, .inDoubt:
                break
            }
        }
        for request in reports {
            actions.append(
                .reply(
                    request.ticket,
                    .refused(FiscalError(.shuttingDown, "the mediator is stopping"), retryAfter: nil)
                )
            )
        }
        reports = []
        for key in reservations.keys.sorted(by: { $0.request.rawValue < $1.request.rawValue }) {
            guard let live = requests[key], case .reserved(let nonce, _) = live.stage else { continue }
            let error = FiscalError(.aborted, "the mediator stopped before COMMIT; PREPARE it again")
            dropReservation(key, nonce, error, &actions)
        }
        settle(&actions, now)
        return actions
    }

    /// The earliest time at which ``tick(now:)`` has something to do.
    public func nextDeadline() -> Instant? {
        var deadlines: [Instant] = []
        switch slot {
        case .holder(let holder):
            switch holder.phase {
            case .prepared(let held):
                deadlines.append(held.leaseUntil)
                if let roaming = held.roamingUntil { deadlines.append(roaming) }
            case .waitingToPrepare(let until, _), .inDoubt(_, .waiting(let until, _)):
                deadlines.append(until)
            case .preparing, .committing, .inDoubt(_, .asking):
                break
            }
        case .idle:
            if let due = errandDue() { deadlines.append(due) }
            // A report waits out a PREPARE the DEF still holds (the sales behind it wait too).
            if reportIsNext, case .running = lifecycle, journal == .none, let until = abandonedPrepareUntil {
                deadlines.append(until)
            }
        case .report(let run):
            if case .waiting(let until, _) = run.phase { deadlines.append(until) }
        case .errand:
            break
        }
        if !queue.isEmpty {
            // Only a terminal with something its absence would drop: a committed device-free
            // hold or a FISCALIZE goes on, and a deadline already past would spin the timer.
            for (terminal, since) in away where !droppableWhileAway(terminal).isEmpty {
                deadlines.append(since.advanced(by: configuration.roamingGrace))
            }
        }
        if let failing = line.failing, line.inFlight == nil, !line.pending.isEmpty || needsRead {
            deadlines.append(failing.retryAt)
        }
        if let lease = reservations.values.min() { deadlines.append(lease) }
        return deadlines.min()
    }

    // MARK: The step every event ends with

    /// Brings everything that follows from the new state about: due deadlines, blocked
    /// queues, the next exchange, the next write, positions, alerts, and the drained signal.
    mutating func settle(_ actions: inout [Action], _ now: Instant) {
        expireDue(now, &actions)
        startRead(now, &actions)
        failBlockedQueue(now, &actions)
        failBlockedReports(now, &actions)
        useIdleDevice(now, &actions)
        startWrite(now, &actions)
        publishPositions(&actions)
        diffAlerts(now, &actions)
        checkDrained(&actions)
    }

    /// Deadlines that have passed: leases, roaming graces, retry pauses.
    mutating func expireDue(_ now: Instant, _ actions: inout [Action]) {
        reportDue(now, &actions)
        if case .holder(var holder) = slot {
            switch holder.phase {
            case .prepared(let held) where now >= held.leaseUntil:
                visit("prepared", "lease")
                actions.append(.push(holder.key.terminal, .leaseExpired(holder.key.request)))
                actions.append(
                    .log(
                        Note(
                            level: .notice,
                            message: "lease expired",
                            metadata: [
                                "terminal.id": holder.key.terminal.rawValue, "request.id": holder.key.request.rawValue,
                            ]
                        )
                    )
                )
                abandon(holder.key, held, FiscalError(.nonceExpired, "the lease ran out before COMMIT"), now, &actions)
            case .prepared(let held) where held.roamingUntil.map { now >= $0 } ?? false:
                visit("prepared", "roaming")
                actions.append(
                    .log(
                        Note(
                            level: .info,
                            message: "lock holder did not come back; aborting",
                            metadata: [
                                "terminal.id": holder.key.terminal.rawValue, "request.id": holder.key.request.rawValue,
                            ]
                        )
                    )
                )
                let error = FiscalError(.aborted, "the terminal disconnected while holding the device")
                abandon(holder.key, held, error, now, &actions)
            case .waitingToPrepare(let until, let attempts) where now >= until:
                if case .stopping = lifecycle {
                    finish(holder.key, .failed, FiscalError(.shuttingDown, "the mediator is stopping"), &actions)
                    release()
                } else if let live = requests[holder.key] {
                    let exchange = makeExchange(.prepare(payload: live.payload), now)
                    holder.phase = .preparing(exchange, attempts, abort: nil)
                    slot = .holder(holder)
                    actions.append(.exchange(exchange))
                }
            case .inDoubt(let commit, .waiting(let until, let pause)) where now >= until:
                let exchange = makeExchange(.status, now)
                holder.phase = .inDoubt(commit, .asking(exchange, .status, pause: pause))
                slot = .holder(holder)
                actions.append(.exchange(exchange))
            default:
                break
            }
        }
        // Device-free holds whose lease ran out before their COMMIT (a tablet gone for good):
        // nothing was at the device, so nobody else noticed.
        // In lease order, then by key: a schedule replays exactly (dictionary order does not).
        let due = reservations.filter { now >= $0.value }.sorted {
            ($0.value, $0.key.terminal.rawValue, $0.key.request.rawValue)
                < ($1.value, $1.key.terminal.rawValue, $1.key.request.rawValue)
        }
        for (key, _) in due {
            guard let live = requests[key], case .reserved(let nonce, _) = live.stage else {
                reservations[key] = nil
                continue
            }
            visit("reserved", "lease")
            actions.append(.push(key.terminal, .leaseExpired(key.request)))
            dropReservation(key, nonce, FiscalError(.nonceExpired, "the lease ran out before COMMIT"), &actions)
        }
        // Queued PREPAREs of terminals that stayed away past the grace: nobody would COMMIT them.
        // (A device-free hold already committed goes on like a FISCALIZE.)
        for (terminal, since) in away where now >= since.advanced(by: configuration.roamingGrace) {
            let twoPhase = droppableWhileAway(terminal)
            guard !twoPhase.isEmpty else { continue }
            let dropped = queue.remove { owner, key in owner == terminal && twoPhase.contains(key) }
            for key in dropped {
                visit("queued", "roaming")
                finish(key, .aborted, FiscalError(.aborted, "the terminal disconnected while waiting"), &actions)
            }
        }
    }

    /// The requests of `terminal` that its staying away would abort: PREPAREs waiting for the
    /// device (nobody would COMMIT them). Committed device-free holds and reservations are not.
    func droppableWhileAway(_ terminal: TerminalID) -> Set<RequestKey> {
        Set(
            requests.filter {
                $0.key.terminal == terminal && $0.value.mode == .twoPhase && $0.value.committedNonce == nil
                    && !$0.value.isReserved
            }
            .keys
        )
    }

    /// Why a sale cannot be admitted now, if it cannot (and the `retry_after` to tell).
    func admissionBlock(_ now: Instant) -> (FiscalError, Duration?)? {
        switch lifecycle {
        case .idle, .starting:
            return (
                unavailable("the mediator is settling what its last run left unfinished"),
                configuration.unavailableRetryAfter
            )
        case .stopping:
            return (FiscalError(.shuttingDown, "the mediator is stopping"), configuration.unavailableRetryAfter)
        case .running:
            break
        }
        if let failing = line.failing, !line.pending.isEmpty || line.inFlight != nil || now < failing.retryAt {
            return (
                FiscalError(.storeUnavailable, "the store refuses writes: \(failing.error.message)"),
                configuration.unavailableRetryAfter
            )
        }
        if let halt = health.halt, now < halt.recheckAt {
            return (FiscalError(halt.code, "the device refuses to seal: \(halt.message)"), nil)
        }
        if let unreachable = health.unreachable {
            return (
                unavailable("the device does not answer: \(unreachable.reason)"), configuration.unavailableRetryAfter
            )
        }
        return nil
    }

    /// While sales cannot go on, the queued ones are told so now rather than held silently.
    private mutating func failBlockedQueue(_ now: Instant, _ actions: inout [Action]) {
        guard !queue.isEmpty, let (error, _) = admissionBlock(now) else { return }
        for key in queue.remove(where: { _, _ in true }) {
            visit("queued", "blocked")
            finish(key, .failed, error, &actions)
        }
    }

    private var needsRead: Bool {
        if case .starting(.loading) = lifecycle, line.reading == nil { return true }
        return false
    }

    private mutating func startRead(_ now: Instant, _ actions: inout [Action]) {
        guard needsRead else { return }
        if let failing = line.failing, now < failing.retryAt { return }
        line.reading = .unfinished
        actions.append(.read(.unfinished))
    }

    private mutating func clearReadFailure() {
        if line.failing != nil, line.pending.isEmpty, line.inFlight == nil { line.failing = nil }
    }

    /// The device is free: the previous run's requests first, then the journal check, then
    /// the queue, else the liveness probe.
    private mutating func useIdleDevice(_ now: Instant, _ actions: inout [Action]) {
        guard case .idle = slot else { return }
        if case .stopping = lifecycle { return }
        if case .starting(.settling(var keys)) = lifecycle {
            if let key = keys.first, var live = requests[key], case .settling(let commit) = live.stage {
                keys.removeFirst()
                lifecycle = .starting(.settling(keys))
                live.stage = .holding
                requests[key] = live
                let exchange = makeExchange(.status, now)
                slot = .holder(
                    Holder(
                        key: key,
                        phase: .inDoubt(commit, .asking(exchange, .status, pause: configuration.retryBackoff.first))
                    )
                )
                actions.append(.exchange(exchange))
                return
            }
            lifecycle = .starting(.checkingJournal)
            journal = .wanted
        }
        // A Z whose outcome is unknown is settled first: no report runs before it.
        if unresolvedZ != nil {
            if !errandWaits(now) { _ = startZResolution(now, &actions) }
            return
        }
        switch journal {
        case .wanted:
            // After the writes before it are on disk, so the store's answer includes them.
            if errandWaits(now) || line.inFlight != nil || !line.pending.isEmpty { return }
            let exchange = makeExchange(.status, now)
            slot = .errand(exchange, .journalStatus)
            actions.append(.exchange(exchange))
            return
        case .adopting(let seqs):
            if errandWaits(now) { return }
            let exchange = makeExchange(.log(seqs[0]), now)
            slot = .errand(exchange, .adopt(seqs[0]))
            actions.append(.exchange(exchange))
            return
        case .reading:
            return
        case .none:
            break
        }
        if case .starting(.checkingJournal) = lifecycle {
            guard !line.isBusy else { return }
            lifecycle = .running
            actions.append(.ready)
            actions.append(.log(Note(level: .info, message: "device core ready", metadata: [:])))
        }
        guard case .running = lifecycle else { return }
        if reportIsNext {
            // Its turn: after the holder that just left, before the sales queued behind it (it
            // waits, and they with it, while the DEF still holds an abandoned PREPARE).
            startReport(now, &actions)
            return
        }
        if !queue.isEmpty, line.failing == nil, admissionBlock(now) == nil {
            grant(now, &actions)
            return
        }
        if queue.isEmpty, let due = errandDue(), now >= due {
            let exchange = makeExchange(.status, now)
            slot = .errand(exchange, .probe)
            actions.append(.exchange(exchange))
        }
    }

    /// An unreachable device is asked again only every `unreachableProbeInterval`.
    private func errandWaits(_ now: Instant) -> Bool {
        guard health.unreachable != nil, let last = lastActivity else { return false }
        return now < last.advanced(by: configuration.unreachableProbeInterval)
    }

    /// When the idle device is next asked QRY|STATUS (or the waiting journal check runs).
    private func errandDue() -> Instant? {
        guard case .idle = slot else { return nil }
        switch lifecycle {
        case .running, .starting(.checkingJournal): break
        default: return nil
        }
        let interval = health.unreachable == nil ? configuration.probeInterval : configuration.unreachableProbeInterval
        if journal != .none && journal != .reading || unresolvedZ != nil {
            return health.unreachable == nil
                ? nil : lastActivity.map { $0.advanced(by: configuration.unreachableProbeInterval) }
        }
        guard case .running = lifecycle, queue.isEmpty && reports.isEmpty || health.unreachable != nil else {
            return nil
        }
        return lastActivity.map { $0.advanced(by: interval) }
    }

    /// The next queued request takes the lock.
    private mutating func grant(_ now: Instant, _ actions: inout [Action]) {
        // The next in line whose admission is not on disk yet holds the line for a moment.
        guard let next = queue.peekNext(), case .queued = requests[next.element]?.stage else { return }
        guard let (terminal, key) = queue.popNext(), var live = requests[key] else { return }
        visit("queued", "grant")
        reportTurnTaken = false
        let waited = live.position != nil
        live.stage = .holding
        live.position = nil
        requests[key] = live
        let attempts = Attempts(first: now)
        if let until = abandonedPrepareUntil, until > now {
            slot = .holder(
                Holder(key: key, phase: .waitingToPrepare(until: until.advanced(by: .milliseconds(5)), attempts))
            )
        } else {
            abandonedPrepareUntil = nil
            let exchange = makeExchange(.prepare(payload: live.payload), now)
            slot = .holder(Holder(key: key, phase: .preparing(exchange, attempts, abort: nil)))
            actions.append(.exchange(exchange))
        }
        if waited && live.mode == .twoPhase && live.committedNonce == nil {
            actions.append(.push(terminal, .lockGranted(key.request)))
        }
    }

    /// QUEUED events for every waiting request whose position changed.
    private mutating func publishPositions(_ actions: inout [Action]) {
        for (terminal, key, position) in queue.positions() {
            // One still being written is about to be granted or queued; it is told then.
            guard var live = requests[key], live.position != position, case .queued = live.stage else { continue }
            live.position = position
            requests[key] = live
            actions.append(.push(terminal, .queued(key.request, position: position)))
        }
    }

    /// The alerts that are raised now: a halted, unreachable or slow device, a failing store.
    func currentAlerts() -> [ErrorCode: String] {
        var alerts: [ErrorCode: String] = [:]
        if let halt = health.halt { alerts[halt.code] = "the device refuses to seal: \(halt.message)" }
        if let unreachable = health.unreachable {
            alerts[.deviceUnreachable] = "the device does not answer: \(unreachable.reason)"
        }
        if health.slow { alerts[.deviceSlow] = "the device answers slower than \(configuration.slowExchange)" }
        if let failing = line.failing { alerts[.storeFailing] = "the store refuses writes: \(failing.error.message)" }
        return alerts
    }

    /// Alerts that stop checkouts are pushed to every terminal when raised; when the last one
    /// clears, DEVICE_RECOVERED. DEVICE_SLOW is shown to the operator only.
    private mutating func diffAlerts(_ now: Instant, _ actions: inout [Action]) {
        let current = currentAlerts()
        let before = Set(health.raised.keys)
        let after = Set(current.keys)
        guard before != after else { return }
        for code in after.subtracting(before).sorted(by: { $0.rawValue < $1.rawValue }) {
            health.raised[code] = now
            let message = current[code] ?? ""
            actions.append(.log(Note(level: .warning, message: message, metadata: ["alert": code.rawValue])))
            if code != .deviceSlow { actions.append(.push(nil, .alert(code, message))) }
        }
        for code in before.subtracting(after).sorted(by: { $0.rawValue < $1.rawValue }) {
            health.raised[code] = nil
            actions.append(.log(Note(level: .notice, message: "alert cleared", metadata: ["alert": code.rawValue])))
        }
        let blockingBefore = before.subtracting([.deviceSlow])
        let blockingAfter = after.subtracting([.deviceSlow])
        if !blockingBefore.isEmpty && blockingAfter.isEmpty { actions.append(.push(nil, .recovered)) }
    }

    private mutating func checkDrained(_ actions: inout [Action]) {
        guard case .stopping(drainedSent: false) = lifecycle, case .idle = slot else { return }
        if line.isBusy && !(line.failing != nil && line.inFlight == nil && line.reading == nil) { return }
        if !line.pending.isEmpty {
            actions.append(
                .log(
                    Note(
                        level: .error,
                        message: "stopping with writes the store refused; the device journal holds every sealed one",
                        metadata: ["writes": "\(line.pending.count)"]
                    )
                )
            )
        }
        // A Z the device made whose write the store refused: the next start reads it back.
        for number in storingZ.keys.sorted() {
            guard let (_, tickets) = storingZ.removeValue(forKey: number) else { continue }
            let error = FiscalError(
                .storeUnavailable,
                "the device made Z \(number) but the store refused it; the next start reads it back from the device"
            )
            for ticket in tickets { actions.append(.reply(ticket, .refused(error, retryAfter: nil))) }
        }
        lifecycle = .stopping(drainedSent: true)
        actions.append(.drained)
    }

    // MARK: Coverage

    /// Records a (state, event) pair for the simulation's coverage report.
    mutating func visit(_ state: String, _ event: String) { visited.insert(state + " × " + event) }

    mutating func visit(_ key: RequestKey, _ event: String) { visit(stateName(of: key), event) }

    mutating func visitDevice(_ event: String) { visit(slotName, event) }

    func stateName(of key: RequestKey) -> String {
        guard let live = requests[key] else { return "unknown" }
        switch live.stage {
        case .admitting: return "admitting"
        case .reserved: return "reserved"
        case .queued: return "queued"
        case .settling: return "settling"
        case .sealing: return "sealing"
        case .finishing: return "finishing"
        case .holding:
            guard case .holder(let holder) = slot else { return "holding" }
            return Self.phaseName(holder.phase)
        }
    }

    var slotName: String {
        switch slot {
        case .idle: "idle"
        case .holder(let holder): Self.phaseName(holder.phase)
        case .errand(_, let errand): "errand." + Self.errandName(errand)
        case .report(let run): Self.reportPhaseName(run.phase)
        }
    }

    static func reportPhaseName(_ phase: ReportPhase) -> String {
        switch phase {
        case .counting: "report.counting"
        case .recording: "report.recording"
        case .asking(_, let before): before == nil ? "report.asking" : "report.askingZ"
        case .waiting: "report.waiting"
        }
    }

    static func phaseName(_ phase: Phase) -> String {
        switch phase {
        case .preparing(_, _, let abort): abort == nil ? "preparing" : "preparing+abort"
        case .waitingToPrepare: "waitingToPrepare"
        case .prepared(let held): held.roamingUntil == nil ? "prepared" : "prepared+away"
        case .committing: "committing"
        case .inDoubt(_, .asking(_, .status, _)): "inDoubt.status"
        case .inDoubt(_, .asking(_, .log, _)): "inDoubt.log"
        case .inDoubt(_, .waiting): "inDoubt.waiting"
        }
    }

    static func errandName(_ errand: Errand) -> String {
        switch errand {
        case .probe: "probe"
        case .journalStatus: "journalStatus"
        case .adopt: "adopt"
        case .zStatus: "zStatus"
        case .zReadBack: "zReadBack"
        }
    }
}
