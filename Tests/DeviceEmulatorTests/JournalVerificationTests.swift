import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import GRDB
import SampleData
import Testing

/// The verifier against real state directories and real DUMPLOG exports, tampered with the
/// way an attacker with file access would.
@Suite("Journal verification", .timeLimit(.minutes(1)))
struct JournalVerificationTests {
    /// A stopped device with five sealed invoices; returns its directory and database.
    func sealedDevice(_ count: Int = 5) async throws -> (TemporaryDirectory, DatabaseQueue, DeviceReply.DumpLog) {
        let directory = TemporaryDirectory("journal")
        let device = try await EmulatorHarness(transport: .inProcess, directory: directory)
        for seed in 0..<count { _ = try await device.fiscalize(SampleInvoices.sale(seed: seed)) }
        let export = try await device.client.dumpEntireLog()
        await device.close(keepFiles: true)
        return (directory, try DatabaseQueue(path: directory.appending("device.sqlite").path), export)
    }

    func failure(_ path: URL, publicKey: String? = nil) -> JournalVerifier.Failure? {
        do {
            _ = try JournalAudit.verify(path: path, publicKeyHex: publicKey)
            return nil
        } catch let failure as JournalVerifier.Failure {
            return failure
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    func editEntry(_ database: DatabaseQueue, seq: Int, _ edit: (inout JournalEntry) -> Void) throws {
        try database.inDatabase { db in
            let json = try String.fetchOne(db, sql: "SELECT entry FROM journal WHERE seq = ?", arguments: [seq])!
            var entry = try JSONDecoder().decode(JournalEntry.self, from: Data(json.utf8))
            edit(&entry)
            let updated = String(decoding: try JSONEncoder().encode(entry), as: UTF8.self)
            try db.execute(sql: "UPDATE journal SET entry = ? WHERE seq = ?", arguments: [updated, seq])
        }
    }

    @Test("an untouched journal verifies, as a directory and as an export")
    func intact() async throws {
        let (directory, _, export) = try await sealedDevice()
        defer { directory.remove() }
        #expect(try JournalAudit.verify(path: directory.url).entries == 5)
        let file = directory.appending("export.json")
        try JSONEncoder().encode(export).write(to: file)
        #expect(try JournalAudit.verify(path: file).lastSeq == 5)
    }

    @Test("a flipped byte in an entry is caught at that entry")
    func flippedByte() async throws {
        let (directory, database, _) = try await sealedDevice()
        defer { directory.remove() }
        try await database.write { db in
            let json = try String.fetchOne(db, sql: "SELECT entry FROM journal WHERE seq = 3")!
            let flipped = json.replacingOccurrences(of: "REG-001", with: "REG-00l")
            try db.execute(sql: "UPDATE journal SET entry = ? WHERE seq = 3", arguments: [flipped])
        }
        #expect(failure(directory.url)?.seq == 3)
    }

    @Test("a deleted entry is caught, in the middle and at the end")
    func deletedEntries() async throws {
        let (directory, database, _) = try await sealedDevice()
        defer { directory.remove() }
        try await database.write { try $0.execute(sql: "DELETE FROM journal WHERE seq = 5") }
        let last = failure(directory.url)
        #expect(last?.seq == 5)
        #expect(last?.reason.contains("counter") == true)
        try await database.write { try $0.execute(sql: "DELETE FROM journal WHERE seq = 2") }
        #expect(failure(directory.url)?.seq == 2)
    }

    @Test("a swapped pair is caught")
    func swappedPair() async throws {
        let (directory, database, _) = try await sealedDevice()
        defer { directory.remove() }
        try await database.write { db in
            let two = try String.fetchOne(db, sql: "SELECT entry FROM journal WHERE seq = 2")!
            let three = try String.fetchOne(db, sql: "SELECT entry FROM journal WHERE seq = 3")!
            try db.execute(sql: "UPDATE journal SET entry = ? WHERE seq = 2", arguments: [three])
            try db.execute(sql: "UPDATE journal SET entry = ? WHERE seq = 3", arguments: [two])
        }
        #expect(failure(directory.url)?.seq == 2)
    }

    @Test("an entry re-signed with another key, hashes recomputed, is caught by its signature")
    func resigned() async throws {
        let (directory, database, _) = try await sealedDevice()
        defer { directory.remove() }
        let forger = Ed25519.PrivateKey()
        // Rewrite the total of entry 4 and re-seal it and every later entry with another key,
        // so that every hash and link is consistent again.
        var previous = ""
        for seq in 4...5 {
            try editEntry(database, seq: seq) { entry in
                if seq == 4 { entry.total = Money(units: 1) } else { entry.previousHash = previous }
                entry.seal(with: forger)
                previous = entry.entryHash
            }
        }
        let head = previous
        try await database.write { try $0.execute(sql: "UPDATE device SET head_hash = ?", arguments: [head]) }
        let caught = failure(directory.url)
        #expect(caught?.seq == 4)
        #expect(caught?.reason.contains("auth_code") == true)
    }

    @Test("a tampered export is caught: a removed last entry, a forged head, a pinned key")
    func tamperedExport() async throws {
        let (directory, _, export) = try await sealedDevice()
        defer { directory.remove() }
        let file = directory.appending("export.json")
        var cut = export
        cut.entries.removeLast()
        try JSONEncoder().encode(cut).write(to: file)
        #expect(failure(file)?.seq == 5)

        var forgedHead = cut
        forgedHead.headSeq = 4
        forgedHead.headHash = cut.entries.last!.entryHash
        try JSONEncoder().encode(forgedHead).write(to: file)
        #expect(failure(file)?.reason.contains("head") == true)

        try JSONEncoder().encode(export).write(to: file)
        let otherKey = Hex.encode(Ed25519.PrivateKey().publicKey.rawRepresentation)
        #expect(failure(file, publicKey: otherKey) != nil)
    }
}

/// The real executable, as an operator runs it.
@Suite("device-emulator process", .timeLimit(.minutes(2)))
struct EmulatorProcessTests {
    static let executable = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/fiscal-mediator")

    @Test("prints the pty path on its first line, serves it, and stops on SIGTERM keeping its state")
    func runsOnAPty() async throws {
        let directory = TemporaryDirectory("emulator-process")
        defer { directory.remove() }
        let process = Process()
        process.executableURL = Self.executable
        process.arguments = [
            "device-emulator", "--pty", "--state", directory.url.path, "--init-if-needed", "--latency", "commit=2ms",
        ]
        let output = Pipe()
        process.standardOutput = output
        try ChildProcess.run(process)
        defer { if process.isRunning { process.terminate() } }

        let path = try #require(readFirstLine(output.fileHandleForReading))
        #expect(path.hasPrefix("/dev/pts/"))
        let link = try SerialDeviceLink(path: path)
        let client = FiscalDeviceClient(link: link)
        #expect(try await client.status().initialized)
        let sealed = try await client.commit(try await client.prepare(SampleInvoices.sale()).nonce)
        #expect(sealed.securityElements.invoiceSeq == InvoiceSeq(1))
        await link.close()

        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(try JournalAudit.verify(path: directory.url).entries == 1)
    }

    private func readFirstLine(_ handle: FileHandle) -> String? {
        var line: [UInt8] = []
        while true {
            let byte = handle.readData(ofLength: 1)
            guard let first = byte.first else { return nil }
            if first == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(first)
        }
    }
}
