import FiscalCore
import FiscalTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The systemd unit as shipped, and `serve`'s side of the notify protocol against a real unix
/// datagram socket named by `NOTIFY_SOCKET`, as systemd makes one.
@Suite("systemd", .serialized, .timeLimit(.minutes(3)))
struct SystemdTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// `key=value` lines of a unit file, every value of a repeated key kept.
    static func unit(_ path: String) throws -> [String: [String]] {
        var entries: [String: [String]] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        where !line.hasPrefix("#") && !line.hasPrefix("[") && line.contains("=") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            entries[parts[0], default: []].append(parts.count > 1 ? parts[1] : "")
        }
        return entries
    }

    @Test(
        "the unit: Type=notify, its own user in dialout, a state directory, hardening, no restart loop on a bad setting"
    )
    func unitFile() throws {
        let unit = try Self.unit(Self.root.appendingPathComponent("deploy/fiscal-mediator.service").path)
        #expect(unit["Type"] == ["notify"])
        #expect(
            unit["ExecStart"]?.first?.hasSuffix("fiscal-mediator serve --config /etc/fiscal-mediator/mediator.yaml")
                == true
        )
        #expect(unit["User"] == ["fiscal-mediator"])
        #expect(unit["SupplementaryGroups"]?.first?.split(separator: " ").contains("dialout") == true)
        #expect(unit["StateDirectory"] == ["fiscal-mediator"])
        #expect(unit["RestartPreventExitStatus"] == ["78"])
        #expect(unit["WatchdogSec"] != nil)
        for (key, value) in [
            ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"), ("ProtectHome", "yes"),
        ] {
            #expect(unit[key] == [value], "\(key)")
        }
        // The example configuration it starts with is valid.
        let rules = try String(
            contentsOf: Self.root.appendingPathComponent("deploy/99-fiscal-device.rules"),
            encoding: .utf8
        )
        #expect(rules.contains(#"SYMLINK+="fiscal-def""#) && rules.contains(#"GROUP="dialout""#))
    }

    @Test(
        "systemd-analyze verify finds nothing wrong in the units (where systemd is installed)",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze"))
    )
    func analyzed() throws {
        let directory = TemporaryDirectory("units")
        defer { directory.remove() }
        var names: [String] = []
        for name in ["fiscal-mediator.service", "fiscal-mediator-backup.service", "fiscal-mediator-backup.timer"] {
            // The installed binary's path is this build's, so verify can check the command too.
            let text = try String(contentsOf: Self.root.appendingPathComponent("deploy/\(name)"), encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/fiscal-mediator", with: ServeProcess.executable.path)
            try text.write(toFile: directory.appending(name).path, atomically: true, encoding: .utf8)
            names.append(directory.appending(name).path)
        }
        let output = CrashTests.shell(
            "SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \(names.joined(separator: " ")) 2>&1"
        )
        #expect(output.isEmpty, "\(output)")
    }

    /// A datagram socket bound at `path`, read without blocking.
    final class NotifySocket: Sendable {
        let descriptor: Int32
        let received = Mutex<[String]>([])

        init(path: String) throws {
            descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
            }
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            guard bound == 0 else { throw FiscalError(.linkDown, "bind \(path): \(String(cString: strerror(errno)))") }
        }

        deinit { close(descriptor) }

        /// Every message so far, the newest read now.
        func messages() -> [String] {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                guard count > 0 else { break }
                let text = String(decoding: buffer[0..<count], as: UTF8.self)
                received.withLock { $0.append(text) }
            }
            return received.withLock { $0 }
        }
    }

    @Test("READY=1 after STATUS= lines once the ports answer; WATCHDOG=1 pings; STOPPING=1 on SIGTERM")
    func notifyReady() async throws {
        let directory = TemporaryDirectory("notify")
        defer { directory.remove() }
        let socket = try NotifySocket(path: directory.appending("notify.sock").path)
        let child = try ServeProcess(
            [
                "serve", "--db", directory.appending("mediator.sqlite").path,
                "--device", "emulator:\(directory.appending("def").path)", "--endpoint", "tcp://127.0.0.1:*",
                "--ops-http", "127.0.0.1:0",
            ],
            environment: ["NOTIFY_SOCKET": directory.appending("notify.sock").path, "WATCHDOG_USEC": "400000"]
        )
        defer { Task { await child.terminate() } }
        try await eventually(within: .seconds(60), "READY=1") { socket.messages().contains { $0.hasPrefix("READY=1") } }
        let messages = socket.messages()
        let ready = try #require(messages.firstIndex { $0.hasPrefix("READY=1") })
        #expect(messages[..<ready].contains { $0.hasPrefix("STATUS=recovering") })
        #expect(messages[ready].contains("STATUS=ready: device "))
        // Ready means the ops API is bound: its address is in the log already.
        #expect(child.errors.withLock { $0.contains("ops API listening") })
        try await eventually("a watchdog ping") { socket.messages().contains("WATCHDOG=1") }
        await child.terminate()
        #expect(socket.messages().contains { $0.hasPrefix("STOPPING=1") })
    }

    @Test("an unplugged device does not hold readiness back: READY=1 with DEVICE_UNREACHABLE in STATUS=")
    func notifyReadyWithoutDevice() async throws {
        let directory = TemporaryDirectory("notify-absent")
        defer { directory.remove() }
        let socket = try NotifySocket(path: directory.appending("notify.sock").path)
        let child = try ServeProcess(
            [
                "serve", "--db", directory.appending("mediator.sqlite").path,
                "--device", "serial:\(directory.appending("fiscal-def").path)", "--endpoint", "tcp://127.0.0.1:*",
                "--ops-http", "127.0.0.1:0", "--probe-interval", "100ms", "--device-timeout", "query=100ms",
            ],
            environment: ["NOTIFY_SOCKET": directory.appending("notify.sock").path]
        )
        defer { Task { await child.terminate() } }
        try await eventually(within: .seconds(60), "READY=1") { socket.messages().contains { $0.hasPrefix("READY=1") } }
        let ready = try #require(socket.messages().first { $0.hasPrefix("READY=1") })
        #expect(ready.contains("DEVICE_UNREACHABLE"))
        #expect(!child.hasExited)
        // /health names it: 503 with DEVICE_UNREACHABLE among the alert codes.
        let base = String(try await child.waitForLog(#"http://127\.0\.0\.1:[0-9]+"#))
        let (status, health) = try await DiskFullTests.json(base, "/health")
        #expect(status == 503)
        #expect(((health as? [String: Any])?["alert_codes"] as? [String])?.contains("DEVICE_UNREACHABLE") == true)
    }
}
