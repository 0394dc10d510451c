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

    /// Opens (creating and migrating if needed) the store at `path`. A write that finds the
    /// store locked by another connection waits up to `busyTimeout`, then fails.
    public init(path: String, busyTimeout: Duration = .seconds(5)) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.label = "mediator"
        configuration.busyMode = .timeout(
            Double(busyTimeout.components.seconds) + Double(busyTimeout.components.attoseconds) / 1e18
        )
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
        migrator.registerMigration("v5-shop-day") { db in
            try db.execute(sql: shopDaySchema)
        }
        // Issue 16: the CURVE key pinned to each terminal, and one-time pairing codes (stored as
        // SHA-256 digests: a copy of the store does not hand out a usable code).
        migrator.registerMigration("v6-terminal-keys") { db in
            try db.execute(
                sql: """
                    ALTER TABLE terminal ADD COLUMN curve_key TEXT;
                    CREATE UNIQUE INDEX terminal_curve_key ON terminal(curve_key) WHERE curve_key IS NOT NULL;
                    CREATE TABLE pairing_code (
                        code_digest TEXT PRIMARY KEY,
                        terminal_id TEXT NOT NULL REFERENCES terminal(code),
                        expires_at REAL NOT NULL,
                        used_at TEXT,
                        created_at TEXT NOT NULL
                    );
                    """
            )
        }
        // Issue 19: X and Z reports, and immutable sealed invoices (docs/REPORTS.md).
        migrator.registerMigration("v7-reports") { db in
            try db.execute(sql: reportSchema)
        }
        // Issue 19: the device's Z reports, taken by the running mediator in turn with sales, and
        // the intent written before each RPT|Z (MediatorDatabase+DeviceReports.swift).
        migrator.registerMigration("v8-device-reports") { db in
            try db.execute(sql: deviceReportsSchema)
        }
        return migrator
    }

    /// The shop's day (docs/SHOP_DAY.md): staff, work periods per terminal (one open at a time,
    /// by a unique partial index), cashier sessions inside them, append-only cash events, and
    /// each request's (so each sealed invoice's) period, session and sale context.
    static let shopDaySchema = """
        CREATE TABLE staff (
            id TEXT PRIMARY KEY,
            display_name TEXT NOT NULL,
            role TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            modified_at TEXT NOT NULL
        );
        CREATE TABLE work_period (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            terminal_id TEXT NOT NULL REFERENCES terminal(code),
            opened_by TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            opening_float TEXT NOT NULL,
            closed_by TEXT,
            closed_at TEXT
        );
        CREATE UNIQUE INDEX work_period_open ON work_period(terminal_id) WHERE closed_at IS NULL;
        CREATE INDEX work_period_terminal ON work_period(terminal_id, id);
        ALTER TABLE cashier_session ADD COLUMN period_id INTEGER REFERENCES work_period(id);
        CREATE INDEX cashier_session_period ON cashier_session(period_id);
        CREATE TABLE cash_event (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            terminal_id TEXT NOT NULL,
            event_id TEXT NOT NULL,
            period_id INTEGER NOT NULL REFERENCES work_period(id),
            session_id INTEGER NOT NULL REFERENCES cashier_session(id),
            cashier_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            amount TEXT,
            currency TEXT,
            reason TEXT,
            digest TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            UNIQUE (terminal_id, event_id)
        );
        CREATE INDEX cash_event_period ON cash_event(period_id, id);
        CREATE TRIGGER cash_event_no_update BEFORE UPDATE ON cash_event
            BEGIN SELECT RAISE(ABORT, 'cash events are append-only'); END;
        CREATE TRIGGER cash_event_no_delete BEFORE DELETE ON cash_event
            BEGIN SELECT RAISE(ABORT, 'cash events are append-only'); END;
        ALTER TABLE request ADD COLUMN period_id INTEGER;
        ALTER TABLE request ADD COLUMN session_id INTEGER;
        ALTER TABLE request ADD COLUMN sale_context TEXT;
        ALTER TABLE request ADD COLUMN reference_seq INTEGER;
        CREATE INDEX request_reference ON request(reference_seq) WHERE reference_seq IS NOT NULL;
        CREATE INDEX request_invoice_seq ON request(invoice_seq) WHERE invoice_seq IS NOT NULL;
        ALTER TABLE sealed_invoice ADD COLUMN period_id INTEGER;
        ALTER TABLE sealed_invoice ADD COLUMN session_id INTEGER;
        ALTER TABLE sealed_invoice ADD COLUMN sale_context TEXT;
        CREATE INDEX sealed_invoice_period ON sealed_invoice(period_id, invoice_seq);
        """

    // MARK: Requests

    /// The request with this key, if any.
    public func request(_ terminal: TerminalID, _ requestID: RequestID) throws -> RequestRecord? {
        try pool.read { db in
            try Self.requestRow(db, terminal, requestID).map(Self.record)
        }
    }

    /// Stores a new request (or reopens one no run is working on), durably: what the device
    /// core's write line does for one admission, for tools and tests that fill a store directly.
    public func admit(_ record: RequestRecord) throws -> StoreWriteResult {
        try durableWrite { db in try Self.admit(record, db) }
    }

    // MARK: Sealing

    /// Stores a sealed invoice, queues it for upload and marks the request sealed, durably (see
    /// ``seal(_:for:_:)``): for tools and tests that fill a store directly.
    public func seal(_ sealed: SealedInvoice, for request: RequestRecord) throws {
        try durableWrite { db in try Self.seal(sealed, for: request, db) }
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

    /// Fiscal numbers from 1 to `last` that the store does not hold, checked from the last
    /// number it holds contiguously; a pruned number counts only if the request ledger shows it
    /// was stored (MediatorDatabase+Journal.swift).
    public func missingSeqs(upTo last: UInt64) throws -> [UInt64] {
        try pool.read { db in try Self.missingSeqs(db, upTo: last) }
    }

    /// ``missingSeqs(upTo:)`` through GRDB's asynchronous API: the first `limit` of them, so a
    /// device that claims a huge counter costs a bounded list (the caller asks again).
    public func missingSeqs(upTo last: InvoiceSeq, limit: Int) async throws -> [InvoiceSeq] {
        try await pool.read { db in
            try Self.missingSeqs(db, upTo: last.rawValue, limit: limit).map { InvoiceSeq($0) }
        }
    }

    // MARK: Rows

    /// A write that is on disk when it returns: `synchronous = FULL` for this transaction only.
    /// The pool's single writer runs it alone, so the pragma cannot leak into another write.
    func durableWrite<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in try Self.durably(db, body) }
    }

    /// ``durableWrite(_:)`` through GRDB's asynchronous API.
    func durableWrite<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.writeWithoutTransaction { db in try Self.durably(db, body) }
    }

    private static func durably<T>(_ db: Database, _ body: (Database) throws -> T) throws -> T {
        try db.executeCached(sql: "PRAGMA synchronous = FULL")
        defer { try? db.executeCached(sql: "PRAGMA synchronous = NORMAL") }
        var result: T?
        try db.inTransaction {
            result = try body(db)
            return .commit
        }
        guard let result else { preconditionFailure("a committed transaction without a result") }
        return result
    }

    static func now() -> String { DeviceTimestamp.format(Date()) }

    static func update(_ db: Database, _ record: RequestRecord) throws {
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
                record.terminalID.rawValue, record.requestID.rawValue,
            ]
        )
    }

    static func requestRow(_ db: Database, _ terminal: TerminalID, _ requestID: RequestID) throws -> Row? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM request WHERE terminal_id = ? AND request_id = ?"),
            arguments: [terminal.rawValue, requestID.rawValue]
        )
    }

    static func sealedRow(_ db: Database, _ seq: UInt64) throws -> Row? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM sealed_invoice WHERE invoice_seq = ?"),
            arguments: [Int64(clamping: seq)]
        )
    }

    static func record(_ row: Row) -> RequestRecord {
        RequestRecord(
            terminalID: TerminalID(row["terminal_id"] as String),
            requestID: RequestID(row["request_id"] as String),
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
            attempts: row["attempts"],
            periodID: (row["period_id"] as Int64?).map { WorkPeriodID($0) },
            sessionID: (row["session_id"] as Int64?).map { CashierSessionID($0) },
            saleContext: row["sale_context"],
            referenceSeq: (row["reference_seq"] as Int64?).flatMap { InvoiceSeq(rawValue: UInt64(clamping: $0)) }
        )
    }

    static func sealed(_ row: Row) throws -> SealedInvoice {
        SealedInvoice(
            entry: try JSONDecoder().decode(JournalEntry.self, from: Data((row["entry"] as String).utf8)),
            terminalID: TerminalID(row["terminal_id"] as String),
            requestID: RequestID(row["request_id"] as String),
            outletID: row["outlet_id"],
            cashierID: row["cashier_id"],
            laneNumber: row["lane_number"],
            sealedAt: row["sealed_at"],
            periodID: (row["period_id"] as Int64?).map { WorkPeriodID($0) },
            sessionID: (row["session_id"] as Int64?).map { CashierSessionID($0) },
            saleContext: row["sale_context"]
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
