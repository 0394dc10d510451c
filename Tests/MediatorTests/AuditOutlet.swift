import Audit
import CloudEmulator
import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import GRDB
import Hummingbird
import Logging
import Mediator
import MediatorStore
import SampleData
import TerminalClient
import Testing

/// A baseline outlet on disk: the device's state directory, the mediator's store, the cloud's
/// store, an export of the journal, and another device's export.
///
/// Sales 1 to 15 (terminal-driven PREPARE/COMMIT on MOB-01 for 3, 7 and 11), all by the real
/// mediator over loopback ZeroMQ; 1 to 12 uploaded to the cloud emulator over HTTP; 1 to 5
/// pruned after the cloud confirmed them; 13 to 15 waiting in the upload line.
struct Outlet: Sendable {
    let directory: TemporaryDirectory
    /// The device's private key (to forge entries the way only a stolen key could).
    let deviceKey: [UInt8]
    let cloudServer: CloudServerFactory

    static let outletID = "OUTLET-KIN-01"
    /// Which terminal sells fiscal number `seq`.
    static func terminal(_ seq: Int) -> String {
        switch seq {
        case 3, 7, 11: "MOB-01"
        case 2, 5, 8, 10, 13, 14: "REG-002"
        default: "REG-001"
        }
    }

    var device: URL { directory.appending("device") }
    var store: URL { directory.appending("mediator.sqlite") }
    var cloud: URL { directory.appending("cloud.sqlite") }
    var export: URL { directory.appending("journal.json") }
    var otherExport: URL { directory.appending("other.json") }

    static func build() async throws -> Outlet {
        let directory = TemporaryDirectory("outlet")
        let cloud = try await CloudSyncTests.Cloud()
        let mediator = try await MediatorHarness()
        let lanes = [
            "REG-001": try await mediator.client("REG-001"),
            "REG-002": try await mediator.client("REG-002"),
            "MOB-01": try await mediator.client("MOB-01"),
        ]
        func sell(_ range: ClosedRange<Int>) async throws {
            for seq in range {
                let terminal = terminal(seq)
                let client = try #require(lanes[terminal])
                let sale = invoice(terminal, sale: seq)
                if terminal == "MOB-01" {
                    let prepared = try await client.prepare(requestID: "s\(seq)", invoice: sale)
                    let elements = try await client.commit(requestID: "s\(seq)", nonce: prepared.nonce)
                    #expect(elements.invoiceSeq == InvoiceSeq(UInt64(seq)))
                } else {
                    let elements = try await client.fiscalize(requestID: "s\(seq)", invoice: sale)
                    #expect(elements.invoiceSeq == InvoiceSeq(UInt64(seq)))
                }
            }
        }
        var configuration = SyncUploader.Configuration(
            baseURL: cloud.url,
            outletID: outletID,
            token: Secret("outlet-token")
        )
        configuration.retention = nil
        var logger = Logger(label: "sync")
        logger.logLevel = .critical
        let uploader = try SyncUploader(configuration: configuration, store: mediator.store, logger: logger)
        func upload() async throws {
            for _ in 0..<20 where try mediator.store.outboxSummary().pending > 0 { _ = await uploader.step() }
            #expect(try mediator.store.outboxSummary().pending == 0)
        }
        try await sell(1...5)
        try await upload()
        #expect(try await mediator.store.prune(uploadedBefore: Date().addingTimeInterval(60)) == 5)
        try await sell(6...12)
        try await upload()
        try await sell(13...15)

        // The journal as `device dump-log --out` writes it, then copies of every file, consistent.
        let writer = try DumpLogExport.Writer(path: directory.appending("journal.json").path)
        try await mediator.device.client.forEachLogPage { try writer.append($0) }
        try writer.finish()
        try FileManager.default.createDirectory(at: directory.appending("device"), withIntermediateDirectories: true)
        try snapshot(
            mediator.device.directory.appending("device.sqlite").path,
            to: directory.appending("device/device.sqlite")
        )
        try snapshot(mediator.store.path, to: directory.appending("mediator.sqlite"))
        try snapshot(cloud.directory.appending("cloud.sqlite").path, to: directory.appending("cloud.sqlite"))
        let key = try DatabaseQueue(path: directory.appending("device/device.sqlite").path).inDatabase { db in
            try Data.fetchOne(db, sql: "SELECT private_key FROM device")
        }
        await uploader.shutdown()
        await mediator.close()
        await cloud.close()

        // Another device (same id, its own key) with a journal of its own.
        let other = try await EmulatorHarness(transport: .inProcess)
        for seed in 1...15 { _ = try await other.fiscalize(SampleInvoices.sale(seed: 100 + seed)) }
        let otherWriter = try DumpLogExport.Writer(path: directory.appending("other.json").path)
        try await other.client.forEachLogPage { try otherWriter.append($0) }
        try otherWriter.finish()
        await other.close()

        return Outlet(directory: directory, deviceKey: Array(try #require(key)), cloudServer: CloudServerFactory())
    }

    /// A consistent copy of a live SQLite file (WAL included).
    private static func snapshot(_ path: String, to target: URL) throws {
        try DatabaseQueue(path: path).inDatabase { db in
            try db.execute(sql: "VACUUM INTO ?", arguments: [target.path])
        }
    }

    /// Runs the tool a tamper is caught by, and says what it caught.
    func check(_ tamper: Tamper, _ workspace: Workspace) async throws -> Tamper.Caught {
        switch tamper.caughtBy {
        case .verifyJournal(let target):
            do {
                try JournalAudit.verify(path: target == .export ? workspace.export : workspace.device)
                return .nothing
            } catch let failure as JournalVerifier.Failure {
                return .verifyJournal(seq: failure.seq, kind: failure.kind)
            }
        case .audit:
            let report = try await audit(workspace, fromDevice: tamper.evidence == .device)
            guard let first = report.findings.first else { return .nothing }
            return .audit(check: first.check, record: first.record.description)
        }
    }

    /// `fiscal-mediator audit` on a workspace: the journal from the device (with DUMPLOG, through
    /// the emulator on the workspace's state directory) or from the export, every store, and
    /// the cloud over HTTP.
    func audit(_ workspace: Workspace, fromDevice: Bool = false) async throws -> AuditReport {
        let server = try await cloudServer.start(workspace.cloud)
        defer { Task { await server.stop() } }
        var emulator: FiscalDeviceEmulator?
        defer { emulator?.shutdown() }
        let journal: any JournalSource
        if fromDevice {
            let opened = try FiscalDeviceEmulator(configuration: .init(stateDirectory: workspace.device))
            emulator = opened
            journal = DeviceJournalSource(client: FiscalDeviceClient(link: InProcessDeviceLink(handler: opened)))
        } else {
            journal = ExportJournalSource(path: workspace.export.path)
        }
        let stores = try workspace.stores.map { try StoreAuditReader(path: $0.path) as any StoreSource }
        let cloud = CloudHTTPSource(baseURL: server.url, outletID: Self.outletID, token: nil)
        return await OutletAuditor(journal: journal, stores: stores, cloud: cloud).run()
    }
}

/// Starts cloud emulators on copies of the cloud's store.
struct CloudServerFactory: Sendable {
    final class Server: Sendable {
        let url: String
        let task: Task<Void, any Error>
        init(url: String, task: Task<Void, any Error>) {
            self.url = url
            self.task = task
        }
        func stop() async {
            task.cancel()
            _ = try? await task.value
        }
    }

    func start(_ database: URL) async throws -> Server {
        var logger = Logger(label: "cloud")
        logger.logLevel = .critical
        let emulator = try CloudEmulator(path: database.path, token: nil, logger: logger)
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = emulator.application(port: 0) { continuation.yield($0) }
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        let port = try #require(await iterator.next())
        return Server(url: "http://127.0.0.1:\(port)", task: task)
    }
}

// MARK: - A workspace

/// A copy of the outlet's files for one tamper.
struct Workspace: Sendable {
    let root: URL
    let deviceKey: [UInt8]
    init(copying outlet: Outlet, as name: String) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("tamper-\(name)-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: outlet.directory.url, to: root)
        deviceKey = outlet.deviceKey
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    var device: URL { root.appendingPathComponent("device") }
    var store: URL { root.appendingPathComponent("mediator.sqlite") }
    var secondStore: URL { root.appendingPathComponent("second.sqlite") }
    var cloud: URL { root.appendingPathComponent("cloud.sqlite") }
    var export: URL { root.appendingPathComponent("journal.json") }
    var otherExport: URL { root.appendingPathComponent("other.json") }
    var stores: [URL] { FileManager.default.fileExists(atPath: secondStore.path) ? [store, secondStore] : [store] }

    /// Runs SQL on one of the SQLite files, foreign keys off and the immutability triggers
    /// dropped first: a tamperer with the sqlite3 shell is bound by neither.
    func sql(_ file: URL, _ statements: String, _ arguments: StatementArguments = []) throws {
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false
        try DatabaseQueue(path: file.path, configuration: configuration).inDatabase { db in
            try db.execute(
                sql: """
                    DROP TRIGGER IF EXISTS sealed_invoice_no_update; DROP TRIGGER IF EXISTS sealed_invoice_no_delete;
                    DROP TRIGGER IF EXISTS report_no_update; DROP TRIGGER IF EXISTS report_no_delete;
                    """
            )
            try db.execute(sql: statements, arguments: arguments)
        }
    }

    func value<T: DatabaseValueConvertible>(
        _ file: URL,
        _ query: String,
        _ arguments: StatementArguments = []
    ) throws -> T? {
        try DatabaseQueue(path: file.path).inDatabase { db in try T.fetchOne(db, sql: query, arguments: arguments) }
    }

    // MARK: The export

    /// The export's lines: the opening, one per entry (entry `n` is line `n`), then the head.
    func exportLines() throws -> [String] {
        try String(contentsOf: export, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    func writeExport(lines: [String]) throws {
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: export)
    }

    /// Changes one character of `field`'s value in entry `seq` of the export: a digit to the next
    /// digit, a letter to the next letter.
    func flip(entry seq: Int, field: String) throws {
        var lines = try exportLines()
        var bytes = Array(lines[seq].utf8)
        let key = Array("\"\(field)\":".utf8)
        let at = try #require((0...(bytes.count - key.count)).first { Array(bytes[$0..<($0 + key.count)]) == key })
        var index = at + key.count
        if bytes[index] == UInt8(ascii: "\"") { index += 1 }
        // The last letter or digit among the first ten characters of the value: inside it, and
        // never its decimal point or sign, so a number still reads as a number (the sale at
        // entry 7, and so the shape of its total, depends on how the lanes interleaved).
        var end = index
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: ",") { end += 1 }
        let target = try #require(
            (index..<min(index + 10, end)).last {
                Character(UnicodeScalar(bytes[$0])).isLetter || Character(UnicodeScalar(bytes[$0])).isNumber
            }
        )
        bytes[target] = Self.flipped(bytes[target])
        lines[seq] = String(decoding: bytes, as: UTF8.self)
        try writeExport(lines: lines)
    }

    private static func flipped(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "8"), UInt8(ascii: "a")...UInt8(ascii: "y"),
            UInt8(ascii: "A")...UInt8(ascii: "Y"):
            byte + 1
        case UInt8(ascii: "9"): UInt8(ascii: "0")
        case UInt8(ascii: "z"): UInt8(ascii: "a")
        case UInt8(ascii: "Z"): UInt8(ascii: "A")
        default: byte ^ 0x01
        }
    }

    /// The export as a value, to edit and write back in the same format.
    func editExport(_ edit: (inout DeviceReply.DumpLog) throws -> Void) throws {
        var dump = try JournalAudit.load(path: export)
        try edit(&dump)
        try? FileManager.default.removeItem(at: export)
        let writer = try DumpLogExport.Writer(path: export.path)
        try writer.append(dump)
        try writer.finish()
    }

    /// Re-seals entries from `index` on with `key`, each chained to the one before, and moves
    /// the head to the last; with `signHead`, signs the head with `key` too.
    static func reseal(_ dump: inout DeviceReply.DumpLog, from index: Int, with key: Ed25519.PrivateKey, signHead: Bool)
    {
        for position in index..<dump.entries.count {
            if position > 0 { dump.entries[position].previousHash = dump.entries[position - 1].entryHash }
            dump.entries[position].seal(with: key)
        }
        dump.headHash = dump.entries.last?.entryHash ?? JournalEntry.genesisHash
        if signHead {
            let input = DeviceReply.DumpLog.headSigningInput(
                deviceID: dump.deviceID,
                seq: dump.headSeq,
                hash: dump.headHash
            )
            dump.headSignature = Base64URL.encode(key.signature(for: input))
        }
    }

    var realKey: Ed25519.PrivateKey { Ed25519.PrivateKey(rawRepresentation: deviceKey)! }
}
