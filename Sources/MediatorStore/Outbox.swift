public import FiscalCore
public import Foundation
import GRDB

/// One sealed invoice waiting for (or done with) its upload.
public struct OutboxItem: Sendable, Hashable {
    public enum State: String, Sendable, Codable {
        /// Not yet confirmed by the cloud.
        case pending
        /// The cloud acknowledged it (accepted or duplicate).
        case uploaded
        /// The cloud rejected it: the line stops here until an operator retries it.
        case quarantined
    }

    public var seq: UInt64
    public var state: State
    public var attempts: Int
    public var lastError: String?
    public var receipt: String?
    public var enqueuedAt: String
    public var uploadedAt: String?
    /// What is uploaded.
    public var item: CloudProtocol.Item
}

/// The backlog as `sync status`, `/health` and `/metrics` show it.
public struct OutboxSummary: Sendable {
    public var pending: Int
    public var quarantined: [OutboxItem]
    public var uploaded: Int
    /// When the oldest item not yet uploaded was sealed.
    public var oldestPendingAt: String?
    public var lastUploadedSeq: UInt64?
    public var prunedThrough: UInt64
}

extension MediatorDatabase {
    /// The first `limit` items not yet uploaded, in fiscal-number order (a quarantined item
    /// among them stops the line: the uploader sends nothing after it).
    public func outboxHead(limit: Int) throws -> [OutboxItem] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: Self.itemQuery + " WHERE o.state != 'uploaded' ORDER BY o.invoice_seq LIMIT ?",
                arguments: [limit]
            ).map(Self.outboxItem)
        }
    }

    /// One outbox item, whatever its state.
    public func outboxItem(_ seq: UInt64) throws -> OutboxItem? {
        // Beyond Int64 no fiscal number is stored: nothing to find, nothing to trap on.
        guard let key = Int64(exactly: seq) else { return nil }
        return try pool.read { db in
            try Row.fetchOne(db, sql: Self.itemQuery + " WHERE o.invoice_seq = ?", arguments: [key])
                .map(Self.outboxItem)
        }
    }

    /// Marks items confirmed by the cloud, with their receipts. Only pending items move.
    public func markUploaded(_ receipts: [(seq: UInt64, receipt: String?)]) throws {
        let now = Self.now()
        try pool.write { db in
            for (seq, receipt) in receipts {
                guard let key = Int64(exactly: seq) else { continue }
                try db.execute(
                    sql: """
                        UPDATE outbox SET state = 'uploaded', receipt = ?, uploaded_at = ?, last_error = NULL,
                                          attempts = attempts + 1
                        WHERE invoice_seq = ? AND state = 'pending'
                        """,
                    arguments: [receipt, now, key]
                )
            }
            try Self.setMeta(db, "last_success_at", now)
        }
    }

    /// Puts an item the cloud rejected in quarantine, with the reason.
    public func quarantine(_ seq: UInt64, reason: String) throws {
        guard let key = Int64(exactly: seq) else { return }
        try pool.write { db in
            try db.execute(
                sql: """
                    UPDATE outbox SET state = 'quarantined', last_error = ?, attempts = attempts + 1
                    WHERE invoice_seq = ? AND state = 'pending'
                    """,
                arguments: [reason, key]
            )
        }
    }

    /// Notes a failed attempt on the head of the line (nothing else changes).
    public func noteSyncFailure(_ seq: UInt64?, _ message: String) throws {
        try pool.write { db in
            if let seq, let key = Int64(exactly: seq) {
                try db.execute(
                    sql:
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE invoice_seq = ? AND state = 'pending'",
                    arguments: [message, key]
                )
            }
            try Self.setMeta(db, "last_error", message)
            try Self.setMeta(db, "last_error_at", Self.now())
        }
    }

    /// Sends quarantined items (one, or all with `nil`) back to the line. Returns how many.
    @discardableResult
    public func retryQuarantined(_ seq: UInt64? = nil) throws -> Int {
        try pool.write { db in
            if let seq {
                guard let key = Int64(exactly: seq) else { return 0 }
                try db.execute(
                    sql: "UPDATE outbox SET state = 'pending' WHERE invoice_seq = ? AND state = 'quarantined'",
                    arguments: [key]
                )
            } else {
                try db.execute(sql: "UPDATE outbox SET state = 'pending' WHERE state = 'quarantined'")
            }
            return db.changesCount
        }
    }

    /// Puts every uploaded item (still kept locally) back in line, for a cloud that must receive
    /// them again (a new cloud store, or the drain benchmark). Returns how many.
    @discardableResult
    public func requeueUploaded() throws -> Int {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE outbox SET state = 'pending', receipt = NULL, uploaded_at = NULL WHERE state = 'uploaded'"
            )
            return db.changesCount
        }
    }

    /// Backlog, quarantine and progress.
    public func outboxSummary() throws -> OutboxSummary {
        try pool.read { db in
            let counts = try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")
                .reduce(into: [String: Int]()) { $0[$1["state"] as String] = $1["n"] as Int }
            let oldest = try String.fetchOne(
                db,
                sql: "SELECT enqueued_at FROM outbox WHERE state != 'uploaded' ORDER BY invoice_seq LIMIT 1"
            )
            let lastUploaded = try Int64.fetchOne(
                db,
                sql: "SELECT MAX(invoice_seq) FROM outbox WHERE state = 'uploaded'"
            )
            let quarantined = try Row.fetchAll(
                db,
                sql: Self.itemQuery + " WHERE o.state = 'quarantined' ORDER BY o.invoice_seq"
            ).map(Self.outboxItem)
            let pruned = try Self.meta(db, "pruned_through").flatMap(UInt64.init) ?? 0
            return OutboxSummary(
                pending: counts["pending"] ?? 0,
                quarantined: quarantined,
                uploaded: counts["uploaded"] ?? 0,
                oldestPendingAt: oldest,
                lastUploadedSeq: lastUploaded.flatMap(UInt64.init(exactly:)) ?? (pruned > 0 ? pruned : nil),
                prunedThrough: pruned
            )
        }
    }

    /// The last success and error the uploader recorded.
    public func syncMeta() throws -> [String: String] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT key, value FROM sync_meta").reduce(into: [:]) {
                $0[$1["key"] as String] = $1["value"] as String
            }
        }
    }

    /// Deletes the local copies of invoices the cloud confirmed before `cutoff` (sealed invoice
    /// and outbox row; the request ledger keeps the request and its fiscal number). Uploads go in
    /// order, so what is pruned is always a prefix; `pruned_through` remembers where it ends, so
    /// recovery does not take pruned numbers for missing ones. Returns how many were pruned.
    public func prune(uploadedBefore cutoff: Date) throws -> Int {
        let limit = DeviceTimestamp.format(cutoff)
        return try pool.write { db in
            // The prefix of uploaded items confirmed before the cutoff.
            let firstNotPrunable = try Int64.fetchOne(
                db,
                sql: """
                    SELECT MIN(invoice_seq) FROM outbox WHERE state != 'uploaded' OR uploaded_at >= ?
                    """,
                arguments: [limit]
            )
            let through =
                try Int64.fetchOne(
                    db,
                    sql:
                        "SELECT MAX(invoice_seq) FROM outbox WHERE state = 'uploaded' AND uploaded_at < ? AND invoice_seq < ?",
                    arguments: [limit, firstNotPrunable ?? Int64.max]
                ) ?? 0
            guard through > 0 else { return 0 }
            try db.execute(sql: "DELETE FROM outbox WHERE invoice_seq <= ?", arguments: [through])
            try db.execute(sql: "DELETE FROM sealed_invoice WHERE invoice_seq <= ?", arguments: [through])
            let pruned = db.changesCount
            let previous = try Self.meta(db, "pruned_through").flatMap(Int64.init) ?? 0
            try Self.setMeta(db, "pruned_through", String(max(previous, through)))
            return pruned
        }
    }

    /// The highest fiscal number pruned (0: none).
    public func prunedThrough() throws -> UInt64 {
        try pool.read { db in try Self.meta(db, "pruned_through").flatMap(UInt64.init) ?? 0 }
    }

    // MARK: Rows

    private static let itemQuery = """
        SELECT o.invoice_seq, o.state AS outbox_state, o.attempts AS outbox_attempts, o.last_error, o.receipt,
               o.enqueued_at, o.uploaded_at, s.entry, s.terminal_id, s.request_id, s.cashier_id, s.lane_number,
               s.sealed_at, r.payload
        FROM outbox o JOIN sealed_invoice s ON s.invoice_seq = o.invoice_seq
        LEFT JOIN request r ON r.terminal_id = s.terminal_id AND r.request_id = s.request_id
        """

    private static func outboxItem(_ row: Row) throws -> OutboxItem {
        let entry = try JSONDecoder().decode(JournalEntry.self, from: Data((row["entry"] as String).utf8))
        let payload = (row["payload"] as Data?) ?? Data()
        return OutboxItem(
            seq: entry.seq.rawValue,
            state: OutboxItem.State(rawValue: row["outbox_state"]) ?? .pending,
            attempts: row["outbox_attempts"],
            lastError: row["last_error"],
            receipt: row["receipt"],
            enqueuedAt: row["enqueued_at"],
            uploadedAt: row["uploaded_at"],
            item: CloudProtocol.Item(
                entry: entry,
                invoice: String(decoding: payload, as: UTF8.self),
                posTerminalID: row["terminal_id"],
                cashierID: row["cashier_id"],
                laneNumber: row["lane_number"],
                requestID: row["request_id"],
                sealedAt: row["sealed_at"]
            )
        )
    }

    private static func meta(_ db: Database, _ key: String) throws -> String? {
        try String.fetchOne(db, sql: "SELECT value FROM sync_meta WHERE key = ?", arguments: [key])
    }

    private static func setMeta(_ db: Database, _ key: String, _ value: String) throws {
        try db.execute(
            sql:
                "INSERT INTO sync_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            arguments: [key, value]
        )
    }
}
