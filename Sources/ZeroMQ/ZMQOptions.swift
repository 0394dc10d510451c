import CZeroMQ

/// A socket option the project sets, typed: no libzmq constant or C integer leaves this module.
public enum ZMQSocketOption: Sendable, Hashable {
    /// `ZMQ_LINGER`: how long a closing socket keeps unsent messages.
    case linger(Duration)
    /// `ZMQ_ROUTING_ID`: the identity a DEALER announces.
    case routingID([UInt8])
    /// `ZMQ_IMMEDIATE`: queue messages only on completed connections.
    case immediate(Bool)
    case reconnectInterval(Duration)
    case reconnectIntervalMax(Duration)
    /// ZMTP heartbeats: how often, how long to wait for an answer, and the TTL told to the peer.
    case heartbeatInterval(Duration)
    case heartbeatTimeout(Duration)
    case heartbeatTTL(Duration)
    /// `ZMQ_MAXMSGSIZE`: a peer sending more loses its connection.
    case maxMessageSize(Int)
    case sendHighWaterMark(Int)
    case receiveHighWaterMark(Int)
    /// `ZMQ_ROUTER_MANDATORY`: report an unroutable message instead of dropping it silently.
    case routerMandatory(Bool)
    /// `ZMQ_ROUTER_HANDOVER`: a reconnecting peer with the same routing id takes over.
    case routerHandover(Bool)
    /// `ZMQ_CURVE_SERVER` with `ZMQ_CURVE_SECRETKEY`: this socket is a CURVE server with this
    /// long-term key. Every peer must complete the CURVE handshake, and the ZAP handler of the
    /// context (``ZAPHandler``) decides which client keys are admitted.
    case curveServer(secretKey: CurveKey)
    /// `ZMQ_CURVE_SERVERKEY`, `ZMQ_CURVE_PUBLICKEY`, `ZMQ_CURVE_SECRETKEY`: this socket is a
    /// CURVE client with the key pair `client`, talking only to the server whose public key is
    /// `serverKey` (learnt out of band).
    case curveClient(serverKey: CurveKey, client: CurveKeyPair)
    /// `ZMQ_ZAP_DOMAIN`: the domain told to the ZAP handler, so one handler can tell sockets apart.
    case zapDomain(String)
}

extension ZMQSocket {
    /// Sets `option` through `zmq_setsockopt`.
    public func set(_ option: ZMQSocketOption) throws(ZMQError) {
        switch option {
        case .linger(let value): try set(ZMQ_LINGER, Self.milliseconds(value))
        case .routingID(let bytes): try set(ZMQ_ROUTING_ID, bytes: bytes)
        case .immediate(let on): try set(ZMQ_IMMEDIATE, Int32(on ? 1 : 0))
        case .reconnectInterval(let value): try set(ZMQ_RECONNECT_IVL, Self.milliseconds(value))
        case .reconnectIntervalMax(let value): try set(ZMQ_RECONNECT_IVL_MAX, Self.milliseconds(value))
        case .heartbeatInterval(let value): try set(ZMQ_HEARTBEAT_IVL, Self.milliseconds(value))
        case .heartbeatTimeout(let value): try set(ZMQ_HEARTBEAT_TIMEOUT, Self.milliseconds(value))
        case .heartbeatTTL(let value): try set(ZMQ_HEARTBEAT_TTL, Self.milliseconds(value))
        case .maxMessageSize(let bytes): try set(ZMQ_MAXMSGSIZE, Int64(clamping: bytes))
        case .sendHighWaterMark(let count): try set(ZMQ_SNDHWM, Int32(clamping: count))
        case .receiveHighWaterMark(let count): try set(ZMQ_RCVHWM, Int32(clamping: count))
        case .routerMandatory(let on): try set(ZMQ_ROUTER_MANDATORY, Int32(on ? 1 : 0))
        case .routerHandover(let on): try set(ZMQ_ROUTER_HANDOVER, Int32(on ? 1 : 0))
        case .curveServer(let secret):
            try set(ZMQ_CURVE_SERVER, Int32(1))
            try set(ZMQ_CURVE_SECRETKEY, bytes: secret.bytes)
        case .curveClient(let server, let client):
            try set(ZMQ_CURVE_SERVERKEY, bytes: server.bytes)
            try set(ZMQ_CURVE_PUBLICKEY, bytes: client.publicKey.bytes)
            try set(ZMQ_CURVE_SECRETKEY, bytes: client.secretKey.bytes)
        case .zapDomain(let domain): try set(ZMQ_ZAP_DOMAIN, bytes: Array(domain.utf8))
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int32 { Int32(clamping: duration.wholeMilliseconds) }
}

extension Duration {
    fileprivate var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
