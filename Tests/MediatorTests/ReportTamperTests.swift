import FiscalCore
import FiscalTestSupport
import Foundation
import GRDB
import MediatorStore
import Reports
import Testing

/// `report verify` against a store edited behind the mediator's back with SQL (the triggers
/// dropped first, as a tamperer with the sqlite3 shell would): each edit is named, at the first
/// bad record. And the triggers themselves: the mediator's own connection cannot edit a report
/// or a sealed invoice.
@Suite("Report tampering", .serialized)
struct ReportTamperTests {
    /// A store with three Zs at REG-001 and one at REG-002.
    static func store() async throws -> (TemporaryDirectory, String, [ReportRecord]) {
        let directory = TemporaryDirectory("report-tamper")
        let path = directory.url.appendingPathComponent("m.sqlite").path
        let store = try MediatorDatabase(path: path)
        var zs: [ReportRecord] = []
        for terminal in ["REG-001", "REG-002"] {
            _ = try store.addTerminal(TerminalRecord(code: TerminalID(terminal)))
            for _ in 0..<(terminal == "REG-001" ? 3 : 1) {
                _ = try await store.openPeriod(at: TerminalID(terminal), openedBy: "SUP", openingFloat: .init())
                zs.append(
                    try await store.takeZ(
                        ZRequest(terminal: TerminalID(terminal), closedBy: "SUP", count: CashCount([:])),
                        settings: ReportSettings(),
                        currencies: ["CDF", "USD"]
                    )
                )
            }
        }
        return (directory, path, zs)
    }

    static func tamper(_ path: String, _ sql: String) throws {
        try DatabaseQueue(path: path).inDatabase { db in
            try db.execute(sql: "DROP TRIGGER report_no_update; DROP TRIGGER report_no_delete; \(sql)")
        }
    }

    static func findings(_ path: String) async throws -> [ReportFinding] {
        try await MediatorDatabase(path: path).verifyReports().findings
    }

    @Test("an untouched store verifies clean")
    func clean() async throws {
        let (_, path, zs) = try await Self.store()
        let (checked, findings) = try await MediatorDatabase(path: path).verifyReports()
        #expect(checked == 4 && findings.isEmpty && zs.map(\.sequence) == [1, 2, 3, 1])
    }

    @Test("an edited body is named: its hash no longer holds")
    func editedBody() async throws {
        let (_, path, zs) = try await Self.store()
        try Self.tamper(
            path,
            "UPDATE report SET body = replace(body, '\"generated_by\":\"SUP\"', '\"generated_by\":\"EVE\"') WHERE number = '\(zs[1].number)'"
        )
        let findings = try await Self.findings(path)
        #expect(findings.first?.number == zs[1].number && findings.first?.problem == .hashMismatch)
    }

    @Test("an edited body with its hash recomputed is named by the next record's chain")
    func editedBodyAndHash() async throws {
        let (_, path, zs) = try await Self.store()
        let store = try MediatorDatabase(path: path)
        var forged = try await store.report(zs[1].number).record
        forged.generatedBy = "EVE"
        let body = try forged.body()
        try Self.tamper(
            path,
            "UPDATE report SET body = '\(body.replacingOccurrences(of: "'", with: "''"))', hash = '\(ReportRecord.hash(of: body))' WHERE number = '\(zs[1].number)'"
        )
        let findings = try await Self.findings(path)
        #expect(findings.first?.number == zs[2].number && findings.first?.problem == .chainBroken)
    }

    @Test("the newest Z edited with its hash recomputed is named: its hash was kept beside its counter")
    func editedNewest() async throws {
        let (_, path, zs) = try await Self.store()
        let store = try MediatorDatabase(path: path)
        var forged = try await store.report(zs[2].number).record
        forged.generatedBy = "EVE"
        let body = try forged.body()
        try Self.tamper(
            path,
            "UPDATE report SET body = '\(body.replacingOccurrences(of: "'", with: "''"))', hash = '\(ReportRecord.hash(of: body))' WHERE number = '\(zs[2].number)'"
        )
        let findings = try await Self.findings(path)
        #expect(findings.contains { $0.number == zs[2].number && $0.problem == .hashMismatch })
    }

    @Test("with a blind count, neither an X nor a Z preview shows the drawer or the variance")
    func blind() async throws {
        let directory = TemporaryDirectory("blind")
        defer { directory.remove() }
        let store = try MediatorDatabase(path: directory.url.appendingPathComponent("m.sqlite").path)
        _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-001")))
        let float = CurrencyAmounts(["CDF": Money(units: 500_000)])
        _ = try await store.openPeriod(at: TerminalID("REG-001"), openedBy: "SUP", openingFloat: float)
        let settings = ReportSettings(blindCount: true)
        let request = ZRequest(terminal: TerminalID("REG-001"), closedBy: "SUP", count: CashCount(["CDF": ["500": 9]]))
        #expect(try await store.previewX(at: TerminalID("REG-001"), settings: settings).figures?.drawer.isEmpty == true)
        let preview = try await store.previewZ(request, settings: settings, currencies: ["CDF"])
        #expect(preview.figures?.drawer.isEmpty == true && preview.reconciliation == nil)
        var explained = request
        explained.explanation = "counted short"
        let z = try await store.takeZ(explained, settings: settings, currencies: ["CDF"])
        #expect(z.blindCount && z.reconciliation?.lines.first?.variance == Money(units: -50_000))
    }

    @Test("a deleted Z is named: a gap and a broken chain after it; a deleted last Z by its counter")
    func deleted() async throws {
        let (_, path, zs) = try await Self.store()
        try Self.tamper(
            path,
            "DELETE FROM report_outbox WHERE number = '\(zs[1].number)'; DELETE FROM report WHERE number = '\(zs[1].number)'"
        )
        let findings = try await Self.findings(path)
        #expect(findings.first?.number == zs[2].number && findings.first?.problem == .gap)
        #expect(findings.contains { $0.number == zs[2].number && $0.problem == .chainBroken })
        #expect(findings.contains { $0.problem == .periodUnreported })

        let (_, other, last) = try await Self.store()
        try Self.tamper(
            other,
            "DELETE FROM report_outbox WHERE number = '\(last[2].number)'; DELETE FROM report WHERE number = '\(last[2].number)'"
        )
        let tail = try await Self.findings(other)
        #expect(tail.contains { $0.problem == .missingTail && $0.detail.contains("REG-001") })
    }

    @Test("a swapped pair of Zs is named at the first of them")
    func swapped() async throws {
        let (_, path, zs) = try await Self.store()
        try Self.tamper(
            path,
            """
            UPDATE report SET sequence = -1 WHERE number = '\(zs[0].number)';
            UPDATE report SET sequence = 1 WHERE number = '\(zs[1].number)';
            UPDATE report SET sequence = 2 WHERE number = '\(zs[0].number)';
            """
        )
        let findings = try await Self.findings(path)
        #expect(findings.first?.number == zs[1].number)
        #expect(findings.contains { $0.number == zs[1].number && $0.problem == .columnsMismatch })
        #expect(findings.contains { $0.number == zs[0].number && $0.problem == .chainBroken })
    }

    @Test("the mediator's own connection cannot edit or delete a report, a counter or a sealed invoice")
    func triggers() async throws {
        let (_, path, zs) = try await Self.store()
        for sql in [
            "UPDATE report SET generated_by = 'EVE' WHERE number = '\(zs[0].number)'",
            "DELETE FROM report WHERE number = '\(zs[0].number)'",
            "UPDATE report_counter SET last = 1",
            "DELETE FROM report_counter",
            "UPDATE sealed_invoice SET cashier_id = 'EVE'",
            "DELETE FROM prune_log",
        ] {
            #expect(throws: DatabaseError.self, "\(sql)") {
                try DatabaseQueue(path: path).inDatabase { db in
                    // A sealed invoice to refuse the UPDATE of.
                    try db.execute(
                        sql: """
                            INSERT OR IGNORE INTO sealed_invoice (invoice_seq, device_id, terminal_id, request_id, outlet_id,
                            cashier_id, payload_digest, entry, sealed_at) VALUES (1, 'D', 'REG-001', 'r', 'O', 'C', 'x', '{}', 't');
                            INSERT INTO prune_log (after_seq, through_seq, at) SELECT 0, 0, 't' WHERE NOT EXISTS (SELECT 1 FROM prune_log);
                            """
                    )
                    try db.execute(sql: sql)
                }
            }
        }
        // Deleting a sealed invoice is refused unless the prune log covers it.
        #expect(throws: DatabaseError.self) {
            try DatabaseQueue(path: path).inDatabase { db in try db.execute(sql: "DELETE FROM sealed_invoice") }
        }
        try DatabaseQueue(path: path).inDatabase { db in
            try db.execute(sql: "INSERT INTO prune_log (after_seq, through_seq, at) VALUES (0, 1, 't')")
            try db.execute(sql: "DELETE FROM sealed_invoice WHERE invoice_seq = 1")
        }
        #expect(try await Self.findings(path).isEmpty)
    }
}

/// `period force-close`: an admin's emergency Z, flagged, with its reason and whatever count.
@Suite("Forced close")
struct ForcedCloseTests {
    @Test("only an admin forces a close; the Z says forced, with the reason, and closes the period without a count")
    func forced() async throws {
        let directory = TemporaryDirectory("forced")
        defer { directory.remove() }
        let store = try MediatorDatabase(path: directory.url.appendingPathComponent("m.sqlite").path)
        _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-001")))
        _ = try store.addStaff(StaffRecord(id: "SUP-01", displayName: "Sifa", role: .supervisor))
        _ = try store.addStaff(StaffRecord(id: "ADM-01", displayName: "Joel", role: .admin))
        _ = try await store.openPeriod(at: TerminalID("REG-001"), openedBy: "SUP-01", openingFloat: .init())
        func force(_ by: String) async throws(FiscalError) -> ReportRecord {
            try await store.takeZ(
                ZRequest(terminal: TerminalID("REG-001"), closedBy: by, count: nil, forceReason: "till stolen"),
                settings: ReportSettings(),
                currencies: ["CDF", "USD"]
            )
        }
        #expect(await refusal { try await force("SUP-01") }?.code == .roleRequired)
        #expect(await refusal { try await force("NOBODY") }?.code == .staffUnknown)
        let z = try await force("ADM-01")
        #expect(z.forced && z.forceReason == "till stolen" && z.reconciliation == nil)
        #expect(try await store.openPeriod(at: TerminalID("REG-001")) == nil)
        #expect(try await store.verifyReports().findings.isEmpty)
    }
}
