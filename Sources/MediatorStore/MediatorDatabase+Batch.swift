public import FiscalCore
import Foundation
import GRDB

/// The device core's writes and reads, through GRDB's asynchronous API: the caller's task is
/// suspended, never a cooperative thread blocked, while SQLite works on GRDB's own queues.
extension MediatorDatabase {
    /// Applies `batch` in one transaction, in order, fsynced at commit when it carries a
    /// promise (``StoreBatch/isDurable``). Throws, changing nothing, if any write fails.
    public func apply(_ batch: StoreBatch) async throws -> [StoreWriteResult] {
        let sealedAt = Self.now()
        let writes = batch.writes
        let apply: @Sendable (Database) throws -> [StoreWriteResult] = { db in
            try writes.map { write in try Self.apply(write, db, sealedAt: sealedAt) }
        }
        return batch.isDurable ? try await durableWrite(apply) : try await pool.write(apply)
    }

    /// Requests in `queued`, `prepared`, `committing` or `in_doubt`, oldest first, and the Z
    /// intent left pending: what a previous run left unfinished.
    public func unfinishedWork() async throws -> (requests: [RequestRecord], pendingZ: DeviceZIntent?) {
        try await pool.read { db in
            (
                try Self.unfinishedRequests(db),
                try Row.fetchOne(db, sql: "SELECT * FROM device_z_intent WHERE state = 'pending'").map(Self.zIntent)
            )
        }
    }

    /// Requests in `queued`, `prepared`, `committing` or `in_doubt`, oldest first: what a
    /// previous run left unfinished.
    public func unfinishedRequests() async throws -> [RequestRecord] {
        try await pool.read { db in try Self.unfinishedRequests(db) }
    }

    static func unfinishedRequests(_ db: Database) throws -> [RequestRecord] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM request WHERE state IN ('queued', 'prepared', 'committing', 'in_doubt')
                ORDER BY created_at, rowid
                """
        ).map(Self.record)
    }

    /// The request stored under `key`, and its journal entry when it is sealed and still held.
    public func lookUp(_ key: RequestKey) async throws -> (RequestRecord?, JournalEntry?) {
        try await pool.read { db in
            guard let record = try Self.requestRow(db, key.terminal, key.request).map(Self.record) else {
                return (nil, nil)
            }
            guard record.state == .sealed, let seq = record.invoiceSeq else { return (record, nil) }
            return (record, try Self.sealedRow(db, seq).map(Self.sealed)?.entry)
        }
    }

    // MARK: One write

    static func apply(_ write: StoreWrite, _ db: Database, sealedAt: String) throws -> StoreWriteResult {
        switch write {
        case .admit(let record):
            return try admit(record, db)
        case .progress(let key, let state, let nonce, let expectedSeq):
            try db.executeCached(
                sql: """
                    UPDATE request SET state = ?, nonce = ?, expected_seq = ?, updated_at = ?
                    WHERE terminal_id = ? AND request_id = ? AND state IN ('queued', 'prepared', 'committing', 'in_doubt')
                    """,
                arguments: [
                    state.rawValue, nonce?.rawValue, expectedSeq.map { Int64(clamping: $0.rawValue) }, now(),
                    key.terminal.rawValue, key.request.rawValue,
                ]
            )
        case .outcome(let key, let state, let error):
            try db.executeCached(
                sql: """
                    UPDATE request SET state = ?, nonce = NULL, error_code = ?, error_message = ?, updated_at = ?
                    WHERE terminal_id = ? AND request_id = ? AND state != 'sealed'
                    """,
                arguments: [
                    state.rawValue, error.code.rawValue, error.message, now(), key.terminal.rawValue,
                    key.request.rawValue,
                ]
            )
        case .seal(let key, let entry):
            guard let request = try requestRow(db, key.terminal, key.request).map(record) else {
                throw FiscalError(.notFound, "no stored request \(key) for fiscal number \(entry.seq)")
            }
            try seal(SealedInvoice(entry: entry, for: request, sealedAt: sealedAt), for: request, db)
        case .adopt(let entry, let live):
            try adopt(entry, excluding: live, db, sealedAt: sealedAt)
        case .zIntent(let before, let deviceID):
            try recordZIntent(zCountBefore: before, deviceID: deviceID, db)
        case .zReport(let z, let seen):
            try storeDeviceZ(z, zCountSeen: seen, db)
        case .zIntentClosed(let state, let seen, let error):
            try closeZIntent(state, zCountSeen: seen, error: error, db)
        }
        return .done
    }

    /// Stores a new request, or reopens one that is not being worked on (aborted, failed, or
    /// left `queued`/`prepared` by a run that ended) with the same payload: state back to
    /// `queued`, one more attempt. Anything else is returned as it is for the caller to judge.
    static func admit(_ record: RequestRecord, _ db: Database) throws -> StoreWriteResult {
        if let row = try requestRow(db, record.terminalID, record.requestID) {
            var existing = Self.record(row)
            let reopenable: Set<RequestRecord.State> = [.aborted, .failed, .queued, .prepared]
            guard existing.payloadDigest == record.payloadDigest, reopenable.contains(existing.state) else {
                let sealed =
                    existing.state == .sealed
                    ? try existing.invoiceSeq.flatMap { try sealedRow(db, $0) }.map(sealed) : nil
                return .existing(existing, sealed: sealed?.entry)
            }
            if let refusal = try periodClosed(record, db) { return refusal }
            existing.state = .queued
            existing.mode = record.mode
            existing.cashierID = record.cashierID
            existing.nonce = nil
            existing.expectedSeq = nil
            existing.errorCode = nil
            existing.errorMessage = nil
            existing.attempts += 1
            try update(db, existing)
            // A retry is attributed where the terminal is now (its period and session).
            try db.executeCached(
                sql: """
                    UPDATE request SET period_id = ?, session_id = ?, sale_context = COALESCE(?, sale_context)
                    WHERE terminal_id = ? AND request_id = ?
                    """,
                arguments: [
                    record.periodID?.rawValue, record.sessionID?.rawValue, record.saleContext,
                    record.terminalID.rawValue, record.requestID.rawValue,
                ]
            )
            return .admitted
        }
        if let refusal = try periodClosed(record, db) { return refusal }
        let now = now()
        try db.executeCached(
            sql: """
                INSERT INTO request (terminal_id, request_id, payload_digest, payload, outlet_id, cashier_id, lane_number,
                                     mode, state, attempts, created_at, updated_at, period_id, session_id, sale_context,
                                     reference_seq)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                record.terminalID.rawValue, record.requestID.rawValue, record.payloadDigest, Data(record.payload),
                record.outletID, record.cashierID, record.laneNumber, record.mode.rawValue,
                RequestRecord.State.queued.rawValue, now, now, record.periodID?.rawValue, record.sessionID?.rawValue,
                record.saleContext, record.referenceSeq?.int64Value,
            ]
        )
        return .admitted
    }

    /// The intake attributed the sale to the period it read; a Z may have closed it since.
    /// Checked in the admission's own transaction, so no sale is ever stored (and so sealed) in
    /// a period whose Z is already taken. A replay of a stored request is not refused.
    static func periodClosed(_ record: RequestRecord, _ db: Database) throws -> StoreWriteResult? {
        // While a combined Z closes the day (from its intent to its record), no sale is stored:
        // one stored now could be sealed on either side of the device's RPT|Z.
        if try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM combined_intent WHERE state = 'pending')")
        ) == true {
            return .refused(
                FiscalError(
                    .periodBusy,
                    "the store's day is being closed (a combined Z); send the sale again in a moment"
                )
            )
        }
        guard let period = record.periodID,
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT closed_at FROM work_period WHERE id = ?"),
                arguments: [period.rawValue]
            ) != nil
        else { return nil }
        return .refused(
            FiscalError(.workPeriodClosed, "work period \(period) closed before this sale was stored; open a new one")
        )
    }

    /// A journal entry the store lacks, for the unsealed request of its terminal with the same
    /// payload digest (not one the device core still works on), or under `journal-<seq>`.
    static func adopt(_ entry: JournalEntry, excluding live: Set<RequestID>, _ db: Database, sealedAt: String) throws {
        let terminal = TerminalID(entry.posTerminalID)
        let candidates = try Row.fetchAll(
            db,
            sql: """
                SELECT * FROM request WHERE terminal_id = ? AND payload_digest = ? AND state != 'sealed'
                ORDER BY updated_at DESC
                """,
            arguments: [terminal.rawValue, entry.payloadDigest]
        ).map(record)
        var owner = candidates.first { !live.contains($0.requestID) }
        if owner == nil {
            let orphan = RequestRecord(
                terminalID: terminal,
                requestID: RequestID("journal-\(entry.seq)"),
                payloadDigest: entry.payloadDigest,
                payload: [],
                outletID: "",
                cashierID: entry.cashierID,
                laneNumber: nil,
                mode: .fiscalize,
                state: .committing
            )
            if try requestRow(db, terminal, orphan.requestID) == nil { _ = try admit(orphan, db) }
            owner = try requestRow(db, terminal, orphan.requestID).map(record)
        }
        guard let owner else { return }
        try seal(SealedInvoice(entry: entry, for: owner, sealedAt: sealedAt), for: owner, db)
    }

    /// In the caller's transaction: the sealed invoice, its outbox row, and the request marked
    /// sealed. Idempotent for the same entry; a *different* entry under the same fiscal number
    /// is refused (it would mean two invoices under one number).
    static func seal(_ sealed: SealedInvoice, for request: RequestRecord, _ db: Database) throws {
        let seq = Int64(clamping: sealed.entry.seq.rawValue)
        if let existing = try String.fetchOne(
            db.cachedStatement(sql: "SELECT entry FROM sealed_invoice WHERE invoice_seq = ?"),
            arguments: [seq]
        ) {
            let stored = try JSONDecoder().decode(JournalEntry.self, from: Data(existing.utf8))
            guard stored.entryHash == sealed.entry.entryHash else {
                throw FiscalError(
                    .replyInvalid,
                    "fiscal number \(sealed.entry.seq) is already stored with another entry"
                )
            }
        } else {
            let entryJSON = String(decoding: try JSONEncoder().encode(sealed.entry), as: UTF8.self)
            try db.executeCached(
                sql: """
                    INSERT INTO sealed_invoice (invoice_seq, device_id, terminal_id, request_id, outlet_id, cashier_id,
                                                lane_number, payload_digest, entry, sealed_at, period_id, session_id,
                                                sale_context)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    seq, sealed.entry.deviceID.rawValue, sealed.terminalID.rawValue, sealed.requestID.rawValue,
                    sealed.outletID, sealed.cashierID, sealed.laneNumber, sealed.entry.payloadDigest, entryJSON,
                    sealed.sealedAt, sealed.periodID?.rawValue, sealed.sessionID?.rawValue, sealed.saleContext,
                ]
            )
            try db.executeCached(
                sql: "INSERT INTO outbox (invoice_seq, enqueued_at) VALUES (?, ?)",
                arguments: [seq, sealed.sealedAt]
            )
        }
        var updated = request
        updated.state = .sealed
        updated.invoiceSeq = sealed.entry.seq.rawValue
        updated.nonce = nil
        updated.errorCode = nil
        updated.errorMessage = nil
        try update(db, updated)
    }
}

/// Reads on a terminal's request path, through GRDB's asynchronous API.
extension MediatorDatabase {
    /// The registry entry for `code`, if any.
    public func terminalRecord(_ code: TerminalID) async throws -> TerminalRecord? {
        try await pool.read { db in try Self.terminalRow(db, code) }
    }

    /// Every registered terminal, by code.
    public func terminalRecords() async throws -> [TerminalRecord] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM terminal ORDER BY code").map(TerminalRecord.init(row:))
        }
    }

    /// The open cashier session at `terminal`, if a cashier is logged in there.
    public func openSession(at terminal: TerminalID) async throws -> CashierSession? {
        try await pool.read { db in try Self.openSession(db, terminal) }
    }

    /// The sealed invoice with this fiscal number, if it is held here.
    public func sealedInvoiceRecord(_ seq: InvoiceSeq) async throws -> SealedInvoice? {
        try await pool.read { db in try Self.sealedRow(db, seq.rawValue).map(Self.sealed) }
    }
}
