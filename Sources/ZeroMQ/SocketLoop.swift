import CZeroMQ
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One ZeroMQ socket on a thread of its own (the CZMQ zactor model).
///
/// The thread creates the socket, configures it, then blocks in `zmq_poll` on three things:
/// the socket, its connection monitor, and a wake-up pipe. Messages received are handed to
/// Swift concurrency through ``inbound``; connection events through ``events``; ``send(_:)``
/// may be called from any thread or task: it queues the message and writes one byte to the
/// wake-up pipe. No libzmq call ever runs on the cooperative pool and the socket is only ever
/// touched by its own thread.
///
/// `Sendable`: shared state is the outbox (a `Mutex`), the pipe descriptors (immutable after
/// `init`) and atomics.
public final class SocketLoop: Sendable {
    /// A connection, numbered in the order the loop learnt of it. Unlike a file descriptor,
    /// which the kernel reuses, a number is never given twice: a late "disconnected" of an old
    /// connection can never be taken for the new one on the same descriptor.
    public struct Connection: Hashable, Sendable, Comparable, CustomStringConvertible {
        public var number: UInt64
        public init(_ number: UInt64) { self.number = number }
        public static func < (lhs: Connection, rhs: Connection) -> Bool { lhs.number < rhs.number }
        public var description: String { "#\(number)" }
    }

    /// A message received, with the connection it came on.
    public struct Message: Sendable {
        public var frames: [[UInt8]]
        public var connection: Connection
        /// The connection's ZAP `User-Id` (CURVE: what the ZAP handler made of the client's key);
        /// `nil` on a socket without ZAP. Read from each message, so it is never a stale copy.
        public var userID: String? = nil
        /// The peer's IP address, when the transport has one.
        public var peerAddress: String? = nil

        public init(frames: [[UInt8]], connection: Connection, userID: String? = nil, peerAddress: String? = nil) {
            self.frames = frames
            self.connection = connection
            self.userID = userID
            self.peerAddress = peerAddress
        }
    }

    /// A connection event from `zmq_socket_monitor`.
    public enum Event: Sendable, Hashable {
        case accepted(Connection)
        case connected(Connection)
        case disconnected(Connection)
        /// A ZMTP (and CURVE) handshake succeeded: messages flow on a new connection now. libzmq
        /// does not say which connection (its event carries no descriptor).
        case handshakeSucceeded
    }

    /// How the thread sets the socket up: options, then bind or connect. Returns the
    /// endpoints it bound (read from `ZMQ_LAST_ENDPOINT`), if any.
    public typealias Setup = @Sendable (borrowing ZMQSocket) throws -> [String]

    public let inbound: AsyncStream<Message>
    public let events: AsyncStream<Event>
    /// The endpoints the setup bound.
    public let endpoints: [String]

    private let shared = Shared()
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let finished = DispatchSemaphore(value: 0)

    /// What the loop's thread and its callers share.
    private final class Shared: Sendable {
        let outbox = Mutex<[[[UInt8]]]>([])
        let stopping = Atomic<Bool>(false)
        let dropped = Atomic<Int>(0)
    }

    /// Outbound messages libzmq refused (peer gone, or its queue full), since start.
    public var droppedMessages: Int { shared.dropped.load(ordering: .relaxed) }

    private static let monitorCounter = Atomic<Int>(0)
    /// How long a closing socket may keep flushing messages already queued, in milliseconds.
    static let closingLinger: Duration = .seconds(1)
    /// How long a message libzmq cannot take yet is kept for another try.
    static let blockedLifetime: Duration = .seconds(2)

    /// Starts the thread and waits until the socket is set up; throws what the setup threw.
    public init(
        context: ZMQContext,
        kind: ZMQSocket.Kind,
        name: String,
        inboundLimit: Int = 10_000,
        setup: @escaping Setup
    ) throws {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw ZMQError(errno: errno, call: "pipe") }
        for end in pipeEnds {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        wakeRead = pipeEnds[0]
        wakeWrite = pipeEnds[1]
        let (inbound, inboundContinuation) = AsyncStream.makeStream(
            of: Message.self,
            bufferingPolicy: .bufferingOldest(inboundLimit)
        )
        let (events, eventsContinuation) = AsyncStream.makeStream(
            of: Event.self,
            bufferingPolicy: .bufferingOldest(inboundLimit)
        )
        self.inbound = inbound
        self.events = events

        let monitorEndpoint = "inproc://socket-loop-monitor-\(Self.monitorCounter.add(1, ordering: .relaxed).newValue)"
        let ready = DispatchSemaphore(value: 0)
        let setupResult = Mutex<Result<[String], any Error>?>(nil)
        let wakeRead = self.wakeRead
        let thread = Thread { [shared, finished] in
            defer {
                inboundContinuation.finish()
                eventsContinuation.finish()
                finished.signal()
            }
            func serve() throws {
                let socket = try ZMQSocket(context: context, kind: kind)
                let bound = try setup(socket)
                try socket.monitor(
                    monitorEndpoint,
                    events: ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED
                        | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                )
                let monitor = try ZMQSocket(context: context, kind: .pair)
                try monitor.set(.linger(.zero))
                try monitor.connect(monitorEndpoint)
                setupResult.withLock { $0 = .success(bound) }
                ready.signal()
                Self.run(
                    socket: socket,
                    monitor: monitor,
                    wakeRead: wakeRead,
                    shared: shared,
                    inbound: inboundContinuation,
                    events: eventsContinuation
                )
            }
            do {
                try serve()
            } catch {
                setupResult.withLock { $0 = .failure(error) }
                ready.signal()
            }
        }
        thread.name = name
        thread.start()
        ready.wait()
        switch setupResult.withLock({ $0 })! {
        case .success(let bound): endpoints = bound
        case .failure(let error):
            close(pipeEnds[0])
            close(pipeEnds[1])
            finished.wait()
            throw error
        }
    }

    deinit {
        stop()
        close(wakeRead)
        close(wakeWrite)
    }

    /// Queues a multipart message for sending; returns at once.
    public func send(_ frames: [[UInt8]]) {
        shared.outbox.withLock { $0.append(frames) }
        wake()
    }

    /// Stops the thread (pending outbound messages are sent first) and closes the socket.
    public func stop() {
        guard
            shared.stopping.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        wake()
        finished.wait()
    }

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: The thread

    private static func run(
        socket: borrowing ZMQSocket,
        monitor: borrowing ZMQSocket,
        wakeRead: Int32,
        shared: Shared,
        inbound: AsyncStream<Message>.Continuation,
        events: AsyncStream<Event>.Continuation
    ) {
        var items = [
            zmq_pollitem_t(socket: socket.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0),
            zmq_pollitem_t(socket: monitor.handle, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0),
            zmq_pollitem_t(socket: nil, fd: wakeRead, events: Int16(ZMQ_POLLIN), revents: 0),
        ]
        var drain = [UInt8](repeating: 0, count: 256)
        // Messages libzmq could not take yet (EAGAIN: no connection yet, or the peer's queue is
        // full), retried when the socket turns writable and dropped after `blockedLifetime`.
        var blocked: [(frames: [[UInt8]], since: ContinuousClock.Instant)] = []
        var connections = Connections()
        while true {
            items[0].events = Int16(ZMQ_POLLIN) | (blocked.isEmpty ? 0 : Int16(ZMQ_POLLOUT))
            let ready = zmq_poll(&items, 3, blocked.isEmpty ? -1 : 50)
            if ready < 0 && zmq_errno() != EINTR { break }
            if items[2].revents != 0 {
                while read(wakeRead, &drain, drain.count) > 0 {}
            }
            let fresh = shared.outbox.withLock { pending -> [[[UInt8]]] in
                defer { pending.removeAll() }
                return pending
            }
            let now = ContinuousClock.now
            var retry: [(frames: [[UInt8]], since: ContinuousClock.Instant)] = []
            for (frames, since) in blocked + fresh.map({ ($0, now) }) {
                do {
                    if try socket.send(frames) { continue }
                    if now - since < Self.blockedLifetime {
                        retry.append((frames, since))
                    } else {
                        shared.dropped.add(1, ordering: .relaxed)
                    }
                } catch {
                    // EHOSTUNREACH (ROUTER_MANDATORY): the peer is gone.
                    shared.dropped.add(1, ordering: .relaxed)
                }
            }
            blocked = retry
            if shared.stopping.load(ordering: .acquiring) {
                // LINGER is 0 while running (a dead peer must not hold anything up), but what
                // was just queued, a shutdown's last replies, must still reach the wire: give
                // the closing socket a bounded linger; terminating the context waits for it.
                try? socket.set(.linger(Self.closingLinger))
                break
            }
            // Connection events first, so a message is numbered by the connections known when
            // it is read (an accept always precedes its connection's first message).
            connections.drain(monitor, events)
            if items[0].revents != 0 {
                while let message = try? socket.receive() {
                    let connection = connections.number(for: message.sourceDescriptor, monitor, events)
                    inbound.yield(
                        Message(
                            frames: message.frames,
                            connection: connection,
                            userID: message.userID,
                            peerAddress: message.peerAddress
                        )
                    )
                }
            }
        }
    }

    /// The loop thread's map from descriptors to connection numbers.
    private struct Connections: ~Copyable {
        var byDescriptor: [Int32: Connection] = [:]
        var next: UInt64 = 1

        mutating func open(_ descriptor: Int32) -> Connection {
            if let known = byDescriptor[descriptor] { return known }
            defer { next += 1 }
            let connection = Connection(next)
            byDescriptor[descriptor] = connection
            return connection
        }

        /// Reads every pending monitor event and hands it on.
        mutating func drain(_ monitor: borrowing ZMQSocket, _ events: AsyncStream<Event>.Continuation) {
            while let message = try? monitor.receive() {
                guard let head = message.frames.first, head.count >= 6 else { continue }
                let event = UInt16(head[0]) | UInt16(head[1]) << 8
                let descriptor = Int32(
                    bitPattern: UInt32(head[2]) | UInt32(head[3]) << 8 | UInt32(head[4]) << 16 | UInt32(head[5]) << 24
                )
                switch Int32(event) {
                case ZMQ_EVENT_ACCEPTED: events.yield(.accepted(open(descriptor)))
                case ZMQ_EVENT_CONNECTED: events.yield(.connected(open(descriptor)))
                case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: events.yield(.handshakeSucceeded)
                case ZMQ_EVENT_DISCONNECTED:
                    if let connection = byDescriptor.removeValue(forKey: descriptor) {
                        events.yield(.disconnected(connection))
                    }
                default: break
                }
            }
        }

        /// The connection a message from `descriptor` came on: the one its accept named, or,
        /// when that event is not read yet, whatever the monitor says now, else a new number.
        mutating func number(
            for descriptor: Int32,
            _ monitor: borrowing ZMQSocket,
            _ events: AsyncStream<Event>.Continuation
        ) -> Connection {
            if let known = byDescriptor[descriptor] { return known }
            drain(monitor, events)
            return open(descriptor)
        }
    }
}
