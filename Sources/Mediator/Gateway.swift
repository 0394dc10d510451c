public import FiscalCore
import Foundation
public import ZeroMQ

/// The mediator's ZeroMQ ROUTER: where terminals connect.
///
/// Owns the socket loop (and through it the socket and its thread). Options: routing-id
/// handover (a roaming tablet reconnecting under the same id takes over at once, even while
/// its old connection is half-open), mandatory routing (an unroutable reply is counted, not
/// silently lost), ZMTP heartbeats (a dead peer is detected in `heartbeatTimeout`), no linger,
/// and a maximum message size (libzmq drops the connection of a peer that sends more).
public final class Gateway: Sendable {
    public struct Configuration: Sendable {
        public var endpoints = ["tcp://127.0.0.1:5555"]
        public var heartbeatInterval: Duration = .seconds(1)
        public var heartbeatTimeout: Duration = .seconds(3)
        public var maxMessageSize = 1 << 20
        /// Messages a second each routing id may send, and how many it may save up (beyond:
        /// RATE_LIMITED with `retry_after_ms`).
        public var rateLimit: Double = 50
        public var rateBurst = 100
        public init() {}
    }

    let loop: SocketLoop
    /// The endpoints bound (with the real port when one was `*`).
    public var endpoints: [String] { loop.endpoints }

    public init(context: ZMQContext, configuration: Configuration) throws {
        let endpoints = configuration.endpoints
        let interval = configuration.heartbeatInterval
        let timeout = configuration.heartbeatTimeout
        let maxSize = configuration.maxMessageSize
        loop = try SocketLoop(context: context, kind: .router, name: "gateway") { socket in
            try socket.set(.linger(.zero))
            try socket.set(.routerHandover(true))
            try socket.set(.routerMandatory(true))
            try socket.set(.heartbeatInterval(interval))
            try socket.set(.heartbeatTimeout(timeout))
            try socket.set(.heartbeatTTL(timeout))
            try socket.set(.maxMessageSize(maxSize))
            var bound: [String] = []
            for endpoint in endpoints {
                try socket.bind(endpoint)
                bound.append(socket.lastEndpoint)
            }
            return bound
        }
    }

    /// Sends a reply or an event to the terminal with this routing id.
    public func send(_ reply: TerminalReply, to routingID: [UInt8]) {
        guard let json = try? Self.encoder.encode(reply) else { return }
        loop.send([routingID, Array(json)])
    }

    public func stop() { loop.stop() }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
}
