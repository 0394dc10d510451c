public import FiscalCore
public import FiscalDevice
import Foundation
public import Logging
public import MediatorStore
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
        public init() {}
    }

    public let configuration: Configuration
    public let gateway: Gateway
    public let deviceActor: DeviceActor
    public let store: MediatorDatabase
    let logger: Logger
    private let sessions = SessionRegistry()
    private let validator: InvoiceValidator

    /// Binds the gateway now (so the endpoints are known before `run`).
    public init(
        configuration: Configuration,
        context: ZMQContext,
        client: FiscalDeviceClient,
        store: MediatorDatabase,
        logger: Logger
    ) throws {
        self.configuration = configuration
        self.store = store
        self.logger = logger
        validator = InvoiceValidator(rules: configuration.rules)
        let gateway = try Gateway(context: context, configuration: configuration.gateway)
        self.gateway = gateway
        let sessions = self.sessions
        deviceActor = DeviceActor(client: client, store: store, configuration: configuration.device, logger: logger) {
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
        let terminal = TerminalID(name)
        let session = sessions.session(for: terminal)
        await session.heard(on: message.sourceDescriptor)

        let decoder = JSONDecoder()
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
        let request: TerminalRequest
        do {
            request = try decoder.decode(TerminalRequest.self, from: Data(payload))
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

        let answer: TerminalReply
        do {
            answer = try await dispatch(request, from: terminal, session: session)
        } catch {
            var retryAfter: Int? = nil
            if error.code == .queueFull || error.code == .inProgress || error.code == .deviceUnavailable {
                retryAfter = 500
            }
            answer = .error(type, msgID: request.msgID, error, retryAfterMs: retryAfter)
            logger.debug(
                "refused",
                metadata: ["terminal.id": "\(terminal)", "error": "\(error.code)", "type": "\(type.rawValue)"]
            )
        }
        reply(answer, to: routingID)
    }

    private func reply(_ reply: TerminalReply, to routingID: [UInt8]) { gateway.send(reply, to: routingID) }

    private func deviceInfo(_ snapshot: DeviceActor.Snapshot) -> TerminalReply.DeviceInfo {
        var info = snapshot.device
        if let busy = configuration.deviceBusyTime?() {
            info.busyMs = Int(busy.wholeMilliseconds)
        }
        return info
    }

    private func dispatch(
        _ request: TerminalRequest,
        from terminal: TerminalID,
        session: TerminalSession
    ) async throws(FiscalError)
        -> TerminalReply
    {
        var reply = TerminalReply(type: request.type, msgID: request.msgID)
        switch request.type {
        case .hello:
            guard request.terminalID == terminal.rawValue else {
                throw FiscalError(
                    .terminalMismatch,
                    "HELLO names terminal '\(request.terminalID ?? "")' but the routing id is '\(terminal)'"
                )
            }
            await session.hello(cashier: request.cashierID, appVersion: request.appVersion)
            let snapshot = await deviceActor.snapshot()
            reply.mediator = TerminalReply.MediatorInfo(
                name: configuration.name,
                version: configuration.version,
                outletID: configuration.outletID ?? ""
            )
            reply.device = deviceInfo(snapshot)
            reply.leaseMs = Int(configuration.device.lease.wholeMilliseconds)
        case .ping:
            break
        case .status:
            let snapshot = await deviceActor.snapshot()
            reply.device = deviceInfo(snapshot)
            reply.lockHolder = snapshot.holder
            reply.queueDepth = snapshot.queueDepth
            reply.inDoubt = snapshot.inDoubt
        case .fiscalize, .prepare:
            return try await fiscalizeOrPrepare(request, from: terminal, reply: reply)
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
        if let outlet = configuration.outletID, invoice.outletID != outlet {
            throw FiscalError(
                .terminalMismatch,
                "the invoice's outlet_id '\(invoice.outletID)' is not this mediator's outlet '\(outlet)'"
            )
        }
        try validator.validate(invoice)
        let canonical = invoice.canonicalJSON()
        let mode: RequestRecord.Mode = request.type == .fiscalize ? .fiscalize : .twoPhase
        let candidate = RequestRecord(
            terminalID: terminal,
            requestID: requestID,
            payloadDigest: SHA256.hex(canonical),
            payload: canonical,
            outletID: invoice.outletID,
            cashierID: invoice.cashierID,
            laneNumber: invoice.laneNumber,
            mode: mode
        )
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
            await deviceActor.terminalDisconnected(session.terminal)
        }
    }
}

/// The sessions by terminal id. A `Mutex`-guarded map: looked up on every message.
final class SessionRegistry: Sendable {
    private let sessions = Mutex<[TerminalID: TerminalSession]>([:])
    private let connected = Mutex<Set<TerminalID>>([])

    func session(for terminal: TerminalID) -> TerminalSession {
        connected.withLock { _ = $0.insert(terminal) }
        return sessions.withLock { map in
            if let session = map[terminal] { return session }
            let session = TerminalSession(terminal: terminal)
            map[terminal] = session
            return session
        }
    }

    func all() -> [TerminalSession] { sessions.withLock { Array($0.values) } }

    /// Terminals that have sent something on their current connection.
    func connectedTerminals() -> [TerminalID] { connected.withLock { Array($0) } }

    func markDisconnected(_ terminal: TerminalID) { connected.withLock { _ = $0.remove(terminal) } }
}
