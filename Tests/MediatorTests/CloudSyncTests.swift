import AsyncHTTPClient
import CloudEmulator
import FiscalCore
import FiscalTestSupport
import Foundation
import Hummingbird
import Logging
import Mediator
import MediatorStore
import Metrics
import Synchronization
import TerminalClient
import Testing

/// The sync uploader against the cloud emulator over real HTTP on loopback.
@Suite("Cloud sync over HTTP", .timeLimit(.minutes(2)))
struct CloudSyncTests {
    /// A cloud emulator on an ephemeral port.
    final class Cloud: Sendable {
        let emulator: CloudEmulator
        let server: Task<Void, any Error>
        let url: String
        let directory = TemporaryDirectory("cloud")

        init(token: String = "outlet-token") async throws {
            var logger = Logger(label: "cloud")
            logger.logLevel = .critical
            emulator = try CloudEmulator(
                path: directory.appending("cloud.sqlite").path,
                token: Secret(token),
                logger: logger
            )
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = emulator.application(port: 0) { continuation.yield($0) }
            server = Task { try await app.runService(gracefulShutdownSignals: []) }
            var iterator = ports.makeAsyncIterator()
            url = "http://127.0.0.1:\(try #require(await iterator.next()))"
        }

        func seqs() throws -> [UInt64] { try emulator.received(outlet: "OUTLET-KIN-01").map(\.seq) }

        func close() async {
            server.cancel()
            _ = try? await server.value
            directory.remove()
        }
    }

    /// A mediator store holding `count` invoices sealed by a real (emulated) device.
    static func sealed(_ count: Int) async throws -> MediatorHarness {
        let mediator = try await MediatorHarness()
        let lane = try await mediator.client("REG-001")
        for sale in 1...count {
            _ = try await lane.fiscalize(requestID: "s\(sale)", invoice: invoice("REG-001", sale: sale))
        }
        return mediator
    }

    /// `count` sealed invoices and a cloud to upload them to.
    static func backlog(_ count: Int) async throws -> (MediatorHarness, Cloud) {
        (try await sealed(count), try await Cloud())
    }

    static func close(_ mediator: MediatorHarness, _ cloud: Cloud) async {
        await cloud.close()
        await mediator.close()
    }

    func uploader(
        _ store: MediatorDatabase,
        _ url: String,
        token: String = "outlet-token",
        batch: Int = 7,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        configure: (inout SyncUploader.Configuration) -> Void = { _ in }
    ) throws -> SyncUploader {
        var configuration = SyncUploader.Configuration(baseURL: url, outletID: "OUTLET-KIN-01", token: Secret(token))
        configuration.batchSize = batch
        configuration.backoff = (.milliseconds(5), .milliseconds(40))
        configuration.idlePoll = .milliseconds(10)
        configuration.failuresBeforeAlert = 2
        configure(&configuration)
        var logger = Logger(label: "sync")
        logger.logLevel = .critical
        return try SyncUploader(
            configuration: configuration,
            store: store,
            client: Self.http,
            metrics: metrics,
            logger: logger
        )
    }

    /// One HTTP client for every test uploader, with a short connect timeout; never shut down
    /// (it lives as long as the test process).
    static let http: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: .milliseconds(300))
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// Steps the uploader until `done` holds (or fails the test after `limit` steps).
    func drive(_ uploader: SyncUploader, limit: Int = 2000, until done: () async throws -> Bool) async throws {
        for _ in 0..<limit {
            if try await done() { return }
            if let pause = await uploader.step() { try await Task.sleep(for: min(pause, .milliseconds(50))) }
        }
        Issue.record("the uploader did not get there in \(limit) steps")
    }

    @Test("a backlog drains in fiscal-number order, in batches, and nothing is sent twice once confirmed")
    func drainsInOrder() async throws {
        let (mediator, cloud) = try await Self.backlog(30)
        defer { Task { await Self.close(mediator, cloud) } }
        let uploader = try uploader(mediator.store, cloud.url)
        try await drive(uploader) { try mediator.store.outboxSummary().pending == 0 }
        #expect(try cloud.seqs() == Array(1...30))
        #expect(cloud.emulator.batchesSeen.load(ordering: .relaxed) == 5)  // 7+7+7+7+2
        let summary = try mediator.store.outboxSummary()
        #expect(summary.uploaded == 30 && summary.lastUploadedSeq == 30)
        #expect(try mediator.store.outboxItem(12)?.receipt?.hasPrefix("CLD-") == true)
        // Idle: nothing more is sent.
        for _ in 0..<5 { _ = await uploader.step() }
        #expect(cloud.emulator.batchesSeen.load(ordering: .relaxed) == 5)
        // What was uploaded is the device's own record: chain and digests checked by the cloud.
        let journal = try await mediator.journal()
        #expect(try cloud.emulator.received(outlet: "OUTLET-KIN-01").map(\.entryHash) == journal.map(\.entryHash))
    }

    @Test("the cloud down for a while: the uploader backs off, alerts, and drains in order once it is back")
    func cloudDown() async throws {
        let (mediator, cloud) = try await Self.backlog(15)
        defer { Task { await Self.close(mediator, cloud) } }
        cloud.emulator.faults.withLock { $0.downUntil = .now + .milliseconds(600) }
        let uploader = try uploader(mediator.store, cloud.url)
        try await drive(uploader) { await uploader.alerts().contains { $0.kind == .syncFailing } }
        #expect(try cloud.seqs().isEmpty)
        #expect(try mediator.store.outboxSummary().pending == 15)
        try await drive(uploader) { try mediator.store.outboxSummary().pending == 0 }
        #expect(try cloud.seqs() == Array(1...15))
        #expect(await uploader.alerts().isEmpty)
    }

    @Test("5xx storms and dropped answers: every invoice arrives exactly once, in order")
    func storms() async throws {
        let (mediator, cloud) = try await Self.backlog(40)
        defer { Task { await Self.close(mediator, cloud) } }
        cloud.emulator.faults.withLock {
            $0.errorRate = 0.4
            $0.dropRate = 0.3
        }
        let uploader = try uploader(mediator.store, cloud.url, batch: 5) { $0.requestTimeout = .seconds(2) }
        try await drive(uploader, limit: 5000) { try mediator.store.outboxSummary().pending == 0 }
        #expect(try cloud.seqs() == Array(1...40))
        // More batches than the 8 a clean run needs: the faults happened, and were survived.
        #expect(cloud.emulator.batchesSeen.load(ordering: .relaxed) > 8)
    }

    @Test("a rejected item is quarantined, holds the line and alerts; after a retry the line drains")
    func quarantine() async throws {
        let (mediator, cloud) = try await Self.backlog(12)
        defer { Task { await Self.close(mediator, cloud) } }
        cloud.emulator.faults.withLock { $0.rejectSeqs = [5] }
        let uploader = try uploader(mediator.store, cloud.url, batch: 3)
        try await drive(uploader) { await uploader.alerts().contains { $0.kind == .syncQuarantined } }
        for _ in 0..<10 { _ = await uploader.step() }  // the line stays stopped
        #expect(try cloud.seqs() == [1, 2, 3, 4])
        let summary = try mediator.store.outboxSummary()
        #expect(summary.quarantined.map(\.seq) == [5] && summary.pending == 7)
        #expect(summary.quarantined.first?.lastError?.contains("REJECTED") == true)
        #expect(await uploader.status().state == "stopped")

        cloud.emulator.faults.withLock { $0.rejectSeqs = [] }  // fixed on the cloud side
        #expect(try mediator.store.retryQuarantined() == 1)
        try await drive(uploader) { try mediator.store.outboxSummary().pending == 0 }
        #expect(try cloud.seqs() == Array(1...12))
        _ = await uploader.step()
        #expect(await uploader.alerts().isEmpty)
    }

    @Test("a wrong token, garbled answers, acks for items not sent, a bad URL: alerts or errors, outbox untouched")
    func badAnswers() async throws {
        let (mediator, cloud) = try await Self.backlog(6)
        defer { Task { await Self.close(mediator, cloud) } }

        let wrongToken = try uploader(mediator.store, cloud.url, token: "not-the-token")
        try await drive(wrongToken) { await wrongToken.alerts().contains { $0.kind == .syncUnauthorized } }
        #expect(try mediator.store.outboxSummary().pending == 6 && cloud.seqs().isEmpty)

        let uploader = try uploader(mediator.store, cloud.url)
        cloud.emulator.faults.withLock { $0.garbleAnswers = true }
        try await drive(uploader) { await uploader.alerts().contains { $0.kind == .syncProtocol } }
        #expect(try mediator.store.outboxSummary().pending == 6)
        cloud.emulator.faults.withLock {
            $0.garbleAnswers = false
            $0.foreignAcks = true
        }
        for _ in 0..<3 { _ = await uploader.step() }
        #expect(await uploader.status().lastError?.contains("not sent") == true)
        #expect(try mediator.store.outboxSummary().pending == 6)
        // The cloud stored them meanwhile: once it answers properly they are duplicates, confirmed.
        cloud.emulator.faults.withLock { $0.foreignAcks = false }
        try await drive(uploader) { try mediator.store.outboxSummary().pending == 0 }
        #expect(try cloud.seqs() == Array(1...6))

        let misconfigured = #expect(throws: FiscalError.self) {
            try self.uploader(mediator.store, "ftp://cloud.example")
        }
        #expect(misconfigured?.code == .configInvalid)
    }

    @Test("an unreachable cloud raises SYNC_FAILING after a few attempts and loses nothing")
    func unreachable() async throws {
        let mediator = try await Self.sealed(3)
        defer { Task { await mediator.close() } }
        let uploader = try uploader(mediator.store, "http://127.0.0.1:1")
        try await drive(uploader) { await uploader.alerts().contains { $0.kind == .syncFailing } }
        #expect(try mediator.store.outboxSummary().pending == 3)
        // Plain words and the errno, not NIO's nested description.
        let lastError = try mediator.store.syncMeta()["last_error"]
        #expect(
            lastError?.hasSuffix("the cloud is unreachable: connection refused (errno 111)") == true,
            "\(lastError ?? "")"
        )
    }

    @Test("confirmed invoices are pruned after the retention, and recovery does not take them for missing")
    func pruning() async throws {
        let (mediator, cloud) = try await Self.backlog(5)
        defer { Task { await Self.close(mediator, cloud) } }
        let uploader = try uploader(mediator.store, cloud.url)
        try await drive(uploader) { try mediator.store.outboxSummary().pending == 0 }
        #expect(try await mediator.store.prune(uploadedBefore: Date().addingTimeInterval(-60)) == 0)  // too young
        #expect(try await mediator.store.prune(uploadedBefore: Date().addingTimeInterval(60)) == 5)
        #expect(try mediator.store.sealedInvoice(3) == nil)
        #expect(try mediator.store.prunedThrough() == 5)
        #expect(try mediator.store.missingSeqs(upTo: 5).isEmpty)
        #expect(try mediator.store.outboxSummary().lastUploadedSeq == 5)
    }
}
