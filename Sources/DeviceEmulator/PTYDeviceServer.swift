import FiscalDevice
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serves a ``FiscalDeviceEmulator`` on a pseudo-terminal, so a host opens the slave path
/// exactly as it would open `/dev/ttyACM0`.
///
/// A thread of its own reads the master side with `poll`, feeds the bytes to the emulator and
/// writes the replies back. When a frame stops arriving halfway for `quietPeriod`, it is
/// abandoned (answered `FRAME_INVALID` when its header was readable) so a lying length field
/// cannot stall the line.
///
/// `@unchecked Sendable`: the descriptors are set in `init` and only read afterwards; `stopped`
/// is an atomic flag.
public final class PTYDeviceServer: @unchecked Sendable {
    /// The slave side's path, e.g. `/dev/pts/4`.
    public let path: String
    private let master: Int32
    private let slave: Int32
    private let emulator: FiscalDeviceEmulator
    private let quietPeriod: Int32
    private let stopped = ManagedFlag()
    private let finished = DispatchSemaphore(value: 0)

    public init(emulator: FiscalDeviceEmulator, quietPeriodMilliseconds: Int32 = 200) throws {
        var master: Int32 = -1
        var slave: Int32 = -1
        guard openpty(&master, &slave, nil, nil, nil) == 0 else {
            throw PTYError(message: "openpty failed: \(String(cString: strerror(errno)))")
        }
        // Raw mode on the line: no echo, no line editing, no CR/LF translation.
        var settings = termios()
        tcgetattr(slave, &settings)
        cfmakeraw(&settings)
        tcsetattr(slave, TCSANOW, &settings)
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        _ = fcntl(master, F_SETFD, FD_CLOEXEC)
        _ = fcntl(slave, F_SETFD, FD_CLOEXEC)
        // ttyname_r, not ttyname: the latter returns a static buffer that concurrent callers
        // overwrite, which would hand two servers the same path.
        var name = [UInt8](repeating: 0, count: 128)
        let failed = name.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { ttyname_r(slave, $0.baseAddress!, $0.count) }
        }
        guard failed == 0 else {
            throw PTYError(message: "ttyname_r failed: \(String(cString: strerror(failed)))")
        }
        self.path = String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
        self.master = master
        // The emulator keeps the slave open too, so the line does not hang up between hosts.
        self.slave = slave
        self.emulator = emulator
        self.quietPeriod = quietPeriodMilliseconds
        let thread = Thread { [self] in serve() }
        thread.name = "pty \(path)"
        thread.start()
    }

    /// Stops serving and closes the pseudo-terminal.
    public func stop() {
        guard stopped.set() else { return }
        finished.wait()
        close(master)
        close(slave)
    }

    deinit { stop() }

    private func serve() {
        defer { finished.signal() }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !stopped.isSet {
            var descriptor = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, quietPeriod)
            if ready < 0 && errno != EINTR { return }
            if ready <= 0 {
                write(emulator.streamWentQuiet())
                continue
            }
            let count = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress, $0.count) }
            if count <= 0 {
                if count < 0 && (errno == EAGAIN || errno == EINTR || errno == EIO) {
                    // EIO: no host has the line open right now; wait for one.
                    if errno == EIO { usleep(20_000) }
                    continue
                }
                continue
            }
            write(emulator.receiveStream(Array(buffer[0..<count])))
        }
    }

    private func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count && !stopped.isSet {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(master, $0.baseAddress, $0.count) }
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EAGAIN || errno == EINTR) {
                var descriptor = pollfd(fd: master, events: Int16(POLLOUT), revents: 0)
                _ = poll(&descriptor, 1, 50)
            } else {
                return
            }
        }
    }
}

public struct PTYError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// A set-once flag.
final class ManagedFlag: Sendable {
    private let value = Atomic<Bool>(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    /// Sets the flag; `true` if this call set it.
    func set() -> Bool {
        value.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }
}
