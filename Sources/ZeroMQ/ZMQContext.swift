import CZeroMQ
import Synchronization

/// A libzmq context: thread-safe by libzmq's own contract, shared by every socket.
///
/// `@unchecked Sendable`: libzmq documents contexts as safe to use from any thread.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    private let terminated = Atomic<Bool>(false)

    public init(ioThreads: Int32 = 1) {
        handle = zmq_ctx_new()!
        zmq_ctx_set(handle, ZMQ_IO_THREADS, ioThreads)
    }

    deinit { terminate() }

    /// Ends the context: blocks until every closed socket has sent what it still held (up to
    /// its linger), so a process that exits next loses no last reply. Every socket must be
    /// closed first (or this waits for them). Blocking: call it off the cooperative pool.
    public func terminate() {
        guard !terminated.exchange(true, ordering: .acquiringAndReleasing) else { return }
        zmq_ctx_term(handle)
    }

    /// libzmq's version, e.g. `4.3.4`.
    public static var version: String {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}
