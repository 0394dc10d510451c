public import FiscalCore
public import FiscalDevice
import Foundation
public import Logging
public import MediatorStore
public import Metrics

/// The only path to the fiscal device.
///
/// Owns: the device lock (who holds it, for which request, until when), the fair queue of
/// waiting requests, the nonce tracker, the device's health (halted by STORAGE_FULL,
/// DEVICE_REVOKED or CLOCK_ROLLBACK_DETECTED) and the count of in-doubt requests.
///
/// Invariants: one holder at a time, and only the holder's task talks to the device, so at most
/// one PREPARE/COMMIT exchange is ever in flight; a request is stored before it reaches the
/// device and its sealed invoice is stored before anyone is told; a COMMIT whose reply was lost
/// is resolved from the device's journal before the lock passes on.
///
/// Across an `await` (every device exchange) other calls run: requests join the queue, a
/// holder's terminal may disconnect, a lease may expire. Each such path checks that the holder
/// is still the one it expects (by `token`) before acting.
public actor DeviceActor {
    public struct Configuration: Sendable {
        /// The longest a terminal-driven holder may keep the device between PREPARE and COMMIT
        /// (also capped by the device's nonce TTL).
        public var lease: Duration = .seconds(15)
        /// Waiting requests in all, and per terminal (beyond them: QUEUE_FULL).
        public var queueLimit = 256
        public var perTerminalQueueLimit = 4
        /// How long PREPARE keeps retrying DEVICE_BUSY and link errors before giving up.
        public var prepareRetryWindow: Duration = .seconds(40)
        /// How long after a halt (STORAGE_FULL, ...) the device is tried again.
        public var haltRecheck: Duration = .seconds(10)
        /// First and largest pause between retries.
        public var retryBackoff: (first: Duration, max: Duration) = (.milliseconds(20), .seconds(1))
        /// How long a terminal-driven holder whose connection dropped (a tablet out of Wi-Fi
        /// range) keeps the lock before its request is aborted and the lanes go on. Shorter than
        /// the lease; zero aborts at once.
        public var roamingGrace: Duration = .seconds(5)
        public init() {}

        /// What is wrong with these settings, if anything.
        public func problems() -> [String] {
            var found: [String] = []
            if lease <= .zero { found.append("device.lease must be positive") }
            if roamingGrace < .zero || roamingGrace >= lease {
                found.append("device.roaming_grace must be at least 0 and shorter than device.lease")
            }
            if queueLimit < 1 || perTerminalQueueLimit < 1 || perTerminalQueueLimit > queueLimit {
                found.append("queue limits must be at least 1, per terminal no more than in all")
            }
            return found
        }
    }

    /// The lock holder.
    struct Holder {
        var token: UInt64
        var terminal: TerminalID
        var requestID: String
        var mode: RequestRecord.Mode
        var nonce: String?
        /// The request as prepared (state, expected fiscal number, nonce): the truth while it
        /// holds the device, whatever the store's asynchronous progress marks say yet.
        var record: RequestRecord?
        var leaseTask: Task<Void, Never>?
        /// When the device itself drops its PREPARE (its nonce TTL), as far as we can tell.
        var deviceExpiry: ContinuousClock.Instant?
        /// True while a COMMIT for it is at the device (lease expiry must wait).
        var committing = false
    }

    /// A request waiting for the lock.
    struct Waiter: Sendable {
        var requestID: String
        var mode: RequestRecord.Mode
        var continuation: CheckedContinuation<Result<UInt64, FiscalError>, Never>
    }

    /// Pushes an event to one terminal (`nil`: to every connected terminal).
    public typealias Notify = @Sendable (TerminalID?, TerminalReply) -> Void

    public let configuration: Configuration
    let client: FiscalDeviceClient
    let store: MediatorDatabase
    let logger: Logger
    private let notify: Notify

    private var holder: Holder?
    private var queue: FairQueue<Waiter>
    private var nonces = NonceTracker()
    private var nextToken: UInt64 = 1
    private var halt: (code: ErrorCode, message: String, recheckAt: ContinuousClock.Instant)?
    private var resolving = 0
    private var deviceID: String?
    private var emulated = false
    private var lastSeq: UInt64?
    private var reachable = true
    private var stopping = false
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []
    /// Holders (and queued PREPAREs) of terminals that dropped out, waiting out the roaming grace.
    private var roaming: [TerminalID: Task<Void, Never>] = [:]
    /// An aborted holder's PREPARE the device still keeps (the DEF has no abort): until then it
    /// answers DEVICE_BUSY, so the next PREPARE waits for exactly this instead of polling.
    private var abandonedPrepareUntil: ContinuousClock.Instant?
    private let exchangeTimer: (prepare: Metrics.Timer, commit: Metrics.Timer)

    public init(
        client: FiscalDeviceClient,
        store: MediatorDatabase,
        configuration: Configuration = Configuration(),
        logger: Logger,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        notify: @escaping Notify
    ) {
        self.client = client
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.notify = notify
        exchangeTimer = (
            Metrics.Timer(
                label: "fiscal_device_exchange_seconds",
                dimensions: [("command", "prepare")],
                factory: metrics
            ),
            Metrics.Timer(
                label: "fiscal_device_exchange_seconds",
                dimensions: [("command", "commit")],
                factory: metrics
            )
        )
        queue = FairQueue(limit: configuration.queueLimit, perTerminalLimit: configuration.perTerminalQueueLimit)
    }

    // MARK: Terminal operations

    /// PREPARE and COMMIT back to back for an admitted request (state `queued`).
    ///
    /// The lock passes on as soon as the device has answered COMMIT, and the sealed invoice is
    /// stored (fully synchronous) off the actor: the next exchange at the device overlaps this
    /// one's disk write. The terminal is still told only once the invoice is on disk.
    public nonisolated func fiscalize(_ request: RequestRecord) async throws(FiscalError) -> SealedInvoice {
        let (entry, record) = try await fiscalizeAtDevice(request)
        return try await seal(entry, for: record)
    }

    private func fiscalizeAtDevice(_ request: RequestRecord) async throws(FiscalError) -> (JournalEntry, RequestRecord)
    {
        let token = try await acquire(request)
        var record = request
        do {
            let prepared = try await prepare(&record)
            holder?.nonce = prepared.nonce.rawValue
            let entry = try await commitAtDevice(&record, nonce: prepared.nonce.rawValue)
            release(token)
            return (entry, record)
        } catch {
            release(token)
            throw error
        }
    }

    /// Terminal-driven PREPARE: takes the lock, prepares, and keeps the lock for the lease.
    /// Returns the device's answer and the lease granted.
    public func prepareAndHold(_ request: RequestRecord) async throws(FiscalError) -> (DeviceReply.Prepared, Duration) {
        let token = try await acquire(request)
        var record = request
        let prepared: DeviceReply.Prepared
        do {
            prepared = try await prepare(&record)
        } catch {
            release(token)
            throw error
        }
        let lease = min(configuration.lease, .milliseconds(max(prepared.ttlMs - 500, 100)))
        let expiresAt = ContinuousClock.now + lease
        let deviceExpiry = ContinuousClock.now + .milliseconds(prepared.ttlMs)
        nonces.issue(
            prepared.nonce.rawValue,
            to: request.terminalID,
            requestID: request.requestID,
            expiresAt: expiresAt
        )
        guard holder?.token == token else {
            // The terminal went away while the device prepared.
            nonces.revoke(prepared.nonce.rawValue)
            throw FiscalError(.aborted, "the request was aborted while it was being prepared")
        }
        holder?.nonce = prepared.nonce.rawValue
        holder?.record = record
        holder?.deviceExpiry = deviceExpiry
        holder?.leaseTask = Task { [weak self] in
            try? await Task.sleep(until: expiresAt, clock: .continuous)
            await self?.leaseExpired(token)
        }
        return (prepared, lease)
    }

    /// Terminal-driven COMMIT: the nonce must pass the tracker before anything reaches the device.
    public nonisolated func commit(
        terminal: TerminalID,
        requestID: String,
        nonce: String
    ) async throws(FiscalError)
        -> SealedInvoice
    {
        let (entry, record) = try await commitForHolder(terminal: terminal, requestID: requestID, nonce: nonce)
        return try await seal(entry, for: record)
    }

    private func commitForHolder(
        terminal: TerminalID,
        requestID: String,
        nonce: String
    ) async throws(FiscalError)
        -> (JournalEntry, RequestRecord)
    {
        try nonces.check(nonce, terminal: terminal, requestID: requestID, now: .now)
        guard var current = holder, current.terminal == terminal, current.requestID == requestID,
            current.nonce == nonce,
            var record = current.record
        else {
            throw FiscalError(.notPrepared, "request \(requestID) does not hold the device")
        }
        guard !current.committing else {
            throw FiscalError(.inProgress, "a COMMIT for request \(requestID) is already at the device")
        }
        current.committing = true
        current.leaseTask?.cancel()
        holder = current
        let token = current.token
        do {
            let entry = try await commitAtDevice(&record, nonce: nonce)
            release(token)
            return (entry, record)
        } catch {
            release(token)
            throw error
        }
    }

    /// ABORT: gives up a held or queued request. Returns its state afterwards.
    public func abort(
        terminal: TerminalID,
        requestID: String,
        code: ErrorCode = .aborted,
        reason: String = "aborted by the terminal"
    )
        -> RequestRecord.State?
    {
        if let current = holder, current.terminal == terminal, current.requestID == requestID {
            guard !current.committing else { return .committing }
            if let nonce = current.nonce { nonces.revoke(nonce) }
            if let expiry = current.deviceExpiry, expiry > .now { abandonedPrepareUntil = expiry }
            markAborted(terminal, requestID, code: code, reason: reason)
            release(current.token)
            return .aborted
        }
        let removed = queue.remove { $0 == terminal && $1.requestID == requestID }
        guard let waiter = removed.first else { return nil }
        markAborted(terminal, requestID, code: code, reason: reason)
        waiter.continuation.resume(returning: .failure(FiscalError(code, reason)))
        publishPositions()
        return .aborted
    }

    /// The terminal's connection dropped. If it holds the device for a PREPARE/COMMIT, or has
    /// PREPAREs queued, it has `roamingGrace` to come back (a tablet walking through a Wi-Fi
    /// gap); after that ``roamingGraceExpired(_:)`` gives its work up. FISCALIZE requests go on:
    /// the terminal asked for them and will fetch the outcome with RESULT.
    public func terminalDisconnected(_ terminal: TerminalID) {
        let holds = holder.map { $0.terminal == terminal && $0.mode == .twoPhase && !$0.committing } ?? false
        let waits = queue.contains { $0 == terminal && $1.mode == .twoPhase }
        guard holds || waits else { return }
        guard configuration.roamingGrace > .zero else { return roamingGraceExpired(terminal) }
        logger.info(
            "terminal dropped out with device work; waiting out the roaming grace",
            metadata: ["terminal.id": "\(terminal)", "grace_ms": "\(configuration.roamingGrace.wholeMilliseconds)"]
        )
        roaming[terminal]?.cancel()
        let grace = configuration.roamingGrace
        roaming[terminal] = Task {
            try? await Task.sleep(for: grace)
            guard !Task.isCancelled else { return }
            self.roamingGraceExpired(terminal)
        }
    }

    /// The terminal is back (a message on a new connection): its held lock and queued PREPAREs
    /// stay as they were.
    public func terminalReturned(_ terminal: TerminalID) {
        guard let task = roaming.removeValue(forKey: terminal) else { return }
        task.cancel()
        logger.info("terminal returned within the roaming grace", metadata: ["terminal.id": "\(terminal)"])
    }

    /// The grace ran out: a terminal-driven holder loses the lock (its request is aborted; the
    /// terminal re-prepares it with the same request id when it is back), and its queued
    /// PREPAREs are dropped (nobody would answer their nonce).
    func roamingGraceExpired(_ terminal: TerminalID) {
        roaming[terminal] = nil
        if let current = holder, current.terminal == terminal, current.mode == .twoPhase, !current.committing {
            logger.info(
                "lock holder disconnected; aborting",
                metadata: ["terminal.id": "\(terminal)", "request.id": "\(current.requestID)"]
            )
            _ = abort(
                terminal: terminal,
                requestID: current.requestID,
                reason: "the terminal disconnected while holding the device"
            )
        }
        let dropped = queue.remove { $0 == terminal && $1.mode == .twoPhase }
        for waiter in dropped {
            markAborted(terminal, waiter.requestID, code: .aborted, reason: "the terminal disconnected while waiting")
            waiter.continuation.resume(
                returning: .failure(FiscalError(.aborted, "the terminal disconnected while waiting"))
            )
        }
        if !dropped.isEmpty { publishPositions() }
    }

    // MARK: Status

    /// What STATUS and the ops API show.
    public struct Snapshot: Sendable {
        public var holder: TerminalReply.LockHolder?
        public var queueDepth: Int
        public var device: TerminalReply.DeviceInfo
        public var inDoubt: Int
    }

    public func snapshot() -> Snapshot {
        let state: String =
            if resolving > 0 { "resolving" } else if halt != nil { "halted" } else if !reachable { "unavailable" } else
            { "ready" }
        return Snapshot(
            holder: holder.map {
                TerminalReply.LockHolder(
                    terminalID: $0.terminal.rawValue,
                    requestID: $0.requestID,
                    mode: $0.mode.rawValue
                )
            },
            queueDepth: queue.count,
            device: TerminalReply.DeviceInfo(
                deviceID: deviceID,
                emulated: emulated,
                state: state,
                haltedCode: halt?.code,
                lastInvoiceSeq: lastSeq,
                link: client.link.name
            ),
            inDoubt: resolving
        )
    }

    /// Refuses new work from now on and fails everything still queued with SHUTTING_DOWN. The
    /// exchange in flight finishes.
    public func beginShutdown() {
        stopping = true
        for waiter in queue.remove(where: { _, _ in true }) {
            waiter.continuation.resume(returning: .failure(FiscalError(.shuttingDown, "the mediator is stopping")))
        }
    }

    /// Waits until the lock is free: the exchange in flight has finished (or been aborted).
    public func drain() async {
        guard holder != nil else { return }
        await withCheckedContinuation { drainWaiters.append($0) }
    }

    // MARK: The lock

    private func acquire(_ request: RequestRecord) async throws(FiscalError) -> UInt64 {
        guard !stopping else { throw FiscalError(.shuttingDown, "the mediator is stopping") }
        // A halted device is tried again once `recheckAt` has passed; success clears the halt.
        if let halt, ContinuousClock.now < halt.recheckAt {
            throw FiscalError(halt.code, "the device refuses to seal: \(halt.message)")
        }
        if holder == nil && queue.isEmpty {
            return grant(request.terminalID, request.requestID, request.mode)
        }
        if let reason = queue.refusal(for: request.terminalID) {
            throw FiscalError(.queueFull, reason)
        }
        let result = await withCheckedContinuation { continuation in
            let position = queue.append(
                Waiter(requestID: request.requestID, mode: request.mode, continuation: continuation),
                for: request.terminalID
            )
            var event = TerminalReply.event(.queued)
            event.requestID = request.requestID
            event.position = position
            notify(request.terminalID, event)
        }
        return try result.get()
    }

    private func grant(_ terminal: TerminalID, _ requestID: String, _ mode: RequestRecord.Mode) -> UInt64 {
        let token = nextToken
        nextToken += 1
        holder = Holder(token: token, terminal: terminal, requestID: requestID, mode: mode)
        return token
    }

    private func release(_ token: UInt64) {
        guard let current = holder, current.token == token else { return }
        current.leaseTask?.cancel()
        holder = nil
        if let next = queue.popNext() {
            let granted = grant(next.terminal, next.element.requestID, next.element.mode)
            if next.element.mode == .twoPhase {
                var event = TerminalReply.event(.lockGranted)
                event.requestID = next.element.requestID
                notify(next.terminal, event)
            }
            next.element.continuation.resume(returning: .success(granted))
            publishPositions()
        } else {
            for waiter in drainWaiters { waiter.resume() }
            drainWaiters.removeAll()
        }
    }

    private func leaseExpired(_ token: UInt64) {
        guard let current = holder, current.token == token, !current.committing else { return }
        logger.notice(
            "lease expired",
            metadata: ["terminal.id": "\(current.terminal)", "request.id": "\(current.requestID)"]
        )
        _ = abort(
            terminal: current.terminal,
            requestID: current.requestID,
            code: .nonceExpired,
            reason: "the lease ran out before COMMIT"
        )
        var event = TerminalReply.event(.leaseExpired)
        event.requestID = current.requestID
        event.code = .nonceExpired
        notify(current.terminal, event)
    }

    private func publishPositions() {
        for (terminal, waiter, position) in queue.positions() {
            var event = TerminalReply.event(.queued)
            event.requestID = waiter.requestID
            event.position = position
            notify(terminal, event)
        }
    }

    // MARK: Device exchanges (holder only)

    /// TXN|PREPARE with retries for DEVICE_BUSY and link errors; stores `prepared`.
    private func prepare(_ record: inout RequestRecord) async throws(FiscalError) -> DeviceReply.Prepared {
        let deadline = ContinuousClock.now + configuration.prepareRetryWindow
        var pause = configuration.retryBackoff.first
        while true {
            do {
                let started = ContinuousClock.now
                let prepared: DeviceReply.Prepared = try await client.send(
                    DeviceRequest(.prepare, body: record.payload)
                )
                exchangeTimer.prepare.record(duration: ContinuousClock.now - started)
                reachable = true
                abandonedPrepareUntil = nil
                clearHalt()
                record.state = .prepared
                record.expectedSeq = prepared.nextInvoiceSeq.rawValue
                record.nonce = prepared.nonce.rawValue
                try persist(record)
                return prepared
            } catch {
                switch error.code {
                case .deviceBusy, .deviceTimeout, .linkDown, .replyInvalid, .frameInvalid:
                    if error.code != .deviceBusy { reachable = false }
                    guard ContinuousClock.now + pause < deadline, !stopping else {
                        let final = FiscalError(.deviceUnavailable, "the device did not take PREPARE: \(error.message)")
                        fail(&record, final)
                        throw final
                    }
                    if error.code == .deviceBusy, let until = abandonedPrepareUntil, until > .now {
                        // Busy with an aborted holder's PREPARE: free when its TTL ends, not later.
                        try? await Task.sleep(until: until + .milliseconds(5), clock: .continuous)
                        continue
                    }
                    try? await Task.sleep(for: pause)
                    pause = min(pause * 2, configuration.retryBackoff.max)
                case .storageFull, .deviceRevoked, .clockRollbackDetected:
                    raiseHalt(error)
                    fail(&record, error)
                    throw error
                default:
                    fail(&record, error)
                    throw error
                }
            }
        }
    }

    /// TXN|COMMIT for the held request, resolving an in-doubt outcome before it returns: the
    /// sealed journal entry, or an error that says the device did not seal it. The request is
    /// marked `committing` before the device sees the COMMIT (recovery looks there first).
    private func commitAtDevice(_ record: inout RequestRecord, nonce: String) async throws(FiscalError) -> JournalEntry
    {
        nonces.consume(nonce)
        record.state = .committing
        record.nonce = nonce
        try persist(record)
        while true {
            do {
                let started = ContinuousClock.now
                let sealed = try await client.commit(Nonce(nonce))
                exchangeTimer.commit.record(duration: ContinuousClock.now - started)
                reachable = true
                return sealed.entry
            } catch {
                switch error.code {
                case .invalidNonce, .nonceExpired:
                    // Definite: the device did not seal it.
                    markAborted(record.terminalID, record.requestID, code: error.code, reason: error.message)
                    throw error
                case .storageFull, .deviceRevoked, .clockRollbackDetected:
                    raiseHalt(error)
                    fail(&record, error)
                    throw error
                case .deviceTimeout, .linkDown, .replyInvalid, .frameInvalid:
                    // In doubt: only the device's journal can say.
                    switch try await resolve(&record) {
                    case .sealed(let entry): return entry
                    case .stillPrepared: continue  // the COMMIT never reached the device: send it again
                    case .notSealed:
                        markAborted(
                            record.terminalID,
                            record.requestID,
                            code: .aborted,
                            reason: "the device did not seal it (\(error.code))"
                        )
                        throw FiscalError(.aborted, "the device lost the request (\(error.message)); PREPARE it again")
                    }
                default:
                    fail(&record, error)
                    throw error
                }
            }
        }
    }

    enum Resolution {
        case sealed(JournalEntry)
        case stillPrepared
        case notSealed
    }

    /// Asks the device what became of an in-doubt COMMIT, retrying until it answers.
    func resolve(_ record: inout RequestRecord) async throws(FiscalError) -> Resolution {
        record.state = .inDoubt
        try persist(record)
        resolving += 1
        defer { resolving -= 1 }
        logger.warning(
            "commit in doubt; asking the device",
            metadata: ["request.id": "\(record.requestID)", "device.seq": "\(record.expectedSeq ?? 0)"]
        )
        var pause = configuration.retryBackoff.first
        while true {
            do {
                let status = try await client.status()
                reachable = true
                guard let expected = record.expectedSeq else { return .notSealed }
                if status.nextInvoiceSeq.rawValue > expected {
                    let logged = try await client.log(InvoiceSeq(expected))
                    return logged.entry.payloadDigest == record.payloadDigest ? .sealed(logged.entry) : .notSealed
                }
                return status.preparePending ? .stillPrepared : .notSealed
            } catch {
                reachable = false
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, configuration.retryBackoff.max)
            }
        }
    }

    /// Stores a sealed invoice, fully synchronous, off the actor.
    nonisolated func seal(_ entry: JournalEntry, for record: RequestRecord) async throws(FiscalError) -> SealedInvoice {
        let sealed = SealedInvoice(entry: entry, for: record, sealedAt: DeviceTimestamp.format(Date()))
        do {
            try store.seal(sealed, for: record)
        } catch let error as FiscalError {
            throw error
        } catch {
            // The device sealed it but the disk refused: the journal still has it; recovery
            // at the next start stores it. Never tell the terminal before it is on disk.
            logger.critical(
                "cannot store a sealed invoice",
                metadata: ["device.seq": "\(entry.seq)", "error": "\(error)"]
            )
            throw FiscalError(.deviceUnavailable, "the sealed invoice could not be stored: \(error)")
        }
        await noteSealed(entry)
        return sealed
    }

    private func noteSealed(_ entry: JournalEntry) {
        lastSeq = max(lastSeq ?? 0, entry.seq.rawValue)
        deviceID = entry.deviceID.rawValue
    }

    // MARK: Recovery

    /// At start: reads the device, then settles every request a previous run left unfinished.
    /// Committing and in-doubt requests are resolved from the journal (and committed when the
    /// device still holds them); prepared FISCALIZE requests are committed; everything else
    /// unfinished is aborted, to be prepared again on the terminal's retry.
    public func recover() async throws(FiscalError) {
        let status = try await client.status()
        reachable = true
        deviceID = status.deviceID?.rawValue
        emulated = status.emulated
        lastSeq = status.nextInvoiceSeq.rawValue > 1 ? status.nextInvoiceSeq.rawValue - 1 : nil
        let unfinished: [RequestRecord]
        do {
            unfinished = try store.requests(in: [.queued, .prepared, .committing, .inDoubt])
        } catch {
            throw FiscalError(.configInvalid, "cannot read the store: \(error)")
        }
        for var record in unfinished {
            switch record.state {
            case .committing, .inDoubt:
                try await settle(&record)
            case .prepared where record.mode == .fiscalize && record.nonce != nil:
                try await settle(&record)
            default:
                markAborted(
                    record.terminalID,
                    record.requestID,
                    code: .aborted,
                    reason: "the mediator restarted before it reached the device"
                )
            }
        }
        if !unfinished.isEmpty {
            logger.notice("recovery settled unfinished requests", metadata: ["count": "\(unfinished.count)"])
        }
        try await adoptUnstoredEntries(deviceLast: status.nextInvoiceSeq.rawValue - 1)
    }

    /// Every journal entry the store lacks (a host power loss can lose the progress marks that
    /// recovery reads first) is stored now, for the request it belongs to: matched by terminal
    /// and payload digest. An entry no request claims is stored under `journal-<seq>`, so that
    /// nothing the device sealed is ever missing here.
    private func adoptUnstoredEntries(deviceLast: UInt64) async throws(FiscalError) {
        let missing: [UInt64]
        do {
            missing = try store.missingSeqs(upTo: deviceLast)
        } catch {
            throw FiscalError(.configInvalid, "cannot read the store: \(error)")
        }
        for seq in missing {
            let entry = try await client.log(InvoiceSeq(seq)).entry
            let terminal = TerminalID(entry.posTerminalID)
            let owner = try? store.unsealedRequest(terminal: terminal, payloadDigest: entry.payloadDigest)
            let record =
                owner
                ?? RequestRecord(
                    terminalID: terminal,
                    requestID: "journal-\(seq)",
                    payloadDigest: entry.payloadDigest,
                    payload: [],
                    outletID: "",
                    cashierID: entry.cashierID,
                    laneNumber: nil,
                    mode: .fiscalize,
                    state: .committing
                )
            if owner == nil {
                logger.error(
                    "the device sealed an invoice no stored request claims; keeping it",
                    metadata: ["device.seq": "\(seq)"]
                )
                _ = try? store.admit(record)
            }
            _ = try await seal(entry, for: record)
        }
        if !missing.isEmpty {
            logger.notice("stored journal entries the store lacked", metadata: ["count": "\(missing.count)"])
        }
    }

    private func settle(_ record: inout RequestRecord) async throws(FiscalError) {
        switch try await resolve(&record) {
        case .sealed(let entry):
            _ = try await seal(entry, for: record)
        case .stillPrepared:
            if let nonce = record.nonce {
                if let entry = try? await commitAtDevice(&record, nonce: nonce) {
                    _ = try await seal(entry, for: record)
                }
            } else {
                markAborted(record.terminalID, record.requestID, code: .aborted, reason: "recovered without a nonce")
            }
        case .notSealed:
            markAborted(
                record.terminalID,
                record.requestID,
                code: .aborted,
                reason: "the device did not seal it before the restart"
            )
        }
    }

    // MARK: Bookkeeping

    /// Records progress without waiting for the disk: recovery does not depend on these marks
    /// (it reads the device's journal), they make RESULT and recovery more precise.
    private func persist(_ record: RequestRecord) throws(FiscalError) {
        let logger = self.logger
        store.saveInBackground(record) { error in
            logger.error(
                "cannot record progress",
                metadata: ["request.id": "\(record.requestID)", "error": "\(error)"]
            )
        }
    }

    private func fail(_ record: inout RequestRecord, _ error: FiscalError) {
        record.state = .failed
        record.nonce = nil
        record.errorCode = error.code.rawValue
        record.errorMessage = error.message
        saveOutcome(record)
    }

    /// Writes a final state (failed, aborted). If the store refuses, the request stays active
    /// there until the next start's recovery settles it; say so in the log.
    private func saveOutcome(_ record: RequestRecord) {
        do {
            try store.save(record)
        } catch {
            logger.error(
                "cannot record a request's outcome",
                metadata: [
                    "request.id": "\(record.requestID)", "state": "\(record.state.rawValue)", "error": "\(error)",
                ]
            )
        }
    }

    private func markAborted(_ terminal: TerminalID, _ requestID: String, code: ErrorCode, reason: String) {
        guard var record = try? store.request(terminal, requestID), record.state.isActive else { return }
        record.state = .aborted
        record.nonce = nil
        record.errorCode = code.rawValue
        record.errorMessage = reason
        saveOutcome(record)
    }

    private func raiseHalt(_ error: FiscalError) {
        let first = halt == nil
        halt = (error.code, error.message, ContinuousClock.now + configuration.haltRecheck)
        if first {
            logger.error("device refuses to seal; halting checkouts", metadata: ["device.error": "\(error.code)"])
            var event = TerminalReply.event(.deviceAlert)
            event.code = error.code
            event.message = error.message
            notify(nil, event)
        }
    }

    private func clearHalt() {
        guard halt != nil else { return }
        halt = nil
        notify(nil, TerminalReply.event(.deviceRecovered))
    }
}
