import GRDB

/// One report waiting for its upload (a row of `report_outbox`, with the stored report).
public struct ReportOutboxItem: Sendable, Hashable {
    public var number: String
    public var kind: String
    /// The terminal of a per-terminal report (X, Z); nil for a store's (CX, CZ).
    public var terminal: String?
    public var sequence: Int64
    public var attempts: Int
    /// Why the last attempt failed: the cloud's refusal (`CODE: reason`) or the transport's.
    public var lastError: String?
    public var enqueuedAt: String
    /// The stored body, byte for byte: what was hashed, and what is sent.
    public var body: String
    public var hash: String

    /// The chain it belongs to: kind and terminal (`Z/REG-001`, `CZ/`).
    public var chain: String { "\(kind)/\(terminal ?? "")" }
}

/// The reports' upload line as the store holds it.
public struct ReportUploadLine: Sendable {
    /// What may be sent now, in upload order: for each chain, a run of consecutive pending
    /// reports starting at the chain's first pending one, which is the chain's first report or
    /// one whose predecessor the cloud confirmed; chains ordered by their head's age.
    public var ready: [ReportOutboxItem]
    /// Chains whose first pending report cannot go: the one before it is not confirmed and
    /// is not pending either (missing from the outbox), named with the sequence it waits for.
    public var stalled: [(chain: String, waitingFor: Int64)]
}

/// The reports' backlog, for `/health`.
public struct ReportOutboxSummary: Sendable, Hashable {
    /// Reports not yet confirmed by the cloud.
    public var pending: Int
    /// Of those, how many carry an error from their last attempt (a refusal, a failed send).
    public var failing: Int
    public var uploaded: Int
    /// When the oldest pending report was generated.
    public var oldestPendingAt: String?

    public init(pending: Int, failing: Int, uploaded: Int, oldestPendingAt: String?) {
        self.pending = pending
        self.failing = failing
        self.uploaded = uploaded
        self.oldestPendingAt = oldestPendingAt
    }
}

/// The sync outbox of reports (docs/CLOUD_API.md, "Reports"). Every Z enters `report_outbox`
/// in the transaction that stores it; the uploader sends each chain (kind and terminal) in
/// sequence order, never a report before the one before it is confirmed. Reports are never
/// pruned: they, and their outbox rows, stay (the reports are immutable by trigger).
extension MediatorDatabase {
    /// The reports that may be sent now, at most `limit`, in upload order (``ReportUploadLine``).
    /// Chains in `excluding` (``ReportOutboxItem/chain``) are left out (the uploader's chains
    /// waiting out a refusal). An async read: never blocks a cooperative thread.
    public func reportUploadLine(limit: Int, excluding: Set<String> = []) async throws -> ReportUploadLine {
        try await pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT o.number, o.kind, o.terminal_id, o.sequence, o.attempts, o.last_error, o.enqueued_at,
                           r.body, r.hash
                    FROM report_outbox o JOIN report r ON r.number = o.number
                    WHERE o.state = 'pending'
                    ORDER BY o.kind, COALESCE(o.terminal_id, ''), o.sequence
                    """
            ).map(Self.reportOutboxItem)
            var chains: [[ReportOutboxItem]] = []
            var stalled: [(chain: String, waitingFor: Int64)] = []
            var index = rows.startIndex
            while index < rows.endIndex {
                let chain = rows[index].chain
                var end = index
                while end < rows.endIndex, rows[end].chain == chain { end += 1 }
                defer { index = end }
                guard !excluding.contains(chain) else { continue }
                let head = rows[index]
                if head.sequence > 1 {
                    let before = try String.fetchOne(
                        db,
                        sql: """
                            SELECT state FROM report_outbox
                            WHERE kind = ? AND COALESCE(terminal_id, '') = ? AND sequence = ?
                            """,
                        arguments: [head.kind, head.terminal ?? "", head.sequence - 1]
                    )
                    guard before == "uploaded" else {
                        stalled.append((chain, head.sequence - 1))
                        continue
                    }
                }
                var run = [head]
                for item in rows[(index + 1)..<end] {
                    guard item.sequence == run[run.count - 1].sequence + 1 else { break }
                    run.append(item)
                }
                chains.append(run)
            }
            chains.sort { ($0[0].enqueuedAt, $0[0].chain) < ($1[0].enqueuedAt, $1[0].chain) }
            return ReportUploadLine(ready: Array(chains.joined().prefix(limit)), stalled: stalled)
        }
    }

    /// Marks reports confirmed by the cloud (accepted, or a replay of what it holds), with the
    /// time. Only pending reports move.
    public func markReportsUploaded(_ numbers: [String]) async throws {
        let now = Self.now()
        try await pool.write { db in
            for number in numbers {
                try db.execute(
                    sql: """
                        UPDATE report_outbox SET state = 'uploaded', uploaded_at = ?, last_error = NULL,
                                                 attempts = attempts + 1
                        WHERE number = ? AND state = 'pending'
                        """,
                    arguments: [now, number]
                )
            }
        }
    }

    /// Notes a failed attempt on a report (refused by the cloud, or a send that failed): it
    /// stays pending, one more attempt, with `error`.
    public func markReportFailed(_ number: String, error: String) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    UPDATE report_outbox SET attempts = attempts + 1, last_error = ?
                    WHERE number = ? AND state = 'pending'
                    """,
                arguments: [error, number]
            )
        }
    }

    /// One report's outbox row, whatever its state: (state, attempts, last error, uploaded at).
    public func reportOutboxState(
        _ number: String
    ) async throws
        -> (state: String, attempts: Int, lastError: String?, uploadedAt: String?)?
    {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT state, attempts, last_error, uploaded_at FROM report_outbox WHERE number = ?",
                arguments: [number]
            ).map { row in
                (
                    state: row["state"] as String, attempts: row["attempts"] as Int,
                    lastError: row["last_error"] as String?, uploadedAt: row["uploaded_at"] as String?
                )
            }
        }
    }

    /// The reports' backlog (an async read, for `/health`).
    public func reportOutboxSummary() async throws -> ReportOutboxSummary {
        try await pool.read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FILTER (WHERE state = 'pending') AS pending,
                           COUNT(*) FILTER (WHERE state = 'pending' AND last_error IS NOT NULL) AS failing,
                           COUNT(*) FILTER (WHERE state = 'uploaded') AS uploaded,
                           MIN(enqueued_at) FILTER (WHERE state = 'pending') AS oldest
                    FROM report_outbox
                    """
            )
            guard let row else { return ReportOutboxSummary(pending: 0, failing: 0, uploaded: 0, oldestPendingAt: nil) }
            return ReportOutboxSummary(
                pending: row["pending"],
                failing: row["failing"],
                uploaded: row["uploaded"],
                oldestPendingAt: row["oldest"]
            )
        }
    }

    private static func reportOutboxItem(_ row: Row) -> ReportOutboxItem {
        ReportOutboxItem(
            number: row["number"],
            kind: row["kind"],
            terminal: row["terminal_id"],
            sequence: row["sequence"],
            attempts: row["attempts"],
            lastError: row["last_error"],
            enqueuedAt: row["enqueued_at"],
            body: row["body"],
            hash: row["hash"]
        )
    }
}
