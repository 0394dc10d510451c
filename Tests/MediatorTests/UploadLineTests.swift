import AsyncHTTPClient
import CloudEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import Mediator
import MediatorStore
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

/// The upload line never skips a number: real SQLite, real HTTP to the cloud emulator, real
/// journal entries from the (emulated) device. Gaps are made by storing sealed invoices straight
/// through `MediatorDatabase.seal`, leaving one out.
@Suite("Upload line contiguity over HTTP", .timeLimit(.minutes(2)))
struct UploadLineTests {
    /// Entries the device sealed for `count` sales, with their requests.
    struct Journal {
        var sales: [(record: RequestRecord, entry: JournalEntry)] = []

        init(_ count: Int, device: EmulatorHarness) async throws {
            for sale in 1...count {
                let invoice = invoice("REG-001", sale: sale)
                let record = RequestRecord(
                    invoice: invoice,
                    terminal: TerminalID("REG-001"),
                    requestID: RequestID("s\(sale)"),
                    mode: .fiscalize
                )
                sales.append((record, try await device.fiscalize(invoice).entry))
            }
        }

        /// Admits every request; stores the sealed invoices of `seqs` only.
        func store(_ seqs: [UInt64], in store: MediatorDatabase) throws {
            for (record, _) in sales { _ = try store.admit(record) }
            for seq in seqs { try seal(seq, in: store) }
        }

        func seal(_ seq: UInt64, in store: MediatorDatabase) throws {
            let (record, entry) = sales[Int(seq) - 1]
            try store.seal(
                SealedInvoice(entry: entry, for: record, sealedAt: DeviceTimestamp.format(Date())),
                for: record
            )
        }
    }

    /// A store holding sales 1…`count` except `missing`, and the journal they came from.
    static func gappedStore(
        _ count: Int,
        missing: UInt64
    ) async throws -> (MediatorDatabase, Journal, EmulatorHarness, TemporaryDirectory) {
        let device = try await EmulatorHarness(transport: .inProcess)
        let journal = try await Journal(count, device: device)
        let directory = TemporaryDirectory("upload-line")
        let store = try MediatorDatabase(path: directory.appending("mediator.sqlite").path)
        try journal.store((1...UInt64(count)).filter { $0 != missing }, in: store)
        return (store, journal, device, directory)
    }

    let sync = CloudSyncTests()

    @Test("N missing: the uploader never sends N+1, raises SYNC_GAP naming N, hands N over, resumes once N is stored")
    func gapHaltsAndResumes() async throws {
        let (store, journal, device, directory) = try await Self.gappedStore(5, missing: 2)
        let cloud = try await CloudSyncTests.Cloud()
        defer {
            Task {
                await cloud.close()
                await device.close()
                directory.remove()
            }
        }
        let uploader = try sync.uploader(store, cloud.url)
        try await sync.drive(uploader) { await uploader.alerts().contains { $0.kind == .syncGap } }
        var gaps = uploader.gaps.makeAsyncIterator()
        #expect(await gaps.next() == InvoiceSeq(2))
        for _ in 0..<10 { _ = await uploader.step() }
        // Nothing after the gap reached the cloud, and nothing was quarantined for it.
        #expect(try cloud.seqs() == [1])
        #expect(try store.outboxSummary().quarantined.isEmpty)
        #expect(await uploader.status().state == "gap")
        let alert = try #require(await uploader.alerts().first { $0.kind == .syncGap })
        #expect(alert.message.contains("invoice 2 is missing"))

        // Recovery stores 2 (as the device actor does from the journal): the line goes on by itself.
        try journal.seal(2, in: store)
        try await sync.drive(uploader) { try store.outboxSummary().pending == 0 }
        #expect(try cloud.seqs() == [1, 2, 3, 4, 5])
        #expect(await uploader.alerts().isEmpty)
    }

    @Test("a cloud that accepts any order: nothing is pruned before it was stored and confirmed")
    func noOrderCheckNeverPrunesAGap() async throws {
        let (store, journal, device, directory) = try await Self.gappedStore(5, missing: 2)
        let cloud = try await CloudSyncTests.Cloud()
        cloud.emulator.faults.withLock { $0.noOrderCheck = true }
        defer {
            Task {
                await cloud.close()
                await device.close()
                directory.remove()
            }
        }
        let uploader = try sync.uploader(store, cloud.url) {
            $0.retention = .zero
            $0.pruneEvery = .zero
        }
        /// Pruned numbers were stored and are in the cloud; the cloud holds a journal prefix.
        func checkInvariants() throws -> Bool {
            let seqs = try cloud.seqs()
            let pruned = try store.prunedThrough()
            #expect(seqs == (0..<seqs.count).map { UInt64($0 + 1) })
            #expect(pruned <= UInt64(seqs.count))
            return true
        }
        try await sync.drive(uploader) {
            _ = try checkInvariants()
            return await uploader.alerts().contains { $0.kind == .syncGap }
        }
        for _ in 0..<10 { _ = await uploader.step() }
        _ = try checkInvariants()
        #expect(try cloud.seqs() == [1])
        #expect(try store.prunedThrough() <= 1)
        #expect(try store.sealedInvoice(3) != nil)
        #expect(try store.missingSeqs(upTo: 5) == [2])

        try journal.seal(2, in: store)
        try await sync.drive(uploader) {
            _ = try checkInvariants()
            return try store.prunedThrough() == 5
        }
        #expect(try cloud.seqs() == [1, 2, 3, 4, 5])
        #expect(try store.missingSeqs(upTo: 5).isEmpty)
    }

    @Test("prune stops at a number the store lacks, even if later ones were confirmed; missingSeqs still finds it")
    func pruneStopsAtAHole() async throws {
        let (store, journal, device, directory) = try await Self.gappedStore(4, missing: 2)
        defer {
            Task {
                await device.close()
                directory.remove()
            }
        }
        // As an uploader that did not check order would have left it, against a careless cloud.
        try await store.markUploaded([(1, "r1"), (3, "r3"), (4, "r4")])
        let future = Date().addingTimeInterval(60)
        #expect(try await store.prune(uploadedBefore: future) == 1)
        #expect(try store.prunedThrough() == 1)
        #expect(try store.sealedInvoice(3) != nil)
        #expect(try store.missingSeqs(upTo: 4) == [2])
        let line = try await store.uploadLine(limit: 10)
        #expect(line.confirmedThrough == 1 && line.head.isEmpty && line.lastStored == 4)

        try journal.seal(2, in: store)
        #expect(try store.missingSeqs(upTo: 4).isEmpty)
        #expect(try await store.uploadLine(limit: 10).head.map(\.seq) == [2])
        try await store.markUploaded([(2, "r2")])
        #expect(try await store.uploadLine(limit: 10).confirmedThrough == 4)
        #expect(try await store.prune(uploadedBefore: future) == 3)
        #expect(try store.prunedThrough() == 4)
        // Pruned numbers still count as held: the request ledger keeps them.
        #expect(try store.missingSeqs(upTo: 4).isEmpty)
        #expect(try store.missingSeqs(upTo: 6) == [5, 6])
    }

    @Test("start-up: nothing is uploaded until recovery adopts the missing entry, then everything in order")
    func startUpWaitsForRecovery() async throws {
        let cloud = try await CloudSyncTests.Cloud()
        var gated: SyncUploader?
        let mediator = try await MediatorHarness(beforeStart: { device, store in
            // The device sealed 1…5; the store lacks 2 (its request is there, unsealed).
            let journal = try await Journal(5, device: device)
            try journal.store([1, 3, 4, 5], in: store)
            let uploader = try sync.uploader(store, cloud.url) { $0.waitForRecovery = true }
            for _ in 0..<5 { _ = await uploader.step() }
            #expect(await uploader.status().state == "recovering")
            gated = uploader
        })
        defer { Task { await CloudSyncTests.close(mediator, cloud) } }
        let uploader = try #require(gated)
        // Recovery ran in the service's start (it adopted 2 from the journal) before a message
        // was read; until told, the uploader still sends nothing.
        _ = await uploader.step()
        #expect(cloud.emulator.batchesSeen.load(ordering: .relaxed) == 0)
        #expect(try mediator.store.missingSeqs(upTo: 5).isEmpty)
        await uploader.recoveryFinished()
        try await sync.drive(uploader) { try mediator.store.outboxSummary().pending == 0 }
        #expect(try cloud.seqs() == [1, 2, 3, 4, 5])
        #expect(try mediator.store.outboxSummary().quarantined.isEmpty)
        #expect(try mediator.store.request(TerminalID("REG-001"), "s2")?.invoiceSeq == 2)
        #expect(await uploader.alerts().isEmpty)
    }

    @Test("the cloud-emulator command's --no-order-check accepts any order; without it, ORDER_GAP")
    func noOrderCheckFlag() async throws {
        let device = try await EmulatorHarness(transport: .inProcess)
        let journal = try await Journal(3, device: device)
        let directory = TemporaryDirectory("cloud-flag")
        defer {
            Task {
                await device.close()
                directory.remove()
            }
        }
        func statuses(_ flags: [String]) async throws -> [CloudProtocol.Outcome] {
            let child = try await CloudChild(database: directory.appending("cloud\(flags.count).sqlite").path, flags)
            defer { child.stop() }
            var found: [CloudProtocol.Outcome] = []
            for seq in [3, 1] {
                let (record, entry) = journal.sales[seq - 1]
                let item = CloudProtocol.Item(
                    entry: entry,
                    invoice: String(decoding: record.payload, as: UTF8.self),
                    posTerminalID: "REG-001",
                    cashierID: record.cashierID,
                    laneNumber: nil,
                    requestID: record.requestID.rawValue,
                    sealedAt: DeviceTimestamp.format(Date())
                )
                var request = HTTPClientRequest(url: "\(child.url)/v1/outlets/OUTLET-KIN-01/invoices")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                let body = try JSONEncoder().encode(CloudProtocol.Batch(outletID: "OUTLET-KIN-01", items: [item]))
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await CloudSyncTests.http.execute(request, timeout: .seconds(5))
                let data = try await response.body.collect(upTo: 1 << 20)
                let answer = try JSONDecoder().decode(CloudProtocol.Response.self, from: Data(data.readableBytesView))
                found.append(try #require(answer.results.first).status)
            }
            return found
        }
        #expect(try await statuses(["--no-order-check"]) == [.accepted, .accepted])
        #expect(try await statuses([]) == [.rejected, .accepted])
    }

    /// `fiscal-mediator cloud-emulator` as a child process on an ephemeral port.
    final class CloudChild: Sendable {
        let process: Process
        let url: String

        init(database: String, _ flags: [String]) async throws {
            let process = Process()
            process.executableURL = CrashTests.executable
            process.arguments = ["cloud-emulator", "--port", "0", "--db", database] + flags
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try ChildProcess.run(process)
            self.process = process
            let handle = output.fileHandleForReading
            let found: String? = await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    var resumed = false
                    var buffer = ""
                    while true {
                        let data = handle.availableData
                        if data.isEmpty { break }
                        buffer += String(decoding: data, as: UTF8.self)
                        if !resumed,
                            let line = buffer.split(separator: "\n").first(where: { $0.contains("listening on ") }),
                            buffer.contains("\n")
                        {
                            resumed = true
                            continuation.resume(returning: line.components(separatedBy: "listening on ").last)
                        }
                        if buffer.count > 100_000 { buffer = "" }
                    }
                    if !resumed { continuation.resume(returning: nil) }
                }
            }
            guard let found else {
                process.terminate()
                throw FiscalError(.configInvalid, "the cloud emulator did not start")
            }
            url = found
        }

        func stop() {
            process.terminate()
            process.waitUntilExit()
        }
    }
}
