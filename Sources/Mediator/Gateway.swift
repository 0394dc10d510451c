public import FiscalCore
import Foundation
import Synchronization
public import ZeroMQ

/// The mediator's ZeroMQ ROUTER: where terminals connect.
///
/// Owns the socket loops (and through them the sockets and their threads): the terminal
/// ROUTER, in CURVE mode also the context's ZAP handler and the pairing ROUTER, and the route
/// table from terminals to their newest connection.
///
/// **CURVE (the default).** The ZAP handler is bound before either ROUTER binds (libzmq admits
/// any client key when no handler is there). The terminal socket's ZAP domain admits only keys
/// pinned to a terminal; the pairing socket's admits any key, and there only PAIR is read. Each
/// admitted connection's `User-Id` is its client key (Z85); the intake maps it to a terminal on
/// every message. Peers do not choose routing ids: `ROUTER_HANDOVER` is off, libzmq numbers the
/// connections, and replies and events for a terminal go to the newest connection its key
/// spoke on (``learned(_:on:peer:)``). While a terminal has no connection, what is sent to it is
/// parked for ``parkedLifetime`` and delivered when it is heard from again.
///
/// **Insecure plaintext** (`serve --insecure-plaintext`): version 1's identity, the routing id
/// the peer chose, with handover, for clients that cannot do CURVE yet.
///
/// Options on both: mandatory routing (an unroutable reply is counted, not silently lost), ZMTP
/// heartbeats (a dead peer is detected in `heartbeatTimeout`), no linger, and a maximum message
/// size (libzmq drops the connection of a peer that sends more).
public final class Gateway: Sendable {
    /// How terminals prove who they are.
    public enum Security: Sendable {
        /// CURVE with this server key pair (`nil`: one made for this run only).
        case curve(ServerKeys?)
        /// No encryption, identity from the routing id (protocol version 1).
        case insecurePlaintext
    }

    public struct Configuration: Sendable {
        public var endpoints = ["tcp://127.0.0.1:5555"]
        /// Where terminals pair (CURVE only); empty (the default here; `serve` binds
        /// `tcp://127.0.0.1:5556`): no pairing socket.
        public var pairingEndpoints: [String] = []
        public var security: Security = .curve(nil)
        public var heartbeatInterval: Duration = .seconds(1)
        public var heartbeatTimeout: Duration = .seconds(3)
        public var maxMessageSize = 1 << 20
        /// Messages a second each terminal may send, and how many it may save up (beyond:
        /// RATE_LIMITED with `retry_after_ms`).
        public var rateLimit: Double = 50
        public var rateBurst = 100
        public init() {}
    }

    /// ZAP domains: which socket a handshake is for.
    static let terminalDomain = "terminals"
    static let pairingDomain = "pairing"
    /// How long replies and events for a terminal without a connection are kept for it.
    static let parkedLifetime: Duration = .seconds(30)
    static let parkedLimit = 64

    let loop: SocketLoop
    let pairing: SocketLoop?
    let zap: ZAPHandler?
    /// The server's public key (CURVE), for pairing printouts and `/health`.
    public let serverKey: ServerKeys?
    private let routes = Mutex(Routes())
    /// Counts since start: handshakes completed on the terminal socket, and the ZAP handler's
    /// admissions and refusals there (what the security figures in docs/SECURITY.md read).
    public let counters = Counters()

    public final class Counters: Sendable {
        let handshakesValue = Atomic<Int>(0)
        let admittedValue = Atomic<Int>(0)
        let refusedValue = Atomic<Int>(0)
        public var handshakes: Int { handshakesValue.load(ordering: .relaxed) }
        public var admitted: Int { admittedValue.load(ordering: .relaxed) }
        public var refused: Int { refusedValue.load(ordering: .relaxed) }
    }

    /// The endpoints bound (with the real port when one was `*`).
    public var endpoints: [String] { loop.endpoints }
    public var pairingEndpoints: [String] { pairing?.endpoints ?? [] }
    /// Whether terminals connect without CURVE (`serve --insecure-plaintext`).
    public var insecure: Bool { serverKey == nil }

    public init(context: ZMQContext, configuration: Configuration) throws {
        let interval = configuration.heartbeatInterval
        let timeout = configuration.heartbeatTimeout
        let maxSize = configuration.maxMessageSize
        let keys: ServerKeys?
        switch configuration.security {
        case .insecurePlaintext: keys = nil
        case .curve(let given):
            guard CurveKeyPair.isAvailable else {
                throw FiscalError(.configInvalid, "this libzmq has no CURVE; install Debian's libzmq5")
            }
            keys = try given ?? ServerKeys.ephemeral()
        }
        serverKey = keys
        // The ZAP handler first: a CURVE socket bound without one would admit any key.
        zap = keys == nil ? nil : try ZAPHandler(context: context)
        func router(_ name: String, _ endpoints: [String], domain: String) throws -> SocketLoop {
            try SocketLoop(context: context, kind: .router, name: name) { socket in
                try socket.set(.linger(.zero))
                if let keys {
                    try socket.set(.zapDomain(domain))
                    try socket.set(.curveServer(secretKey: keys.pair.secretKey))
                    try socket.set(.routerHandover(false))
                } else {
                    try socket.set(.routerHandover(true))
                }
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
        loop = try router("gateway", configuration.endpoints, domain: Self.terminalDomain)
        pairing =
            keys == nil || configuration.pairingEndpoints.isEmpty
            ? nil : try router("pairing", configuration.pairingEndpoints, domain: Self.pairingDomain)
    }

    // MARK: Sending

    /// Sends a reply or an event to `terminal`: its newest connection (CURVE), or the routing id
    /// of that name (plaintext). With no connection now, it is parked for the terminal's return.
    public func send(_ reply: TerminalReply, to terminal: TerminalID) {
        let json = Self.json(reply)
        guard serverKey != nil else {
            loop.send([Array(terminal.rawValue.utf8), json])
            return
        }
        let peer = routes.withLock { routes -> [UInt8]? in
            if let route = routes.byTerminal[terminal] { return route.peer }
            routes.park(json, for: terminal, now: .now)
            return nil
        }
        if let peer { loop.send([peer, json]) }
    }

    /// Sends to the connection with this routing id, whoever it is (a refusal for a peer that
    /// is no terminal, or no longer one).
    public func send(_ reply: TerminalReply, toPeer routingID: [UInt8]) {
        loop.send([routingID, Self.json(reply)])
    }

    /// The reply's JSON. One the encoder refuses (a fault of the mediator, never of the peer) is
    /// not dropped: the terminal gets REPLY_UNENCODABLE for its message, and acts on that.
    static func json(_ reply: TerminalReply) -> [UInt8] {
        do {
            return Array(try encoder.encode(reply))
        } catch {
            var fallback = TerminalReply.error(
                reply.type,
                msgID: reply.msgID,
                FiscalError(.replyUnencodable, "the mediator could not encode its answer: \(error)")
            )
            fallback.requestID = reply.requestID
            do {
                return Array(try encoder.encode(fallback))
            } catch {
                return Array(#"{"v":1,"type":"PING","status":"ERR","code":"REPLY_UNENCODABLE"}"#.utf8)
            }
        }
    }

    /// `terminal`'s key spoke on `connection`, whose routing id is `peer`: the newest connection
    /// (by number) becomes its route, and what was parked for it goes out there.
    func learned(_ terminal: TerminalID, on connection: SocketLoop.Connection, peer: [UInt8]) {
        let now = ContinuousClock.now
        let flush = routes.withLock { routes -> [[UInt8]] in
            if let route = routes.byTerminal[terminal], route.connection > connection { return [] }
            routes.byTerminal[terminal] = Route(connection: connection, peer: peer)
            return routes.unpark(terminal, now: now)
        }
        for json in flush { loop.send([peer, json]) }
    }

    /// `connection` is gone: it no longer carries any terminal's replies.
    func dropped(_ connection: SocketLoop.Connection) {
        routes.withLock { routes in
            for (terminal, route) in routes.byTerminal where route.connection == connection {
                routes.byTerminal[terminal] = nil
            }
        }
    }

    /// Sends a pairing reply on the pairing socket.
    func sendPairing(_ json: [UInt8], to routingID: [UInt8]) { pairing?.send([routingID, json]) }

    public func stop() {
        loop.stop()
        pairing?.stop()
        zap?.stop()
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()

    // MARK: Routes

    private struct Route {
        var connection: SocketLoop.Connection
        var peer: [UInt8]
    }

    private struct Routes {
        var byTerminal: [TerminalID: Route] = [:]
        var parked: [TerminalID: [(json: [UInt8], since: ContinuousClock.Instant)]] = [:]

        mutating func park(_ json: [UInt8], for terminal: TerminalID, now: ContinuousClock.Instant) {
            var queue = (parked[terminal] ?? []).filter { now - $0.since < Gateway.parkedLifetime }
            if queue.count >= Gateway.parkedLimit { queue.removeFirst() }
            queue.append((json, now))
            parked[terminal] = queue
            // A flood of terminals that never return cannot grow this without bound.
            if parked.count > 1024 {
                parked = parked.filter { $0.value.contains { now - $0.since < Gateway.parkedLifetime } }
            }
        }

        mutating func unpark(_ terminal: TerminalID, now: ContinuousClock.Instant) -> [[UInt8]] {
            guard let queue = parked.removeValue(forKey: terminal) else { return [] }
            return queue.filter { now - $0.since < Gateway.parkedLifetime }.map(\.json)
        }
    }
}

/// The mediator's long-term CURVE key pair. The secret never leaves this value but to libzmq:
/// it is not printed, logged nor encoded.
public struct ServerKeys: Sendable {
    let pair: CurveKeyPair

    /// The public key as Z85 text: what pairing hands terminals out of band.
    public var publicKey: String { pair.publicKey.z85 }

    /// Reads the key pair in `path` (0600), or makes it there at first start.
    public static func loadOrCreate(file path: String) throws -> (keys: ServerKeys, created: Bool) {
        let (pair, created) = try CurveKeyPair.loadOrCreate(file: path)
        return (ServerKeys(pair: pair), created)
    }

    /// Reads an existing key pair file (never makes one).
    public static func load(file path: String) throws -> ServerKeys {
        ServerKeys(pair: try CurveKeyPair.load(file: path))
    }

    /// Where `serve` keeps it: `curve-server.key` in the store's directory.
    public static func defaultPath(store: String) -> String {
        URL(fileURLWithPath: store).deletingLastPathComponent().appendingPathComponent("curve-server.key").path
    }

    /// A key pair for this run only (tests, benchmarks).
    public static func ephemeral() throws -> ServerKeys { ServerKeys(pair: try CurveKeyPair.generate()) }
}
