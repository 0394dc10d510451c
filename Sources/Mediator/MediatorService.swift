public import FiscalCore
public import FiscalDevice
import Foundation
public import Logging
public import MediatorStore
public import Metrics
public import ServiceLifecycle
import Synchronization
public import ZeroMQ

/// The mediator: terminals in through the gateway, the device through the device actor, state
/// in the store. Runs as a service under swift-service-lifecycle.
///
/// On start it recovers (settles what a previous run left unfinished) before it reads a single
/// terminal message. On graceful shutdown (SIGTERM, SIGINT) it stops reading, fails what is
/// still queued with SHUTTING_DOWN, lets the exchange in flight finish, then closes the socket.
public final class MediatorService: Service, Sendable {
    public struct Configuration: Sendable {
        public var name = "fiscal-mediator"
        public var version = "0.3.0"
        /// When set, invoices for another outlet are refused.
        public var outletID: String?
        public var gateway = Gateway.Configuration()
        public var device = DeviceActor.Configuration()
        public var rules: FiscalRules = .default
        /// How long the device has been busy, when it can say (the embedded emulator).
        public var deviceBusyTime: (@Sendable () -> Duration)?
        /// Whether an unknown terminal with a well-formed code registers itself at HELLO (a
        /// trusted LAN) or must be added by an admin first (the default).
        public var selfRegister = false
        /// Whether a sale needs a cashier logged in at its terminal, whose id it must carry.
        public var requireCashierLogin = true
        public var heartbeat = HeartbeatMonitor.Configuration()
        public var monitorClock = MonitorClock.system
        /// Where metrics go (Prometheus in `serve`); nowhere by default.
        public var metrics: any MetricsFactory = NOOPMetricsHandler.instance
        public init() {}

        /// What is wrong with these settings, if anything (each names its key).
        public func problems() -> [String] {
            var found = device.problems()
            if heartbeat.profiles.values.contains(where: { $0 <= .zero }) || heartbeat.profiles["default"] == nil {
                found.append("heartbeat.profiles must be positive and include 'default'")
            }
            if heartbeat.missedBeforeOffline < 1 { found.append("heartbeat.missed_before_offline must be at least 1") }
            if gateway.endpoints.isEmpty { found.append("gateway.endpoints must name at least one endpoint") }
            return found
        }
    }

    public let configuration: Configuration
    public let gateway: Gateway
    public let deviceActor: DeviceActor
    public let store: MediatorDatabase
    public let monitor: HeartbeatMonitor
    let logger: Logger
    let metrics: MediatorMetrics
    private let sessions: SessionRegistry
    private let validator: InvoiceValidator

    /// Binds the gateway now (so the endpoints are known before `run`).
    public init(
        configuration: Configuration,
        context: ZMQContext,
        client: FiscalDeviceClient,
        store: MediatorDatabase,
        logger: Logger
    ) throws {
        let problems = configuration.problems()
        guard problems.isEmpty else {
            throw FiscalError(.configInvalid, problems.joined(separator: "; "))
        }
        self.configuration = configuration
        self.store = store
        self.logger = logger
        validator = InvoiceValidator(rules: configuration.rules)
        metrics = MediatorMetrics(factory: configuration.metrics)
        sessions = SessionRegistry(store: store)
        monitor = HeartbeatMonitor(
            configuration: configuration.heartbeat,
            clock: configuration.monitorClock,
            logger: logger
        ) {
            terminal,
            kind,
            detail in
            store.recordEvent(terminal, kind: kind, detail: detail)
        }
        let gateway = try Gateway(context: context, configuration: configuration.gateway)
        self.gateway = gateway
        let sessions = self.sessions
        deviceActor = DeviceActor(
            client: client,
            store: store,
            configuration: configuration.device,
            logger: logger,
            metrics: configuration.metrics
        ) {
            terminal,
            event in
            if let terminal {
                gateway.send(event, to: Array(terminal.rawValue.utf8))
            } else {
                for terminal in sessions.connectedTerminals() { gateway.send(event, to: Array(terminal.rawValue.utf8)) }
            }
        }
    }

    public func run() async throws {
        try await deviceActor.recover()
        let snapshot = await deviceActor.snapshot()
        logger.info(
            "mediator ready",
            metadata: [
                "endpoints": "\(gateway.endpoints.joined(separator: ","))",
                "device.id": "\(snapshot.device.deviceID ?? "?")",
                "device.emulated": "\(snapshot.device.emulated)", "device.link": "\(snapshot.device.link)",
            ]
        )
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await event in self.gateway.loop.events {
                    if case .disconnected(let descriptor) = event { await self.connectionDropped(descriptor) }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.configuration.heartbeat.tick)
                    await self.monitor.evaluate()
                    await self.refreshGauges()
                }
            }
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { handlers in
                    for await message in self.gateway.loop.inbound {
                        handlers.addTask { await self.handle(message) }
                    }
                }
            }
            await deviceActor.beginShutdown()
            await deviceActor.drain()
            gateway.stop()
            group.cancelAll()
        }
        logger.info("mediator stopped")
    }

    // MARK: Messages

    private struct Envelope: Decodable {
        var v: Int?
        var type: String?
        var msgID: String?
        enum CodingKeys: String, CodingKey {
            case v, type
            case msgID = "msg_id"
        }
    }

    func handle(_ message: SocketLoop.Message) async {
        guard message.frames.count == 2, let routingID = message.frames.first else {
            if let routingID = message.frames.first {
                reply(
                    .error(.ping, msgID: nil, FiscalError(.messageInvalid, "a message is exactly one frame of JSON")),
                    to: routingID
                )
            }
            return
        }
        let payload = message.frames[1]
        guard let name = String(validating: routingID, as: UTF8.self), !name.isEmpty, routingID.first != 0 else {
            reply(
                .error(
                    .ping,
                    msgID: nil,
                    FiscalError(.messageInvalid, "set ZMQ_ROUTING_ID to the terminal's id before connecting")
                ),
                to: routingID
            )
            return
        }
        let started = ContinuousClock.now
        let terminal = TerminalID(name)
        let session = sessions.session(for: terminal)
        let heard = await session.heard(on: message.sourceDescriptor)
        if heard.returned {
            logger.info("terminal reconnected", metadata: ["terminal.id": "\(terminal)"])
            await deviceActor.terminalReturned(terminal)
        }

        // One decode for a good message; the envelope alone is read only to explain a bad one.
        let decoder = JSONDecoder()
        let decoded = Result { try decoder.decode(TerminalRequest.self, from: Data(payload)) }
        if case .success(let request) = decoded, request.v == TerminalProtocol.version, request.type != .event {
            await answer(
                request,
                from: terminal,
                routingID: routingID,
                session: session,
                heard: heard,
                started: started
            )
            return
        }
        guard let envelope = try? decoder.decode(Envelope.self, from: Data(payload)) else {
            reply(
                .error(.ping, msgID: nil, FiscalError(.messageInvalid, "the message is not a JSON object")),
                to: routingID
            )
            return
        }
        guard envelope.v == TerminalProtocol.version else {
            let error = FiscalError(
                .unsupportedVersion,
                "protocol version \(envelope.v.map(String.init) ?? "missing"); this mediator speaks 1"
            )
            reply(.error(.ping, msgID: envelope.msgID, error), to: routingID)
            return
        }
        guard let typeName = envelope.type, let type = TerminalProtocol.MessageType(rawValue: typeName), type != .event
        else {
            reply(
                .error(
                    .ping,
                    msgID: envelope.msgID,
                    FiscalError(.unknownMessageType, "unknown type '\(envelope.type ?? "")'")
                ),
                to: routingID
            )
            return
        }
        do {
            _ = try decoded.get()
        } catch let error as DecodingError {
            let path = error.jsonPath
            let fiscal =
                path.hasPrefix("$.invoice")
                ? FiscalError(
                    .schemaInvalid,
                    "the invoice is not well-formed",
                    violations: [Violation(code: .formatInvalid, path: path, message: error.fiscalDescription)]
                )
                : FiscalError(.messageInvalid, error.fiscalDescription)
            reply(.error(type, msgID: envelope.msgID, fiscal), to: routingID)
            return
        } catch {
            reply(.error(type, msgID: envelope.msgID, FiscalError(.messageInvalid, "\(error)")), to: routingID)
            return
        }
        reply(
            .error(type, msgID: envelope.msgID, FiscalError(.messageInvalid, "the message could not be read")),
            to: routingID
        )
    }

    /// Dispatches a well-formed request and sends its answer (or its error).
    private func answer(
        _ request: TerminalRequest,
        from terminal: TerminalID,
        routingID: [UInt8],
        session: TerminalSession,
        heard: TerminalSession.Heard,
        started: ContinuousClock.Instant
    ) async {
        let type = request.type

        let answer: TerminalReply
        do {
            answer = try await dispatch(request, from: terminal, session: session, heard: heard)
        } catch {
            var retryAfter: Int? = nil
            if error.code == .queueFull || error.code == .inProgress || error.code == .deviceUnavailable {
                retryAfter = 500
            }
            answer = .error(type, msgID: request.msgID, error, retryAfterMs: retryAfter)
            let metadata: Logger.Metadata = [
                "terminal.id": "\(terminal)", "error": "\(error.code)", "type": "\(type.rawValue)",
                "reason": "\(error.message)",
            ]
            if Self.accessCodes.contains(error.code) {
                logger.notice("refused", metadata: metadata)
            } else {
                logger.debug("refused", metadata: metadata)
            }
        }
        reply(answer, to: routingID)
        metrics.request(type.rawValue, outcome: answer.code?.rawValue ?? "OK", duration: ContinuousClock.now - started)
    }

    /// Refusals an operator should see in the log: who may use the device, and as whom.
    private static let accessCodes: Set<ErrorCode> = [
        .notRegistered, .terminalInactive, .machineMismatch, .notLoggedIn, .cashierMismatch, .terminalMismatch,
    ]

    private func reply(_ reply: TerminalReply, to routingID: [UInt8]) { gateway.send(reply, to: routingID) }

    /// The device as STATUS shows it (with the emulator's busy time when it can say).
    public func deviceInfo(_ snapshot: DeviceActor.Snapshot) -> TerminalReply.DeviceInfo {
        var info = snapshot.device
        if let busy = configuration.deviceBusyTime?() {
            info.busyMs = Int(busy.wholeMilliseconds)
        }
        return info
    }

    private func dispatch(
        _ request: TerminalRequest,
        from terminal: TerminalID,
        session: TerminalSession,
        heard: TerminalSession.Heard
    ) async throws(FiscalError)
        -> TerminalReply
    {
        var reply = TerminalReply(type: request.type, msgID: request.msgID)
        // Everything but PING and HELLO needs a registered, active terminal whose last HELLO was
        // not refused for coming from another machine.
        var registration: TerminalRecord?
        if request.type != .ping && request.type != .hello {
            if heard.machineRejected {
                throw FiscalError(.machineMismatch, "\(terminal)'s last HELLO came from another machine")
            }
            registration = try registered(terminal)
        }
        if let named = request.terminalID, named != terminal.rawValue {
            throw FiscalError(
                .terminalMismatch,
                "the message names terminal '\(named)' but the routing id is '\(terminal)'"
            )
        }
        switch request.type {
        case .hello:
            return try await hello(request, from: terminal, session: session, reply: reply)
        case .login:
            guard let cashier = request.cashierID, (1...64).contains(cashier.count) else {
                throw FiscalError(.messageInvalid, "LOGIN needs a cashier_id of 1 to 64 characters")
            }
            let (_, closed) = try store.logIn(cashier, at: terminal)
            await session.loggedIn(cashier)
            if let closed {
                logger.info(
                    "cashier session superseded",
                    metadata: ["terminal.id": "\(terminal)", "cashier.id": "\(closed.cashierID)"]
                )
            }
            reply.cashierID = cashier
        case .logout:
            _ = try store.logOut(at: terminal)
            await session.loggedIn(nil)
        case .heartbeat:
            guard let health = request.health else {
                throw FiscalError(.messageInvalid, "HEARTBEAT needs the health object")
            }
            let violations = health.violations()
            guard violations.isEmpty else {
                throw FiscalError(
                    .messageInvalid,
                    "the heartbeat's status fields are malformed",
                    violations: violations
                )
            }
            if let version = request.appVersion, version.count > 64 {
                throw FiscalError(.messageInvalid, "app_version is longer than 64 characters")
            }
            let profile = registration?.heartbeatProfile ?? "default"
            await monitor.heartbeat(
                terminal,
                profile: profile,
                health: health,
                cashier: request.cashierID,
                appVersion: request.appVersion
            )
            reply.heartbeatMs = Int(configuration.heartbeat.interval(profile).wholeMilliseconds)
        case .ping:
            break
        case .status:
            let snapshot = await deviceActor.snapshot()
            reply.device = deviceInfo(snapshot)
            reply.lockHolder = snapshot.holder
            reply.queueDepth = snapshot.queueDepth
            reply.inDoubt = snapshot.inDoubt
        case .fiscalize, .prepare:
            return try await fiscalizeOrPrepare(request, from: terminal, cashier: heard.cashier, reply: reply)
        case .commit:
            let requestID = try requireRequestID(request)
            guard let nonce = request.nonce, !nonce.isEmpty else {
                throw FiscalError(.messageInvalid, "COMMIT needs the nonce")
            }
            guard let record = try? store.request(terminal, requestID) else {
                throw FiscalError(.notPrepared, "request \(requestID) was never prepared")
            }
            // The store answers for finished requests; while one is live, the device actor
            // (which holds its nonce) is the authority.
            switch record.state {
            case .sealed:
                return try replaySealed(record, reply: reply)
            case .aborted, .failed:
                throw FiscalError(
                    ErrorCode(rawValue: record.errorCode ?? ErrorCode.aborted.rawValue),
                    record.errorMessage ?? "request \(requestID) was aborted"
                )
            case .queued, .prepared, .committing, .inDoubt:
                let sealed = try await deviceActor.commit(terminal: terminal, requestID: requestID, nonce: nonce)
                reply.requestID = requestID
                reply.securityElements = sealed.securityElements
            }
        case .abort:
            let requestID = try requireRequestID(request)
            let state = await deviceActor.abort(terminal: terminal, requestID: requestID)
            guard let state else {
                guard let record = try? store.request(terminal, requestID) else {
                    throw FiscalError(.notFound, "no request \(requestID) from \(terminal)")
                }
                if record.state == .sealed {
                    throw FiscalError(
                        .notPrepared,
                        "request \(requestID) is already sealed as \(record.invoiceSeq ?? 0)"
                    )
                }
                reply.requestID = requestID
                reply.state = record.state.rawValue
                return reply
            }
            reply.requestID = requestID
            reply.state = state.rawValue
        case .result:
            let requestID = try requireRequestID(request)
            guard let record = try? store.request(terminal, requestID) else {
                throw FiscalError(.notFound, "no request \(requestID) from \(terminal)")
            }
            reply.requestID = requestID
            reply.state = record.state.rawValue
            if record.state == .sealed, let seq = record.invoiceSeq, let sealed = try? store.sealedInvoice(seq) {
                reply.securityElements = sealed.securityElements
            }
            if let code = record.errorCode {
                reply.code = ErrorCode(rawValue: code)
                reply.message = record.errorMessage
            }
        case .log:
            guard let seq = request.invoiceSeq else { throw FiscalError(.messageInvalid, "LOG needs invoice_seq") }
            guard let sealed = try? store.sealedInvoice(seq) else {
                throw FiscalError(.notFound, "no sealed invoice \(seq) here")
            }
            reply.sealed = TerminalReply.SealedRecord(
                securityElements: sealed.securityElements,
                posTerminalID: sealed.terminalID.rawValue,
                cashierID: sealed.cashierID,
                outletID: sealed.outletID,
                laneNumber: sealed.laneNumber,
                requestID: sealed.requestID,
                sealedAt: sealed.sealedAt
            )
        case .event:
            throw FiscalError(.unknownMessageType, "EVENT is sent by the mediator only")
        }
        return reply
    }

    private func fiscalizeOrPrepare(
        _ request: TerminalRequest,
        from terminal: TerminalID,
        cashier: String?,
        reply: TerminalReply
    ) async throws(FiscalError)
        -> TerminalReply
    {
        var reply = reply
        let requestID = try requireRequestID(request)
        guard let invoice = request.invoice else {
            throw FiscalError(.messageInvalid, "\(request.type.rawValue) needs the invoice")
        }
        guard invoice.posTerminalID == terminal.rawValue else {
            throw FiscalError(
                .terminalMismatch,
                "the invoice's pos_terminal_id '\(invoice.posTerminalID)' is not the sender '\(terminal)'"
            )
        }
        if configuration.requireCashierLogin {
            guard let cashier else {
                throw FiscalError(.notLoggedIn, "no cashier is logged in at \(terminal); send LOGIN first")
            }
            guard invoice.cashierID == cashier else {
                throw FiscalError(
                    .cashierMismatch,
                    "the invoice's cashier_id '\(invoice.cashierID)' is not the cashier logged in at \(terminal) ('\(cashier)')"
                )
            }
        }
        if let outlet = configuration.outletID, invoice.outletID != outlet {
            throw FiscalError(
                .terminalMismatch,
                "the invoice's outlet_id '\(invoice.outletID)' is not this mediator's outlet '\(outlet)'"
            )
        }
        try validator.validate(invoice)
        let mode: RequestRecord.Mode = request.type == .fiscalize ? .fiscalize : .twoPhase
        let candidate = RequestRecord(invoice: invoice, terminal: terminal, requestID: requestID, mode: mode)
        let admission: MediatorDatabase.Admission
        do {
            admission = try store.admit(candidate)
        } catch {
            throw FiscalError(.deviceUnavailable, "the store refused the request: \(error)")
        }
        reply.requestID = requestID
        switch admission {
        case .existing(let record):
            guard record.payloadDigest == candidate.payloadDigest else {
                throw FiscalError(.idempotencyConflict, "request \(requestID) was used for another invoice")
            }
            if record.state == .sealed { return try replaySealed(record, reply: reply) }
            throw FiscalError(.inProgress, "request \(requestID) is \(record.state.rawValue); ask RESULT")
        case .stored(let record):
            if mode == .fiscalize {
                let sealed = try await deviceActor.fiscalize(record)
                reply.securityElements = sealed.securityElements
            } else {
                let (prepared, lease) = try await deviceActor.prepareAndHold(record)
                reply.nonce = prepared.nonce.rawValue
                reply.nextInvoiceSeq = prepared.nextInvoiceSeq.rawValue
                reply.leaseMs = Int(
                    lease.wholeMilliseconds
                )
            }
            return reply
        }
    }

    private func replaySealed(_ record: RequestRecord, reply: TerminalReply) throws(FiscalError) -> TerminalReply {
        guard let seq = record.invoiceSeq, let sealed = try? store.sealedInvoice(seq) else {
            if let seq = record.invoiceSeq, seq <= (try? store.prunedThrough()) ?? 0 {
                throw FiscalError(
                    .notFound,
                    "request \(record.requestID) was sealed as invoice \(seq); its local copy was removed after the cloud confirmed it"
                )
            }
            throw FiscalError(
                .deviceUnavailable,
                "request \(record.requestID) is sealed but its invoice is not readable"
            )
        }
        var reply = reply
        reply.requestID = record.requestID
        reply.securityElements = sealed.securityElements
        reply.replayed = true
        return reply
    }

    private func requireRequestID(_ request: TerminalRequest) throws(FiscalError) -> String {
        guard let id = request.requestID, !id.isEmpty, id.count <= 64 else {
            throw FiscalError(.messageInvalid, "\(request.type.rawValue) needs a request_id of 1 to 64 characters")
        }
        return id
    }

    private func connectionDropped(_ descriptor: Int32) async {
        for session in sessions.all() where await session.dropped(descriptor) {
            logger.info("terminal disconnected", metadata: ["terminal.id": "\(session.terminal)"])
            sessions.markDisconnected(session.terminal)
            await monitor.disconnected(session.terminal)
            await deviceActor.terminalDisconnected(session.terminal)
        }
    }

    // MARK: Registry and cashiers

    /// The registry entry of a terminal allowed to work: registered and active.
    private func registered(_ terminal: TerminalID) throws(FiscalError) -> TerminalRecord {
        let record: TerminalRecord?
        do { record = try store.terminal(terminal) } catch {
            throw FiscalError(.deviceUnavailable, "the store failed reading the registry: \(error)")
        }
        guard let record else {
            let hint =
                configuration.selfRegister
                ? "send HELLO to register it" : "an admin adds it with `fiscal-mediator terminals add \(terminal)`"
            throw FiscalError(.notRegistered, "terminal \(terminal) is not registered; \(hint)")
        }
        guard record.active else {
            throw FiscalError(.terminalInactive, "terminal \(terminal) is deactivated; an admin reactivates it")
        }
        return record
    }

    /// HELLO: registers (when self-registration is on), checks the machine binding (binding an
    /// unbound terminal), opens the cashier's session when one is named, and counts as a
    /// heartbeat.
    private func hello(
        _ request: TerminalRequest,
        from terminal: TerminalID,
        session: TerminalSession,
        reply: TerminalReply
    ) async throws(FiscalError) -> TerminalReply {
        var reply = reply
        guard request.terminalID == terminal.rawValue else {
            throw FiscalError(
                .terminalMismatch,
                "HELLO names terminal '\(request.terminalID ?? "")' but the routing id is '\(terminal)'"
            )
        }
        if configuration.selfRegister, (try? store.terminal(terminal)) == nil {
            do throws(FiscalError) {
                let record = try TerminalRecord(code: terminal, machineID: request.machineID)
                _ = try store.addTerminal(record)
                logger.notice("terminal registered itself", metadata: ["terminal.id": "\(terminal)"])
            } catch  where error.code == .formatInvalid {
                throw FiscalError(.notRegistered, "\(terminal) cannot register itself: \(error.message)")
            }
        }
        let registration = try registered(terminal)
        do throws(FiscalError) {
            if let machine = request.machineID {
                if try store.bindAtHello(terminal, machineID: machine) == .bound {
                    logger.notice(
                        "terminal bound",
                        metadata: ["terminal.id": "\(terminal)", "machine.id": "\(machine)"]
                    )
                }
            } else if registration.machineID != nil {
                throw FiscalError(
                    .machineMismatch,
                    "\(terminal) is bound to a machine; HELLO must carry its machine_id"
                )
            }
        } catch  where error.code == .machineMismatch {
            await session.hello(machineRejected: true)
            throw error
        }
        await session.hello(machineRejected: false)
        var cashier = (try? store.currentSession(at: terminal))?.cashierID
        if let named = request.cashierID, !named.isEmpty, named != cashier {
            guard named.count <= 64 else {
                throw FiscalError(.messageInvalid, "cashier_id is longer than 64 characters")
            }
            _ = try store.logIn(named, at: terminal)
            cashier = named
        }
        await session.loggedIn(cashier)
        await monitor.heartbeat(terminal, profile: registration.heartbeatProfile, appVersion: request.appVersion)

        let snapshot = await deviceActor.snapshot()
        reply.mediator = TerminalReply.MediatorInfo(
            name: configuration.name,
            version: configuration.version,
            outletID: configuration.outletID ?? ""
        )
        reply.device = deviceInfo(snapshot)
        reply.leaseMs = Int(configuration.device.lease.wholeMilliseconds)
        reply.cashierID = cashier
        reply.heartbeatMs = Int(configuration.heartbeat.interval(registration.heartbeatProfile).wholeMilliseconds)
        reply.terminal = TerminalReply.TerminalInfo(
            code: registration.code.rawValue,
            name: registration.name,
            kind: registration.kind,
            businessMode: registration.businessMode,
            laneNumber: registration.laneNumber
        )
        return reply
    }

    // MARK: Overview (the ops API)

    /// One registered terminal with what the mediator knows of it now.
    public struct TerminalOverview: Sendable {
        public var registration: TerminalRecord
        public var liveness: HeartbeatMonitor.Status?
        public var connected: Bool
        public var cashier: String?
        public var holdsDevice: Bool
    }

    /// Every registered terminal, by code, with its liveness, cashier and whether it holds the
    /// device (the status table of spec §4.8.3).
    public func terminalOverview() async throws -> [TerminalOverview] {
        let registry = try store.terminals()
        let liveness = await monitor.statuses()
        let holder = await deviceActor.snapshot().holder?.terminalID
        let connected = Set(sessions.connectedTerminals())
        var rows: [TerminalOverview] = []
        for terminal in registry {
            rows.append(
                TerminalOverview(
                    registration: terminal,
                    liveness: liveness[terminal.code],
                    connected: connected.contains(terminal.code) && (liveness[terminal.code]?.connected ?? true),
                    cashier: try store.currentSession(at: terminal.code)?.cashierID,
                    holdsDevice: holder == terminal.code.rawValue
                )
            )
        }
        return rows
    }

    /// Brings the gauges up to date (every monitor tick, and before a scrape).
    public func refreshGauges() async {
        let snapshot = await deviceActor.snapshot()
        metrics.queueDepth.set(snapshot.queueDepth)
        metrics.inDoubt.set(snapshot.inDoubt)
        metrics.lockHeld.set(snapshot.holder == nil ? 0 : 1)
        if let seq = snapshot.device.lastInvoiceSeq { metrics.lastInvoiceSeq.set(Int64(clamping: seq)) }
        metrics.terminalsOnline.set(await monitor.onlineCount())
    }
}

/// The mediator's own metrics, through swift-metrics (Prometheus in `serve`).
final class MediatorMetrics: Sendable {
    let factory: any MetricsFactory
    let queueDepth: Meter
    let inDoubt: Meter
    let lockHeld: Meter
    let lastInvoiceSeq: Meter
    let terminalsOnline: Meter
    private let counters = Mutex<[String: (Counter, Metrics.Timer)]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
        queueDepth = Meter(label: "fiscal_queue_depth", factory: factory)
        inDoubt = Meter(label: "fiscal_in_doubt", factory: factory)
        lockHeld = Meter(label: "fiscal_device_lock_held", factory: factory)
        lastInvoiceSeq = Meter(label: "fiscal_last_invoice_seq", factory: factory)
        terminalsOnline = Meter(label: "fiscal_terminals_online", factory: factory)
    }

    /// Counts a request of `type` by outcome (`OK` or its error code) and records its latency.
    func request(_ type: String, outcome: String, duration: Duration) {
        let key = type + "/" + outcome
        let (counter, timer) = counters.withLock { cache in
            if let found = cache[key] { return found }
            let made = (
                Counter(
                    label: "fiscal_requests_total",
                    dimensions: [("type", type), ("outcome", outcome)],
                    factory: factory
                ),
                Metrics.Timer(label: "fiscal_request_duration_seconds", dimensions: [("type", type)], factory: factory)
            )
            cache[key] = made
            return made
        }
        counter.increment()
        timer.record(duration: duration)
    }
}

/// The sessions by terminal id. A `Mutex`-guarded map: looked up on every message.
final class SessionRegistry: Sendable {
    private let sessions = Mutex<[TerminalID: TerminalSession]>([:])
    private let connected = Mutex<Set<TerminalID>>([])
    private let store: MediatorDatabase

    init(store: MediatorDatabase) { self.store = store }

    /// The session of `terminal`, made on its first message (with the cashier the store says is
    /// logged in there, so a restart keeps who is at which terminal).
    func session(for terminal: TerminalID) -> TerminalSession {
        connected.withLock { _ = $0.insert(terminal) }
        if let session = sessions.withLock({ $0[terminal] }) { return session }
        let cashier = (try? store.currentSession(at: terminal))?.cashierID
        return sessions.withLock { map in
            if let session = map[terminal] { return session }
            let session = TerminalSession(terminal: terminal, cashier: cashier)
            map[terminal] = session
            return session
        }
    }

    func all() -> [TerminalSession] { sessions.withLock { Array($0.values) } }

    /// Terminals that have sent something on their current connection.
    func connectedTerminals() -> [TerminalID] { connected.withLock { Array($0) } }

    func markDisconnected(_ terminal: TerminalID) { connected.withLock { _ = $0.remove(terminal) } }
}
