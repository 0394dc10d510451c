public import FiscalCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A link over a serial line: a USB CDC device such as `/dev/ttyACM0`, or the pseudo-terminal
/// that `fiscal-mediator device-emulator --pty` prints.
///
/// The port is opened in raw mode (termios `cfmakeraw`, 8N1, no flow control) at the
/// configured baud rate. All I/O runs on the link's own thread, never on the cooperative
/// pool. Before each exchange, stale input is discarded; replies whose exchange id is not the
/// current one (late answers to a timed-out request) are ignored. After a hang-up or an I/O
/// error the next exchange reopens the port, so a device that was unplugged and plugged back
/// in is picked up again.
///
/// `@unchecked Sendable`: `fd`, `decoder`, `nextExchangeID` and `closed` are only touched on
/// `thread`, whose jobs run one at a time.
public final class SerialDeviceLink: FiscalDeviceLink, @unchecked Sendable {
    public let path: String
    public let baudRate: Int
    /// Whether the port is locked (``ProcessLock/lock(_:)``) for this process while open.
    public let exclusive: Bool
    public var name: String { "serial:\(path)" }

    private let thread: DedicatedThread
    private var fd: Int32 = -1
    private var decoder = DeviceFrameDecoder()
    private var nextExchangeID: UInt32 = 1
    private var closed = false

    /// The baud rates termios offers (bits per second).
    public static var supportedBaudRates: [Int] { speeds.keys.sorted() }

    /// termios's constant for each supported rate; C types stay in this file.
    static let speeds: [Int: speed_t] = [
        9600: speed_t(B9600), 19200: speed_t(B19200), 38400: speed_t(B38400), 57600: speed_t(B57600),
        115_200: speed_t(B115200), 230_400: speed_t(B230400), 460_800: speed_t(B460800),
        921_600: speed_t(B921600), 1_000_000: speed_t(B1000000), 2_000_000: speed_t(B2000000),
        4_000_000: speed_t(B4000000),
    ]

    /// Opens `path` at `baudRate`, exclusively unless told otherwise (a record lock: a second mediator,
    /// or a `device` command, cannot talk to a device a mediator holds). A path that does not exist
    /// yet (the device is unplugged) is opened by the first exchange that finds it; anything
    /// else that stops the open is thrown now: `IN_USE` naming the holder, `LINK_DOWN` (not a
    /// serial device, no permission), `CONFIG_INVALID` for a baud rate termios does not offer.
    public init(path: String, baudRate: Int = 115_200, exclusive: Bool = true) throws(FiscalError) {
        guard Self.speeds[baudRate] != nil else {
            let rates = Self.supportedBaudRates.map(String.init).joined(separator: ", ")
            throw FiscalError(.configInvalid, "baud rate \(baudRate) is not one of \(rates)")
        }
        self.path = path
        self.baudRate = baudRate
        self.exclusive = exclusive
        self.thread = DedicatedThread(name: "serial \(path)")
        // Unplugged for now: the first exchange after it comes back opens it.
        if FileManager.default.fileExists(atPath: path) { try openPort() }
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
        thread.shutdown()
    }

    public func exchange(_ request: DeviceRequest, timeout: Duration) async throws(FiscalError) -> [UInt8] {
        let deadline = ContinuousClock.now + timeout
        return try await thread.run { () throws(FiscalError) -> [UInt8] in
            try self.blockingExchange(request, deadline: deadline, timeout: timeout)
        }
    }

    public func close() async {
        await thread.run { () -> Void in
            self.closed = true
            if self.fd >= 0 {
                Glibc.close(self.fd)
                self.fd = -1
            }
        }
    }

    // MARK: On the link's thread only

    private func openPort() throws(FiscalError) {
        let descriptor = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            let hint = code == EACCES ? " (add the user to the 'dialout' group, or see docs/OPERATIONS.md)" : ""
            throw FiscalError(.linkDown, "\(name): cannot open: \(String(cString: strerror(code)))\(hint)")
        }
        guard !exclusive || ProcessLock.lock(descriptor) else {
            let holder = ProcessLock.holder(of: descriptor)
            Glibc.close(descriptor)
            throw FiscalError(
                .inUse,
                "\(name) is in use by another process\(holder.map { " (pid \($0))" } ?? ""); one mediator per device"
            )
        }
        var settings = termios()
        guard tcgetattr(descriptor, &settings) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw FiscalError(.linkDown, "\(name): not a serial device: \(reason)")
        }
        cfmakeraw(&settings)
        settings.c_cflag |= tcflag_t(CLOCAL | CREAD)
        settings.c_cflag &= ~tcflag_t(CRTSCTS)
        guard let speed = Self.speeds[baudRate] else { preconditionFailure("init checked the baud rate") }
        cfsetispeed(&settings, speed)
        cfsetospeed(&settings, speed)
        guard tcsetattr(descriptor, TCSANOW, &settings) == 0 else {
            let reason = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw FiscalError(.linkDown, "\(name): cannot configure: \(reason)")
        }
        fd = descriptor
        decoder = DeviceFrameDecoder()
    }

    private func dropPort() {
        if fd >= 0 { Glibc.close(fd) }
        fd = -1
    }

    private func blockingExchange(
        _ request: DeviceRequest,
        deadline: ContinuousClock.Instant,
        timeout: Duration
    )
        throws(FiscalError) -> [UInt8]
    {
        guard !closed else { throw FiscalError(.linkDown, "\(name): the link is closed") }
        if fd < 0 { try openPort() }
        // Whatever is waiting now answers an earlier, abandoned exchange.
        tcflush(fd, TCIFLUSH)
        decoder.reset()
        let exchangeID = nextExchangeID
        nextExchangeID &+= 1
        let frame = DeviceFrame(kind: .request, exchangeID: exchangeID, payload: request.payload).encoded()
        try writeAll(frame, deadline: deadline)
        let rejectedBefore = decoder.rejectedFrames
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else {
                if decoder.rejectedFrames > rejectedBefore || decoder.hasPartialFrame {
                    throw FiscalError(
                        .replyInvalid,
                        "\(name): the reply to \(request.command.rawValue) was corrupt or truncated"
                    )
                }
                throw FiscalError(.deviceTimeout, "\(name): no reply to \(request.command.rawValue) within \(timeout)")
            }
            var pollfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(
                clamping: max(
                    1,
                    remaining.wholeMilliseconds
                )
            )
            let ready = poll(&pollfd, 1, milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                dropPort()
                throw FiscalError(.linkDown, "\(name): poll failed: \(String(cString: strerror(errno)))")
            }
            if ready == 0 { continue }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                dropPort()
                throw FiscalError(.linkDown, "\(name): read failed: \(reason)")
            }
            if count == 0 || pollfd.revents & Int16(POLLHUP) != 0 && count == 0 {
                dropPort()
                throw FiscalError(.linkDown, "\(name): the device hung up")
            }
            for reply in decoder.feed(buffer[0..<count]) where reply.kind == .reply && reply.exchangeID == exchangeID {
                return reply.payload
            }
        }
    }

    private func writeAll(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws(FiscalError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if written > 0 {
                offset += written
                continue
            }
            if written < 0 && (errno == EAGAIN || errno == EINTR) {
                guard ContinuousClock.now < deadline else {
                    throw FiscalError(.deviceTimeout, "\(name): the device does not take input")
                }
                var pollfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&pollfd, 1, 10)
                continue
            }
            let reason = String(cString: strerror(errno))
            dropPort()
            throw FiscalError(.linkDown, "\(name): write failed: \(reason)")
        }
    }
}
