import FiscalCore
import GRDB

/// What the store holds of the device's journal: which fiscal numbers it has, and from where a
/// check for missing ones must start.
///
/// A number is held when its sealed invoice is here, or, once pruned, when the request ledger
/// (never pruned) records a request sealed under it. "Pruned" alone never counts as held: a
/// prune that once jumped over a number the store never had (before prunes were bounded to an
/// unbroken run) must not hide that number from recovery. `sync_meta.held_through` remembers
/// the end of the unbroken run of held numbers, so a check starts there and the ledger is read
/// only below `pruned_through` and only where that run has not been verified yet.
extension MediatorDatabase {
    /// Fiscal numbers up to `last` the store does not hold, checked from the last number it
    /// holds contiguously (see the discussion of this extension).
    static func missingSeqs(_ db: Database, upTo last: UInt64, limit: Int = .max) throws -> [UInt64] {
        let pruned = try metaSeq(db, "pruned_through") ?? 0
        let start = min(try metaSeq(db, "held_through") ?? 0, pruned)
        guard last > start else { return [] }
        let held = try heldSeqs(db, after: start, through: last, prunedThrough: pruned)
        var missing: [UInt64] = []
        var expected = start + 1
        for seq in held {
            while expected < seq {
                guard missing.count < limit else { return missing }
                missing.append(expected)
                expected += 1
            }
            expected = seq + 1
        }
        while expected <= last, missing.count < limit {
            missing.append(expected)
            expected += 1
        }
        return missing
    }

    /// The end of the unbroken run of held numbers after `start`, up to `limit`.
    static func heldRun(_ db: Database, after start: UInt64, through limit: UInt64) throws -> UInt64 {
        guard limit > start else { return start }
        let pruned = try metaSeq(db, "pruned_through") ?? 0
        var end = start
        for seq in try heldSeqs(db, after: start, through: limit, prunedThrough: pruned) {
            guard seq == end + 1 else { break }
            end = seq
        }
        return end
    }

    /// Before a prune of (`pruned`, …]: brings `held_through` up to `pruned` where the evidence
    /// allows, and returns it. Cheap once verified (it is then `pruned` already).
    static func verifiedHeldThrough(_ db: Database, prunedThrough pruned: UInt64) throws -> UInt64 {
        let held = min(try metaSeq(db, "held_through") ?? 0, pruned)
        return held < pruned ? try heldRun(db, after: held, through: pruned) : held
    }

    /// The numbers in (`start`, `last`] the store holds, ascending and distinct.
    private static func heldSeqs(
        _ db: Database,
        after start: UInt64,
        through last: UInt64,
        prunedThrough pruned: UInt64
    ) throws -> [UInt64] {
        let low = try sqlSeq(start)
        let high = try sqlSeq(last)
        let ledgerHigh = try sqlSeq(min(pruned, last))
        let sql =
            ledgerHigh > low
            ? """
            SELECT invoice_seq FROM sealed_invoice WHERE invoice_seq > ?1 AND invoice_seq <= ?2
            UNION
            SELECT invoice_seq FROM request
            WHERE state = 'sealed' AND invoice_seq IS NOT NULL AND invoice_seq > ?1 AND invoice_seq <= ?3
            ORDER BY 1
            """
            : "SELECT invoice_seq FROM sealed_invoice WHERE invoice_seq > ?1 AND invoice_seq <= ?2 ORDER BY 1"
        let arguments: StatementArguments = ledgerHigh > low ? [low, high, ledgerHigh] : [low, high]
        return try Int64.fetchAll(db, sql: sql, arguments: arguments).compactMap { UInt64(exactly: $0) }
    }
}
