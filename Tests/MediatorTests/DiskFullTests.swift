import AsyncHTTPClient
import FiscalCore
import FiscalTestSupport
import Foundation
import MediatorStore
import NIOCore
import NIOHTTP1
import SampleData
import TerminalClient
import Testing
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// The disk fills while the device seals a sale: `serve` as a child process, its store on a
/// size-limited tmpfs (CI runs as root), the emulated device's memory elsewhere.
@Suite("Disk full", .serialized, .timeLimit(.minutes(3)), .enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
struct DiskFullTests {
    /// The HTTP status and JSON of `path` on the ops API at `base`.
    static func json(_ base: String, _ path: String) async throws -> (status: Int, value: Any) {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: base + path), timeout: .seconds(5))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)))
    }

    /// The codes `/alerts` lists.
    static func alertKinds(_ base: String) async throws -> [String] {
        ((try await json(base, "/alerts").value as? [[String: Any]]) ?? []).compactMap { $0["kind"] as? String }
    }

    /// Writes `path` until the file system refuses (ENOSPC).
    static func fill(_ path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FiscalError(.linkDown, "cannot create \(path)") }
        defer { close(descriptor) }
        let block = [UInt8](repeating: 0x5A, count: 4096)
        while block.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        #expect(errno == ENOSPC)
    }

    @Test(
        "STORE_FAILING and DISK_LOW in /alerts, /health 503, new sales refused; space back: sealed, stored once, no restart"
    )
    func diskFillsMidSale() async throws {
        let directory = TemporaryDirectory("disk-full")
        defer { directory.remove() }
        let mount = directory.appending("store").path
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        #expect(CrashTests.shell("mount -t tmpfs -o size=3m fiscal-test-tmpfs \(mount) && echo ok") == "ok\n")
        defer { _ = CrashTests.shell("umount \(mount)") }
        let database = "\(mount)/mediator.sqlite"
        try await CrashTests.register(["REG-001", "REG-002"], cashier: SampleInvoices.cashier, in: database)

        let child = try ServeProcess([
            "serve", "--db", database, "--device", "emulator:\(directory.appending("def").path)",
            "--endpoint", "tcp://127.0.0.1:*", "--ops-http", "127.0.0.1:0", "--disk-low", "1MB",
            "--emulator-latency", "prepare=1ms,commit=3s", "--lease", "10s",
        ])
        defer { Task { await child.terminate() } }
        let base = String(try await child.waitForLog(#"http://127\.0\.0\.1:[0-9]+"#))
        let endpoint = String(try await child.waitForLog(#"tcp://127\.0\.0\.1:[0-9]+ "#).dropLast())
        let context = ZMQContext()
        var lane = try CrashTests.client("REG-001", endpoint: endpoint, database: database)
        lane.requestTimeout = .seconds(20)
        let other = try CrashTests.client("REG-002", endpoint: endpoint, database: database)
        try await MediatorClient.withClient(context: context, configuration: lane) { lane in
            try await MediatorClient.withClient(context: context, configuration: other) { other in
                async let first = lane.fiscalize(requestID: "s1", invoice: invoice("REG-001", sale: 1))
                try await eventually("the COMMIT is at the device") {
                    try await DeviceCoreIntegrationTests.state(lane, "s1") == .committing
                }
                // The disk fills while the device seals.
                try Self.fill("\(mount)/ballast")
                do {
                    try await eventually(within: .seconds(20), "the store's refusal and the low disk are seen") {
                        let kinds = try await Self.alertKinds(base)
                        return kinds.contains("STORE_FAILING") && kinds.contains("DISK_LOW")
                    }
                } catch {
                    let log = child.errors.withLock { $0 }
                    Issue.record("\(error)\n\(try await Self.alertKinds(base))\n\(log.suffix(4000))")
                    throw error
                }
                let (status, health) = try await Self.json(base, "/health")
                #expect(status == 503)
                let device = (health as? [String: Any])?["device"] as? [String: Any]
                #expect(device?["state"] as? String == "store_failing")
                let codes = Set((health as? [String: Any])?["alert_codes"] as? [String] ?? [])
                #expect(codes.isSuperset(of: ["DISK_LOW", "STORE_FAILING"]))
                let refused = await refusal {
                    try await other.send(
                        TerminalRequest(type: .fiscalize, requestID: "x", invoice: invoice("REG-002", sale: 2))
                    )
                }
                #expect(refused?.code == .storeUnavailable)
                #expect(try await DeviceCoreIntegrationTests.state(lane, "s1") == .inDoubt)
                // doctor names it, through the running mediator.
                let doctor = try await MaintenanceTests.doctor(
                    ["--db", database],
                    environment: ["FISCAL_MEDIATOR_OPS_HTTP": String(base.dropFirst("http://".count))]
                )
                #expect(doctor.status == 1 && doctor.path == "daemon")
                #expect(doctor.findings["device"]?.1.hasPrefix("STORE_FAILING") == true)
                #expect(doctor.findings["disk"]?.0 == "warn")

                // Space comes back: the sealed number is stored, the terminal told, no restart.
                try FileManager.default.removeItem(atPath: "\(mount)/ballast")
                #expect(try await first.invoiceSeq == InvoiceSeq(1))
                let result = try await lane.result(requestID: "s1")
                #expect(result.state == .sealed && result.securityElements?.invoiceSeq == InvoiceSeq(1))
                try await eventually("the alerts clear") { try await Self.alertKinds(base).isEmpty }
                #expect(try await Self.json(base, "/health").status == 200)
                let later = try await other.fiscalizeReliably(requestID: "x", invoice: invoice("REG-002", sale: 2))
                #expect(later.invoiceSeq == InvoiceSeq(2))
            }
        }
        #expect(!child.hasExited)
        await child.terminate()
        let store = try MediatorDatabase(path: database)
        #expect(try store.sealedInvoices().map(\.entry.seq) == [InvoiceSeq(1), InvoiceSeq(2)])
    }
}
