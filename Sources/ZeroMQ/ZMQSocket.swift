import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// One libzmq socket. Not `Sendable` and not copyable: it lives on the thread that made it
/// (a ``SocketLoop``'s) and is closed when it goes away.
public struct ZMQSocket: ~Copyable {
    public enum Kind: Int32, Sendable {
        case pair = 0
        case dealer = 5
        case router = 6
    }

    let handle: UnsafeMutableRawPointer

    public init(context: ZMQContext, kind: Kind) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, kind.rawValue) else {
            throw ZMQError(errno: zmq_errno(), call: "zmq_socket")
        }
        self.handle = handle
    }

    deinit { zmq_close(handle) }

    // MARK: Options

    func set(_ option: Int32, _ value: Int32) throws(ZMQError) {
        var value = value
        try ZMQError.check("zmq_setsockopt(\(option))") {
            zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size)
        }
    }

    func set(_ option: Int32, _ value: Int64) throws(ZMQError) {
        var value = value
        try ZMQError.check("zmq_setsockopt(\(option))") {
            zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size)
        }
    }

    func set(_ option: Int32, bytes: [UInt8]) throws(ZMQError) {
        try ZMQError.check("zmq_setsockopt(\(option))") {
            bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        }
    }

    /// The endpoint actually bound, e.g. `tcp://127.0.0.1:41873` after binding `tcp://127.0.0.1:*`.
    public var lastEndpoint: String {
        var buffer = [UInt8](repeating: 0, count: 256)
        var size = buffer.count
        _ = zmq_getsockopt(handle, ZMQ_LAST_ENDPOINT, &buffer, &size)
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    // MARK: Connections

    public func bind(_ endpoint: String) throws(ZMQError) {
        try ZMQError.check("zmq_bind(\(endpoint))") { zmq_bind(handle, endpoint) }
    }

    public func connect(_ endpoint: String) throws(ZMQError) {
        try ZMQError.check("zmq_connect(\(endpoint))") { zmq_connect(handle, endpoint) }
    }

    /// Publishes connection events on an `inproc://` PAIR endpoint (`zmq_socket_monitor`).
    public func monitor(_ endpoint: String, events: Int32) throws(ZMQError) {
        try ZMQError.check("zmq_socket_monitor") { zmq_socket_monitor(handle, endpoint, events) }
    }

    // MARK: Messages

    /// Sends a multipart message without blocking; `false` when it would block (`EAGAIN`).
    public func send(_ frames: [[UInt8]]) throws(ZMQError) -> Bool {
        for (index, frame) in frames.enumerated() {
            let flags = ZMQ_DONTWAIT | (index < frames.count - 1 ? ZMQ_SNDMORE : 0)
            let sent = try ZMQError.check("zmq_send") {
                frame.withUnsafeBytes { zmq_send(handle, $0.baseAddress, $0.count, flags) }
            }
            // libzmq queues multipart messages atomically: only the first frame can be refused.
            if sent == nil { return false }
        }
        return true
    }

    /// One multipart message received, and what libzmq knows of the connection it came on.
    public struct Received {
        public var frames: [[UInt8]]
        /// The file descriptor of the connection (`ZMQ_SRCFD`), or -1.
        public var sourceDescriptor: Int32
        /// The `User-Id` the ZAP handler gave the connection when it admitted it (`zmq_msg_gets`),
        /// if it gave one. Only the handler sets it: a peer cannot choose it.
        public var userID: String?
        /// The peer's IP address (`Peer-Address`), when the transport has one.
        public var peerAddress: String?
    }

    /// Receives one multipart message without blocking; `nil` when none is waiting.
    public func receive() throws(ZMQError) -> Received? {
        var received = Received(frames: [], sourceDescriptor: -1)
        while true {
            var message = zmq_msg_t()
            zmq_msg_init(&message)
            defer { zmq_msg_close(&message) }
            let flags = received.frames.isEmpty ? ZMQ_DONTWAIT : 0
            guard try ZMQError.check("zmq_msg_recv", { zmq_msg_recv(&message, handle, flags) }) != nil else {
                return nil
            }
            let size = zmq_msg_size(&message)
            let data = zmq_msg_data(&message)!
            received.frames.append(Array(UnsafeRawBufferPointer(start: data, count: size)))
            // A ROUTER's routing-id frame carries no descriptor and no metadata; the peer's do.
            if received.sourceDescriptor < 0 {
                received.sourceDescriptor = zmq_msg_get(&message, ZMQ_SRCFD)
                if received.sourceDescriptor >= 0 {
                    received.userID = zmq_msg_gets(&message, "User-Id").map { String(cString: $0) }
                    received.peerAddress = zmq_msg_gets(&message, "Peer-Address").map { String(cString: $0) }
                }
            }
            if zmq_msg_more(&message) == 0 { return received }
        }
    }
}

@available(*, unavailable)
extension ZMQSocket: Sendable {}
