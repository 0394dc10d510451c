public import FiscalCore
import Foundation
import GRDB
public import Reports

/// What a combined Z is about to close, checked before the device's own Z is asked for.
public struct CombinedZPlan: Sendable, Hashable {
    /// The Zs taken since the last combined Z, by number, with their terminals.
    public var zs: [String]
    public var terminals: [String]
    /// Staff id and name of who takes it.
    public var takenBy: String
    public var takenByName: String?
}

extension MediatorDatabase {
    /// The Zs no combined Z covers yet: those stored after the last CZ (rowid order is the
    /// order they were stored in, whatever the clocks said).
    static func unreferencedZs(_ db: Database) throws -> [(number: String, terminal: String, body: String)] {
        try Row.fetchAll(
            db,
            sql: """
                SELECT number, terminal_id, body FROM report WHERE kind = 'Z'
                AND rowid > COALESCE((SELECT MAX(rowid) FROM report WHERE kind = 'CZ'), 0) ORDER BY rowid
                """
        ).map { ($0["number"], $0["terminal_id"], $0["body"]) }
    }

    /// The device range the last combined Z closed: its device Z's last fiscal number.
    static func lastClosedSeq(_ db: Database) throws -> UInt64 {
        guard
            let body = try String.fetchOne(
                db,
                sql: "SELECT body FROM report WHERE kind = 'CZ' ORDER BY sequence DESC LIMIT 1"
            )
        else { return 0 }
        return try ReportRecord.decode(body: body).deviceDay?.lastSeq ?? 0
    }

    // MARK: Combined X

    /// The store's day so far over `terminals` (all registered, active ones by default): per
    /// terminal, its Zs since the last combined Z and its open period's figures now. Free and
    /// unnumbered, unless `takenBy` takes a numbered CX.
    public func combinedX(
        terminals selection: [TerminalID]? = nil,
        takenBy: String? = nil,
        settings: ReportSettings
    ) async throws(FiscalError) -> ReportRecord {
        try await shopDayError {
            let body: @Sendable (Database) throws -> ReportRecord = { db in
                let now = Self.now()
                let codes: [String]
                if let selection {
                    for code in selection where try Self.terminalRow(db, code) == nil {
                        throw FiscalError(.notRegistered, "\(code) is not a registered terminal")
                    }
                    codes = Array(Set(selection.map(\.rawValue))).sorted()  // a terminal named twice counts once
                } else {
                    codes = try String.fetchAll(db, sql: "SELECT code FROM terminal WHERE active = 1 ORDER BY code")
                }
                let zs = try Self.unreferencedZs(db)
                var parts: [CombinedFigures.TerminalPart] = []
                var included: [String] = []
                for code in codes {
                    var figures: [ReportFigures] = []
                    var reports: [String] = []
                    for z in zs where z.terminal == code {
                        if let zFigures = try ReportRecord.decode(body: z.body).figures {
                            figures.append(zFigures)
                            reports.append(z.number)
                        }
                    }
                    if let period = try Self.openPeriodRow(db, TerminalID(code)) {
                        figures.append(try ReportFigures.compute(try Self.reportInput(db, period), asOf: now))
                        reports.append("X-PREVIEW")
                    }
                    included += reports.filter { $0 != "X-PREVIEW" }
                    parts.append(
                        CombinedFigures.TerminalPart(
                            terminal: code,
                            reports: reports,
                            figures: try ReportFigures.merge(figures, terminal: code, asOf: now)
                        )
                    )
                }
                var record = ReportRecord(
                    number: takenBy == nil ? "CX-PREVIEW" : "",
                    kind: .cx,
                    sequence: 0,
                    terminal: nil,
                    periodID: nil,
                    generatedAt: now,
                    generatedBy: takenBy ?? "",
                    generatedByName: try takenBy.flatMap { try Self.staffRow(db, $0)?.displayName },
                    businessName: settings.businessName
                )
                record.combined = try CombinedFigures.combine(parts, asOf: now)
                record.includedReports = included
                if let takenBy {
                    _ = try Self.requireRole(db, takenBy, as: "taken_by", for: .combinedX)
                    try Self.store(db, &record)
                    try Self.insertEvent(db, TerminalID("*"), "cx_report", "\(record.number) by \(takenBy)")
                }
                return record
            }
            return takenBy == nil ? try await self.pool.read(body) : try await self.durableWrite(body)
        }
    }

    // MARK: Combined Z

    /// Checks that the day can be closed by `takenBy` (a manager or an admin): no request on
    /// its way anywhere, no terminal with an open period that sold, and something to close
    /// (a Z or a sale since the last combined Z). Changes nothing; what it returns is what the
    /// combined Z will reference.
    public func planCombinedZ(takenBy: String) async throws(FiscalError) -> CombinedZPlan {
        try await shopDayError {
            try await self.pool.read { db in
                let staff = try Self.requireRole(db, takenBy, as: "taken_by", for: .combinedZ)
                let busy = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT terminal_id, request_id, state FROM request
                        WHERE state IN ('queued', 'prepared', 'committing', 'in_doubt') ORDER BY created_at LIMIT 11
                        """
                ).map { "\($0["terminal_id"] as String)/\($0["request_id"] as String) (\($0["state"] as String))" }
                if !busy.isEmpty {
                    throw FiscalError(
                        .periodBusy,
                        "requests are on their way: \(busy.prefix(10).joined(separator: ", ")); finish or abort them first"
                    )
                }
                let open = try String.fetchAll(
                    db,
                    sql: """
                        SELECT DISTINCT p.terminal_id FROM work_period p
                        WHERE p.closed_at IS NULL AND EXISTS (SELECT 1 FROM request r WHERE r.period_id = p.id AND r.state = 'sealed')
                        ORDER BY p.terminal_id
                        """
                )
                if !open.isEmpty {
                    throw FiscalError(
                        .dayNotClosed,
                        "terminals that sold are still open: \(open.joined(separator: ", ")); take their Z first"
                    )
                }
                let zs = try Self.unreferencedZs(db)
                let closed = try Self.lastClosedSeq(db)
                let newest =
                    try Int64.fetchOne(db, sql: "SELECT MAX(invoice_seq) FROM request WHERE state = 'sealed'") ?? 0
                if zs.isEmpty && UInt64(max(newest, 0)) <= closed {
                    throw FiscalError(
                        .dayAlreadyClosed,
                        "no Z and no sale since the last combined Z (through fiscal number \(closed))"
                    )
                }
                return CombinedZPlan(
                    zs: zs.map(\.number),
                    terminals: Array(Set(zs.map(\.terminal))).sorted(),
                    takenBy: takenBy,
                    takenByName: staff?.displayName
                )
            }
        }
    }

    /// Records the combined Z for `device` (the device's own Z, already taken and stored): in
    /// one transaction, the Zs since the last combined Z are summed, compared with the device's
    /// figures over the same fiscal numbers, and the record (both sides, the verdict and the
    /// differences) numbered, hashed, chained and queued for the cloud. A device Z already
    /// recorded is not recorded twice: the existing record is returned.
    public func recordCombinedZ(
        device: DeviceDay,
        takenBy: String,
        settings: ReportSettings,
        intent: Int64? = nil,
        deviceUnreadable: String? = nil
    ) async throws(FiscalError) -> ReportRecord {
        try await shopDayError {
            try await self.durableWrite { db in
                for body in try String.fetchAll(db, sql: "SELECT body FROM report WHERE kind = 'CZ'") {
                    let record = try ReportRecord.decode(body: body)
                    if record.deviceDay?.zNumber == device.zNumber && record.deviceDay?.deviceID == device.deviceID {
                        try Self.resolveCombinedIntent(db, intent, "done", record.number)
                        return record
                    }
                }
                let now = Self.now()
                let zs = try Self.unreferencedZs(db)
                var parts: [CombinedFigures.TerminalPart] = []
                var zFigures: [ReportFigures] = []
                var periods: [Int64] = []
                for terminal in Array(Set(zs.map(\.terminal))).sorted() {
                    var figures: [ReportFigures] = []
                    var numbers: [String] = []
                    for z in zs where z.terminal == terminal {
                        let record = try ReportRecord.decode(body: z.body)
                        guard let part = record.figures else { continue }
                        figures.append(part)
                        numbers.append(z.number)
                        if let period = record.periodID { periods.append(period) }
                    }
                    zFigures += figures
                    parts.append(
                        CombinedFigures.TerminalPart(
                            terminal: terminal,
                            reports: numbers,
                            figures: try ReportFigures.merge(figures, terminal: terminal, asOf: now)
                        )
                    )
                }
                let seqs = try Self.sealedSeqs(db, periods: periods)
                var reconciliation = try DayReconciliation.compare(zs: zFigures, seqs: seqs, device: device) { seq in
                    try Self.explain(db, seq)
                }
                if let deviceUnreadable {
                    // The device closed its day, but its Z could not be read: a mismatch, said so.
                    reconciliation.verdict = .mismatch
                    reconciliation.differences.insert(
                        DayReconciliation.Difference(item: "device Z", registers: "-", device: deviceUnreadable),
                        at: 0
                    )
                }
                var record = ReportRecord(
                    number: "",
                    kind: .cz,
                    sequence: 0,
                    terminal: nil,
                    periodID: nil,
                    generatedAt: now,
                    generatedBy: takenBy,
                    generatedByName: try Self.staffRow(db, takenBy)?.displayName,
                    businessName: settings.businessName
                )
                record.combined = try CombinedFigures.combine(parts, asOf: now)
                record.includedReports = zs.map(\.number)
                record.deviceDay = device
                record.dayReconciliation = reconciliation
                try Self.store(db, &record)
                try Self.insertEvent(
                    db,
                    TerminalID("*"),
                    "cz_report",
                    "\(record.number) by \(takenBy): device Z \(device.zNumber), \(reconciliation.verdict.rawValue)"
                )
                try db.execute(
                    sql:
                        "INSERT INTO report_outbox (number, kind, terminal_id, sequence, enqueued_at) VALUES (?, ?, NULL, ?, ?)",
                    arguments: [record.number, record.kind.rawValue, record.sequence, now]
                )
                try Self.resolveCombinedIntent(db, intent, "done", record.number)
                return record
            }
        }
    }

    /// A combined Z on its way, written durably before the device is asked for its Z: after a
    /// crash, the next start finds it and completes the combined Z from the device's Z (stored
    /// by the device core, or read back), or drops it if the device never closed its day.
    public struct CombinedIntent: Sendable, Hashable {
        public var id: Int64
        public var takenBy: String
        /// The number of the last device Z stored before (0: none).
        public var deviceZBefore: UInt64
        public var createdAt: String
    }

    /// Writes the intent; one may be pending at a time (a second is PERIOD_BUSY).
    public func beginCombinedZ(takenBy: String, deviceZBefore: UInt64) async throws(FiscalError) -> CombinedIntent {
        try await shopDayError {
            try await self.durableWrite { db in
                if try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM combined_intent WHERE state = 'pending')")
                    == true
                {
                    throw FiscalError(.periodBusy, "another combined Z is on its way")
                }
                let now = Self.now()
                try db.execute(
                    sql:
                        "INSERT INTO combined_intent (taken_by, device_z_before, state, created_at) VALUES (?, ?, 'pending', ?)",
                    arguments: [takenBy, Int64(clamping: deviceZBefore), now]
                )
                return CombinedIntent(
                    id: db.lastInsertedRowID,
                    takenBy: takenBy,
                    deviceZBefore: deviceZBefore,
                    createdAt: now
                )
            }
        }
    }

    /// The pending combined Z, if a run ended in the middle of one.
    public func pendingCombinedIntent() async throws(FiscalError) -> CombinedIntent? {
        try await shopDayError {
            try await self.pool.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM combined_intent WHERE state = 'pending'").map { row in
                    CombinedIntent(
                        id: row["id"],
                        takenBy: row["taken_by"],
                        deviceZBefore: UInt64(clamping: row["device_z_before"] as Int64),
                        createdAt: row["created_at"]
                    )
                }
            }
        }
    }

    /// Drops the intent: the device did not close its day, so there is no combined Z to record.
    public func dropCombinedIntent(_ id: Int64) async throws(FiscalError) {
        try await shopDayError {
            try await self.durableWrite { db in try Self.resolveCombinedIntent(db, id, "dropped", nil) }
        }
    }

    static func resolveCombinedIntent(_ db: Database, _ id: Int64?, _ state: String, _ number: String?) throws {
        guard let id else { return }
        try db.execute(
            sql:
                "UPDATE combined_intent SET state = ?, report_number = ?, resolved_at = ? WHERE id = ? AND state = 'pending'",
            arguments: [state, number, now(), id]
        )
    }

    /// The last combined Z's verdict, for `/alerts` (REPORT_MISMATCH while it is a mismatch).
    public func lastCombinedZ() async throws -> ReportRecord? {
        let body = try await pool.read { db in
            try String.fetchOne(db, sql: "SELECT body FROM report WHERE kind = 'CZ' ORDER BY sequence DESC LIMIT 1")
        }
        return try body.map { body throws(FiscalError) in try ReportRecord.decode(body: body) }
    }

    /// The fiscal numbers sealed in `periods`, in order.
    static func sealedSeqs(_ db: Database, periods: [Int64]) throws -> [UInt64] {
        guard !periods.isEmpty else { return [] }
        var seqs: [UInt64] = []
        for chunk in stride(from: 0, to: periods.count, by: 500).map({
            Array(periods[$0..<min($0 + 500, periods.count)])
        }) {
            let marks = chunk.map { _ in "?" }.joined(separator: ", ")
            seqs += try Int64.fetchAll(
                db,
                sql: "SELECT invoice_seq FROM request WHERE state = 'sealed' AND period_id IN (\(marks))",
                arguments: StatementArguments(chunk)
            ).compactMap(UInt64.init(exactly:))
        }
        return seqs.sorted()
    }

    /// What the store knows of fiscal number `seq`: the reason it can differ from the device.
    static func explain(_ db: Database, _ seq: UInt64) throws -> String {
        guard let value = Int64(exactly: seq),
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT r.terminal_id, r.request_id, r.period_id, p.closed_at FROM request r
                    LEFT JOIN work_period p ON p.id = r.period_id WHERE r.invoice_seq = ? AND r.state = 'sealed'
                    """,
                arguments: [value]
            )
        else {
            if let value = Int64(exactly: seq),
                try Bool.fetchOne(
                    db,
                    sql: "SELECT EXISTS (SELECT 1 FROM sealed_invoice WHERE invoice_seq = ?)",
                    arguments: [value]
                ) == true
            {
                return
                    "held as a sealed invoice with no request: adopted from the device's journal, sealed behind the mediator"
            }
            return
                "the store has no invoice with this number: sealed at the device behind the mediator, or not yet adopted"
        }
        let terminal = row["terminal_id"] as String
        guard let period = row["period_id"] as Int64? else {
            return "sealed for \(terminal) outside any work period (request \(row["request_id"] as String))"
        }
        if row["closed_at"] as String? == nil {
            return "sealed for \(terminal) in work period \(period), which is still open"
        }
        return "sealed for \(terminal) in work period \(period), whose Z an earlier combined Z covered"
    }
}
