public import FiscalCore
import Foundation
import GRDB

/// A member of staff in the outlet's registry (docs/SHOP_DAY.md).
public struct StaffRecord: Sendable, Hashable, Codable {
    public var id: String
    public var displayName: String
    public var role: StaffRole
    public var active: Bool
    public var createdAt: String
    public var modifiedAt: String

    public init(id: String, displayName: String, role: StaffRole) {
        self.id = id
        self.displayName = displayName
        self.role = role
        self.active = true
        self.createdAt = ""
        self.modifiedAt = ""
    }

    init(row: Row) {
        id = row["id"]
        displayName = row["display_name"]
        // A role edited into the file by hand reads as the least privileged one.
        role = StaffRole(rawValue: row["role"]) ?? .cashier
        active = row["active"]
        createdAt = row["created_at"]
        modifiedAt = row["modified_at"]
    }

    enum CodingKeys: String, CodingKey {
        case id
        case displayName = "display_name"
        case role, active
        case createdAt = "created_at"
        case modifiedAt = "modified_at"
    }
}

/// Whether a staff id may work here, as LOGIN and OPEN_PERIOD ask.
public enum StaffStanding: Sendable, Hashable {
    /// The registry is empty: anyone the terminal names (today's behaviour for small shops).
    case registryUnused
    case active(StaffRecord)
    case inactive(StaffRecord)
    case unknown
}

/// One terminal's work period (shift).
public struct WorkPeriodRecord: Sendable, Hashable, Codable {
    public var id: WorkPeriodID
    public var terminalID: String
    public var openedBy: String
    public var openedAt: String
    public var openingFloat: CurrencyAmounts
    public var closedBy: String?
    public var closedAt: String?

    public var isOpen: Bool { closedAt == nil }

    init(row: Row) throws {
        id = WorkPeriodID(row["id"] as Int64)
        terminalID = row["terminal_id"]
        openedBy = row["opened_by"]
        openedAt = row["opened_at"]
        openingFloat = try JSONDecoder().decode(CurrencyAmounts.self, from: Data((row["opening_float"] as String).utf8))
        closedBy = row["closed_by"]
        closedAt = row["closed_at"]
    }

    enum CodingKeys: String, CodingKey {
        case id
        case terminalID = "terminal_id"
        case openedBy = "opened_by"
        case openedAt = "opened_at"
        case openingFloat = "opening_float"
        case closedBy = "closed_by"
        case closedAt = "closed_at"
    }
}

/// A cash or drawer event as stored: where it was attributed, and when.
public struct CashEventRecord: Sendable, Hashable, Codable {
    public var id: Int64
    public var terminalID: String
    public var eventID: String
    public var periodID: WorkPeriodID
    public var sessionID: CashierSessionID
    public var cashierID: String
    public var kind: String
    public var amount: Money?
    public var currency: String?
    public var reason: String?
    public var recordedAt: String

    init(row: Row) {
        id = row["id"]
        terminalID = row["terminal_id"]
        eventID = row["event_id"]
        periodID = WorkPeriodID(row["period_id"] as Int64)
        sessionID = CashierSessionID(row["session_id"] as Int64)
        cashierID = row["cashier_id"]
        kind = row["kind"]
        amount = (row["amount"] as String?).flatMap(Money.init(decimalText:))
        currency = row["currency"]
        reason = row["reason"]
        recordedAt = row["recorded_at"]
    }

    enum CodingKeys: String, CodingKey {
        case id
        case terminalID = "terminal_id"
        case eventID = "event_id"
        case periodID = "period_id"
        case sessionID = "session_id"
        case cashierID = "cashier_id"
        case kind, amount, currency, reason
        case recordedAt = "recorded_at"
    }
}

/// A work period with what happened in it: its cashier sessions (handovers in order), its cash
/// events, and the fiscal numbers sealed in it.
public struct WorkPeriodDetail: Sendable, Hashable {
    public var period: WorkPeriodRecord
    public var sessions: [CashierSession]
    public var cashEvents: [CashEventRecord]
    public var invoiceSeqs: [UInt64]
}

extension MediatorDatabase {
    // MARK: Staff

    /// Adds a member of staff; the id must be new.
    public func addStaff(_ staff: StaffRecord) throws(FiscalError) -> StaffRecord {
        if let problem = StaffIDRule.problem(staff.id) { throw FiscalError(.formatInvalid, problem) }
        guard (1...128).contains(staff.displayName.count) else {
            throw FiscalError(.formatInvalid, "a display name is 1 to 128 characters")
        }
        return try staffError {
            try pool.write { db in
                if try Self.staffRow(db, staff.id) != nil {
                    throw FiscalError(.configInvalid, "staff \(staff.id) is already registered")
                }
                let now = Self.now()
                try db.execute(
                    sql: """
                        INSERT INTO staff (id, display_name, role, active, created_at, modified_at)
                        VALUES (?, ?, ?, 1, ?, ?)
                        """,
                    arguments: [staff.id, staff.displayName, staff.role.rawValue, now, now]
                )
                guard let added = try Self.staffRow(db, staff.id) else {
                    throw FiscalError(.storeUnavailable, "the store lost staff \(staff.id) it had just written")
                }
                return added
            }
        }
    }

    /// Activates or deactivates a member of staff (nobody is deleted: reports name them).
    @discardableResult
    public func setStaffActive(_ id: String, _ active: Bool) throws(FiscalError) -> StaffRecord {
        try staffError {
            try pool.write { db in
                guard try Self.staffRow(db, id) != nil else {
                    throw FiscalError(.staffUnknown, "staff \(id) is not registered")
                }
                try db.execute(
                    sql: "UPDATE staff SET active = ?, modified_at = ? WHERE id = ?",
                    arguments: [active, Self.now(), id]
                )
                guard let updated = try Self.staffRow(db, id) else {
                    throw FiscalError(.storeUnavailable, "the store lost staff \(id) it had just written")
                }
                return updated
            }
        }
    }

    /// Every member of staff, by id.
    public func staff() async throws -> [StaffRecord] {
        try await pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM staff ORDER BY id").map(StaffRecord.init) }
    }

    /// One member of staff, if registered.
    public func staffMember(_ id: String) async throws -> StaffRecord? {
        try await pool.read { db in try Self.staffRow(db, id) }
    }

    /// Whether `id` may work here: one read.
    public func standing(of id: String) async throws -> StaffStanding {
        try await pool.read { db in try Self.standing(db, id) }
    }

    static func standing(_ db: Database, _ id: String) throws -> StaffStanding {
        if let staff = try staffRow(db, id) { return staff.active ? .active(staff) : .inactive(staff) }
        let any = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM staff)") ?? false
        return any ? .unknown : .registryUnused
    }

    static func staffRow(_ db: Database, _ id: String) throws -> StaffRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM staff WHERE id = ?"), arguments: [id])
            .map(StaffRecord.init(row:))
    }

    // MARK: Work periods

    /// Opens `terminal`'s work period with `openingFloat`, opened by `openedBy` (a staff id the
    /// caller has checked). The cashier logged in there, if any, moves into it. A second one is
    /// WORK_PERIOD_OPEN, and nothing changes.
    public func openPeriod(
        at terminal: TerminalID,
        openedBy: String,
        openingFloat: CurrencyAmounts
    ) async throws(FiscalError) -> WorkPeriodRecord {
        let floatJSON = openingFloat.storedJSON()
        return try await shopDayError {
            try await self.durableWrite { db in
                var day = try Self.dayState(db, terminal)
                guard case .openPeriod(let adopting) = try day.handle(.openPeriod) else {
                    preconditionFailure("OPEN_PERIOD decides to open a period or refuses")
                }
                let now = Self.now()
                try db.execute(
                    sql:
                        "INSERT INTO work_period (terminal_id, opened_by, opened_at, opening_float) VALUES (?, ?, ?, ?)",
                    arguments: [terminal.rawValue, openedBy, now, floatJSON]
                )
                let id = db.lastInsertedRowID
                if let adopting {
                    try db.execute(
                        sql: "UPDATE cashier_session SET period_id = ? WHERE id = ?",
                        arguments: [id, adopting.rawValue]
                    )
                }
                try Self.insertEvent(db, terminal, "period_opened", "period \(id) by \(openedBy)")
                return try Self.written(Self.periodRow(db, WorkPeriodID(id)), "work period \(id)")
            }
        }
    }

    /// Closes work period `id`, by `closedBy`, with its open session. A period that is not open
    /// (closed already, or never there) is WORK_PERIOD_CLOSED, and nothing changes. The Z report
    /// (next issue) calls this inside its own record's transaction.
    public func closePeriod(_ id: WorkPeriodID, closedBy: String) async throws(FiscalError) -> WorkPeriodRecord {
        try await shopDayError {
            try await self.durableWrite { db in try Self.closePeriod(db, id, closedBy: closedBy) }
        }
    }

    /// ``closePeriod(_:closedBy:)`` in the caller's transaction.
    static func closePeriod(_ db: Database, _ id: WorkPeriodID, closedBy: String) throws -> WorkPeriodRecord {
        guard let period = try periodRow(db, id) else {
            throw FiscalError(.workPeriodClosed, "work period \(id) does not exist")
        }
        let terminal = TerminalID(period.terminalID)
        var day = try dayState(db, terminal)
        guard case .closePeriod(_, let session) = try day.handle(.closePeriod(id)) else {
            preconditionFailure("closing decides to close or refuses")
        }
        let now = now()
        if let session {
            try db.execute(
                sql: "UPDATE cashier_session SET closed_at = ?, close_reason = ? WHERE id = ?",
                arguments: [now, "period closed", session.rawValue]
            )
        }
        try db.execute(
            sql: "UPDATE work_period SET closed_by = ?, closed_at = ? WHERE id = ?",
            arguments: [closedBy, now, id.rawValue]
        )
        try insertEvent(db, terminal, "period_closed", "period \(id) by \(closedBy)")
        return try written(periodRow(db, id), "work period \(id)")
    }

    /// The registry entry for `code` and, when `withDay`, its day (open period and session), in
    /// one read: the intake's one read per message, so attributing a sale costs no extra trip.
    public func terminalRecord(
        _ code: TerminalID,
        withDay: Bool
    ) async throws -> (TerminalRecord?, TerminalDay.StateMachine?) {
        try await pool.read { db in
            guard let record = try Self.terminalRow(db, code) else { return (nil, nil) }
            return (record, withDay ? try Self.dayState(db, code) : nil)
        }
    }

    /// What a refund or credit note of fiscal number `seq` is checked against: the original
    /// invoice as sealed here (from the request ledger, which pruning keeps) with its outlet,
    /// and the totals of the other refunds and credit notes of it that are sealed or on their
    /// way (all but aborted and failed ones), excluding `key` itself (a retry).
    public func refundBasis(
        of seq: InvoiceSeq,
        excluding key: RequestKey
    ) async throws -> (original: Invoice, outletID: String, earlier: [Invoice])? {
        try await pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT payload, outlet_id FROM request WHERE invoice_seq = ? AND state = 'sealed' LIMIT 1",
                    arguments: [seq.int64Value]
                )
            else { return nil }
            let payload = row["payload"] as Data
            guard !payload.isEmpty else { return nil }  // adopted from the journal: no invoice held
            let original = try JSONDecoder().decode(Invoice.self, from: payload)
            let earlier = try Row.fetchAll(
                db,
                sql: """
                    SELECT payload FROM request WHERE reference_seq = ? AND state NOT IN ('aborted', 'failed')
                    AND NOT (terminal_id = ? AND request_id = ?)
                    """,
                arguments: [seq.int64Value, key.terminal.rawValue, key.request.rawValue]
            ).map { try JSONDecoder().decode(Invoice.self, from: $0["payload"] as Data) }
            return (original, row["outlet_id"], earlier)
        }
    }

    /// Records a cash event at `terminal`, attributed to its open period and session. The same
    /// `event_id` with the same content is a replay (`replayed: true`, nothing written); with
    /// other content it is IDEMPOTENCY_CONFLICT.
    public func recordCashEvent(
        _ event: CashEvent,
        at terminal: TerminalID
    ) async throws(FiscalError) -> (record: CashEventRecord, replayed: Bool) {
        let digest = Self.digest(event)
        return try await shopDayError {
            try await self.durableWrite { db in
                if let row = try Row.fetchOne(
                    db,
                    sql: "SELECT * FROM cash_event WHERE terminal_id = ? AND event_id = ?",
                    arguments: [terminal.rawValue, event.eventID]
                ) {
                    guard row["digest"] as String == digest else {
                        throw FiscalError(
                            .idempotencyConflict,
                            "cash event \(event.eventID) was recorded with other content"
                        )
                    }
                    return (CashEventRecord(row: row), true)
                }
                var day = try Self.dayState(db, terminal)
                guard case .attribute(let period?, let session?) = try day.handle(.cashEvent),
                    let cashier = day.session?.cashier
                else { preconditionFailure("a cash event is attributed to a period and a session, or refused") }
                try db.execute(
                    sql: """
                        INSERT INTO cash_event (terminal_id, event_id, period_id, session_id, cashier_id, kind, amount,
                                                currency, reason, digest, recorded_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        terminal.rawValue, event.eventID, period.rawValue, session.rawValue, cashier, event.kind,
                        event.amount?.canonicalText, event.currency, event.reason, digest, Self.now(),
                    ]
                )
                let id = db.lastInsertedRowID
                let row = try Row.fetchOne(db, sql: "SELECT * FROM cash_event WHERE id = ?", arguments: [id])
                return (CashEventRecord(row: try Self.written(row, "cash event \(event.eventID)")), false)
            }
        }
    }

    private static func digest(_ event: CashEvent) -> String {
        var json = CanonicalJSON()
        json.beginObject()
        json.key("amount")
        if let amount = event.amount { json.string(amount.canonicalText) } else { json.null() }
        json.key("currency")
        if let currency = event.currency { json.string(currency) } else { json.null() }
        json.key("kind")
        json.string(event.kind)
        json.key("reason")
        if let reason = event.reason { json.string(reason) } else { json.null() }
        json.endObject()
        return SHA256.hex(json.bytes)
    }

    /// The open work period at `terminal`, if any, with its open session.
    public func openPeriod(at terminal: TerminalID) async throws -> (WorkPeriodRecord, CashierSession?)? {
        try await pool.read { db in
            guard let period = try Self.openPeriodRow(db, terminal) else { return nil }
            let session = try Self.openSession(db, terminal)
            return (period, session?.periodID == period.id.rawValue ? session : nil)
        }
    }

    /// Work periods, newest first (of one terminal, or of all).
    public func workPeriods(at terminal: TerminalID? = nil, limit: Int = 100) async throws -> [WorkPeriodRecord] {
        try await pool.read { db in
            let rows =
                if let terminal {
                    try Row.fetchAll(
                        db,
                        sql: "SELECT * FROM work_period WHERE terminal_id = ? ORDER BY id DESC LIMIT ?",
                        arguments: [terminal.rawValue, limit]
                    )
                } else {
                    try Row.fetchAll(db, sql: "SELECT * FROM work_period ORDER BY id DESC LIMIT ?", arguments: [limit])
                }
            return try rows.map(WorkPeriodRecord.init(row:))
        }
    }

    /// One work period with its sessions, cash events and sealed fiscal numbers.
    public func workPeriod(_ id: WorkPeriodID) async throws -> WorkPeriodDetail? {
        try await pool.read { db in
            guard let period = try Self.periodRow(db, id) else { return nil }
            let sessions = try Row.fetchAll(
                db,
                sql: "SELECT * FROM cashier_session WHERE period_id = ? ORDER BY id",
                arguments: [id.rawValue]
            ).map(CashierSession.init(row:))
            let events = try Row.fetchAll(
                db,
                sql: "SELECT * FROM cash_event WHERE period_id = ? ORDER BY id",
                arguments: [id.rawValue]
            ).map(CashEventRecord.init(row:))
            let seqs = try Int64.fetchAll(
                db,
                sql: "SELECT invoice_seq FROM sealed_invoice WHERE period_id = ? ORDER BY invoice_seq",
                arguments: [id.rawValue]
            ).compactMap(UInt64.init(exactly:))
            return WorkPeriodDetail(period: period, sessions: sessions, cashEvents: events, invoiceSeqs: seqs)
        }
    }

    /// Sealed invoices of one work period, in fiscal-number order.
    public func sealedInvoices(inPeriod id: WorkPeriodID) async throws -> [SealedInvoice] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM sealed_invoice WHERE period_id = ? ORDER BY invoice_seq",
                arguments: [id.rawValue]
            ).map(Self.sealed)
        }
    }

    /// Cash events of one work period, in the order they were recorded.
    public func cashEvents(inPeriod id: WorkPeriodID) async throws -> [CashEventRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM cash_event WHERE period_id = ? ORDER BY id",
                arguments: [id.rawValue]
            )
            .map(CashEventRecord.init(row:))
        }
    }

    // MARK: Rows

    /// The terminal's day as the state machine sees it: its open period and open session.
    /// Two indexed lookups of the columns the machine needs, nothing decoded: it is on every
    /// sale's path.
    static func dayState(_ db: Database, _ terminal: TerminalID) throws -> TerminalDay.StateMachine {
        let period = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT id FROM work_period WHERE terminal_id = ? AND closed_at IS NULL"),
            arguments: [terminal.rawValue]
        ).map { WorkPeriodID($0) }
        let session = try Row.fetchOne(
            db.cachedStatement(
                sql: "SELECT id, cashier_id, period_id FROM cashier_session WHERE terminal_id = ? AND closed_at IS NULL"
            ),
            arguments: [terminal.rawValue]
        ).map { row in
            TerminalDay.StateMachine.Session(
                id: CashierSessionID(row["id"] as Int64),
                cashier: row["cashier_id"],
                period: (row["period_id"] as Int64?).map { WorkPeriodID($0) }
            )
        }
        return TerminalDay.StateMachine(period: period, session: session)
    }

    static func periodRow(_ db: Database, _ id: WorkPeriodID) throws -> WorkPeriodRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM work_period WHERE id = ?"), arguments: [id.rawValue])
            .map(WorkPeriodRecord.init(row:))
    }

    static func openPeriodRow(_ db: Database, _ terminal: TerminalID) throws -> WorkPeriodRecord? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM work_period WHERE terminal_id = ? AND closed_at IS NULL"),
            arguments: [terminal.rawValue]
        ).map(WorkPeriodRecord.init(row:))
    }

    /// A store failure as STORE_UNAVAILABLE; the domain's refusals as they are.
    func shopDayError<T>(_ body: () async throws -> T) async throws(FiscalError) -> T {
        do { return try await body() } catch let error as FiscalError { throw error } catch {
            throw FiscalError(.storeUnavailable, "the store failed: \(error)")
        }
    }

    func staffError<T>(_ body: () throws -> T) throws(FiscalError) -> T {
        do { return try body() } catch let error as FiscalError { throw error } catch {
            throw FiscalError(.storeUnavailable, "the store failed: \(error)")
        }
    }
}
