import FiscalCore
import Foundation
import Logging
import MediatorStore
import Synchronization
import ZeroMQ

/// Message intake: decode, order per terminal, authorize, dispatch.
///
/// Every message of one terminal is handled in the order it arrived (an ABORT never overtakes
/// the FISCALIZE it cancels); different terminals run concurrently. A handler returns as soon
/// as its message is handed over: a sale's reply comes later, from the device actor, so the
/// terminal's next message is not held behind it.
extension MediatorService {
    /// Reads the gateway until it is cancelled, each message on its routing id's lane.
    func readMessages() async {
        await withDiscardingTaskGroup { group in
            for await message in gateway.loop.inbound {
                guard let lane = lanes.enqueue(message) else { continue }
                group.addTask {
                    for await queued in lane { await self.handle(queued) }
                }
            }
            lanes.finishAll()
        }
    }

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
            let context = Context(
                request: request,
                terminal: terminal,
                routingID: routingID,
                session: session,
                heard: heard,
                started: started
            )
            do {
                if let answer = try await dispatch(context) { finish(context, answer) }
            } catch {
                finish(context, refusal(context, error, retryAfter: nil))
            }
            return
        }
        reply(explain(decoded, payload), to: routingID)
    }

    /// The error reply for a message that did not decode (or is not for this protocol version).
    private func explain(_ decoded: Result<TerminalRequest, any Error>, _ payload: [UInt8]) -> TerminalReply {
        guard let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(payload)) else {
            return .error(.ping, msgID: nil, FiscalError(.messageInvalid, "the message is not a JSON object"))
        }
        guard envelope.v == TerminalProtocol.version else {
            let error = FiscalError(
                .unsupportedVersion,
                "protocol version \(envelope.v.map(String.init) ?? "missing"); this mediator speaks 1"
            )
            return .error(.ping, msgID: envelope.msgID, error)
        }
        guard let typeName = envelope.type, let type = TerminalProtocol.MessageType(rawValue: typeName), type != .event
        else {
            return .error(
                .ping,
                msgID: envelope.msgID,
                FiscalError(.unknownMessageType, "unknown type '\(envelope.type ?? "")'")
            )
        }
        switch decoded {
        case .failure(let error as DecodingError):
            let path = error.jsonPath
            let fiscal =
                path.hasPrefix("$.invoice")
                ? FiscalError(
                    .schemaInvalid,
                    "the invoice is not well-formed",
                    violations: [Violation(code: .formatInvalid, path: path, message: error.fiscalDescription)]
                )
                : FiscalError(.messageInvalid, error.fiscalDescription)
            return .error(type, msgID: envelope.msgID, fiscal)
        case .failure(let error):
            return .error(type, msgID: envelope.msgID, FiscalError(.messageInvalid, "\(error)"))
        case .success:
            return .error(type, msgID: envelope.msgID, FiscalError(.messageInvalid, "the message could not be read"))
        }
    }

    /// One decoded message and where it came from.
    struct Context: Sendable {
        var request: TerminalRequest
        var terminal: TerminalID
        var routingID: [UInt8]
        var session: TerminalSession
        var heard: TerminalSession.Heard
        var started: ContinuousClock.Instant

        var type: TerminalProtocol.MessageType { request.type }
        var blankReply: TerminalReply { TerminalReply(type: request.type, msgID: request.msgID) }
    }

    /// Authorizes and runs a message. Returns its reply, or nil when the reply comes later
    /// (a sale: the device actor answers through ``finish(_:_:)``).
    private func dispatch(_ context: Context) async throws(FiscalError) -> TerminalReply? {
        let request = context.request
        let terminal = context.terminal
        // Everything but PING and HELLO needs a registered, active terminal whose last HELLO was
        // not refused for coming from another machine.
        var registration: TerminalRecord?
        if request.type != .ping && request.type != .hello {
            if context.heard.machineRejected {
                throw FiscalError(.machineMismatch, "\(terminal)'s last HELLO came from another machine")
            }
            registration = try await registered(terminal)
        }
        if let named = request.terminalID, named != terminal.rawValue {
            throw FiscalError(
                .terminalMismatch,
                "the message names terminal '\(named)' but the routing id is '\(terminal)'"
            )
        }
        switch request.type {
        case .hello: return try await hello(context)
        case .login: return try await login(context)
        case .logout: return try await logout(context)
        case .heartbeat: return try await heartbeat(context, profile: registration?.heartbeatProfile ?? "default")
        case .ping: return context.blankReply
        case .status: return await status(context)
        case .fiscalize, .prepare: try await sale(context)
        case .commit: try await commit(context)
        case .abort: try await abort(context)
        case .result: try await result(context)
        case .log: return try await log(context)
        case .event: throw FiscalError(.unknownMessageType, "EVENT is sent by the mediator only")
        }
        return nil
    }

    /// Sends the reply to a message, and counts it.
    func finish(_ context: Context, _ answer: TerminalReply) {
        reply(answer, to: context.routingID)
        metrics.request(
            context.type.rawValue,
            outcome: answer.code?.rawValue ?? "OK",
            duration: context.started.duration(to: .now)
        )
    }

    /// The ERR reply for `error`, logged (access refusals at notice: an operator should see them).
    func refusal(_ context: Context, _ error: FiscalError, retryAfter: Duration?) -> TerminalReply {
        let metadata: Logger.Metadata = [
            "terminal.id": "\(context.terminal)", "error": "\(error.code)", "type": "\(context.type.rawValue)",
            "reason": "\(error.message)",
        ]
        if Self.accessCodes.contains(error.code) {
            logger.notice("refused", metadata: metadata)
        } else {
            logger.debug("refused", metadata: metadata)
        }
        let retryAfter = retryAfter ?? (error.code == .inProgress ? configuration.device.busyRetryAfter : nil)
        return .error(
            context.type,
            msgID: context.request.msgID,
            error,
            retryAfterMs: retryAfter.map { Int($0.wholeMilliseconds) }
        )
    }

    /// Refusals an operator should see in the log: who may use the device, and as whom.
    private static let accessCodes: Set<ErrorCode> = [
        .notRegistered, .terminalInactive, .machineMismatch, .notLoggedIn, .cashierMismatch, .terminalMismatch,
    ]

    func reply(_ reply: TerminalReply, to routingID: [UInt8]) { gateway.send(reply, to: routingID) }

    /// The registry entry of a terminal allowed to work: registered and active.
    func registered(_ terminal: TerminalID) async throws(FiscalError) -> TerminalRecord {
        let record: TerminalRecord?
        do { record = try await store.terminalRecord(terminal) } catch {
            throw StoreFailure.fiscal(error)
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
}

/// One lane per routing id: its messages are handled one after the other, in arrival order.
///
/// At most ``limit`` lanes; messages from further routing ids share one overflow lane (still in
/// order, only no longer concurrent with each other), so a flood of made-up ids cannot make
/// tasks without bound.
final class TerminalLanes: Sendable {
    static let limit = 256
    private let lanes = Mutex<[[UInt8]: AsyncStream<SocketLoop.Message>.Continuation]>([:])

    /// Queues `message` on its lane. Returns the stream of a lane made for it: the caller runs it.
    func enqueue(_ message: SocketLoop.Message) -> AsyncStream<SocketLoop.Message>? {
        let routingID = message.frames.first ?? []
        return lanes.withLock { lanes in
            let key = lanes[routingID] != nil || lanes.count < Self.limit ? routingID : []
            if let lane = lanes[key] {
                lane.yield(message)
                return nil
            }
            let (stream, continuation) = AsyncStream.makeStream(of: SocketLoop.Message.self)
            lanes[key] = continuation
            continuation.yield(message)
            return stream
        }
    }

    func finishAll() {
        let all = lanes.withLock { lanes in
            defer { lanes.removeAll() }
            return Array(lanes.values)
        }
        for lane in all { lane.finish() }
    }
}
