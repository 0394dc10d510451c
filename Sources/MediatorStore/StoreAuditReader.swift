import FiscalCore
import Foundation
import GRDB

/// A mediator store's rows exactly as they are on disk, read-only, for the audit.
///
/// Nothing is defaulted or repaired on the way (``MediatorDatabase`` maps an unknown state to
/// `failed`, an absent payload to empty, and traps on a NULL in a NOT NULL column): a value
/// that is NULL, of another type or out of range comes back as such, for the audit to report.
/// The file is opened read-only and never migrated, so auditing a store cannot change it.
/// Rows are read in pages (by rowid), so memory stays flat whatever the store's size.
public final class StoreAuditReader: Sendable {
    public let path: String
    private let database: DatabaseQueue

    /// An integer column as stored.
    public enum StoredInteger: Hashable, Sendable, CustomStringConvertible {
        case null
        case value(Int64)
        /// Text, a blob or a fraction where an integer belongs.
        case notInteger

        init(_ value: DatabaseValue) {
            if value.isNull {
                self = .null
            } else if case .int64(let integer) = value.storage {
                self = .value(integer)
            } else {
                self = .notInteger
            }
        }

        /// The value as a fiscal number (1 or more), if it is one.
        public var seq: UInt64? {
            if case .value(let integer) = self, integer >= 1 { return UInt64(integer) }
            return nil
        }

        public var description: String {
            switch self {
            case .null: "NULL"
            case .value(let integer): String(integer)
            case .notInteger: "not an integer"
            }
        }
    }

    /// A `sealed_invoice` row.
    public struct SealedRow: Hashable, Sendable {
        public var rowid: Int64
        public var invoiceSeq: StoredInteger
        public var deviceID: String?
        public var terminalID: String?
        public var requestID: String?
        public var outletID: String?
        public var cashierID: String?
        public var payloadDigest: String?
        /// The journal entry as JSON text.
        public var entry: String?
        public var sealedAt: String?

        public init(
            rowid: Int64,
            invoiceSeq: StoredInteger,
            deviceID: String?,
            terminalID: String?,
            requestID: String?,
            outletID: String?,
            cashierID: String?,
            payloadDigest: String?,
            entry: String?,
            sealedAt: String?
        ) {
            self.rowid = rowid
            self.invoiceSeq = invoiceSeq
            self.deviceID = deviceID
            self.terminalID = terminalID
            self.requestID = requestID
            self.outletID = outletID
            self.cashierID = cashierID
            self.payloadDigest = payloadDigest
            self.entry = entry
            self.sealedAt = sealedAt
        }
    }

    /// A `request` row (the exactly-once ledger).
    public struct RequestRow: Hashable, Sendable {
        public var rowid: Int64
        public var terminalID: String?
        public var requestID: String?
        public var payloadDigest: String?
        /// The canonical invoice bytes (nil when NULL or not a blob).
        public var payload: [UInt8]?
        public var state: String?
        public var invoiceSeq: StoredInteger

        public init(
            rowid: Int64,
            terminalID: String?,
            requestID: String?,
            payloadDigest: String?,
            payload: [UInt8]?,
            state: String?,
            invoiceSeq: StoredInteger
        ) {
            self.rowid = rowid
            self.terminalID = terminalID
            self.requestID = requestID
            self.payloadDigest = payloadDigest
            self.payload = payload
            self.state = state
            self.invoiceSeq = invoiceSeq
        }
    }

    /// An `outbox` row (the upload line).
    public struct OutboxRow: Hashable, Sendable {
        public var rowid: Int64
        public var invoiceSeq: StoredInteger
        public var state: String?
        public var receipt: String?
        public var uploadedAt: String?

        public init(rowid: Int64, invoiceSeq: StoredInteger, state: String?, receipt: String?, uploadedAt: String?) {
            self.rowid = rowid
            self.invoiceSeq = invoiceSeq
            self.state = state
            self.receipt = receipt
            self.uploadedAt = uploadedAt
        }
    }

    /// Opens the store at `path` read-only; throws when there is no such file or it is not a
    /// SQLite database.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FiscalError(.configInvalid, "\(path): no such file")
        }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "store-audit"
        database = try DatabaseQueue(path: path, configuration: configuration)
        self.path = path
    }

    /// Up to `limit` sealed invoices with a rowid above `rowid`, in rowid (fiscal-number) order.
    public func sealedRows(after rowid: Int64, limit: Int) throws -> [SealedRow] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT rowid, invoice_seq, device_id, terminal_id, request_id, outlet_id, cashier_id, payload_digest,
                           entry, sealed_at
                    FROM sealed_invoice WHERE rowid > ? ORDER BY rowid LIMIT ?
                    """,
                arguments: [rowid, limit]
            ).map { row in
                SealedRow(
                    rowid: Self.rowid(row),
                    invoiceSeq: StoredInteger(row[1]),
                    deviceID: Self.text(row[2]),
                    terminalID: Self.text(row[3]),
                    requestID: Self.text(row[4]),
                    outletID: Self.text(row[5]),
                    cashierID: Self.text(row[6]),
                    payloadDigest: Self.text(row[7]),
                    entry: Self.text(row[8]),
                    sealedAt: Self.text(row[9])
                )
            }
        }
    }

    /// Up to `limit` requests with a rowid above `rowid`, in rowid order.
    public func requestRows(after rowid: Int64, limit: Int) throws -> [RequestRow] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT rowid, terminal_id, request_id, payload_digest, payload, state, invoice_seq
                    FROM request WHERE rowid > ? ORDER BY rowid LIMIT ?
                    """,
                arguments: [rowid, limit]
            ).map { row in
                let payload: [UInt8]? =
                    if case .blob(let data) = (row[4] as DatabaseValue).storage { Array(data) } else { nil }
                return RequestRow(
                    rowid: Self.rowid(row),
                    terminalID: Self.text(row[1]),
                    requestID: Self.text(row[2]),
                    payloadDigest: Self.text(row[3]),
                    payload: payload,
                    state: Self.text(row[5]),
                    invoiceSeq: StoredInteger(row[6])
                )
            }
        }
    }

    /// Up to `limit` outbox rows with a rowid above `rowid`, in rowid (fiscal-number) order.
    public func outboxRows(after rowid: Int64, limit: Int) throws -> [OutboxRow] {
        try database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT rowid, invoice_seq, state, receipt, uploaded_at
                    FROM outbox WHERE rowid > ? ORDER BY rowid LIMIT ?
                    """,
                arguments: [rowid, limit]
            ).map { row in
                OutboxRow(
                    rowid: Self.rowid(row),
                    invoiceSeq: StoredInteger(row[1]),
                    state: Self.text(row[2]),
                    receipt: Self.text(row[3]),
                    uploadedAt: Self.text(row[4])
                )
            }
        }
    }

    /// The highest fiscal number pruned after the cloud confirmed it, as stored (nil: none was).
    public func prunedThrough() throws -> String? {
        try database.read { db in
            try Row.fetchOne(db, sql: "SELECT value FROM sync_meta WHERE key = 'pruned_through'").flatMap {
                Self.text($0[0])
            }
        }
    }

    private static func text(_ value: DatabaseValue) -> String? {
        if case .string(let text) = value.storage { return text }
        return nil
    }

    private static func rowid(_ row: Row) -> Int64 {
        if case .int64(let rowid) = (row[0] as DatabaseValue).storage { return rowid }
        return Int64.max  // a rowid is always an integer; this ends the paging if not
    }
}
