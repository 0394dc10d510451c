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

/// The upload line as the store holds it: what the uploader decides on at each step.
public struct UploadLine: Sendable {
    /// The highest fiscal number pruned (0: none).
    public var prunedThrough: UInt64
    /// The highest N such that the cloud confirmed every number up to N: pruned, or held here
    /// as uploaded. The next number to send is N + 1; if the store lacks it, the line has a gap.
    public var confirmedThrough: UInt64
    /// The highest fiscal number in the outbox, whatever its state (nil: none).
    public var lastStored: UInt64?
    /// The first items not yet uploaded (pending or quarantined), in fiscal-number order.
    public var head: [OutboxItem]

    public init(prunedThrough: UInt64, confirmedThrough: UInt64, lastStored: UInt64?, head: [OutboxItem]) {
        self.prunedThrough = prunedThrough
        self.confirmedThrough = confirmedThrough
        self.lastStored = lastStored
        self.head = head
    }
}

extension MediatorDatabase {
    /// The head of the upload line as the uploader decides on it: the first `limit` items not
    /// yet uploaded, in fiscal-number order, with how far the cloud has confirmed an unbroken
    /// run of numbers (``UploadLine/confirmedThrough``). An async read: the uploader's loop
    /// never blocks a cooperative thread on SQLite.
    public func uploadLine(limit: Int) async throws -> UploadLine {
        try await pool.read { db in
            let pruned = try Self.metaSeq(db, "pruned_through") ?? 0
            let confirmed = try Self.confirmedThrough(db)
            let head = try Row.fetchAll(
                db,
                sql: Self.itemQuery + " WHERE o.state != 'uploaded' ORDER BY o.invoice_seq LIMIT ?",
                arguments: [limit]
            ).map(Self.outboxItem)
            let last = try Int64.fetchOne(db, sql: "SELECT MAX(invoice_seq) FROM outbox")
                .flatMap { UInt64(exactly: $0) }
            return UploadLine(prunedThrough: pruned, confirmedThrough: confirmed, lastStored: last, head: head)
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

    /// Marks items confirmed by the cloud, with their receipts. Only pending items move. In the
    /// same transaction, moves the confirmed watermark (``UploadLine/confirmedThrough``) over
    /// the unbroken run of uploaded numbers.
    public func markUploaded(_ receipts: [(seq: UInt64, receipt: String?)]) async throws {
        let now = Self.now()
        let rows = try receipts.map { (seq: try Self.sqlSeq($0.seq), receipt: $0.receipt) }
        try await pool.write { db in
            for (seq, receipt) in rows {
                try db.execute(
                    sql: """
                        UPDATE outbox SET state = 'uploaded', receipt = ?, uploaded_at = ?, last_error = NULL,
                                          attempts = attempts + 1
                        WHERE invoice_seq = ? AND state = 'pending'
                        """,
                    arguments: [receipt, now, seq]
                )
            }
            try Self.setMeta(db, "last_success_at", now)
            try Self.setMeta(db, "confirmed_through", String(try Self.confirmedThrough(db)))
        }
    }

    /// Puts an item the cloud rejected in quarantine, with the reason.
    public func quarantine(_ seq: UInt64, reason: String) async throws {
        let seq = try Self.sqlSeq(seq)
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE outbox SET state = 'quarantined', last_error = ?, attempts = attempts + 1
                    WHERE invoice_seq = ? AND state = 'pending'
                    """,
                arguments: [reason, seq]
            )
        }
    }

    /// Notes a failed attempt on the head of the line (nothing else changes).
    public func noteSyncFailure(_ seq: UInt64?, _ message: String) async throws {
        let seq = try seq.map(Self.sqlSeq)
        try await pool.write { db in
            if let seq {
                try db.execute(
                    sql:
                        "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE invoice_seq = ? AND state = 'pending'",
                    arguments: [message, seq]
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
            let requeued = db.changesCount
            // Nothing kept locally counts as confirmed any more: the watermark goes back.
            try db.execute(sql: "DELETE FROM sync_meta WHERE key = 'confirmed_through'")
            return requeued
        }
    }

    /// Backlog, quarantine and progress.
    public func outboxSummary() throws -> OutboxSummary {
        try pool.read { db in try Self.outboxSummary(db) }
    }

    /// ``outboxSummary()`` through GRDB's asynchronous read, for request paths (`/health`)
    /// that must not block a cooperative thread.
    public func readOutboxSummary() async throws -> OutboxSummary {
        try await pool.read { db in try Self.outboxSummary(db) }
    }

    private static func outboxSummary(_ db: Database) throws -> OutboxSummary {
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
            sql: itemQuery + " WHERE o.state = 'quarantined' ORDER BY o.invoice_seq"
        ).map(outboxItem)
        let pruned = try metaSeq(db, "pruned_through") ?? 0
        return OutboxSummary(
            pending: counts["pending"] ?? 0,
            quarantined: quarantined,
            uploaded: counts["uploaded"] ?? 0,
            oldestPendingAt: oldest,
            lastUploadedSeq: lastUploaded.flatMap(UInt64.init(exactly:)) ?? (pruned > 0 ? pruned : nil),
            prunedThrough: pruned
        )
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
    /// and outbox row; the request ledger keeps the request and its fiscal number). Returns how
    /// many were pruned.
    ///
    /// Only an unbroken run right after `pruned_through` is pruned: every number in it is held
    /// here as uploaded, confirmed before `cutoff`. A number the store lacks, or holds pending
    /// or quarantined, ends the run, whatever is confirmed after it (a cloud that does not check
    /// order may have confirmed later numbers). So `pruned_through` only ever covers numbers
    /// that were stored and confirmed, and never jumps over one the store has yet to adopt.
    public func prune(uploadedBefore cutoff: Date) async throws -> Int {
        let limit = DeviceTimestamp.format(cutoff)
        return try await pool.write { db in
            let pruned = try Self.metaSeq(db, "pruned_through") ?? 0
            let held = try Self.verifiedHeldThrough(db, prunedThrough: pruned)
            let through = try Self.uploadedRun(db, after: pruned, confirmedBefore: limit)
            guard through > pruned else {
                try Self.setMeta(db, "held_through", String(held))
                return 0
            }
            let (low, high) = (try Self.sqlSeq(pruned), try Self.sqlSeq(through))
            // The one path that deletes sealed invoices: logged first, append-only, and the
            // delete trigger lets through only numbers the log covers (docs/REPORTS.md).
            try db.execute(
                sql: "INSERT INTO prune_log (after_seq, through_seq, at) VALUES (?, ?, ?)",
                arguments: [low, high, Self.now()]
            )
            try db.execute(
                sql: "DELETE FROM outbox WHERE invoice_seq > ? AND invoice_seq <= ?",
                arguments: [low, high]
            )
            try db.execute(
                sql: "DELETE FROM sealed_invoice WHERE invoice_seq > ? AND invoice_seq <= ?",
                arguments: [low, high]
            )
            let count = db.changesCount
            try Self.setMeta(db, "pruned_through", String(through))
            // What was just pruned was held (stored and uploaded): the held run grows with it,
            // unless a number below `pruned` is still unaccounted for.
            try Self.setMeta(db, "held_through", String(held == pruned ? through : held))
            return count
        }
    }

    /// The highest fiscal number pruned (0: none).
    public func prunedThrough() throws -> UInt64 {
        try pool.read { db in try Self.metaSeq(db, "pruned_through") ?? 0 }
    }

    // MARK: The unbroken run

    /// The highest N such that every fiscal number up to N is confirmed by the cloud: pruned
    /// (prune only removes confirmed numbers, in an unbroken run) or held here as uploaded.
    ///
    /// Walks the outbox from the stored watermark (`confirmed_through`, kept by
    /// ``markUploaded(_:)``), so a step costs what was confirmed since, not the whole retention.
    /// The watermark is trusted only if the row it names is still uploaded.
    static func confirmedThrough(_ db: Database) throws -> UInt64 {
        let pruned = try metaSeq(db, "pruned_through") ?? 0
        var start = pruned
        if let mark = try metaSeq(db, "confirmed_through"), mark > pruned,
            try String.fetchOne(
                db,
                sql: "SELECT state FROM outbox WHERE invoice_seq = ?",
                arguments: [try sqlSeq(mark)]
            ) == OutboxItem.State.uploaded.rawValue
        {
            start = mark
        }
        return try uploadedRun(db, after: start)
    }

    /// The end of the run of uploaded rows right after `start`: the highest N such that every
    /// number in (start, N] is in the outbox as uploaded (confirmed before `cutoff`, with one).
    /// Reads row by row and stops at the first break.
    static func uploadedRun(_ db: Database, after start: UInt64, confirmedBefore cutoff: String? = nil) throws -> UInt64
    {
        let rows = try Row.fetchCursor(
            db,
            sql: "SELECT invoice_seq, state, uploaded_at FROM outbox WHERE invoice_seq > ? ORDER BY invoice_seq",
            arguments: [try sqlSeq(start)]
        )
        var end = start
        while let row = try rows.next() {
            guard let seq = UInt64(exactly: row["invoice_seq"] as Int64), seq == end + 1,
                row["state"] as String == OutboxItem.State.uploaded.rawValue
            else { break }
            if let cutoff {
                guard let at = row["uploaded_at"] as String?, at < cutoff else { break }
            }
            end = seq
        }
        return end
    }

    /// A fiscal number as SQLite stores it (an INTEGER is signed 64-bit).
    static func sqlSeq(_ seq: UInt64) throws -> Int64 {
        guard let value = Int64(exactly: seq) else {
            throw FiscalError(.messageInvalid, "fiscal number \(seq) is out of range")
        }
        return value
    }

    /// A fiscal number kept in `sync_meta`; a value that is not one is refused, never read as 0.
    static func metaSeq(_ db: Database, _ key: String) throws -> UInt64? {
        guard let text = try meta(db, key) else { return nil }
        guard let value = UInt64(text), Int64(exactly: value) != nil else {
            throw FiscalError(.configInvalid, "sync_meta.\(key) is not a fiscal number: '\(text)'")
        }
        return value
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

    static func meta(_ db: Database, _ key: String) throws -> String? {
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
