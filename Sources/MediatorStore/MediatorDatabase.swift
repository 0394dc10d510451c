public import FiscalCore
import Foundation
import GRDB

/// The mediator's SQLite store: requests, sealed invoices and the upload outbox.
///
/// WAL. Writes that a promise rests on are fully synchronous (fsync before they return):
/// ``admit(_:)`` (a request is on disk before it reaches the device) and ``seal(_:for:)`` (a
/// sealed invoice is on disk before the terminal is told). Progress marks (``save(_:)``:
/// prepared, committing, aborted) are `synchronous = NORMAL`: they survive the mediator being
/// killed, and the next full commit syncs them; after a host power loss, recovery rebuilds what
/// they said from the device's journal. `DatabasePool` serializes writes and is `Sendable`:
/// actors call it directly.
public final class MediatorDatabase: Sendable {
    let pool: DatabasePool
    public let path: String

    /// Opens (creating and migrating if needed) the store at `path`.
    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.label = "mediator"
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        self.path = path
        try Self.migrator.migrate(pool)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE request (
                        terminal_id TEXT NOT NULL,
                        request_id TEXT NOT NULL,
                        payload_digest TEXT NOT NULL,
                        payload BLOB NOT NULL,
                        outlet_id TEXT NOT NULL,
                        cashier_id TEXT NOT NULL,
                        lane_number INTEGER,
                        mode TEXT NOT NULL,
                        state TEXT NOT NULL,
                        expected_seq INTEGER,
                        nonce TEXT,
                        invoice_seq INTEGER,
                        error_code TEXT,
                        error_message TEXT,
                        attempts INTEGER NOT NULL,
                        created_at TEXT NOT NULL,
                        updated_at TEXT NOT NULL,
                        PRIMARY KEY (terminal_id, request_id)
                    );
                    CREATE INDEX request_state ON request(state);
                    CREATE TABLE sealed_invoice (
                        invoice_seq INTEGER PRIMARY KEY,
                        device_id TEXT NOT NULL,
                        terminal_id TEXT NOT NULL,
                        request_id TEXT NOT NULL,
                        outlet_id TEXT NOT NULL,
                        cashier_id TEXT NOT NULL,
                        lane_number INTEGER,
                        payload_digest TEXT NOT NULL,
                        entry TEXT NOT NULL,
                        sealed_at TEXT NOT NULL,
                        UNIQUE (terminal_id, request_id)
                    );
                    CREATE TABLE outbox (
                        invoice_seq INTEGER PRIMARY KEY REFERENCES sealed_invoice(invoice_seq),
                        enqueued_at TEXT NOT NULL
                    );
                    """
            )
        }
        migrator.registerMigration("v2-request-digest") { db in
            try db.execute(sql: "CREATE INDEX request_digest ON request(terminal_id, payload_digest)")
        }
        migrator.registerMigration("v3-terminals") { db in
            try db.execute(
                sql: """
                    CREATE TABLE terminal (
                        code TEXT PRIMARY KEY,
                        name TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        business_mode TEXT NOT NULL,
                        lane_number INTEGER,
                        machine_id TEXT UNIQUE,
                        active INTEGER NOT NULL DEFAULT 1,
                        heartbeat_profile TEXT NOT NULL,
                        created_at TEXT NOT NULL,
                        modified_at TEXT NOT NULL
                    );
                    CREATE TABLE cashier_session (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        terminal_id TEXT NOT NULL REFERENCES terminal(code),
                        cashier_id TEXT NOT NULL,
                        opened_at TEXT NOT NULL,
                        closed_at TEXT,
                        close_reason TEXT
                    );
                    CREATE UNIQUE INDEX cashier_session_open ON cashier_session(terminal_id) WHERE closed_at IS NULL;
                    CREATE TABLE terminal_event (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        terminal_id TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        detail TEXT NOT NULL,
                        at TEXT NOT NULL
                    );
                    CREATE INDEX terminal_event_terminal ON terminal_event(terminal_id, id);
                    """
            )
        }
        migrator.registerMigration("v4-sync") { db in
            try db.execute(
                sql: """
                    ALTER TABLE outbox ADD COLUMN state TEXT NOT NULL DEFAULT 'pending';
                    ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE outbox ADD COLUMN last_error TEXT;
                    ALTER TABLE outbox ADD COLUMN receipt TEXT;
                    ALTER TABLE outbox ADD COLUMN uploaded_at TEXT;
                    CREATE INDEX outbox_state ON outbox(state, invoice_seq);
                    CREATE TABLE sync_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    """
            )
        }
        return migrator
    }

    // MARK: Requests

    /// The request with this key, if any.
    public func request(_ terminal: TerminalID, _ requestID: String) throws -> RequestRecord? {
        try pool.read { db in
            try Self.requestRow(db, terminal, requestID).map(Self.record)
        }
    }

    /// What happened when a request was offered: stored new, reopened after an abort or
    /// failure, or already there (then the caller replays or refuses it).
    public enum Admission: Sendable {
        case stored(RequestRecord)
        case existing(RequestRecord)
    }

    /// Stores a new request, or reopens an aborted or failed one with the same payload
    /// (state back to `queued`, one more attempt). A request with the same key in any other
    /// state, or with another payload, is returned as it is for the caller to judge.
    public func admit(_ record: RequestRecord) throws -> Admission {
        try durableWrite { db in
            if let row = try Self.requestRow(db, record.terminalID, record.requestID) {
                var existing = Self.record(row)
                guard existing.payloadDigest == record.payloadDigest,
                    existing.state == .aborted || existing.state == .failed
                else {
                    return .existing(existing)
                }
                existing.state = .queued
                existing.mode = record.mode
                existing.cashierID = record.cashierID
                existing.nonce = nil
                existing.expectedSeq = nil
                existing.errorCode = nil
                existing.errorMessage = nil
                existing.attempts += 1
                try Self.update(db, existing)
                return .stored(existing)
            }
            let now = Self.now()
            try db.executeCached(
                sql: """
                    INSERT INTO request (terminal_id, request_id, payload_digest, payload, outlet_id, cashier_id, lane_number,
                                         mode, state, attempts, created_at, updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)
                    """,
                arguments: [
                    record.terminalID.rawValue, record.requestID, record.payloadDigest, Data(record.payload),
                    record.outletID,
                    record.cashierID, record.laneNumber, record.mode.rawValue, RequestRecord.State.queued.rawValue, now,
                    now,
                ]
            )
            return .stored(record)
        }
    }

    /// Writes a request's state, nonce, expected seq and error (not its payload).
    public func save(_ record: RequestRecord) throws {
        try pool.write { db in try Self.update(db, record) }
    }

    /// Queues a progress mark (prepared, committing, in doubt) for the writer and returns at
    /// once: the device's critical path never waits for SQLite. Writes run in order, so a
    /// later ``seal(_:for:)`` lands after it (and syncs it). `failed` is called if it fails.
    public func saveInBackground(_ record: RequestRecord, failed: @escaping @Sendable (any Error) -> Void) {
        pool.asyncWrite(
            { db in try Self.update(db, record) },
            completion: { _, result in
                if case .failure(let error) = result { failed(error) }
            }
        )
    }

    /// Requests in these states, oldest first: what recovery must look at.
    public func requests(in states: Set<RequestRecord.State>) throws -> [RequestRecord] {
        try pool.read { db in
            let placeholders = states.map { _ in "?" }.joined(separator: ",")
            return try Row.fetchAll(
                db,
                sql: "SELECT * FROM request WHERE state IN (\(placeholders)) ORDER BY created_at",
                arguments: StatementArguments(states.map(\.rawValue))
            ).map(Self.record)
        }
    }

    // MARK: Sealing

    /// In one transaction: stores the sealed invoice, queues it for upload, and marks the
    /// request sealed. Idempotent for the same entry; a *different* entry with the same fiscal
    /// number is refused (it would mean two invoices under one number).
    public func seal(_ sealed: SealedInvoice, for request: RequestRecord) throws {
        let entryJSON = String(decoding: try JSONEncoder().encode(sealed.entry), as: UTF8.self)
        try durableWrite { db in
            if let existing = try String.fetchOne(
                db.cachedStatement(sql: "SELECT entry FROM sealed_invoice WHERE invoice_seq = ?"),
                arguments: [sealed.entry.seq.int64Value]
            ) {
                let stored = try JSONDecoder().decode(JournalEntry.self, from: Data(existing.utf8))
                guard stored.entryHash == sealed.entry.entryHash else {
                    throw FiscalError(
                        .replyInvalid,
                        "fiscal number \(sealed.entry.seq) is already stored with another entry"
                    )
                }
            } else {
                try db.executeCached(
                    sql: """
                        INSERT INTO sealed_invoice (invoice_seq, device_id, terminal_id, request_id, outlet_id, cashier_id,
                                                    lane_number, payload_digest, entry, sealed_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        sealed.entry.seq.int64Value, sealed.entry.deviceID.rawValue, sealed.terminalID.rawValue,
                        sealed.requestID, sealed.outletID, sealed.cashierID, sealed.laneNumber,
                        sealed.entry.payloadDigest,
                        entryJSON, sealed.sealedAt,
                    ]
                )
                try db.executeCached(
                    sql: "INSERT INTO outbox (invoice_seq, enqueued_at) VALUES (?, ?)",
                    arguments: [sealed.entry.seq.int64Value, sealed.sealedAt]
                )
            }
            var updated = request
            updated.state = .sealed
            updated.invoiceSeq = sealed.entry.seq.rawValue
            updated.nonce = nil
            updated.errorCode = nil
            updated.errorMessage = nil
            try Self.update(db, updated)
        }
    }

    /// The sealed invoice with this fiscal number.
    public func sealedInvoice(_ seq: InvoiceSeq) throws -> SealedInvoice? {
        try pool.read { db in
            try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM sealed_invoice WHERE invoice_seq = ?"),
                arguments: [seq.int64Value]
            )
        }.map(Self.sealed)
    }

    /// The sealed invoice with this fiscal number; `nil` for a number no device gives.
    public func sealedInvoice(_ seq: UInt64) throws -> SealedInvoice? {
        guard let seq = InvoiceSeq(rawValue: seq) else { return nil }
        return try sealedInvoice(seq)
    }

    /// Sealed invoices in fiscal-number order, from `seq` on.
    public func sealedInvoices(from seq: UInt64 = 1, limit: Int = 1000) throws -> [SealedInvoice] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM sealed_invoice WHERE invoice_seq >= ? ORDER BY invoice_seq LIMIT ?",
                arguments: [Int64(clamping: seq), limit]
            )
        }.map(Self.sealed)
    }

    /// The highest fiscal number stored, if any.
    public func lastSealedSeq() throws -> UInt64? {
        try pool.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(invoice_seq) FROM sealed_invoice") }.flatMap(
            UInt64.init(exactly:)
        )
    }

    /// Requests not yet settled, counted by state (`queued`, `prepared`, `committing`, `in_doubt`).
    public func openRequestCounts() throws -> [String: Int] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT state, COUNT(*) AS n FROM request WHERE state IN ('queued', 'prepared', 'committing', 'in_doubt')
                    GROUP BY state
                    """
            ).reduce(into: [:]) { counts, row in counts[row["state"] as String] = row["n"] as Int }
        }
    }

    /// Sealed invoices waiting in the outbox.
    public func outboxCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox") ?? 0 }
    }

    /// The most recent unsealed request from `terminal` for this invoice: the owner of a
    /// journal entry the store does not have yet.
    public func unsealedRequest(terminal: TerminalID, payloadDigest: String) throws -> RequestRecord? {
        try pool.read { db in
            try Row.fetchOne(
                db,
                sql: """
                    SELECT * FROM request WHERE terminal_id = ? AND payload_digest = ? AND state != 'sealed'
                    ORDER BY updated_at DESC LIMIT 1
                    """,
                arguments: [terminal.rawValue, payloadDigest]
            ).map(Self.record)
        }
    }

    /// Fiscal numbers from 1 to `last` that have no sealed invoice here (those pruned after the
    /// cloud confirmed them do not count as missing).
    public func missingSeqs(upTo last: UInt64) throws -> [UInt64] {
        let pruned = try prunedThrough()
        guard last > pruned else { return [] }
        let stored = try pool.read { db in
            try Int64.fetchAll(
                db,
                sql: "SELECT invoice_seq FROM sealed_invoice WHERE invoice_seq <= ? ORDER BY invoice_seq",
                arguments: [Int64(clamping: last)]
            )
        }
        var missing: [UInt64] = []
        var expected: UInt64 = pruned + 1
        for seq in stored.compactMap(UInt64.init(exactly:)) where seq > pruned {
            while expected < seq {
                missing.append(expected)
                expected += 1
            }
            expected = seq + 1
        }
        while expected <= last {
            missing.append(expected)
            expected += 1
        }
        return missing
    }

    // MARK: Rows

    /// A write that is on disk when it returns: `synchronous = FULL` for this transaction only.
    /// The pool's single writer runs it alone, so the pragma cannot leak into another write.
    func durableWrite<T>(_ body: @escaping (Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            try db.executeCached(sql: "PRAGMA synchronous = FULL")
            defer { try? db.executeCached(sql: "PRAGMA synchronous = NORMAL") }
            var result: T?
            try db.inTransaction {
                result = try body(db)
                return .commit
            }
            guard let result else { throw FiscalError(.deviceUnavailable, "the transaction returned nothing") }
            return result
        }
    }

    static func now() -> String { DeviceTimestamp.format(Date()) }

    private static func update(_ db: Database, _ record: RequestRecord) throws {
        try db.executeCached(
            sql: """
                UPDATE request SET state = ?, mode = ?, cashier_id = ?, expected_seq = ?, nonce = ?, invoice_seq = ?,
                                   error_code = ?, error_message = ?, attempts = ?, updated_at = ?
                WHERE terminal_id = ? AND request_id = ?
                """,
            arguments: [
                record.state.rawValue, record.mode.rawValue, record.cashierID,
                record.expectedSeq.map { Int64(clamping: $0) },
                record.nonce,
                record.invoiceSeq.map { Int64(clamping: $0) }, record.errorCode, record.errorMessage, record.attempts,
                now(),
                record.terminalID.rawValue, record.requestID,
            ]
        )
    }

    private static func requestRow(_ db: Database, _ terminal: TerminalID, _ requestID: String) throws -> Row? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM request WHERE terminal_id = ? AND request_id = ?"),
            arguments: [terminal.rawValue, requestID]
        )
    }

    private static func record(_ row: Row) -> RequestRecord {
        RequestRecord(
            terminalID: TerminalID(row["terminal_id"] as String),
            requestID: row["request_id"],
            payloadDigest: row["payload_digest"],
            payload: Array(row["payload"] as Data),
            outletID: row["outlet_id"],
            cashierID: row["cashier_id"],
            laneNumber: row["lane_number"],
            mode: RequestRecord.Mode(rawValue: row["mode"]) ?? .fiscalize,
            state: RequestRecord.State(rawValue: row["state"]) ?? .failed,
            // Only fiscal numbers a device gives: a row edited to 0 or below reads as none.
            expectedSeq: (row["expected_seq"] as Int64?).flatMap {
                InvoiceSeq(rawValue: UInt64(clamping: $0))?.rawValue
            },
            nonce: row["nonce"],
            invoiceSeq: (row["invoice_seq"] as Int64?).flatMap { InvoiceSeq(rawValue: UInt64(clamping: $0))?.rawValue },
            errorCode: row["error_code"],
            errorMessage: row["error_message"],
            attempts: row["attempts"]
        )
    }

    private static func sealed(_ row: Row) throws -> SealedInvoice {
        SealedInvoice(
            entry: try JSONDecoder().decode(JournalEntry.self, from: Data((row["entry"] as String).utf8)),
            terminalID: TerminalID(row["terminal_id"] as String),
            requestID: row["request_id"],
            outletID: row["outlet_id"],
            cashierID: row["cashier_id"],
            laneNumber: row["lane_number"],
            sealedAt: row["sealed_at"]
        )
    }
}

extension Database {
    /// Runs fixed SQL through the connection's statement cache: the per-sale statements are
    /// compiled once instead of on every request.
    func executeCached(sql: String, arguments: StatementArguments = StatementArguments()) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}
