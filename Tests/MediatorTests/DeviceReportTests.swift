import AsyncHTTPClient
import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import GRDB
import Mediator
import MediatorStore
import NIOCore
import NIOHTTP1
import SampleData
import TerminalClient
import Testing

/// The device's own reports through the running mediator (RPT|Z, RPT|X), over the emulator on a
/// pseudo-terminal, with terminals selling over ZeroMQ at the same time.
@Suite("Device reports through the mediator", .timeLimit(.minutes(3)))
struct DeviceReportTests {
    @Test(
        "a Z amid sales from four lanes and a tablet: one exchange in its turn, covering exactly the numbers sealed before it"
    )
    func zAmidSales() async throws {
        var counting: CountingLink?
        let mediator = try await MediatorHarness(
            transport: .pty,
            configureEmulator: { $0.latency = EmulatorLatency(prepare: .milliseconds(3), commit: .milliseconds(6)) },
            wrapLink: { link in
                let wrapped = CountingLink(link)
                counting = wrapped
                return wrapped
            }
        )
        defer { Task { await mediator.close() } }
        let lanes = ["REG-001", "REG-002", "REG-003", "REG-004"]
        let clients = try await withThrowingTaskGroup(of: MediatorClient.self) { group in
            for lane in lanes + ["MOB-001"] { group.addTask { try await mediator.client(lane) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let perLane = 12
        let z = try await withThrowingTaskGroup(of: DeviceReport?.self) { group in
            for client in clients {
                let terminal = client.configuration.terminalID.rawValue
                group.addTask {
                    for sale in 0..<perLane {
                        let id = "\(terminal)-\(sale)"
                        let invoice = invoice(terminal, sale: sale)
                        if terminal.hasPrefix("MOB") {
                            // A tablet holds the device between PREPARE and COMMIT: the Z waits for it.
                            let prepared = try await client.prepare(requestID: id, invoice: invoice)
                            try await Task.sleep(for: .milliseconds(40))
                            _ = try await client.commit(requestID: id, nonce: prepared.nonce)
                        } else {
                            _ = try await client.fiscalizeReliably(requestID: id, invoice: invoice)
                        }
                    }
                    return nil
                }
            }
            group.addTask {
                try await eventually("some sales are sealed") { try mediator.store.sealedInvoices().count >= 15 }
                return try await mediator.service.deviceReport(.z)
            }
            var z: DeviceReport?
            for try await result in group { if let result { z = result } }
            return try #require(z)
        }
        let total = lanes.count * perLane + perLane
        let last = try #require(z.lastSeq)
        #expect(z.kind == .z && z.zNumber == 1 && z.firstSeq == 1 && z.invoiceCount == last)
        #expect(last >= 15 && last < UInt64(total), "the Z did not fall amid the sales")
        #expect(z.reportHash == SHA256.hex(z.canonicalJSON))

        // Stored before it was answered, with its intent done.
        let stored = try #require(try await mediator.store.storedDeviceZ(1))
        #expect(stored.reportHash == z.reportHash && stored.hashMatches && stored.lastSeq == last)
        #expect(try await mediator.store.latestDeviceZ() == stored)
        #expect(try await mediator.store.deviceZIntents().map(\.state) == [.done])

        // Exactly the numbers sealed before it: every one of them stored, and its sums theirs.
        let sealed = try mediator.store.sealedInvoices()
        #expect(sealed.map(\.entry.seq.rawValue) == Array(1...UInt64(total)))
        let before = sealed.filter { $0.entry.seq.rawValue <= last }
        let sum = before.reduce(Int64(0)) { $0 + $1.entry.total.units }
        #expect(z.byType.reduce(Int64(0)) { $0 + $1.total.units } == sum)

        // The sales after it start the new day.
        let x = try await mediator.service.deviceReport(.x)
        #expect(x.zNumber == 2 && x.firstSeq == last + 1 && x.invoiceCount == UInt64(total) - last)

        // One exchange at a time, and RPT|Z never between a PREPARE and its COMMIT.
        let commands = try #require(counting).commands
        #expect(counting?.mostAtOnce == 1)
        let zAt = try #require(commands.firstIndex(of: .reportZ))
        let earlier = commands[..<zAt]
        #expect(earlier.filter { $0 == .prepare }.count == earlier.filter { $0 == .commit }.count)
        #expect(commands[zAt - 1] == .status, "RPT|Z went out without reading z_count first")
        #expect(try await mediator.device.client.status().zCount == 1)
    }

    /// A mediator started on a store whose last run wrote a Z intent (z_count 0) and died; the
    /// device made the Z (`closed`) or not.
    static func restarted(closed: Bool, readsBack: Bool = true) async throws -> MediatorHarness {
        try await MediatorHarness(
            transport: .pty,
            configureEmulator: { $0.answersZReportQuery = readsBack },
            beforeStart: { device, store in
                _ = try await device.fiscalize(SampleInvoices.sale(seed: 1))
                _ = try await store.apply(StoreBatch(id: 1, writes: [.zIntent(zCountBefore: 0, deviceID: nil)]))
                if closed { _ = try await device.client.report(.z) }
            }
        )
    }

    @Test(
        "a start after a crash between RPT|Z and its store: the device's z_count moved, so the Z is read back and stored"
    )
    func recoveredZ() async throws {
        let mediator = try await Self.restarted(closed: true)
        defer { Task { await mediator.close() } }
        let device = try await mediator.device.client.storedZReport(1)
        let stored = try #require(try await mediator.store.latestDeviceZ())
        #expect(stored.zNumber == 1 && stored.reportHash == device.reportHash && stored.hashMatches)
        #expect(stored.lastSeq == 1 && stored.invoiceCount == 1)
        let intent = try #require(try await mediator.store.deviceZIntents().first)
        #expect(intent.state == .done && intent.zNumber == 1 && intent.zCountSeen == 1)
        #expect(try await mediator.store.pendingZIntent() == nil)
        // Ready, and the next Z is the next day's.
        #expect(try await mediator.service.deviceReport(.z).zNumber == 2)
    }

    @Test("a start after a crash before RPT|Z reached the device: z_count unmoved, the intent is dropped")
    func droppedIntent() async throws {
        let mediator = try await Self.restarted(closed: false)
        defer { Task { await mediator.close() } }
        #expect(try await mediator.store.deviceZIntents().map(\.state) == [.dropped])
        #expect(try await mediator.store.deviceZReports().isEmpty)
        #expect(try await mediator.device.client.status().zCount == 0)
    }

    @Test("a DEF without QRY|ZREPORT: the intent is unrecoverable with the z_count seen, nothing made up")
    func unrecoverableIntent() async throws {
        let mediator = try await Self.restarted(closed: true, readsBack: false)
        defer { Task { await mediator.close() } }
        let intent = try #require(try await mediator.store.deviceZIntents().first)
        #expect(intent.state == .unrecoverable && intent.zCountSeen == 1 && intent.errorCode == "UNKNOWN_COMMAND")
        #expect(try await mediator.store.deviceZReports().isEmpty)
        #expect(await mediator.service.deviceActor.snapshot().ready)
    }

    @Test("the store: one pending Z intent at a time, a stored Z immutable, another report under its number refused")
    func storeRules() async throws {
        let directory = TemporaryDirectory("device-z-store")
        defer { directory.remove() }
        let store = try MediatorDatabase(path: directory.appending("mediator.sqlite").path)
        _ = try await store.apply(StoreBatch(id: 1, writes: [.zIntent(zCountBefore: 4, deviceID: DeviceID("DEF-1"))]))
        await #expect(throws: (any Error).self) {
            _ = try await store.apply(StoreBatch(id: 2, writes: [.zIntent(zCountBefore: 4, deviceID: nil)]))
        }
        let json = #"{"kind":"Z","z_number":5}"#
        let z = StoredDeviceZ(
            zNumber: 5,
            deviceID: "DEF-1",
            firstSeq: 10,
            lastSeq: 12,
            invoiceCount: 3,
            reportJSON: json,
            reportHash: SHA256.hex(Array(json.utf8)),
            signature: "sig",
            takenAt: "2026-12-02T20:00:00.000Z"
        )
        var forged = z
        forged.reportHash = String(repeating: "0", count: 64)
        await #expect(throws: FiscalError.self) {
            _ = try await store.apply(StoreBatch(id: 3, writes: [.zReport(forged, zCountSeen: 5)]))
        }
        _ = try await store.apply(StoreBatch(id: 4, writes: [.zReport(z, zCountSeen: 5)]))
        _ = try await store.apply(StoreBatch(id: 5, writes: [.zReport(z, zCountSeen: 5)]))  // idempotent
        let intents = try await store.deviceZIntents()
        #expect(intents.count == 1 && intents[0].state == .done && intents[0].zNumber == 5)
        var other = z
        other.reportJSON = #"{"kind":"Z","z_number":5,"x":1}"#
        other.reportHash = SHA256.hex(Array(other.reportJSON.utf8))
        await #expect(throws: FiscalError.self) {
            _ = try await store.apply(StoreBatch(id: 6, writes: [.zReport(other, zCountSeen: 5)]))
        }
        // Immutable, and a resolved intent does not change, whoever edits the file.
        let raw = try DatabaseQueue(path: store.path)
        #expect(throws: (any Error).self) {
            try raw.write { try $0.execute(sql: "UPDATE device_z_report SET last_seq = 11") }
        }
        #expect(throws: (any Error).self) { try raw.write { try $0.execute(sql: "DELETE FROM device_z_report") } }
        #expect(throws: (any Error).self) {
            try raw.write { try $0.execute(sql: "UPDATE device_z_intent SET state = 'pending'") }
        }
        try raw.close()
        #expect(try await store.storedDeviceZ(5)?.lastSeq == 12)
        #expect(try await store.deviceZReports().map(\.zNumber) == [5])
    }

    static func post(_ url: String, token: String?) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test(
        "serve: POST /admin/device/report needs the admin token; `device report z` says how, and with --via-mediator goes through it"
    )
    func opsAndCLI() async throws {
        let directory = TemporaryDirectory("device-report")
        defer { directory.remove() }
        let database = directory.appending("mediator.sqlite").path
        let device = "emulator:\(directory.appending("def").path)"
        let child = try ServeProcess([
            "serve", "--db", database, "--device", device, "--endpoint", "tcp://127.0.0.1:*", "--ops-http",
            "127.0.0.1:0",
        ])
        defer { Task { await child.terminate() } }
        let base = String(try await child.waitForLog(#"http://127\.0\.0\.1:[0-9]+"#))
        _ = try await child.waitForLog("mediator ready")
        let token = try String(contentsOfFile: directory.appending("ops-admin.token").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)

        #expect(try await Self.post(base + "/admin/device/report?kind=z", token: nil).status == 401)
        #expect(try await Self.post(base + "/admin/device/report?kind=a", token: token).status == 400)
        let x = try await Self.post(base + "/admin/device/report?kind=x", token: token)
        #expect(x.status == 200, "\(x.body)")
        #expect(x.body.contains(#""kind":"X""#) && x.body.contains(#""z_number":1"#))

        let refused = try await ServeProcess.run(["device", "report", "z", "--device", device, "--db", database])
        #expect(refused.status == 2)
        #expect(refused.errors.contains("IN_USE") && refused.errors.contains("--via-mediator"), "\(refused.errors)")
        let through = try await ServeProcess.run([
            "device", "report", "z", "--via-mediator", "--device", device, "--db", database, "--mediator", base,
        ])
        #expect(through.status == 0, "\(through.errors)")
        #expect(through.errors.hasPrefix("via the running mediator at \(base)"))
        #expect(through.output.contains(#""kind":"Z""#) && through.output.contains(#""report_hash""#))

        await child.terminate()
        let store = try MediatorDatabase(path: database)
        let stored = try #require(try await store.latestDeviceZ())
        #expect(stored.zNumber == 1 && stored.hashMatches)
        #expect(try await store.deviceZIntents().map(\.state) == [.done])
        // The daemon gone, the command opens the device itself: the next day's Z.
        let direct = try await ServeProcess.run(["device", "report", "z", "--device", device])
        #expect(direct.status == 0, "\(direct.errors)")
        #expect(direct.errors.hasPrefix("direct: opened"))
        #expect(direct.output.contains(#""z_number" : 2"#), "\(direct.output)")
    }
}
