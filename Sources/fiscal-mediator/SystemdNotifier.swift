import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The sd_notify protocol without libsystemd: one datagram per message to the unix socket
/// named by `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Nothing is sent
/// when the variable is unset (not started by systemd with `Type=notify`).
///
/// `serve` sends `STATUS=` lines while it waits, `READY=1` once the store is open, every port is
/// bound and recovery is done as far as the device allows, `WATCHDOG=1` at half of
/// `$WATCHDOG_USEC` while the device actor answers, and `STOPPING=1` on shutdown.
struct SystemdNotifier: Sendable {
    let socketPath: String?
    /// Half of `WATCHDOG_USEC` when systemd asked for watchdog pings (and they are for us).
    let watchdogInterval: Duration?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        let forUs = environment["WATCHDOG_PID"].map { Int32($0) == getpid() } ?? true
        if forUs, let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 {
            watchdogInterval = .microseconds(microseconds / 2)
        } else {
            watchdogInterval = nil
        }
    }

    var enabled: Bool { socketPath != nil }

    func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    func status(_ text: String) { send("STATUS=\(text)") }
    func stopping() { send("STOPPING=1\nSTATUS=stopping") }
    func watchdog() { send("WATCHDOG=1") }

    /// Sends `message` as one datagram; a failure is ignored, as sd_notify's callers do (the
    /// service still runs; systemd then reports the missing readiness itself).
    func send(_ message: String) {
        guard let socketPath else { return }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // the abstract namespace
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.count < capacity else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.enumerated() { buffer[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        _ = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, 0, socketAddress, length) }
            }
        }
    }
}
