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
            let rate = (configuration.gateway.rateLimit, configuration.gateway.rateBurst)
            let byKey = !gateway.insecure
            for await message in gateway.loop.inbound {
                // A lane per terminal key (CURVE: a reconnection keeps its lane and its order), or
                // per routing id (plaintext).
                let lane = byKey ? Array((message.userID ?? "").utf8) : message.frames.first ?? []
                switch lanes.enqueue(message, lane: lane, rate: rate) {
                case .queued:
                    break
                case .opened(let lane):
                    group.addTask {
                        for await queued in lane { await self.handle(queued) }
                    }
                case .limited(let wait):
                    refuseFast(message, FiscalError(.rateLimited, "too many messages; slow down"), retryAfter: wait)
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
        let started = ContinuousClock.now
        let terminal: TerminalID
        var registration: TerminalRecord?
        if gateway.insecure {
            guard let name = String(validating: routingID, as: UTF8.self), !name.isEmpty, routingID.first != 0 else {
                // A peer without a routing id of its own (libzmq made one up): PING is answered, so
                // a client can check the line; anything else is told to set one.
                let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(payload))
                let type = envelope?.type.flatMap(TerminalProtocol.MessageType.init(rawValue:)) ?? .ping
                if envelope?.v == TerminalProtocol.version, type == .ping, envelope?.type == "PING" {
                    reply(TerminalReply(type: .ping, msgID: envelope?.msgID), to: routingID)
                    return
                }
                reply(
                    .error(
                        type == .event ? .ping : type,
                        msgID: envelope?.msgID,
                        FiscalError(.messageInvalid, "set ZMQ_ROUTING_ID to the terminal's id before connecting")
                    ),
                    to: routingID
                )
                return
            }
            terminal = TerminalID(name)
        } else {
            // CURVE: the terminal is whoever the registry pins this connection's key to now. The
            // ZAP handler admitted the key at connect; it may have been revoked or rotated since.
            let record: TerminalRecord?
            do {
                if let key = message.userID {
                    record = try await store.terminalRecord(forKey: key)
                } else {
                    record = nil
                }
            } catch {
                refuseAnonymous(payload, StoreFailure.fiscal(error), to: routingID)
                return
            }
            guard let record else {
                logger.notice(
                    "refused a key no longer paired",
                    metadata: ["key": "\(message.userID?.prefix(8) ?? "-")"]
                )
                refuseAnonymous(
                    payload,
                    FiscalError(
                        .keyNotPaired,
                        "this key is not paired to any terminal (revoked or rotated); pair again"
                    ),
                    to: routingID
                )
                return
            }
            terminal = record.code
            registration = record
            gateway.learned(terminal, on: message.connection, peer: routingID)
        }
        // One decode for a good message; the envelope alone is read only to explain a bad one.
        let decoded = Result { try JSONDecoder().decode(TerminalRequest.self, from: Data(payload)) }
        guard case .success(let request) = decoded, request.v == TerminalProtocol.version, request.type != .event
        else {
            reply(explain(decoded, payload), to: routingID)
            return
        }
        // A terminal the registry does not know (or that is deactivated) gets no session: PING
        // is answered, anything else refused, and a flood of made-up ids costs no memory.
        var day: TerminalDay.StateMachine?
        // A sale's attribution needs the terminal's day: read with the registry, in one trip
        // (under CURVE the registry was read by key already; a sale reads it again with its day).
        let isSale = request.type == .fiscalize || request.type == .prepare
        if gateway.insecure || isSale {
            do {
                let (record, found) = try await store.terminalRecord(terminal, withDay: isSale)
                if gateway.insecure { registration = record }
                day = found
            } catch {
                reply(refusal(request, terminal, StoreFailure.fiscal(error), retryAfter: nil), to: routingID)
                return
            }
        }
        let admitted =
            registration?.active == true || (request.type == .hello && configuration.selfRegister && gateway.insecure)
        guard admitted else {
            if request.type == .ping {
                reply(TerminalReply(type: .ping, msgID: request.msgID), to: routingID)
            } else {
                let error = registration == nil ? notRegistered(terminal) : inactive(terminal)
                reply(refusal(request, terminal, error, retryAfter: nil), to: routingID)
            }
            return
        }
        let session = sessions.session(for: terminal)
        let heard = await session.heard(on: message.connection)
        if heard.returned {
            logger.info("terminal reconnected", metadata: ["terminal.id": "\(terminal)"])
            await deviceActor.terminalReturned(terminal)
        }
        let context = Context(
            request: request,
            terminal: terminal,
            registration: registration,
            day: day,
            routingID: routingID,
            session: session,
            heard: heard,
            started: started
        )
        do {
            if let answer = try await dispatch(context) { finish(context, answer) }
        } catch {
            finish(context, refusal(request, terminal, error, retryAfter: nil))
        }
    }

    /// Refuses a message from a connection that speaks for no terminal (CURVE: its key was
    /// unpinned since it connected), on that connection only.
    private func refuseAnonymous(_ payload: [UInt8], _ error: FiscalError, to routingID: [UInt8]) {
        let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(payload))
        let type = envelope?.type.flatMap(TerminalProtocol.MessageType.init(rawValue:)) ?? .ping
        reply(.error(type == .event ? .ping : type, msgID: envelope?.msgID, error), to: routingID)
    }

    /// Refuses a message before it reaches its lane (a flood): its envelope is read for the
    /// `msg_id` and type, nothing more.
    private func refuseFast(_ message: SocketLoop.Message, _ error: FiscalError, retryAfter: Duration) {
        guard message.frames.count == 2, let routingID = message.frames.first else { return }
        let envelope = try? JSONDecoder().decode(Envelope.self, from: Data(message.frames[1]))
        let type = envelope?.type.flatMap(TerminalProtocol.MessageType.init(rawValue:)) ?? .ping
        let answer = TerminalReply.error(
            type == .event ? .ping : type,
            msgID: envelope?.msgID,
            error,
            retryAfterMs: Int(retryAfter.wholeMilliseconds)
        )
        reply(answer, to: routingID)
        metrics.request(answer.type.rawValue, outcome: error.code.rawValue, duration: .zero)
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
            let violations = [Violation(code: .formatInvalid, path: path, message: error.fiscalDescription)]
            let fiscal =
                if path.hasPrefix("$.invoice") {
                    FiscalError(.schemaInvalid, "the invoice is not well-formed", violations: violations)
                } else if path.hasPrefix("$.sale") {
                    FiscalError(.saleContextInvalid, "the sale context is not well-formed", violations: violations)
                } else if type == .openPeriod, path.hasPrefix("$.opening_float") {
                    FiscalError(.floatInvalid, "the opening float is not well-formed", violations: violations)
                } else if type == .closePeriod, path.hasPrefix("$.count") {
                    FiscalError(.cashCountInvalid, "the cash count is not well-formed", violations: violations)
                } else if type == .cashEvent, path != "$.event_id" {
                    FiscalError(.cashEventInvalid, "the cash event is not well-formed", violations: violations)
                } else {
                    FiscalError(.messageInvalid, error.fiscalDescription)
                }
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
        /// Its registry entry when the message arrived (nil only for a HELLO that registers it).
        var registration: TerminalRecord?
        /// For a sale: the terminal's day (open period and session) when the message arrived.
        /// Its own messages are handled in order, so no OPEN_PERIOD or LOGIN of it can pass this one.
        var day: TerminalDay.StateMachine?
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
        // Everything but PING and HELLO needs a terminal whose last HELLO was not refused for
        // coming from another machine (the intake checked it is registered and active).
        if request.type != .ping && request.type != .hello && context.heard.machineRejected {
            throw FiscalError(.machineMismatch, "\(terminal)'s last HELLO came from another machine")
        }
        if let named = request.terminalID, named != terminal.rawValue {
            throw FiscalError(
                .terminalMismatch,
                "the message names terminal '\(named)' but the sender is '\(terminal)'"
            )
        }
        switch request.body {
        case .hello(let hello): return try await self.hello(context, hello)
        case .login(let login): return try await self.login(context, login)
        case .logout: return try await logout(context)
        case .heartbeat(let heartbeat):
            return try await self.heartbeat(
                context,
                heartbeat,
                profile: context.registration?.heartbeatProfile ?? "default"
            )
        case .ping: return context.blankReply
        case .status: return await status(context)
        case .fiscalize(let sale): try await self.sale(context, sale, mode: .fiscalize)
        case .prepare(let sale): try await self.sale(context, sale, mode: .twoPhase)
        case .commit(let commit): try await self.commit(context, commit)
        case .abort(let reference): await abort(context, reference)
        case .result(let reference): await result(context, reference)
        case .log(let log): return try await self.log(context, log)
        case .openPeriod(let open): return try await openPeriod(context, open)
        case .cashEvent(let event): return try await cashEvent(context, event)
        case .reportX(let x): return try await reportX(context, x)
        case .closePeriod(let close): return try await closePeriod(context, close)
        }
        return nil
    }

    /// Sends the reply to a message, and counts it.
    func finish(_ context: Context, _ answer: TerminalReply) {
        gateway.send(answer, to: context.terminal)
        metrics.request(
            context.type.rawValue,
            outcome: answer.code?.rawValue ?? "OK",
            duration: context.started.duration(to: .now)
        )
    }

    /// The ERR reply for `error`, logged (access refusals at notice: an operator should see them).
    func refusal(_ context: Context, _ error: FiscalError, retryAfter: Duration?) -> TerminalReply {
        refusal(context.request, context.terminal, error, retryAfter: retryAfter)
    }

    func refusal(
        _ request: TerminalRequest,
        _ terminal: TerminalID,
        _ error: FiscalError,
        retryAfter: Duration?
    ) -> TerminalReply {
        let metadata: Logger.Metadata = [
            "terminal.id": "\(terminal)", "error": "\(error.code)", "type": "\(request.type.rawValue)",
            "reason": "\(error.message)",
        ]
        if Self.accessCodes.contains(error.code) {
            logger.notice("refused", metadata: metadata)
        } else {
            logger.debug("refused", metadata: metadata)
        }
        let retryAfter = retryAfter ?? (error.code == .inProgress ? configuration.device.busyRetryAfter : nil)
        return .error(
            request.type,
            msgID: request.msgID,
            error,
            retryAfterMs: retryAfter.map { Int($0.wholeMilliseconds) }
        )
    }

    /// Refusals an operator should see in the log: who may use the device, and as whom.
    private static let accessCodes: Set<ErrorCode> = [
        .notRegistered, .terminalInactive, .machineMismatch, .notLoggedIn, .cashierMismatch, .terminalMismatch,
        .staffUnknown,
    ]

    /// Sends `reply` to the connection with this routing id (not to a terminal's newest one).
    func reply(_ reply: TerminalReply, to routingID: [UInt8]) { gateway.send(reply, toPeer: routingID) }

    /// The registry entry of a terminal allowed to work: registered and active.
    func registered(_ terminal: TerminalID) async throws(FiscalError) -> TerminalRecord {
        let record: TerminalRecord?
        do { record = try await store.terminalRecord(terminal) } catch {
            throw StoreFailure.fiscal(error)
        }
        guard let record else { throw notRegistered(terminal) }
        guard record.active else { throw inactive(terminal) }
        return record
    }

    func notRegistered(_ terminal: TerminalID) -> FiscalError {
        let hint =
            configuration.selfRegister
            ? "send HELLO to register it" : "an admin adds it with `fiscal-mediator terminals add \(terminal)`"
        return FiscalError(.notRegistered, "terminal \(terminal) is not registered; \(hint)")
    }

    func inactive(_ terminal: TerminalID) -> FiscalError {
        FiscalError(.terminalInactive, "terminal \(terminal) is deactivated; an admin reactivates it")
    }
}

/// One lane per terminal key (CURVE) or routing id (plaintext): its messages are handled one after the other, in arrival order,
/// and each lane takes at most its rate (a token bucket), so a flood from one peer neither
/// grows memory nor slows the others.
///
/// At most ``limit`` lanes; messages from further routing ids share one overflow lane (still in
/// order, only no longer concurrent with each other, and sharing one bucket), so a flood of
/// made-up ids cannot make tasks without bound.
final class TerminalLanes: Sendable {
    static let limit = 256

    private struct Lane {
        var continuation: AsyncStream<SocketLoop.Message>.Continuation
        var bucket: TokenBucket
    }

    private let lanes = Mutex<[[UInt8]: Lane]>([:])

    enum Enqueued {
        case queued
        /// A lane was made for the message: the caller runs its stream.
        case opened(AsyncStream<SocketLoop.Message>)
        /// Over the rate: refuse it; the next token comes after this.
        case limited(Duration)
    }

    func enqueue(
        _ message: SocketLoop.Message,
        lane routingID: [UInt8],
        rate: (perSecond: Double, burst: Int)
    ) -> Enqueued {
        let now = ContinuousClock.now
        return lanes.withLock { lanes in
            let key = lanes[routingID] != nil || lanes.count < Self.limit ? routingID : []
            if var lane = lanes[key] {
                if let wait = lane.bucket.take(now: now) {
                    lanes[key] = lane
                    return .limited(wait)
                }
                lanes[key] = lane
                lane.continuation.yield(message)
                return .queued
            }
            let (stream, continuation) = AsyncStream.makeStream(of: SocketLoop.Message.self)
            var bucket = TokenBucket(rate: rate.perSecond, burst: rate.burst)
            _ = bucket.take(now: now)
            lanes[key] = Lane(continuation: continuation, bucket: bucket)
            continuation.yield(message)
            return .opened(stream)
        }
    }

    func finishAll() {
        let all = lanes.withLock { lanes in
            defer { lanes.removeAll() }
            return lanes.values.map(\.continuation)
        }
        for lane in all { lane.finish() }
    }
}
