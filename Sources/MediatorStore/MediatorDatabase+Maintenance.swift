import FiscalCore
import Foundation
import GRDB

/// What `doctor`, `backup` and `restore` read of a store file, through a connection of their
/// own (read-only): the live mediator's pool is not touched, and in WAL mode a reader never
/// blocks its writes.
public struct StoreInspection: Sendable {
    /// `PRAGMA quick_check`'s answer: "ok", or the first problems it found.
    public var quickCheck: String
    /// The file and its WAL, in bytes.
    public var sizeBytes: Int64
    public var sealedCount: Int
    public var lastSealed: SealedInvoice?
    /// Sealed invoices not yet confirmed by the cloud (pending or quarantined).
    public var backlog: Int
    public var oldestPendingAt: String?
    /// Each active terminal and when it was last heard of (its latest event), if ever.
    public var terminalsLastSeen: [(code: String, at: String?)]
}

extension MediatorDatabase {
    /// Opens the store at `path` read-only and reports on it; with `full`, runs
    /// `PRAGMA integrity_check` instead of the quicker `quick_check`.
    public static func inspect(path: String, full: Bool = false) throws -> StoreInspection {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.label = "inspection"
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        let size = [path, path + "-wal"].reduce(Int64(0)) { total, file in
            let bytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? NSNumber)?.int64Value
            return total + (bytes ?? 0)
        }
        return try queue.read { db in
            let check = try String.fetchAll(db, sql: full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)")
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sealed_invoice") ?? 0
            let last = try Row.fetchOne(db, sql: "SELECT * FROM sealed_invoice ORDER BY invoice_seq DESC LIMIT 1")
            let backlog = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE state != 'uploaded'") ?? 0
            let oldest = try String.fetchOne(
                db,
                sql: "SELECT enqueued_at FROM outbox WHERE state != 'uploaded' ORDER BY invoice_seq LIMIT 1"
            )
            let seen = try Row.fetchAll(
                db,
                sql: """
                    SELECT t.code AS code, (SELECT MAX(at) FROM terminal_event e WHERE e.terminal_id = t.code) AS at
                    FROM terminal t WHERE t.active = 1 ORDER BY t.code
                    """
            ).map { (code: $0["code"] as String, at: $0["at"] as String?) }
            return StoreInspection(
                quickCheck: check.joined(separator: "; "),
                sizeBytes: size,
                sealedCount: count,
                lastSealed: try last.map(Self.sealed),
                backlog: backlog,
                oldestPendingAt: oldest,
                terminalsLastSeen: seen
            )
        }
    }

    /// Copies the store at `path` into a new file at `destination` with SQLite's online backup
    /// API, while a mediator may be writing to it.
    ///
    /// The copy is made in one step inside one read transaction on a connection of its own. In
    /// WAL mode a reader does not block the writer, so sales go on while it runs; and a copy in
    /// one step cannot be restarted by their writes, as a copy in several steps would be (SQLite
    /// restarts a backup whose source another connection changed between steps). The copy is a
    /// consistent snapshot of the store at the moment its read began.
    public static func backup(from path: String, to destination: String) throws {
        var source = Configuration()
        source.readonly = true
        source.label = "backup-source"
        let reader = try DatabaseQueue(path: path, configuration: source)
        defer { try? reader.close() }
        let copy = try DatabaseQueue(path: destination)
        try reader.backup(to: copy)
        // The copy stands alone: one file, no WAL beside it.
        try copy.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA journal_mode = DELETE") }
        try copy.close()
    }
}
