import FiscalCore
import Foundation
import GRDB

/// A Z report as the device made it, stored by the running mediator: the report's canonical JSON
/// (what its `report_hash` covers), the hash and the device's signature, so the record checks
/// itself without the device.
public struct StoredDeviceZ: Sendable, Hashable {
    public var zNumber: UInt64
    public var deviceID: String
    /// The fiscal numbers the Z covers (nil for a day without sales).
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?
    public var invoiceCount: UInt64
    /// The canonical JSON of the report as the device returned it, without hash and signature.
    public var reportJSON: String
    public var reportHash: String
    public var signature: String
    /// When the device took it (its `generated_at`).
    public var takenAt: String
    /// When this store wrote it (empty before it is stored).
    public var storedAt: String

    public init(
        zNumber: UInt64,
        deviceID: String,
        firstSeq: UInt64?,
        lastSeq: UInt64?,
        invoiceCount: UInt64,
        reportJSON: String,
        reportHash: String,
        signature: String,
        takenAt: String,
        storedAt: String = ""
    ) {
        self.zNumber = zNumber
        self.deviceID = deviceID
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.invoiceCount = invoiceCount
        self.reportJSON = reportJSON
        self.reportHash = reportHash
        self.signature = signature
        self.takenAt = takenAt
        self.storedAt = storedAt
    }

    /// Whether `report_hash` is the SHA-256 of the stored JSON (the record was not edited).
    public var hashMatches: Bool { SHA256.hex(Array(reportJSON.utf8)) == reportHash }
}

/// What the mediator wrote before it sent `RPT|Z`, and how it ended: a Z closes the fiscal day at
/// the device at once, so a mediator killed before it stored the report must find out at its next
/// start whether the device made one (its `z_count` moved past `zCountBefore`) and read it back.
public struct DeviceZIntent: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        /// Written before RPT|Z; not resolved yet.
        case pending
        /// The device made the Z and it is stored (`zNumber`).
        case done
        /// The device made no Z (it refused, or its `z_count` had not moved).
        case dropped
        /// The device made a Z that could not be read back (a DEF without `QRY|ZREPORT`, or one
        /// that no longer has it): `zCountSeen` says how far its counter went. Fail closed: the
        /// operator reads the device's own Z.
        case unrecoverable
    }

    public var id: Int64
    public var deviceID: String?
    public var zCountBefore: UInt64
    public var state: State
    public var zCountSeen: UInt64?
    public var zNumber: UInt64?
    public var errorCode: String?
    public var errorMessage: String?
    public var createdAt: String
    public var resolvedAt: String?

    /// A pending intent (state `pending`), as recovery and tests make one.
    public init(id: Int64, deviceID: String?, zCountBefore: UInt64, state: State = .pending, createdAt: String = "") {
        self.id = id
        self.deviceID = deviceID
        self.zCountBefore = zCountBefore
        self.state = state
        self.createdAt = createdAt
    }

    init(
        id: Int64,
        deviceID: String?,
        zCountBefore: UInt64,
        state: State,
        zCountSeen: UInt64?,
        zNumber: UInt64?,
        errorCode: String?,
        errorMessage: String?,
        createdAt: String,
        resolvedAt: String?
    ) {
        self.init(id: id, deviceID: deviceID, zCountBefore: zCountBefore, state: state, createdAt: createdAt)
        self.zCountSeen = zCountSeen
        self.zNumber = zNumber
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.resolvedAt = resolvedAt
    }
}

extension MediatorDatabase {
    /// The device's Z reports and the intents written before each RPT|Z (migration
    /// "v8-device-reports"). A stored Z is immutable (invariant 6); an intent leaves `pending`
    /// once, and at most one is pending at a time.
    static let deviceReportsSchema = """
        CREATE TABLE device_z_report (
            z_number INTEGER PRIMARY KEY CHECK (z_number >= 1),
            device_id TEXT NOT NULL,
            first_seq INTEGER,
            last_seq INTEGER,
            invoice_count INTEGER NOT NULL,
            report_json TEXT NOT NULL,
            report_hash TEXT NOT NULL,
            signature TEXT NOT NULL,
            taken_at TEXT NOT NULL,
            stored_at TEXT NOT NULL
        );
        CREATE TRIGGER device_z_report_no_update BEFORE UPDATE ON device_z_report
            BEGIN SELECT RAISE(ABORT, 'device Z reports are immutable'); END;
        CREATE TRIGGER device_z_report_no_delete BEFORE DELETE ON device_z_report
            BEGIN SELECT RAISE(ABORT, 'device Z reports are immutable'); END;
        CREATE TABLE device_z_intent (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            device_id TEXT,
            z_count_before INTEGER NOT NULL CHECK (z_count_before >= 0),
            state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'dropped', 'unrecoverable')),
            z_count_seen INTEGER,
            z_number INTEGER REFERENCES device_z_report(z_number),
            error_code TEXT,
            error_message TEXT,
            created_at TEXT NOT NULL,
            resolved_at TEXT
        );
        CREATE UNIQUE INDEX device_z_intent_pending ON device_z_intent(state) WHERE state = 'pending';
        CREATE TRIGGER device_z_intent_resolved_once BEFORE UPDATE ON device_z_intent WHEN OLD.state != 'pending'
            BEGIN SELECT RAISE(ABORT, 'a resolved Z intent does not change'); END;
        """

    // MARK: Reads

    /// The Z report the device numbered `number`, if stored here.
    public func storedDeviceZ(_ number: UInt64) async throws -> StoredDeviceZ? {
        guard let number = Int64(exactly: number) else { return nil }
        return try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM device_z_report WHERE z_number = ?", arguments: [number])
                .map(Self.deviceZ)
        }
    }

    /// The highest-numbered Z report stored, if any.
    public func latestDeviceZ() async throws -> StoredDeviceZ? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM device_z_report ORDER BY z_number DESC LIMIT 1")
                .map(Self.deviceZ)
        }
    }

    /// Every Z report stored, by number.
    public func deviceZReports() async throws -> [StoredDeviceZ] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM device_z_report ORDER BY z_number").map(Self.deviceZ)
        }
    }

    /// The intent a previous RPT|Z left unresolved, if any (recovery resolves it at the device).
    public func pendingZIntent() async throws -> DeviceZIntent? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM device_z_intent WHERE state = 'pending'").map(Self.zIntent)
        }
    }

    /// Every intent, oldest first: the history of RPT|Z at this outlet.
    public func deviceZIntents() async throws -> [DeviceZIntent] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM device_z_intent ORDER BY id").map(Self.zIntent)
        }
    }

    // MARK: Writes (in the device core's batches)

    /// A new pending intent. A second pending one is refused by the unique index: the device core
    /// resolves one before it writes the next.
    static func recordZIntent(zCountBefore: UInt64, deviceID: DeviceID?, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO device_z_intent (device_id, z_count_before, state, created_at)
                VALUES (?, ?, 'pending', ?)
                """,
            arguments: [deviceID?.rawValue, try sqlInteger(zCountBefore, "z_count"), now()]
        )
    }

    /// Stores the device's Z and marks the pending intent done, in the caller's transaction.
    /// Idempotent for the same report; another report under a stored number, or one whose hash
    /// does not cover its JSON, is refused.
    static func storeDeviceZ(_ z: StoredDeviceZ, zCountSeen: UInt64, _ db: Database) throws {
        guard z.hashMatches else {
            throw FiscalError(.replyInvalid, "Z report \(z.zNumber): report_hash does not cover its JSON")
        }
        let number = try sqlInteger(z.zNumber, "z_number")
        if let existing = try String.fetchOne(
            db,
            sql: "SELECT report_hash FROM device_z_report WHERE z_number = ?",
            arguments: [number]
        ) {
            guard existing == z.reportHash else {
                throw FiscalError(.replyInvalid, "Z report \(z.zNumber) is already stored with another report")
            }
        } else {
            try db.execute(
                sql: """
                    INSERT INTO device_z_report (z_number, device_id, first_seq, last_seq, invoice_count, report_json,
                                                 report_hash, signature, taken_at, stored_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    number, z.deviceID, try z.firstSeq.map { try sqlInteger($0, "first_seq") },
                    try z.lastSeq.map { try sqlInteger($0, "last_seq") },
                    try sqlInteger(z.invoiceCount, "invoice_count"),
                    z.reportJSON, z.reportHash, z.signature, z.takenAt, now(),
                ]
            )
        }
        try db.execute(
            sql: """
                UPDATE device_z_intent SET state = 'done', z_number = ?, z_count_seen = ?, resolved_at = ?
                WHERE state = 'pending'
                """,
            arguments: [number, try sqlInteger(max(zCountSeen, z.zNumber), "z_count"), now()]
        )
    }

    /// Ends the pending intent without a stored Z: `dropped` (no Z was made) or `unrecoverable`.
    static func closeZIntent(
        _ state: DeviceZIntent.State,
        zCountSeen: UInt64?,
        error: FiscalError?,
        _ db: Database
    ) throws {
        try db.execute(
            sql: """
                UPDATE device_z_intent SET state = ?, z_count_seen = ?, error_code = ?, error_message = ?, resolved_at = ?
                WHERE state = 'pending'
                """,
            arguments: [
                state.rawValue, try zCountSeen.map { try sqlInteger($0, "z_count") }, error?.code.rawValue,
                error?.message, now(),
            ]
        )
    }

    private static func sqlInteger(_ value: UInt64, _ name: String) throws -> Int64 {
        guard let value = Int64(exactly: value) else {
            throw FiscalError(.valueOutOfRange, "\(name) \(value) is beyond what the store holds")
        }
        return value
    }

    // MARK: Rows

    static func deviceZ(_ row: Row) -> StoredDeviceZ {
        StoredDeviceZ(
            zNumber: UInt64(clamping: row["z_number"] as Int64),
            deviceID: row["device_id"],
            firstSeq: (row["first_seq"] as Int64?).map { UInt64(clamping: $0) },
            lastSeq: (row["last_seq"] as Int64?).map { UInt64(clamping: $0) },
            invoiceCount: UInt64(clamping: row["invoice_count"] as Int64),
            reportJSON: row["report_json"],
            reportHash: row["report_hash"],
            signature: row["signature"],
            takenAt: row["taken_at"],
            storedAt: row["stored_at"]
        )
    }

    static func zIntent(_ row: Row) -> DeviceZIntent {
        DeviceZIntent(
            id: row["id"],
            deviceID: row["device_id"],
            zCountBefore: UInt64(clamping: row["z_count_before"] as Int64),
            // A state edited into the file by hand reads as the one that stops nothing silently.
            state: DeviceZIntent.State(rawValue: row["state"]) ?? .unrecoverable,
            zCountSeen: (row["z_count_seen"] as Int64?).map { UInt64(clamping: $0) },
            zNumber: (row["z_number"] as Int64?).map { UInt64(clamping: $0) },
            errorCode: row["error_code"],
            errorMessage: row["error_message"],
            createdAt: row["created_at"],
            resolvedAt: row["resolved_at"]
        )
    }
}
