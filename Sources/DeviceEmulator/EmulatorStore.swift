import FiscalCore
import FiscalDevice
import Foundation
import GRDB

/// The emulator's durable fiscal memory: one SQLite file in the state directory.
///
/// WAL with `synchronous = FULL`: a COMMIT's journal row and counter move are on disk before
/// the reply is written, as a real device's flash would be. The nonce of an outstanding
/// PREPARE is deliberately *not* stored: it lives in RAM and dies with a power loss.
struct EmulatorStore {
    let database: DatabaseQueue

    /// The device's persistent header.
    struct Header {
        var deviceID: DeviceID?
        var privateKey: [UInt8]?
        var publicKey: [UInt8]?
        var resetTokenHash: String?
        var nextSeq: InvoiceSeq
        var headHash: String
        var journalCount: UInt64
        var zCount: UInt64
        var lastZSeq: UInt64
        var lastZAt: String?
        var revoked: Bool
        var capacity: UInt64
        var clockOffsetMs: Int64
        /// The latest device time ever issued, in ms since 1970: the rollback guard.
        var highWaterMs: Int64
    }

    init(directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.label = "device-emulator"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        database = try DatabaseQueue(
            path: directory.appendingPathComponent("device.sqlite").path,
            configuration: configuration
        )
        try Self.migrator.migrate(database)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE device (
                        id INTEGER PRIMARY KEY CHECK (id = 1),
                        device_id TEXT,
                        private_key BLOB,
                        public_key BLOB,
                        reset_token_hash TEXT,
                        next_seq INTEGER NOT NULL,
                        head_hash TEXT NOT NULL,
                        z_count INTEGER NOT NULL,
                        last_z_seq INTEGER NOT NULL,
                        last_z_at TEXT,
                        revoked INTEGER NOT NULL,
                        capacity INTEGER NOT NULL,
                        clock_offset_ms INTEGER NOT NULL,
                        high_water_ms INTEGER NOT NULL
                    );
                    CREATE TABLE journal (
                        seq INTEGER PRIMARY KEY,
                        entry TEXT NOT NULL,
                        payload BLOB NOT NULL
                    );
                    CREATE TABLE z_report (
                        z_number INTEGER PRIMARY KEY,
                        report TEXT NOT NULL
                    );
                    """
            )
            try Self.insertBlankHeader(db, capacity: 1_000_000)
        }
        return migrator
    }

    /// A row of the fiscal memory that does not hold what the device writes there: the file
    /// was damaged or edited. The device refuses to work from it rather than trap on it.
    struct CorruptRecord: Error, CustomStringConvertible {
        var description: String
    }

    private static func insertBlankHeader(_ db: Database, capacity: UInt64) throws {
        try db.execute(
            sql: """
                INSERT INTO device (id, next_seq, head_hash, z_count, last_z_seq, revoked, capacity,
                                    clock_offset_ms, high_water_ms)
                VALUES (1, 1, ?, 0, 0, 0, ?, 0, 0)
                """,
            arguments: [JournalEntry.genesisHash, Int64(clamping: capacity)]
        )
    }

    func header() throws -> Header {
        try database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM device WHERE id = 1") else {
                throw CorruptRecord(description: "the device header row is missing")
            }
            let count = try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM journal") ?? 0
            let nextSeq = try Self.integer(row, "next_seq", in: Int64(InvoiceSeq.range.lowerBound)...Int64.max)
            return Header(
                deviceID: try Self.optional(String.self, row, "device_id").map(DeviceID.init(rawValue:)),
                privateKey: try Self.optional(Data.self, row, "private_key").map { Array($0) },
                publicKey: try Self.optional(Data.self, row, "public_key").map { Array($0) },
                resetTokenHash: try Self.optional(String.self, row, "reset_token_hash"),
                nextSeq: InvoiceSeq(UInt64(nextSeq)),
                headHash: try Self.optional(String.self, row, "head_hash") ?? "",
                journalCount: UInt64(count),
                zCount: UInt64(try Self.integer(row, "z_count", in: 0...(Int64.max - 1))),
                lastZSeq: UInt64(try Self.integer(row, "last_z_seq", in: 0...Int64.max)),
                lastZAt: try Self.optional(String.self, row, "last_z_at"),
                revoked: try Self.integer(row, "revoked", in: 0...1) == 1,
                capacity: UInt64(try Self.integer(row, "capacity", in: 0...Int64.max)),
                clockOffsetMs: try Self.integer(row, "clock_offset_ms", in: -Self.clockSpanMs...Self.clockSpanMs),
                highWaterMs: try Self.integer(row, "high_water_ms", in: 0...Self.clockSpanMs)
            )
        }
    }

    /// The widest clock value and offset the device keeps, in milliseconds: 10,000 years, so
    /// that every device time converts to and from `Double` seconds and `Int64` exactly.
    static let clockSpanMs: Int64 = 10_000 * 366 * 86_400_000

    /// A column that may be NULL, of the type the device writes there.
    private static func optional<T: DatabaseValueConvertible>(_ type: T.Type, _ row: Row, _ column: String) throws -> T?
    {
        let stored: DatabaseValue = row[column]
        if stored.isNull { return nil }
        guard let value = T.fromDatabaseValue(stored) else {
            throw CorruptRecord(description: "device.\(column) holds \(stored), not a \(T.self)")
        }
        return value
    }

    /// An integer column, held to `range` (and to being an integer at all).
    private static func integer(_ row: Row, _ column: String, in range: ClosedRange<Int64>) throws -> Int64 {
        let stored: DatabaseValue = row[column]
        guard let value = Int64.fromDatabaseValue(stored), range.contains(value) else {
            throw CorruptRecord(description: "device.\(column) holds \(stored), not an integer in \(range)")
        }
        return value
    }

    func initialize(deviceID: DeviceID, key: Ed25519.PrivateKey, resetTokenHash: String) throws {
        try database.write { db in
            try db.execute(
                sql:
                    "UPDATE device SET device_id = ?, private_key = ?, public_key = ?, reset_token_hash = ? WHERE id = 1",
                arguments: [
                    deviceID.rawValue, Data(key.rawRepresentation), Data(key.publicKey.rawRepresentation),
                    resetTokenHash,
                ]
            )
        }
    }

    /// Writes the sealed entry and moves the counter to `next` in one transaction.
    func append(_ entry: JournalEntry, next: InvoiceSeq, payload: [UInt8], highWaterMs: Int64) throws {
        let json = try String(decoding: JSONEncoder().encode(entry), as: UTF8.self)
        try database.write { db in
            try db.execute(
                sql: "INSERT INTO journal (seq, entry, payload) VALUES (?, ?, ?)",
                arguments: [entry.seq.int64Value, json, Data(payload)]
            )
            try db.execute(
                sql:
                    "UPDATE device SET next_seq = ?, head_hash = ?, high_water_ms = MAX(high_water_ms, ?) WHERE id = 1",
                arguments: [next.int64Value, entry.entryHash, highWaterMs]
            )
        }
    }

    func entry(_ seq: InvoiceSeq) throws -> JournalEntry? {
        try database.read { db in
            try String.fetchOne(db, sql: "SELECT entry FROM journal WHERE seq = ?", arguments: [seq.int64Value])
        }.map { try JSONDecoder().decode(JournalEntry.self, from: Data($0.utf8)) }
    }

    /// Up to `limit` journal entries from `seq` on, as their stored JSON (what DUMPLOG sends).
    func entryTexts(from seq: InvoiceSeq, limit: Int) throws -> [(seq: UInt64, json: String)] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT seq, entry FROM journal WHERE seq >= ? ORDER BY seq LIMIT ?",
                arguments: [seq.int64Value, limit]
            ).map { row in
                let seq = Int64.fromDatabaseValue(row[0]) ?? 0
                return (UInt64(clamping: seq), String.fromDatabaseValue(row[1]) ?? "null")
            }
        }
    }

    /// The entries and canonical payloads after `seq`, for reports.
    func payloads(after seq: UInt64) throws -> [(entry: JournalEntry, payload: [UInt8])] {
        let rows = try database.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT entry, payload FROM journal WHERE seq > ? ORDER BY seq",
                arguments: [Int64(clamping: seq)]
            )
        }
        let decoder = JSONDecoder()
        return try rows.map { row in
            let entry = try decoder.decode(JournalEntry.self, from: Data((row["entry"] as String).utf8))
            return (entry, Array(row["payload"] as Data))
        }
    }

    /// Stores a Z as the bytes sent for it (`encoded`), and moves the Z counter.
    func storeZ(_ report: DeviceReport, encoded: [UInt8], lastSeq: UInt64) throws {
        guard let zNumber = Int64(exactly: report.zNumber), let lastSeq = Int64(exactly: lastSeq) else {
            throw CorruptRecord(
                description: "Z number \(report.zNumber) or last fiscal number \(lastSeq) is out of range"
            )
        }
        let json = String(decoding: encoded, as: UTF8.self)
        try database.write { db in
            try db.execute(
                sql: "INSERT INTO z_report (z_number, report) VALUES (?, ?)",
                arguments: [zNumber, json]
            )
            try db.execute(
                sql: "UPDATE device SET z_count = ?, last_z_seq = ?, last_z_at = ? WHERE id = 1",
                arguments: [zNumber, lastSeq, report.generatedAt]
            )
        }
    }

    /// Z report `number` as stored when it was made: the JSON `RPT|Z` sent, without its status.
    func zReportText(_ number: UInt64) throws -> String? {
        guard let number = Int64(exactly: number) else { return nil }
        return try database.read { db in
            try String.fetchOne(db, sql: "SELECT report FROM z_report WHERE z_number = ?", arguments: [number])
        }
    }

    func setClockOffset(_ milliseconds: Int64) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE device SET clock_offset_ms = ? WHERE id = 1", arguments: [milliseconds])
        }
    }

    func setRevoked(_ revoked: Bool) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE device SET revoked = ? WHERE id = 1", arguments: [revoked])
        }
    }

    func setCapacity(_ capacity: UInt64) throws {
        try database.write { db in
            try db.execute(sql: "UPDATE device SET capacity = ? WHERE id = 1", arguments: [Int64(clamping: capacity)])
        }
    }

    /// Erases the journal, the Z reports and the identity; returns the number of entries erased.
    func erase() throws -> UInt64 {
        try database.write { db in
            let count = try Int64.fetchOne(db, sql: "SELECT COUNT(*) FROM journal") ?? 0
            let capacity = try Int64.fetchOne(db, sql: "SELECT capacity FROM device WHERE id = 1") ?? 1_000_000
            try db.execute(sql: "DELETE FROM journal; DELETE FROM z_report; DELETE FROM device;")
            try Self.insertBlankHeader(db, capacity: UInt64(clamping: capacity))
            return UInt64(clamping: count)
        }
    }
}
