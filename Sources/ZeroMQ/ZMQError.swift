import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A libzmq failure: the errno and libzmq's text for it, and the call that failed.
public struct ZMQError: Error, Hashable, Sendable, CustomStringConvertible {
    public var errno: Int32
    public var call: String

    public var description: String { "\(call): \(String(cString: zmq_strerror(errno)))" }

    /// The peer is not connected (ROUTER with `ZMQ_ROUTER_MANDATORY`).
    public var isHostUnreachable: Bool { errno == EHOSTUNREACH }

    /// Runs a libzmq call: retries on `EINTR`, returns `nil` on `EAGAIN`, throws otherwise.
    @discardableResult
    static func check(_ call: String, _ body: () -> Int32) throws(ZMQError) -> Int32? {
        while true {
            let result = body()
            if result >= 0 { return result }
            let code = zmq_errno()
            if code == EINTR { continue }
            if code == EAGAIN { return nil }
            throw ZMQError(errno: code, call: call)
        }
    }
}
