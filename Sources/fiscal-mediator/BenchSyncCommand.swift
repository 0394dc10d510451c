import ArgumentParser
import CloudEmulator
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation
import Hummingbird
import Logging
import Mediator
import MediatorStore
import SampleData
import Synchronization

/// `fiscal-mediator bench-sync`: how fast a backlog of sealed invoices drains to a local cloud
/// emulator, and whether memory stays flat while it does.
struct BenchSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-sync",
        abstract: "Drain a backlog of sealed invoices to an in-process cloud emulator over loopback HTTP.",
        discussion: """
            The backlog is sealed for real (emulated device, durable store) into --state, once; later runs \
            with the same --state put it back in line and drain it again to a fresh cloud store.
            """
    )

    @Option(help: "How many sealed invoices the backlog holds.") var invoices = 100_000
    @Option(help: "Invoices per upload request.") var batch = 200
    @Option(help: "Where the device and store live (kept between runs).") var state = "var/bench-sync"

    func run() async throws {
        var logger = Logger(label: "bench-sync")
        logger.logLevel = .warning
        let directory = URL(fileURLWithPath: state)
        let store = try MediatorDatabase(path: directory.appendingPathComponent("mediator.sqlite").path)
        try await seal(into: store, directory: directory)
        let requeued = try store.requeueUploaded()
        let backlog = try store.outboxSummary().pending
        print("backlog: \(backlog) sealed invoices (\(requeued) put back in line)")

        let cloudPath = directory.appendingPathComponent("cloud-\(UUID().uuidString).sqlite").path
        let cloud = try CloudEmulator(path: cloudPath, token: Secret("bench"), logger: logger)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = cloud.application(port: 0) { continuation.yield($0) }
        let server = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ValidationError("the cloud emulator did not start") }

        var configuration = SyncUploader.Configuration(
            baseURL: "http://127.0.0.1:\(port)",
            outletID: "OUTLET-KIN-01",
            token: Secret("bench")
        )
        configuration.batchSize = batch
        configuration.retention = nil
        let uploader = try SyncUploader(configuration: configuration, store: store, logger: logger)
        let clock = ContinuousClock()
        let start = clock.now
        var samples: [(done: Int, rss: Int)] = []
        let drain = Task {
            while !Task.isCancelled {
                if let pause = await uploader.step() {
                    if try store.outboxSummary().pending == 0 { break }
                    try await Task.sleep(for: pause)
                }
            }
        }
        while true {
            try await Task.sleep(for: .milliseconds(500))
            let pending = try store.outboxSummary().pending
            samples.append((backlog - pending, Self.residentMegabytes()))
            if pending == 0 { break }
        }
        drain.cancel()
        _ = try? await drain.value
        let seconds = (clock.now - start).inSeconds
        await uploader.shutdown()
        server.cancel()
        _ = try? await server.value
        let received = try cloud.received(outlet: "OUTLET-KIN-01")
        let inOrder = received.map(\.seq) == (0..<received.count).map { UInt64($0 + 1) }
        let rss = samples.map(\.rss)
        print(
            "drained=\(backlog) batch=\(batch) seconds=\(String(format: "%.2f", seconds)) "
                + "items_per_second=\(String(format: "%.0f", Double(backlog) / seconds)) "
                + "batches=\(cloud.batchesSeen.load(ordering: .relaxed)) cloud_received=\(received.count) in_order=\(inOrder) "
                + "rss_mb_min=\(rss.min() ?? 0) rss_mb_max=\(rss.max() ?? 0)"
        )
        let quarter = max(1, samples.count / 4)
        print(
            "rss_mb by progress: "
                + stride(from: 0, to: samples.count, by: quarter).map { "\(samples[$0].done)→\(samples[$0].rss)" }
                .joined(separator: " ")
        )
        try? FileManager.default.removeItem(atPath: cloudPath)
        try? FileManager.default.removeItem(atPath: cloudPath + "-wal")
        try? FileManager.default.removeItem(atPath: cloudPath + "-shm")
    }

    /// Seals invoices through the emulated device until the store holds `invoices` of them.
    private func seal(into store: MediatorDatabase, directory: URL) async throws {
        let have = Int(try store.lastSealedSeq() ?? 0)
        guard have < invoices else { return }
        let emulator = try FiscalDeviceEmulator(
            configuration: .init(stateDirectory: directory.appendingPathComponent("emulator"))
        )
        let client = FiscalDeviceClient(link: InProcessDeviceLink(handler: emulator))
        if try await !client.status().initialized {
            _ = try await client.initialize(deviceID: nil, resetToken: "bench-token")
        }
        let started = ContinuousClock.now
        for sale in have..<invoices {
            let invoice = SampleInvoices.sale(lines: 1 + sale % 4, terminal: "REG-001", seed: sale)
            let record = RequestRecord(
                invoice: invoice,
                terminal: TerminalID("REG-001"),
                requestID: RequestID("bench-\(sale)"),
                mode: .fiscalize
            )
            _ = try store.admit(record)
            let prepared = try await client.prepare(invoice)
            let entry = try await client.commit(prepared.nonce).entry
            try store.seal(SealedInvoice(entry: entry, for: record, sealedAt: entry.deviceTimestamp), for: record)
            if (sale + 1) % 10_000 == 0 {
                print(
                    "sealed \(sale + 1) (\(String(format: "%.0f", Double(sale + 1 - have) / (ContinuousClock.now - started).inSeconds))/s)"
                )
            }
        }
        await client.link.close()
        emulator.shutdown()
    }

    static func residentMegabytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
    }
}
