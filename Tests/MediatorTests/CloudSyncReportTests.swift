import AsyncHTTPClient
import CloudEmulator
import FiscalCore
import FiscalTestSupport
import Foundation
import Mediator
import MediatorStore
import NIOCore
import NIOHTTP1
import Reports
import Synchronization
import Testing

/// Reports through the sync uploader to the cloud emulator, over real HTTP on loopback and a
/// real SQLite store (docs/CLOUD_API.md, "Reports"); and the emulator's own checks of order,
/// chain and hash, against its endpoint directly.
@Suite("Cloud sync of reports over HTTP", .timeLimit(.minutes(2)))
struct CloudSyncReportTests {
    typealias Cloud = CloudSyncTests.Cloud
    static let outlet = "OUTLET-KIN-01"

    /// Two Zs at REG-001 and one at REG-002, taken with the store API (an empty staff registry
    /// lets anyone close), in `store`, or in a fresh store.
    @discardableResult
    static func takeZs(
        in store: MediatorDatabase,
        count: CashCount = CashCount([:]),
        explanation: String? = nil
    ) async throws -> [ReportRecord] {
        var zs: [ReportRecord] = []
        for terminal in ["REG-001", "REG-001", "REG-002"] {
            let id = TerminalID(terminal)
            if try store.terminal(id) == nil { _ = try store.addTerminal(TerminalRecord(code: id)) }
            if try await store.openPeriod(at: id) == nil {
                _ = try await store.openPeriod(at: id, openedBy: "SUP", openingFloat: .init())
            }
            zs.append(
                try await store.takeZ(
                    ZRequest(terminal: id, closedBy: "SUP", count: count, explanation: explanation),
                    settings: ReportSettings(),
                    currencies: ["CDF", "USD"]
                )
            )
        }
        return zs
    }

    static func store() async throws -> (TemporaryDirectory, MediatorDatabase, [ReportRecord]) {
        let directory = TemporaryDirectory("report-sync")
        let store = try MediatorDatabase(path: directory.appending("m.sqlite").path)
        return (directory, store, try await takeZs(in: store))
    }

    /// The stored reports as the cloud should hold them: per chain, by sequence, with hashes.
    static func stored(_ store: MediatorDatabase, _ zs: [ReportRecord]) async throws -> [CloudProtocol.HeldReport] {
        var held: [CloudProtocol.HeldReport] = []
        for z in zs {
            let (record, hash) = try await store.report(z.number)
            held.append(
                .init(
                    number: record.number,
                    kind: "Z",
                    terminal: record.terminal,
                    sequence: record.sequence,
                    hash: hash,
                    receivedAt: ""
                )
            )
        }
        return held.sorted { ($0.terminal ?? "", $0.sequence) < ($1.terminal ?? "", $1.sequence) }
    }

    static func held(_ cloud: Cloud, outlet: String = outlet) throws -> [CloudProtocol.HeldReport] {
        try cloud.emulator.receivedReports(outlet: outlet).map {
            var report = $0
            report.receivedAt = ""
            return report
        }
    }

    static func pending(_ store: MediatorDatabase) async throws -> Int { try await store.reportOutboxSummary().pending }

    /// Drives ``SyncUploader/round()`` until `done` holds.
    func drive(_ uploader: SyncUploader, limit: Int = 2000, until done: () async throws -> Bool) async throws {
        for _ in 0..<limit {
            if try await done() { return }
            if let pause = await uploader.round() { try await Task.sleep(for: min(pause, .milliseconds(50))) }
        }
        Issue.record("the uploader did not get there in \(limit) rounds")
    }

    @Test("the Zs of each terminal reach the cloud in order, with the stored hashes, and are marked uploaded")
    func zsInOrder() async throws {
        let (directory, store, zs) = try await Self.store()
        let cloud = try await Cloud()
        defer {
            Task {
                await cloud.close()
                directory.remove()
            }
        }
        #expect(zs.map(\.sequence) == [1, 2, 1])
        #expect(try await Self.pending(store) == 3)
        let uploader = try CloudSyncTests().uploader(store, cloud.url, batch: 2)
        try await drive(uploader) { try await Self.pending(store) == 0 }
        // The cloud checked order and chain itself (the emulator refuses a gap or a broken chain).
        #expect(try await Self.stored(store, zs) == Self.held(cloud))
        #expect(cloud.emulator.reportBatchesSeen.load(ordering: .relaxed) == 2)  // 2 + 1
        for z in zs {
            let row = try #require(try await store.reportOutboxState(z.number))
            #expect(row.state == "uploaded" && row.uploadedAt != nil && row.lastError == nil)
        }
        // Idle: nothing is sent again; the reports stay (never pruned).
        for _ in 0..<5 { _ = await uploader.round() }
        #expect(cloud.emulator.reportBatchesSeen.load(ordering: .relaxed) == 2)
        #expect(
            try await store.reportOutboxSummary() == .init(pending: 0, failing: 0, uploaded: 3, oldestPendingAt: nil)
        )
        #expect(await uploader.alerts().isEmpty)
        #expect(await uploader.status().reportState == "idle")

        // A new Z goes on its own, after those the cloud holds.
        let more = try await Self.takeZs(in: store)
        try await drive(uploader) { try await Self.pending(store) == 0 }
        #expect(try await Self.stored(store, zs + more) == Self.held(cloud))
    }

    @Test("invoices and reports drain in the same loop, invoices first")
    func withInvoices() async throws {
        let mediator = try await CloudSyncTests.sealed(12)
        let cloud = try await Cloud()
        defer { Task { await CloudSyncTests.close(mediator, cloud) } }
        // REG-001 sold in its open period: its Z counts the sales (an empty drawer, explained).
        let zs = try await Self.takeZs(
            in: mediator.store,
            count: CashCount(["CDF": ["1000": 0]]),
            explanation: "test drawer, not counted"
        )
        let uploader = try CloudSyncTests().uploader(mediator.store, cloud.url, batch: 5)
        // The first round sends the first invoice batch, then the reports.
        _ = await uploader.round()
        #expect(try cloud.seqs() == Array(1...5))
        #expect(try Self.held(cloud).count == 3)  // not starved by the invoices still waiting
        try await drive(uploader) {
            let reports = try await Self.pending(mediator.store)
            return try mediator.store.outboxSummary().pending == 0 && reports == 0
        }
        #expect(try cloud.seqs() == Array(1...12))
        #expect(try await Self.stored(mediator.store, zs) == Self.held(cloud))
    }

    @Test("a cloud that is down keeps the reports pending with the error; they go once it is back")
    func cloudDown() async throws {
        let (directory, store, zs) = try await Self.store()
        let cloud = try await Cloud()
        defer {
            Task {
                await cloud.close()
                directory.remove()
            }
        }
        // Failing until the test brings it back (5xx without Retry-After): a fixed outage can end
        // before three attempts on a loaded machine.
        cloud.emulator.faults.withLock { $0.errorRate = 1 }
        let uploader = try CloudSyncTests().uploader(store, cloud.url)
        try await drive(uploader) { await uploader.alerts().contains { $0.kind == .syncFailing } }
        #expect(try Self.held(cloud).isEmpty)
        let summary = try await store.reportOutboxSummary()
        #expect(summary.pending == 3 && summary.failing >= 1 && summary.oldestPendingAt == zs[0].generatedAt)
        let first = try #require(try await store.reportOutboxState(zs[0].number))
        #expect(first.state == "pending" && first.attempts >= 2 && first.lastError?.contains("50") == true)
        cloud.emulator.faults.withLock { $0.errorRate = 0 }
        try await drive(uploader) { try await Self.pending(store) == 0 }
        #expect(try await Self.stored(store, zs) == Self.held(cloud))
        #expect(await uploader.alerts().isEmpty)
    }

    @Test(
        "a refused Z stays pending with its reason and an alert; its chain waits, other chains go; it goes once accepted"
    )
    func refused() async throws {
        let (directory, store, zs) = try await Self.store()
        let cloud = try await Cloud()
        defer {
            Task {
                await cloud.close()
                directory.remove()
            }
        }
        // A careless cloud (no order check) would take REG-001's second Z alone: the mediator's
        // own rule is what holds it back.
        cloud.emulator.faults.withLock {
            $0.rejectReports = [zs[0].number]
            $0.noOrderCheck = true
        }
        let uploader = try CloudSyncTests().uploader(store, cloud.url)
        try await drive(uploader) { await uploader.alerts().contains { $0.kind == .syncQuarantined } }
        for _ in 0..<20 {
            if let pause = await uploader.round() { try await Task.sleep(for: min(pause, .milliseconds(20))) }
        }
        #expect(try Self.held(cloud).map(\.number) == [zs[2].number])
        let first = try #require(try await store.reportOutboxState(zs[0].number))
        #expect(first.state == "pending" && first.lastError?.hasPrefix("REJECTED:") == true)
        #expect(try await store.reportOutboxState(zs[1].number)?.state == "pending")
        let alert = try #require(await uploader.alerts().first { $0.kind == .syncQuarantined })
        #expect(alert.message.contains(zs[0].number) && alert.message.contains("Z/REG-001"))
        #expect(await uploader.status().reportState == "refused")
        // The invoice line, idle, does not clear the reports' alert.
        #expect(await uploader.step() != nil)
        #expect(await uploader.alerts().contains { $0.kind == .syncQuarantined })

        cloud.emulator.faults.withLock {
            $0.rejectReports = []
            $0.noOrderCheck = false
        }
        try await drive(uploader) { try await Self.pending(store) == 0 }
        #expect(try await Self.stored(store, zs) == Self.held(cloud))
        _ = await uploader.round()
        #expect(await uploader.alerts().isEmpty)
    }

    // MARK: The emulator's endpoint

    static func post(
        _ cloud: Cloud,
        _ items: [CloudProtocol.ReportItem],
        outlet: String = outlet,
        token: String = "outlet-token"
    ) async throws -> (status: Int, results: [CloudProtocol.ReportResult]) {
        var request = HTTPClientRequest(url: "\(cloud.url)/v1/outlets/\(outlet)/reports")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONEncoder().encode(items)))
        let response = try await CloudSyncTests.http.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        let status = Int(response.status.code)
        guard status == 200 else { return (status, []) }
        return (
            status,
            try JSONDecoder().decode(CloudProtocol.ReportResponse.self, from: Data(body.readableBytesView)).results
        )
    }

    static func outcome(_ results: [CloudProtocol.ReportResult]) -> [String] {
        results.map { $0.code ?? $0.status.rawValue }
    }

    @Test("the cloud refuses a report out of order, an edited body, a forged chain; takes replays; lists what it holds")
    func emulatorChecks() async throws {
        let (directory, store, zs) = try await Self.store()
        let cloud = try await Cloud()
        defer {
            Task {
                await cloud.close()
                directory.remove()
            }
        }
        let line = try await store.reportUploadLine(limit: 10)
        let item = Dictionary(
            uniqueKeysWithValues: line.ready.map {
                ($0.number, CloudProtocol.ReportItem(number: $0.number, hash: $0.hash, body: $0.body))
            }
        )
        let (a1, a2, b1) = (
            try #require(item[zs[0].number]), try #require(item[zs[1].number]), try #require(item[zs[2].number])
        )
        #expect(a1.body.contains("\"previous_hash\":\"\(JournalEntry.genesisHash)\""))

        // The token, as for invoices.
        #expect(try await Self.post(cloud, [a1], token: "wrong").status == 401)
        // REG-001's second before its first: ORDER_GAP; REG-002's chain, independent, goes.
        #expect(try await Self.outcome(Self.post(cloud, [a2, b1]).results) == ["ORDER_GAP", "accepted"])
        // An edited body under its stored hash: REPORT_HASH_MISMATCH, and the chain's next is skipped.
        var edited = a1
        edited.body = a1.body.replacingOccurrences(of: "\"generated_by\":\"SUP\"", with: "\"generated_by\":\"EVE\"")
        #expect(edited.body != a1.body)
        #expect(try await Self.outcome(Self.post(cloud, [edited, a2]).results) == ["REPORT_HASH_MISMATCH", "skipped"])
        // A body that is not the report numbered: BAD_REQUEST.
        #expect(
            try await Self.outcome(Self.post(cloud, [.init(number: a1.number, hash: b1.hash, body: b1.body)]).results)
                == ["BAD_REQUEST"]
        )
        #expect(try Self.held(cloud).map(\.number) == [b1.number])
        // In order: taken; again: duplicates (idempotent), and the list is unchanged.
        #expect(try await Self.outcome(Self.post(cloud, [a1, a2]).results) == ["accepted", "accepted"])
        #expect(
            try await Self.outcome(Self.post(cloud, [a1, a2, b1]).results) == ["duplicate", "duplicate", "duplicate"]
        )
        #expect(try await Self.stored(store, zs) == Self.held(cloud))
        // Another report under a held number, hash recomputed: REPORT_CONFLICT.
        let forged = CloudProtocol.ReportItem(
            number: a1.number,
            hash: ReportRecord.hash(of: edited.body),
            body: edited.body
        )
        #expect(try await Self.outcome(Self.post(cloud, [forged]).results) == ["REPORT_CONFLICT"])

        // Elsewhere (another outlet), the forged first Z is taken (its hash holds, it starts the
        // chain), but the true second no longer chains to it: CHAIN_BROKEN.
        #expect(try await Self.outcome(Self.post(cloud, [forged], outlet: "OUTLET-FORGE").results) == ["accepted"])
        #expect(try await Self.outcome(Self.post(cloud, [a2], outlet: "OUTLET-FORGE").results) == ["CHAIN_BROKEN"])

        // GET lists what it holds, per chain by sequence, with the hashes.
        var request = HTTPClientRequest(url: "\(cloud.url)/v1/outlets/\(Self.outlet)/reports")
        request.headers.add(name: "Authorization", value: "Bearer outlet-token")
        let response = try await CloudSyncTests.http.execute(request, timeout: .seconds(10))
        #expect(response.status.code == 200)
        let listed = try JSONDecoder().decode(
            [CloudProtocol.HeldReport].self,
            from: Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        )
        #expect(listed.map(\.number) == [zs[0].number, zs[1].number, zs[2].number])
        #expect(listed.map(\.hash) == (try await Self.stored(store, zs)).map(\.hash))
    }
}
