import FiscalCore
public import FiscalDevice
import MediatorStore

/// Operator reports (RPT|Z, RPT|X) through the running mediator: one exchange, in its turn
/// between sales, never inside a sale's PREPARE → COMMIT.
///
/// A report waits until the device is free: no request holds the lock (so no PREPARE of ours is
/// out and no COMMIT is awaited), and no PREPARE the mediator abandoned is still held by the DEF
/// (``abandonedPrepareUntil``; it would answer DEVICE_BUSY). Device-free holds do not hold the
/// device, so a report runs while reservations wait for their COMMIT. It is fair both ways: a
/// waiting report goes next after the current holder, and after a report, a waiting sale goes
/// before the next report.
///
/// A Z closes the fiscal day at the device the moment it runs, so it is crash safe: its `z_count`
/// is read first, an intent is written durably, and only then RPT|Z goes out; the report is stored
/// (and the intent marked done) before the operator is told. An RPT|Z whose reply is lost is
/// answered with the error (its outcome is unknown to the caller), and the intent is resolved at
/// the device as at the next start: `z_count` unmoved, no Z was made; moved, the Z is read back
/// with QRY|ZREPORT and stored; a DEF without QRY|ZREPORT leaves the intent `unrecoverable`.
extension DeviceCore {
    /// The operator asks for a report; ``Reply/report(_:)`` or a refusal answers `ticket`.
    public mutating func requestReport(_ kind: DeviceReport.Kind, ticket: Ticket, now: Instant) -> [Action] {
        var actions: [Action] = []
        expireDue(now, &actions)
        visitDevice("report")
        if let (error, retryAfter) = reportBlock(kind, now) {
            actions.append(.reply(ticket, .refused(error, retryAfter: retryAfter)))
        } else if reports.count >= configuration.reportQueueLimit {
            let error = FiscalError(.queueFull, "\(reports.count) reports wait for the device already")
            actions.append(.reply(ticket, .refused(error, retryAfter: configuration.busyRetryAfter)))
        } else {
            reports.append(ReportRequest(kind: kind, ticket: ticket))
        }
        settle(&actions, now)
        return actions
    }

    /// Why a report cannot be taken now: recovery not done, stopping, a device that refuses to
    /// seal or does not answer, and (for a Z, whose intent and report must be stored) a failing
    /// store.
    func reportBlock(_ kind: DeviceReport.Kind, _ now: Instant) -> (FiscalError, Duration?)? {
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
        if kind == .z, let failing = line.failing,
            !line.pending.isEmpty || line.inFlight != nil || now < failing.retryAt
        {
            return (
                FiscalError(.storeUnavailable, "the store refuses writes: \(failing.error.message)"),
                configuration.unavailableRetryAfter
            )
        }
        if let halt = health.halt, now < halt.recheckAt {
            return (FiscalError(.deviceHalted, "the device is halted (\(halt.code.rawValue): \(halt.message))"), nil)
        }
        if let unreachable = health.unreachable {
            return (
                unavailable("the device does not answer: \(unreachable.reason)"), configuration.unavailableRetryAfter
            )
        }
        return nil
    }

    /// Whether the next free turn at the device is a report's (and nothing it must wait for is
    /// left): an unresolved Z first, and after a report, one waiting sale first.
    var reportIsNext: Bool {
        guard !reports.isEmpty, unresolvedZ == nil else { return false }
        return !reportTurnTaken || queue.isEmpty
    }

    /// Starts the first waiting report, if the device is free of abandoned PREPAREs.
    mutating func startReport(_ now: Instant, _ actions: inout [Action]) {
        if let until = abandonedPrepareUntil, until > now { return }
        abandonedPrepareUntil = nil
        let request = reports.removeFirst()
        visit("idle", "report.turn")
        let attempts = Attempts(first: now)
        if request.kind == .z {
            let exchange = makeExchange(.status, now)
            slot = .report(
                ReportRun(kind: .z, tickets: [request.ticket], phase: .counting(exchange), attempts: attempts)
            )
            actions.append(.exchange(exchange))
        } else {
            let exchange = makeExchange(.report(request.kind), now)
            slot = .report(
                ReportRun(
                    kind: request.kind,
                    tickets: [request.ticket],
                    phase: .asking(exchange, zCountBefore: nil),
                    attempts: attempts
                )
            )
            actions.append(.exchange(exchange))
        }
    }

    /// While reports cannot run (halted, unreachable, stopping, a failing store for a Z), the
    /// waiting ones are told so now.
    mutating func failBlockedReports(_ now: Instant, _ actions: inout [Action]) {
        guard !reports.isEmpty else { return }
        var kept: [ReportRequest] = []
        for request in reports {
            if let (error, retryAfter) = reportBlock(request.kind, now) {
                visit("report.queued", "blocked")
                actions.append(.reply(request.ticket, .refused(error, retryAfter: retryAfter)))
            } else {
                kept.append(request)
            }
        }
        reports = kept
    }

    // MARK: The report's exchanges

    mutating func reportResult(_ run: ReportRun, _ result: DeviceResult, _ now: Instant, _ actions: inout [Action]) {
        var run = run
        let stopping: Bool = if case .stopping = lifecycle { true } else { false }
        switch run.phase {
        case .counting:
            switch result {
            case .status(let status):
                learn(status)
                if stopping {
                    endReport(
                        run,
                        .refused(FiscalError(.shuttingDown, "the mediator is stopping"), retryAfter: nil),
                        &actions
                    )
                    return
                }
                // Nothing goes to the device before the intent is on disk.
                run.phase = .recording(zCountBefore: status.zCount)
                slot = .report(run)
                line.pending.append(.zIntent(zCountBefore: status.zCount, deviceID: status.deviceID))
            case .refused(let error):
                endReport(run, .refused(error, retryAfter: retryAfter(error.code)), &actions)
            case .lost(let error):
                let why = unavailable(
                    "the device did not answer QRY|STATUS before RPT|Z (\(error.message)); no Z was made"
                )
                endReport(run, .refused(why, retryAfter: configuration.unavailableRetryAfter), &actions)
            case .prepared, .sealed, .logged, .report:
                let error = FiscalError(.replyInvalid, "the device answered QRY|STATUS out of turn; no Z was made")
                endReport(run, .refused(error, retryAfter: nil), &actions)
            }
        case .asking(_, let before):
            switch result {
            case .report(let report) where Self.isAnswer(report, to: run.kind, after: before):
                if run.kind == .z, before != nil {
                    // Told once stored: the answer comes when the write is done.
                    storingZ[report.zNumber] = (report, run.tickets)
                    line.pending.append(.zReport(Self.stored(report), zCountSeen: report.zNumber))
                    actions.append(
                        .log(
                            Note(
                                level: .notice,
                                message: "the device closed the fiscal day (Z)",
                                metadata: [
                                    "z.number": "\(report.zNumber)",
                                    "z.first_seq": "\(report.firstSeq.map(String.init) ?? "-")",
                                    "z.last_seq": "\(report.lastSeq.map(String.init) ?? "-")",
                                ]
                            )
                        )
                    )
                    run.tickets = []
                }
                endReport(run, .report(report), &actions)
            case .refused(let error) where error.code == .deviceBusy && !stopping:
                // A PREPARE the mediator does not know holds the DEF: ask again while the window lasts.
                run.attempts.count += 1
                let pause = backoff(run.attempts.count)
                if run.attempts.first.duration(to: now.advanced(by: pause)) <= configuration.prepareRetryWindow {
                    run.phase = .waiting(until: now.advanced(by: pause), zCountBefore: before)
                    slot = .report(run)
                } else {
                    let why = unavailable("the device stays busy with a PREPARE this mediator did not send")
                    if before != nil { line.pending.append(.zIntentClosed(.dropped, zCountSeen: nil, why)) }
                    endReport(run, .refused(why, retryAfter: configuration.unavailableRetryAfter), &actions)
                }
            case .refused(let error):
                // Definite: the device made no report (for a Z, closed no day).
                if before != nil { line.pending.append(.zIntentClosed(.dropped, zCountSeen: nil, error)) }
                if Self.haltCodes.contains(error.code) { raiseHalt(error, now) }
                endReport(run, .refused(error, retryAfter: retryAfter(error.code)), &actions)
            case .lost(let error) where before != nil:
                zOutcomeUnknown(run, before!, error, &actions)
            case .report, .prepared, .sealed, .status, .logged:
                let error = FiscalError(
                    .replyInvalid,
                    "the device's answer to RPT|\(run.kind.rawValue) is not its report"
                )
                if let before {
                    zOutcomeUnknown(run, before, error, &actions)
                } else {
                    endReport(run, .refused(error, retryAfter: nil), &actions)
                }
            case .lost(let error):
                let why = unavailable("the device did not answer RPT|\(run.kind.rawValue): \(error.message)")
                endReport(run, .refused(why, retryAfter: configuration.unavailableRetryAfter), &actions)
            }
        case .recording, .waiting:
            preconditionFailure("an exchange returned for a report with none in flight")
        }
    }

    /// RPT|Z went out and no readable answer came: the day may be closed. The caller is told the
    /// outcome is unknown; the intent stays pending and is resolved at the device.
    private mutating func zOutcomeUnknown(
        _ run: ReportRun,
        _ before: UInt64,
        _ error: FiscalError,
        _ actions: inout [Action]
    ) {
        unresolvedZ = ZResolution(zCountBefore: before)
        actions.append(
            .log(
                Note(
                    level: .warning,
                    message: "RPT|Z's outcome is unknown; reading the device's z_count",
                    metadata: ["z.count_before": "\(before)", "error": error.message]
                )
            )
        )
        let why = FiscalError(
            error.code,
            "the Z's outcome is unknown (\(error.message)): the mediator asks the device and stores the Z if it was made"
        )
        endReport(run, .refused(why, retryAfter: nil), &actions)
    }

    /// The report leaves the device: its callers are answered (a Z's once stored) and a waiting
    /// sale has the next turn.
    private mutating func endReport(_ run: ReportRun, _ reply: Reply, _ actions: inout [Action]) {
        for ticket in run.tickets { actions.append(.reply(ticket, reply)) }
        reportTurnTaken = true
        release()
    }

    /// A report waiting out DEVICE_BUSY asks again, or gives up when the mediator stops.
    mutating func reportDue(_ now: Instant, _ actions: inout [Action]) {
        guard case .report(var run) = slot, case .waiting(let until, let before) = run.phase else { return }
        if case .stopping = lifecycle {
            let error = FiscalError(.shuttingDown, "the mediator is stopping")
            if before != nil { line.pending.append(.zIntentClosed(.dropped, zCountSeen: nil, error)) }
            endReport(run, .refused(error, retryAfter: nil), &actions)
            return
        }
        guard now >= until else { return }
        let exchange = makeExchange(.report(run.kind), now)
        run.phase = .asking(exchange, zCountBefore: before)
        slot = .report(run)
        actions.append(.exchange(exchange))
    }

    /// The intent is on disk: RPT|Z goes out (unless the mediator began stopping meanwhile).
    mutating func zIntentWritten(_ now: Instant, _ actions: inout [Action]) {
        guard case .report(var run) = slot, case .recording(let before) = run.phase else { return }
        if case .stopping = lifecycle {
            let error = FiscalError(.shuttingDown, "the mediator is stopping")
            line.pending.append(.zIntentClosed(.dropped, zCountSeen: nil, error))
            endReport(run, .refused(error, retryAfter: nil), &actions)
            return
        }
        let exchange = makeExchange(.report(.z), now)
        run.phase = .asking(exchange, zCountBefore: before)
        slot = .report(run)
        actions.append(.exchange(exchange))
    }

    /// The store refused the intent: no RPT|Z goes out, and the caller is told so.
    mutating func zIntentRefused(_ error: FiscalError, _ actions: inout [Action]) {
        guard case .report(let run) = slot, case .recording = run.phase else { return }
        let refusal = FiscalError(
            .storeUnavailable,
            "the store refused the Z's intent (\(error.message)); no Z was made"
        )
        endReport(run, .refused(refusal, retryAfter: configuration.unavailableRetryAfter), &actions)
    }

    /// A Z is stored: whoever asked for it is told.
    mutating func zStored(_ number: UInt64, _ actions: inout [Action]) {
        guard let (report, tickets) = storingZ.removeValue(forKey: number) else { return }
        for ticket in tickets { actions.append(.reply(ticket, .report(report))) }
    }

    // MARK: Resolving an intent at the device

    /// The next resolution errand, when one is due.
    mutating func startZResolution(_ now: Instant, _ actions: inout [Action]) -> Bool {
        guard let resolution = unresolvedZ else { return false }
        let errand: Errand
        let command: Command
        switch resolution.step {
        case .status:
            (errand, command) = (.zStatus, .status)
        case .readBack:
            (errand, command) = (.zReadBack(resolution.zCountBefore + 1), .zReport(resolution.zCountBefore + 1))
        }
        let exchange = makeExchange(command, now)
        slot = .errand(exchange, errand)
        actions.append(.exchange(exchange))
        return true
    }

    mutating func zResolutionResult(_ errand: Errand, _ result: DeviceResult, _ actions: inout [Action]) {
        if case .status(let status) = result { learn(status) }
        guard var resolution = unresolvedZ else { return }
        let before = resolution.zCountBefore
        switch (errand, result) {
        case (.zStatus, .status(let status)) where status.zCount == before:
            unresolvedZ = nil
            line.pending.append(.zIntentClosed(.dropped, zCountSeen: status.zCount, nil))
            actions.append(
                .log(
                    Note(
                        level: .notice,
                        message: "the device made no Z for the pending intent; dropped",
                        metadata: ["z.count": "\(status.zCount)"]
                    )
                )
            )
        case (.zStatus, .status(let status)) where status.zCount > before:
            resolution.step = .readBack(seen: status.zCount)
            unresolvedZ = resolution
        case (.zStatus, .status(let status)):
            unrecoverable(
                before,
                seen: status.zCount,
                FiscalError(.replyInvalid, "the device's z_count went back from \(before) to \(status.zCount)"),
                &actions
            )
        case (.zReadBack(let number), .report(let report)):
            guard case .readBack(let seen) = resolution.step else { return }
            guard Self.isAnswer(report, to: .z, after: before), report.zNumber == number else {
                resolution.unreadable += 1
                unresolvedZ = resolution
                if resolution.unreadable >= 3 {
                    let error = FiscalError(
                        .replyInvalid,
                        "QRY|ZREPORT \(number) answers a report that is not Z \(number)"
                    )
                    unrecoverable(before, seen: seen, error, &actions)
                }
                return
            }
            unresolvedZ = nil
            line.pending.append(.zReport(Self.stored(report), zCountSeen: seen))
            actions.append(
                .log(
                    Note(
                        level: .notice,
                        message: "read back a Z the device made before its report was stored",
                        metadata: ["z.number": "\(number)"]
                    )
                )
            )
        case (.zReadBack, .refused(let error)):
            // UNKNOWN_COMMAND (a DEF without this emulator's extension), NOT_FOUND, or another
            // definite refusal: the Z exists only in the device. Fail closed, with what was seen.
            guard case .readBack(let seen) = resolution.step else { return }
            unrecoverable(before, seen: seen, error, &actions)
        case (.zReadBack, .lost(let error)) where error.isGarbled:
            guard case .readBack(let seen) = resolution.step else { return }
            resolution.unreadable += 1
            unresolvedZ = resolution
            if resolution.unreadable >= 3 { unrecoverable(before, seen: seen, error, &actions) }
        default:
            break  // unanswered: asked again when the device answers
        }
    }

    private mutating func unrecoverable(
        _ before: UInt64,
        seen: UInt64,
        _ error: FiscalError,
        _ actions: inout [Action]
    ) {
        unresolvedZ = nil
        line.pending.append(.zIntentClosed(.unrecoverable, zCountSeen: seen, error))
        actions.append(
            .log(
                Note(
                    level: .error,
                    message: "the device made a Z the mediator cannot read back; read it at the device",
                    metadata: [
                        "z.count_before": "\(before)", "z.count_seen": "\(seen)",
                        "error": "\(error.code): \(error.message)",
                    ]
                )
            )
        )
    }

    // MARK: Values

    /// Whether `report` answers a request for `kind`: the kind asked for and, for a Z, a number
    /// past the intent's `z_count` and a hash that covers its figures, with a signature.
    static func isAnswer(_ report: DeviceReport, to kind: DeviceReport.Kind, after before: UInt64?) -> Bool {
        guard report.kind == kind else { return false }
        guard kind == .z else { return true }
        guard let before, report.zNumber > before, let hash = report.reportHash, report.signature != nil else {
            return false
        }
        return SHA256.hex(report.canonicalJSON) == hash
    }

    /// The store's record of a Z the device returned.
    static func stored(_ report: DeviceReport) -> StoredDeviceZ {
        StoredDeviceZ(
            zNumber: report.zNumber,
            deviceID: report.deviceID.rawValue,
            firstSeq: report.firstSeq,
            lastSeq: report.lastSeq,
            invoiceCount: report.invoiceCount,
            reportJSON: String(decoding: report.canonicalJSON, as: UTF8.self),
            reportHash: report.reportHash ?? "",
            signature: report.signature ?? "",
            takenAt: report.generatedAt
        )
    }
}
