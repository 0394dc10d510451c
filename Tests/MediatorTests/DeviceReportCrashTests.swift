import AsyncHTTPClient
import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import MediatorStore
import NIOCore
import NIOHTTP1
import Testing

/// A `serve` child SIGKILLed while it takes a Z (QRY|STATUS, the intent, RPT|Z, the store), then
/// restarted: whatever the instant, every Z the device made ends up stored exactly as the device
/// holds it, and no intent is left pending. The device (an emulator on a pty in this process)
/// outlives the children; `make test` runs this with the other crash suites.
@Suite("Z report killed and restarted (DeviceReportCrashTests)", .serialized, .timeLimit(.minutes(5)))
struct DeviceReportCrashTests {
    static let rounds = Int(ProcessInfo.processInfo.environment["FISCAL_Z_KILL_ROUNDS"] ?? "") ?? 8

    /// A `serve` child on `device`, ready, and its ops API's base URL.
    static func start(device: String, database: String) async throws -> (ServeProcess, String) {
        let child = try ServeProcess([
            "serve", "--db", database, "--device", device, "--endpoint", "tcp://127.0.0.1:*", "--ops-http",
            "127.0.0.1:0",
        ])
        let base = String(try await child.waitForLog(#"http://127\.0\.0\.1:[0-9]+"#))
        _ = try await child.waitForLog("mediator ready")
        return (child, base)
    }

    @Test("SIGKILL at random instants of a Z: every Z the device made is stored as the device holds it, none pending")
    func killDuringZ() async throws {
        // Each exchange but PREPARE and COMMIT takes 150 ms: a Z spans about half a second.
        let device = try await EmulatorHarness(transport: .pty, realClock: true) {
            $0.latency = EmulatorLatency(
                prepare: .milliseconds(5),
                commit: .milliseconds(10),
                other: .milliseconds(150)
            )
        }
        defer { Task { await device.close() } }
        let path = "serial:\(try #require(device.server?.path))"
        let database = device.directory.appending("mediator.sqlite").path
        var generator = SystemRandomNumberGenerator()
        var logs = ""
        for _ in 0..<Self.rounds {
            let (child, base) = try await Self.start(device: path, database: database)
            let token = try String(
                contentsOfFile: device.directory.appending("ops-admin.token").path,
                encoding: .utf8
            ).trimmingCharacters(in: .whitespacesAndNewlines)
            let asked = Task {
                var request = HTTPClientRequest(url: base + "/admin/device/report?kind=z")
                request.method = .POST
                request.headers.add(name: "Authorization", value: "Bearer \(token)")
                _ = try? await HTTPClient.shared.execute(request, timeout: .seconds(10))
            }
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...700, using: &generator)))
            kill(child.process.processIdentifier, SIGKILL)
            _ = await child.exit()
            _ = await asked.value
            logs += child.errors.withLock { $0 }
        }
        // The last start resolves what the last kill left; then the store is read.
        let (child, _) = try await Self.start(device: path, database: database)
        child.process.terminate()
        _ = await child.exit()
        logs += child.errors.withLock { $0 }
        let made = try await device.client.status().zCount
        let store = try MediatorDatabase(path: database)
        let stored = try await store.deviceZReports()
        #expect(stored.map(\.zNumber) == Array(stride(from: 1, through: made, by: 1)), "made \(made)")
        for z in stored {
            let held = try await device.client.storedZReport(z.zNumber)
            #expect(z.reportHash == held.reportHash && z.hashMatches && z.lastSeq == held.lastSeq)
        }
        let intents = try await store.deviceZIntents()
        print(
            "Z kills: \(Self.rounds) rounds, \(made) Zs made, "
                + "\(logs.components(separatedBy: "read back a Z the device made").count - 1) read back at a start, intents "
                + Dictionary(grouping: intents, by: \.state.rawValue).map { "\($0.key) \($0.value.count)" }.sorted()
                .joined(separator: ", ")
        )
        #expect(!intents.contains { $0.state == .pending || $0.state == .unrecoverable })
        #expect(intents.filter { $0.state == .done }.compactMap(\.zNumber) == stored.map(\.zNumber))
    }
}
