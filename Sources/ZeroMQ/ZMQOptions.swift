import CZeroMQ

/// The socket options the project uses, named (libzmq's values, from Debian's zmq.h).
public enum ZMQRouterOption {
    /// `ZMQ_ROUTER_MANDATORY`: report an unroutable message instead of dropping it silently.
    public static let mandatory = ZMQ_ROUTER_MANDATORY
    /// `ZMQ_ROUTER_HANDOVER`: a reconnecting peer with the same routing id takes over.
    public static let handover = ZMQ_ROUTER_HANDOVER
}

public enum ZMQOption {
    public static let heartbeatInterval = ZMQ_HEARTBEAT_IVL
    public static let heartbeatTimeout = ZMQ_HEARTBEAT_TIMEOUT
    public static let heartbeatTTL = ZMQ_HEARTBEAT_TTL
    public static let maxMessageSize = ZMQ_MAXMSGSIZE
    public static let immediate = ZMQ_IMMEDIATE
    public static let reconnectInterval = ZMQ_RECONNECT_IVL
    public static let reconnectIntervalMax = ZMQ_RECONNECT_IVL_MAX
    public static let sendHighWaterMark = ZMQ_SNDHWM
    public static let receiveHighWaterMark = ZMQ_RCVHWM
}
