import CloudEmulator
import FiscalCore
import FiscalTestSupport
import Foundation
import MediatorStore
import SampleData
import Synchronization
import TerminalClient
import Testing
import ZeroMQ

/// A `serve` child uploading a backlog to the cloud emulator, killed with SIGKILL mid-upload
/// again and again: the cloud must end with every invoice exactly once, in order.
/// (Runs with the crash suite, on its own: `make test` filters on "CrashTests".)
@Suite("Sync uploader killed and restarted (SyncCrashTests)", .timeLimit(.minutes(3)))
struct SyncCrashTests {
    @Test("SIGKILL during uploads: every sealed invoice reaches the cloud exactly once, in order")
    func killDuringUpload() async throws {
        let directory = TemporaryDirectory("sync-crash")
        defer { directory.remove() }
        let database = directory.appending("mediator.sqlite").path
        let device = "emulator:\(directory.appending("emulator").path)"
        let tokenFile = directory.appending("token").path
        try "sync-crash-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        try await CrashTests.register(["REG-001"], cashier: SampleInvoices.cashier, in: database)
        let cloud = try await CloudSyncTests.Cloud(token: "sync-crash-token")
        defer { Task { await cloud.close() } }
        // Slow enough that a batch is often in flight when the kill comes.
        cloud.emulator.faults.withLock { $0.latency = .milliseconds(100) }

        // A day offline: 60 sales sealed, nothing uploaded.
        let count = 60
        let offline = try await CrashTests.Child(device: device, database: database)
        let context = ZMQContext()
        var configuration = try offline.configuration("REG-001")
        configuration.requestTimeout = .seconds(10)
        try await MediatorClient.withClient(context: context, configuration: configuration) { client in
            for sale in 1...count {
                _ = try await client.fiscalize(requestID: "s\(sale)", invoice: invoice("REG-001", sale: sale))
            }
        }
        offline.stop()
        #expect(try MediatorDatabase(path: database).outboxSummary().pending == count)

        // Back online, killed again and again while it uploads.
        let online = [
            "--outlet-id", "OUTLET-KIN-01", "--cloud-url", cloud.url, "--cloud-token-file", tokenFile, "--sync-batch",
            "4",
        ]
        var generator = SeededRandom(seed: 5_220_261)
        for _ in 0..<8 {
            let child = try await CrashTests.Child(device: device, database: database, extraArguments: online)
            try await Task.sleep(for: .milliseconds(Int.random(in: 50...300, using: &generator)))
            child.kill()
        }
        let partial = try cloud.seqs()
        // Whatever arrived so far is a gap-free prefix.
        #expect(partial == (0..<partial.count).map { UInt64($0 + 1) })

        // A last run finishes the backlog.
        let child = try await CrashTests.Child(device: device, database: database, extraArguments: online)
        defer { child.stop() }
        let store = try MediatorDatabase(path: database)
        let deadline = ContinuousClock.now + .seconds(60)
        while try store.outboxSummary().pending > 0 {
            try #require(ContinuousClock.now < deadline, "the backlog did not drain")
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(try cloud.seqs() == Array(1...UInt64(count)))
        let summary = try store.outboxSummary()
        #expect(summary.uploaded == count && summary.quarantined.isEmpty)
        print(
            "sync kill test: 8 kills, \(partial.count) invoices in the cloud before the last run, \(cloud.emulator.batchesSeen.load(ordering: .relaxed)) batches seen"
        )
    }
}
