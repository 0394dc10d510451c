public import FiscalCore
import Foundation
import GRDB
public import Reports

/// What a Z is asked to do (`CLOSE_PERIOD`, `report z`, `period force-close`).
public struct ZRequest: Sendable, Hashable {
    public var terminal: TerminalID
    /// Staff id of who closes: supervisor, manager or admin (admin for a forced close).
    public var closedBy: String
    public var count: CashCount?
    public var explanation: String?
    /// `period force-close`: an admin's emergency close, with its reason; the count is optional.
    public var forceReason: String?

    public init(
        terminal: TerminalID,
        closedBy: String,
        count: CashCount?,
        explanation: String? = nil,
        forceReason: String? = nil
    ) {
        self.terminal = terminal
        self.closedBy = closedBy
        self.count = count
        self.explanation = explanation
        self.forceReason = forceReason
    }

    public var forced: Bool { forceReason != nil }
}

/// A stored report's summary, for lists.
public struct ReportSummary: Sendable, Hashable, Codable {
    public var number: String
    public var kind: ReportKind
    public var terminal: String?
    public var periodID: Int64?
    public var cashier: String?
    public var generatedAt: String
    public var generatedBy: String
    public var hash: String

    enum CodingKeys: String, CodingKey {
        case number, kind, terminal
        case periodID = "period_id"
        case cashier
        case generatedAt = "generated_at"
        case generatedBy = "generated_by"
        case hash
    }
}

extension MediatorDatabase {
    /// Reports (docs/REPORTS.md): numbered records, immutable by trigger, gap-free per terminal
    /// and kind (a counter that only grows, in the record's own transaction), hashed and chained;
    /// the Zs' sync outbox; and sealed invoices made immutable too, except through pruning, which
    /// now leaves an append-only `prune_log` row that the delete trigger checks.
    static let reportSchema = """
        CREATE TABLE report (
            number TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            terminal_id TEXT,
            sequence INTEGER NOT NULL,
            period_id INTEGER,
            cashier_id TEXT,
            generated_at TEXT NOT NULL,
            generated_by TEXT NOT NULL,
            body TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE UNIQUE INDEX report_chain ON report(kind, COALESCE(terminal_id, ''), sequence);
        CREATE UNIQUE INDEX report_period_z ON report(period_id) WHERE kind = 'Z';
        CREATE INDEX report_generated ON report(kind, generated_at);
        CREATE TRIGGER report_no_update BEFORE UPDATE ON report
            BEGIN SELECT RAISE(ABORT, 'reports are immutable'); END;
        CREATE TRIGGER report_no_delete BEFORE DELETE ON report
            BEGIN SELECT RAISE(ABORT, 'reports are immutable'); END;
        CREATE TABLE report_counter (
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            last INTEGER NOT NULL,
            last_hash TEXT,
            PRIMARY KEY (kind, scope)
        );
        CREATE TRIGGER report_counter_only_grows BEFORE UPDATE ON report_counter
            WHEN NEW.last < OLD.last OR (NEW.last = OLD.last AND OLD.last_hash IS NOT NULL)
            BEGIN SELECT RAISE(ABORT, 'report counters only grow'); END;
        CREATE TRIGGER report_counter_no_delete BEFORE DELETE ON report_counter
            BEGIN SELECT RAISE(ABORT, 'report counters only grow'); END;
        CREATE TABLE report_outbox (
            number TEXT PRIMARY KEY REFERENCES report(number),
            kind TEXT NOT NULL,
            terminal_id TEXT,
            sequence INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            enqueued_at TEXT NOT NULL,
            uploaded_at TEXT
        );
        CREATE INDEX report_outbox_state ON report_outbox(state, kind, terminal_id, sequence);
        CREATE TABLE prune_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            after_seq INTEGER NOT NULL,
            through_seq INTEGER NOT NULL,
            at TEXT NOT NULL
        );
        CREATE TRIGGER prune_log_no_update BEFORE UPDATE ON prune_log
            BEGIN SELECT RAISE(ABORT, 'the prune log is append-only'); END;
        CREATE TRIGGER prune_log_no_delete BEFORE DELETE ON prune_log
            BEGIN SELECT RAISE(ABORT, 'the prune log is append-only'); END;
        CREATE TRIGGER sealed_invoice_no_update BEFORE UPDATE ON sealed_invoice
            BEGIN SELECT RAISE(ABORT, 'sealed invoices are immutable'); END;
        CREATE TRIGGER sealed_invoice_no_delete BEFORE DELETE ON sealed_invoice
            WHEN OLD.invoice_seq > COALESCE((SELECT MAX(through_seq) FROM prune_log), 0)
            BEGIN SELECT RAISE(ABORT, 'sealed invoices are deleted only by pruning what the cloud confirmed'); END;
        CREATE INDEX request_period ON request(period_id, invoice_seq) WHERE period_id IS NOT NULL;
        CREATE TABLE combined_intent (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            taken_by TEXT NOT NULL,
            device_z_before INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'dropped')),
            report_number TEXT,
            created_at TEXT NOT NULL,
            resolved_at TEXT
        );
        CREATE UNIQUE INDEX combined_intent_pending ON combined_intent(state) WHERE state = 'pending';
        """

    /// Requests still on their way at `terminal` (what a Z waits for).
    static let inFlightStates = ["queued", "prepared", "committing", "in_doubt"]

    // MARK: Inputs

    /// What `period`'s reports are computed from, in the caller's transaction: the period, its
    /// sessions with names, its sealed invoices (from the request ledger, which pruning keeps)
    /// with their contexts, and its cash events.
    static func reportInput(_ db: Database, _ period: WorkPeriodRecord) throws -> ReportInput {
        let sessions = try Row.fetchAll(
            db,
            sql: """
                SELECT s.id, s.cashier_id, s.opened_at, s.closed_at, st.display_name FROM cashier_session s
                LEFT JOIN staff st ON st.id = s.cashier_id WHERE s.period_id = ? ORDER BY s.id
                """,
            arguments: [period.id.rawValue]
        ).map { row in
            ReportInput.Session(
                id: row["id"],
                cashierID: row["cashier_id"],
                cashierName: row["display_name"],
                openedAt: row["opened_at"],
                closedAt: row["closed_at"]
            )
        }
        let decoder = JSONDecoder()
        var invoices: [ReportInput.Sealed] = []
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT r.invoice_seq, r.session_id, r.payload, r.sale_context, COALESCE(s.sealed_at, r.updated_at) AS at
                FROM request r LEFT JOIN sealed_invoice s ON s.invoice_seq = r.invoice_seq
                WHERE r.period_id = ? AND r.state = 'sealed' ORDER BY r.invoice_seq
                """,
            arguments: [period.id.rawValue]
        )
        while let row = try rows.next() {
            guard let seq = (row["invoice_seq"] as Int64?).flatMap(UInt64.init(exactly:)) else {
                throw FiscalError(.storeUnavailable, "a sealed request of period \(period.id) has no fiscal number")
            }
            let payload = row["payload"] as Data
            guard !payload.isEmpty else {
                throw FiscalError(.storeUnavailable, "sealed invoice \(seq) of period \(period.id) has no payload")
            }
            let invoice: Invoice
            let context: SaleContext?
            do {
                invoice = try decoder.decode(Invoice.self, from: payload)
                context = try (row["sale_context"] as String?).map {
                    try decoder.decode(SaleContext.self, from: Data($0.utf8))
                }
            } catch {
                throw FiscalError(.storeUnavailable, "sealed invoice \(seq) does not decode: \(error)")
            }
            invoices.append(
                ReportInput.Sealed(
                    seq: seq,
                    sessionID: row["session_id"],
                    sealedAt: row["at"],
                    invoice: invoice,
                    context: context
                )
            )
        }
        let events = try Row.fetchAll(
            db,
            sql:
                "SELECT kind, amount, currency, session_id, cashier_id FROM cash_event WHERE period_id = ? ORDER BY id",
            arguments: [period.id.rawValue]
        ).map { row throws -> ReportInput.Event in
            let kind = row["kind"] as String
            guard let known = CashEvent.Kind(rawValue: kind) else {
                throw FiscalError(.storeUnavailable, "a cash event of period \(period.id) has unknown kind \(kind)")
            }
            return ReportInput.Event(
                kind: known,
                amount: (row["amount"] as String?).flatMap(Money.init(decimalText:)),
                currency: row["currency"],
                sessionID: row["session_id"],
                cashierID: row["cashier_id"]
            )
        }
        return ReportInput(
            terminal: period.terminalID,
            periodID: period.id.rawValue,
            openedBy: period.openedBy,
            openedAt: period.openedAt,
            closedAt: period.closedAt,
            openingFloat: period.openingFloat,
            sessions: sessions,
            invoices: invoices,
            events: events
        )
    }

    // MARK: X

    /// The X figures of `terminal`'s open period (or of one cashier in it), computed from one
    /// read. A preview is free and unnumbered; ``takeX(at:cashier:by:settings:)`` numbers one.
    public func previewX(
        at terminal: TerminalID,
        cashier: String? = nil,
        settings: ReportSettings
    ) async throws(FiscalError) -> ReportRecord {
        try await shopDayError {
            try await self.pool.read { db in
                try Self.xRecord(db, terminal, cashier, by: "", settings, numbered: false)
            }
        }
    }

    /// An X taken: numbered, stored and logged, like a preview otherwise. Nothing closes.
    public func takeX(
        at terminal: TerminalID,
        cashier: String? = nil,
        by: String,
        settings: ReportSettings
    ) async throws(FiscalError) -> ReportRecord {
        try await shopDayError {
            try await self.durableWrite { db in
                var record = try Self.xRecord(db, terminal, cashier, by: by, settings, numbered: true)
                try Self.store(db, &record)
                try Self.insertEvent(db, terminal, "x_report", "\(record.number) by \(by)")
                return record
            }
        }
    }

    static func xRecord(
        _ db: Database,
        _ terminal: TerminalID,
        _ cashier: String?,
        by: String,
        _ settings: ReportSettings,
        numbered: Bool
    ) throws -> ReportRecord {
        guard let period = try openPeriodRow(db, terminal) else {
            throw FiscalError(.workPeriodClosed, "\(terminal) has no open work period")
        }
        let now = now()
        let input = try reportInput(db, period)
        if let cashier, !input.sessions.contains(where: { $0.cashierID == cashier }) {
            throw FiscalError(.staffUnknown, "\(cashier) has no session in work period \(period.id)")
        }
        var figures = try ReportFigures.compute(input, scope: cashier.map { .cashier($0) } ?? .terminal, asOf: now)
        // A blind count would mean nothing if an X showed what the drawer should hold.
        if settings.blindCount { figures.drawer = [] }
        return ReportRecord(
            number: numbered ? "" : "X-PREVIEW",
            kind: .x,
            sequence: 0,
            terminal: terminal.rawValue,
            periodID: period.id.rawValue,
            generatedAt: now,
            generatedBy: by,
            generatedByName: try staffRow(db, by)?.displayName,
            businessName: settings.businessName,
            figures: figures
        )
    }

    // MARK: Z

    /// The Z `request` would produce, without committing anything: the preview a supervisor
    /// checks before confirming. With a blind count and no count yet, the drawer's expected
    /// amounts are left out.
    public func previewZ(
        _ request: ZRequest,
        settings: ReportSettings,
        currencies: [String]
    )
        async throws(FiscalError) -> ReportRecord
    {
        try await shopDayError {
            try await self.pool.read { db in
                try Self.zRecord(db, request, settings, currencies, preview: true)
            }
        }
    }

    /// Takes the Z: in one transaction, checks the preconditions, computes the figures,
    /// reconciles the count, numbers the record gap-free, hashes and chains it, closes the work
    /// period with its open session, logs who did it, and queues the record for the cloud.
    /// A refusal changes nothing.
    public func takeZ(
        _ request: ZRequest,
        settings: ReportSettings,
        currencies: [String]
    )
        async throws(FiscalError) -> ReportRecord
    {
        try await shopDayError {
            // The figures are computed from a read snapshot, so the store's one writer (every
            // sale's seal) never waits for a Z over a long shift. The short write then checks
            // that nothing the figures depend on moved since (the period's watermark); if it
            // did, it computes again, and after two misses inside the write itself.
            for _ in 0..<2 {
                let (planned, mark) = try await self.pool.read { db in
                    let record = try Self.zRecord(db, request, settings, currencies, preview: false)
                    return (record, try Self.watermark(db, record.periodID))
                }
                let committed = try await self.durableWrite { db -> ReportRecord? in
                    guard let period = try Self.openPeriodRow(db, request.terminal),
                        period.id.rawValue == planned.periodID, try Self.watermark(db, planned.periodID) == mark
                    else { return nil }
                    try Self.checkNotBusy(db, request.terminal)
                    var record = planned
                    try Self.commitZ(db, &record, request)
                    return record
                }
                if let committed { return committed }
            }
            return try await self.durableWrite { db in
                var record = try Self.zRecord(db, request, settings, currencies, preview: false)
                try Self.commitZ(db, &record, request)
                return record
            }
        }
    }

    /// What a period's figures depend on, as one string: its sealed requests (count and last
    /// number), its cash events (count and last id) and its sessions (count, last id, closed).
    static func watermark(_ db: Database, _ period: Int64?) throws -> String {
        guard let period else { return "" }
        let sealed = try Row.fetchOne(
            db,
            sql:
                "SELECT COUNT(*) AS n, COALESCE(MAX(invoice_seq), 0) AS m FROM request WHERE period_id = ? AND state = 'sealed'",
            arguments: [period]
        )
        let events = try Row.fetchOne(
            db,
            sql: "SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS m FROM cash_event WHERE period_id = ?",
            arguments: [period]
        )
        let sessions = try Row.fetchOne(
            db,
            sql:
                "SELECT COUNT(*) AS n, COALESCE(MAX(id), 0) AS m, COUNT(closed_at) AS c FROM cashier_session WHERE period_id = ?",
            arguments: [period]
        )
        func text(_ row: Row?, _ keys: [String]) -> String {
            keys.map { "\(row?[$0] as Int64? ?? -1)" }.joined(separator: "/")
        }
        return [text(sealed, ["n", "m"]), text(events, ["n", "m"]), text(sessions, ["n", "m", "c"])].joined(
            separator: ";"
        )
    }

    /// Numbers, stores and chains a computed Z, closes its period with its session, logs who did
    /// it and queues it for the cloud: the commit, in the caller's write transaction.
    static func commitZ(_ db: Database, _ record: inout ReportRecord, _ request: ZRequest) throws {
        try store(db, &record)
        guard let period = record.periodID else { preconditionFailure("a Z names its period") }
        _ = try closePeriod(db, WorkPeriodID(period), closedBy: request.closedBy)
        let what = request.forced ? "forced close: \(request.forceReason ?? "")" : "Z"
        try insertEvent(db, request.terminal, "z_report", "\(record.number) by \(request.closedBy) (\(what))")
        try db.execute(
            sql: "INSERT INTO report_outbox (number, kind, terminal_id, sequence, enqueued_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [record.number, record.kind.rawValue, record.terminal, record.sequence, record.generatedAt]
        )
    }

    /// PERIOD_BUSY when `terminal` has requests on their way, naming them.
    static func checkNotBusy(_ db: Database, _ terminal: TerminalID) throws {
        let busy = try Row.fetchAll(
            db,
            sql: """
                SELECT request_id, state FROM request WHERE terminal_id = ? AND state IN ('queued', 'prepared',
                'committing', 'in_doubt') ORDER BY created_at LIMIT 11
                """,
            arguments: [terminal.rawValue]
        ).map { "\($0["request_id"] as String) (\($0["state"] as String))" }
        if !busy.isEmpty {
            let named = busy.prefix(10).joined(separator: ", ") + (busy.count > 10 ? ", …" : "")
            throw FiscalError(
                .periodBusy,
                "\(terminal) has requests on their way: \(named); finish or abort them first"
            )
        }
    }

    static func zRecord(
        _ db: Database,
        _ request: ZRequest,
        _ settings: ReportSettings,
        _ currencies: [String],
        preview: Bool
    ) throws -> ReportRecord {
        let terminal = request.terminal
        guard let period = try openPeriodRow(db, terminal) else {
            throw FiscalError(.workPeriodClosed, "\(terminal) has no open work period")
        }
        let closer = try requireRole(db, request.closedBy, as: "closed_by", for: request.forced ? .forcedClose : .z)
        try checkNotBusy(db, terminal)
        let now = now()
        let input = try reportInput(db, period)
        var figures = try ReportFigures.compute(input, scope: .terminal, asOf: now)
        var reconciliation: CashReconciliation?
        if let count = request.count {
            let expected = Dictionary(uniqueKeysWithValues: figures.drawer.map { ($0.currency, $0.expected) })
            let problems = count.violations(settings: settings, currencies: currencies, expected: expected)
            if !problems.isEmpty {
                throw FiscalError(.cashCountInvalid, "the cash count does not add up", violations: problems)
            }
            if let explanation = request.explanation, explanation.count > CashReconciliation.maxExplanationLength {
                throw FiscalError(
                    .fieldTooLong,
                    "an explanation is at most \(CashReconciliation.maxExplanationLength) characters"
                )
            }
            reconciliation = try CashReconciliation.reconcile(
                figures,
                count: count,
                settings: settings,
                explanation: request.explanation ?? request.forceReason,
                requireExplanation: !preview
            )
        } else if !request.forced && !preview {
            throw FiscalError(.cashCountInvalid, "a Z needs a cash count (`count`, by denomination per currency)")
        }
        if preview && settings.blindCount {
            // Blind: the cashier counts before seeing what the drawer should hold, and sees the
            // variance only once the count is stored (the Z's reply), never in a preview.
            figures.drawer = []
            reconciliation = nil
        }
        return ReportRecord(
            number: preview ? "Z-PREVIEW" : "",
            kind: .z,
            sequence: 0,
            terminal: terminal.rawValue,
            periodID: period.id.rawValue,
            generatedAt: now,
            generatedBy: request.closedBy,
            generatedByName: closer?.displayName,
            businessName: settings.businessName,
            figures: figures,
            reconciliation: reconciliation,
            blindCount: settings.blindCount,
            forced: request.forced,
            forceReason: request.forceReason
        )
    }

    /// Who may take which report: a Z needs a supervisor, a manager or an admin; a forced close
    /// an admin; a combined X a supervisor or above; a combined Z a manager or an admin.
    enum ReportAction {
        case z, forcedClose, combinedX, combinedZ

        var allowed: Set<StaffRole> {
            switch self {
            case .z, .combinedX: [.supervisor, .manager, .admin]
            case .forcedClose: [.admin]
            case .combinedZ: [.manager, .admin]
            }
        }

        var needs: String {
            switch self {
            case .z: "a Z needs a supervisor or a manager"
            case .forcedClose: "a forced close needs an admin"
            case .combinedX: "a combined X needs a supervisor or a manager"
            case .combinedZ: "a combined Z needs a manager"
            }
        }
    }

    /// The staff member `id` (`field` names it in errors) may take `action`: registered, active,
    /// with the role. An empty staff registry checks nothing (small shops, docs/SHOP_DAY.md).
    static func requireRole(
        _ db: Database,
        _ id: String,
        as field: String,
        for action: ReportAction
    ) throws
        -> StaffRecord?
    {
        if let problem = StaffIDRule.problem(id) { throw FiscalError(.formatInvalid, "\(field): \(problem)") }
        switch try standing(db, id) {
        case .registryUnused:
            return nil
        case .unknown:
            throw FiscalError(.staffUnknown, "\(id) is not registered")
        case .inactive:
            throw FiscalError(.staffUnknown, "\(id) is deactivated")
        case .active(let staff):
            guard action.allowed.contains(staff.role) else {
                throw FiscalError(.roleRequired, "\(action.needs); \(id) is \(staff.role.rawValue)")
            }
            return staff
        }
    }

    /// Numbers `record` (the next of its chain, in this transaction), chains it to the last
    /// report of its kind and terminal, and stores its canonical body and hash.
    static func store(_ db: Database, _ record: inout ReportRecord) throws {
        let scope = record.kind.perTerminal ? (record.terminal ?? "") : ""
        guard
            let sequence = try Int64.fetchOne(
                db,
                sql: """
                    INSERT INTO report_counter (kind, scope, last) VALUES (?, ?, 1)
                    ON CONFLICT (kind, scope) DO UPDATE SET last = last + 1, last_hash = NULL RETURNING last
                    """,
                arguments: [record.kind.rawValue, scope]
            )
        else { throw FiscalError(.storeUnavailable, "the report counter returned nothing") }
        let previous = try Row.fetchOne(
            db,
            sql: """
                SELECT number, hash FROM report WHERE kind = ? AND COALESCE(terminal_id, '') = ?
                ORDER BY sequence DESC LIMIT 1
                """,
            arguments: [record.kind.rawValue, scope]
        )
        let year = Int(record.generatedAt.prefix(4)) ?? 0
        record.sequence = sequence
        record.number = ReportNumber.format(record.kind, year: year, terminal: record.terminal, sequence: sequence)
        record.previousNumber = previous?["number"]
        record.previousHash = previous?["hash"] ?? JournalEntry.genesisHash
        let body = try record.body()
        try db.execute(
            sql: """
                INSERT INTO report (number, kind, terminal_id, sequence, period_id, cashier_id, generated_at,
                                    generated_by, body, hash)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                record.number, record.kind.rawValue, record.terminal, sequence, record.periodID,
                record.figures?.cashier, record.generatedAt, record.generatedBy, body, ReportRecord.hash(of: body),
            ]
        )
        // The newest report's hash is kept beside its counter too: a chain catches an edit of any
        // report but its newest; this catches the newest (docs/REPORTS.md).
        try db.execute(
            sql: "UPDATE report_counter SET last_hash = ? WHERE kind = ? AND scope = ?",
            arguments: [ReportRecord.hash(of: body), record.kind.rawValue, scope]
        )
    }

    // MARK: Reading and verifying

    /// One stored report, its body decoded, with its stored hash.
    public func report(_ number: String) async throws(FiscalError) -> (record: ReportRecord, hash: String) {
        let stored: (body: String, hash: String)? = try await shopDayError {
            try await self.pool.read { db in
                try Row.fetchOne(db, sql: "SELECT body, hash FROM report WHERE number = ?", arguments: [number])
                    .map { ($0["body"] as String, $0["hash"] as String) }
            }
        }
        guard let stored else { throw FiscalError(.reportNotFound, "no report is numbered \(number)") }
        return (try ReportRecord.decode(body: stored.body), stored.hash)
    }

    /// Stored reports, oldest first: of some kinds, at one terminal, generated within
    /// [`from`, `to`] (UTC timestamps or dates compared as text, so `2026-12-02` is a day).
    public func reports(
        kinds: [ReportKind] = ReportKind.allCases,
        terminal: TerminalID? = nil,
        from: String? = nil,
        to: String? = nil,
        limit: Int = 1000
    ) async throws(FiscalError) -> [ReportSummary] {
        try await shopDayError {
            try await self.pool.read { db in
                var sql = "SELECT * FROM report WHERE kind IN (\(kinds.map { _ in "?" }.joined(separator: ", ")))"
                var arguments = StatementArguments(kinds.map(\.rawValue))
                if let terminal {
                    sql += " AND terminal_id = ?"
                    arguments += [terminal.rawValue]
                }
                if let from {
                    sql += " AND generated_at >= ?"
                    arguments += [from]
                }
                if let to {
                    // A bare date covers its whole day.
                    sql += " AND generated_at <= ?"
                    arguments += [to.count == 10 ? to + "T99" : to]
                }
                // The newest `limit`, shown oldest first.
                sql =
                    "SELECT * FROM (\(sql) ORDER BY generated_at DESC, number DESC LIMIT ?) ORDER BY generated_at, number"
                arguments += [limit]
                return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                    ReportSummary(
                        number: row["number"],
                        kind: ReportKind(rawValue: row["kind"]) ?? .x,
                        terminal: row["terminal_id"],
                        periodID: row["period_id"],
                        cashier: row["cashier_id"],
                        generatedAt: row["generated_at"],
                        generatedBy: row["generated_by"],
                        hash: row["hash"]
                    )
                }
            }
        }
    }

    /// Rechecks every stored report: each body against its hash and columns, each chain for
    /// gaps and breaks, each counter against what is stored (a removed last report), and each
    /// closed work period for its one Z. Empty when all is well; the first finding names the
    /// first bad record of its chain.
    public func verifyReports() async throws(FiscalError) -> (checked: Int, findings: [ReportFinding]) {
        try await shopDayError {
            try await self.pool.read { db in
                var stored: [StoredReport] = []
                var findings: [ReportFinding] = []
                for row in try Row.fetchAll(
                    db,
                    sql: "SELECT number, kind, terminal_id, sequence, body, hash FROM report"
                ) {
                    guard let kind = ReportKind(rawValue: row["kind"]) else {
                        findings.append(
                            ReportFinding(row["number"], .columnsMismatch, "kind \(row["kind"] as String) is unknown")
                        )
                        continue
                    }
                    stored.append(
                        StoredReport(
                            number: row["number"],
                            kind: kind,
                            terminal: row["terminal_id"],
                            sequence: row["sequence"],
                            body: row["body"],
                            hash: row["hash"]
                        )
                    )
                }
                findings += ReportChain.verify(stored)
                for counter in try Row.fetchAll(
                    db,
                    sql: "SELECT kind, scope, last, last_hash FROM report_counter ORDER BY scope, kind"
                ) {
                    let kind = counter["kind"] as String
                    let scope = counter["scope"] as String
                    let last = counter["last"] as Int64
                    let chain = stored.filter { $0.kind.rawValue == kind && ($0.terminal ?? "") == scope }
                    let newest = chain.max { $0.sequence < $1.sequence }
                    let highest = newest?.sequence ?? 0
                    if highest < last {
                        let missing = "\(kind) #\(highest &+ 1)\(scope.isEmpty ? "" : " of \(scope)")"
                        findings.append(
                            ReportFinding(
                                missing,
                                .missingTail,
                                "\(kind) report(s) of \(scope.isEmpty ? "the store" : scope) were issued up to counter \(last), but the last stored is sequence \(highest)"
                            )
                        )
                    } else if let newest, newest.sequence == last, let kept = counter["last_hash"] as String?,
                        kept != newest.hash
                    {
                        findings.append(
                            ReportFinding(
                                newest.number,
                                .hashMismatch,
                                "the newest \(kind) of \(scope.isEmpty ? "the store" : scope) has hash \(newest.hash.prefix(16))…, but \(kept.prefix(16))… was kept beside its counter when it was stored"
                            )
                        )
                    }
                }
                findings += try Self.verifyCombined(db, stored)
                let unreported = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT p.id, p.terminal_id, (SELECT COUNT(*) FROM report r WHERE r.kind = 'Z' AND r.period_id = p.id) AS zs
                        FROM work_period p WHERE p.closed_at IS NOT NULL AND zs != 1 ORDER BY p.id
                        """
                )
                for row in unreported {
                    findings.append(
                        ReportFinding(
                            "period \(row["id"] as Int64)",
                            .periodUnreported,
                            "closed work period \(row["id"] as Int64) at \(row["terminal_id"] as String) has \(row["zs"] as Int64) Z reports, not 1"
                        )
                    )
                }
                return (stored.count, findings)
            }
        }
    }

    /// Each combined Z against the device Z stored beside it (the same number and hash), and
    /// its reconciliation recomputed from the Zs it names and the fiscal numbers of their
    /// periods: the verdict, the differences and the numbers must be what was recorded.
    static func verifyCombined(_ db: Database, _ stored: [StoredReport]) throws -> [ReportFinding] {
        var findings: [ReportFinding] = []
        let bodies = Dictionary(stored.map { ($0.number, $0.body) }, uniquingKeysWith: { first, _ in first })
        for report in stored where report.kind == .cz {
            let record: ReportRecord
            do {
                record = try ReportRecord.decode(body: report.body)
            } catch {
                continue  // a finding already: the chain check names it `undecodable`
            }
            guard let device = record.deviceDay, let recorded = record.dayReconciliation else {
                findings.append(
                    ReportFinding(report.number, .reconciliationMismatch, "it holds no device Z or no verdict")
                )
                continue
            }
            let held = try Row.fetchOne(
                db,
                sql: "SELECT report_hash, device_id FROM device_z_report WHERE z_number = ?",
                arguments: [Int64(clamping: device.zNumber)]
            )
            if let held {
                if held["report_hash"] as String? != device.reportHash || held["device_id"] as String != device.deviceID
                {
                    findings.append(
                        ReportFinding(
                            report.number,
                            .reconciliationMismatch,
                            "its device Z \(device.zNumber) is not the one stored (hash or device differ)"
                        )
                    )
                }
            } else {
                findings.append(
                    ReportFinding(
                        report.number,
                        .reconciliationMismatch,
                        "the device Z \(device.zNumber) it names is not stored"
                    )
                )
            }
            var figures: [ReportFigures] = []
            var periods: [Int64] = []
            for number in record.includedReports ?? [] {
                // A Z missing, unreadable or without figures is a finding, never a pass.
                guard let body = bodies[number], let z = try? ReportRecord.decode(body: body), let part = z.figures
                else {
                    findings.append(
                        ReportFinding(report.number, .reconciliationMismatch, "the Z \(number) it names is not stored")
                    )
                    continue
                }
                figures.append(part)
                if let period = z.periodID { periods.append(period) }
            }
            let again = DayReconciliation.compare(
                zs: figures,
                seqs: try sealedSeqs(db, periods: periods),
                device: device,
                explain: { _ in "" }
            )
            if again.verdict != recorded.verdict || again.differences != recorded.differences
                || again.numbers.map({ "\($0.seq) \($0.kind)" }) != recorded.numbers.map({ "\($0.seq) \($0.kind)" })
            {
                findings.append(
                    ReportFinding(
                        report.number,
                        .reconciliationMismatch,
                        "recomputed from its Zs and the device's Z, the verdict is \(again.verdict.rawValue) with \(again.differences.count) difference(s); it records \(recorded.verdict.rawValue) with \(recorded.differences.count)"
                    )
                )
            }
        }
        return findings
    }
}
