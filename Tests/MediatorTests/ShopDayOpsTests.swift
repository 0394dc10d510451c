import FiscalCore
import Foundation
import MediatorStore
import Reports
import SampleData
import TerminalClient
import Testing

/// The shop's day in the ops API (docs/OPS_API.md): staff, periods, and the open period on a
/// terminal, with names, sessions and cash events.
@Suite("Ops HTTP API: the shop's day", .timeLimit(.minutes(1)))
struct ShopDayOpsTests {
    @Test("/staff, /periods, /periods/{id} and /terminals/{code} show the day as recorded")
    func shopDay() async throws {
        let running = try await OpsAPITests.Running()
        defer { Task { await running.close() } }
        let store = running.mediator.store
        _ = try store.addStaff(StaffRecord(id: SampleInvoices.cashier, displayName: "Amani", role: .cashier))
        _ = try store.addStaff(StaffRecord(id: "SUP-01", displayName: "Sifa", role: .supervisor))
        let lane = try await running.mediator.client("REG-001", openPeriod: false)
        let float = CurrencyAmounts(["CDF": Money(units: 5_000_000), "USD": Money(units: 2000)])
        let period = try #require(try await lane.openPeriod(openedBy: "SUP-01", openingFloat: float).period)
        _ = try await lane.cashEvent(
            CashEvent(eventID: "e1", kind: .payout, amount: Money(units: 100_000), currency: "CDF", reason: "bread")
        )
        _ = try await lane.fiscalize(requestID: "s1", invoice: invoice("REG-001", sale: 1))

        let staff = try #require(try await running.json("/staff").value as? [[String: Any]])
        #expect(staff.map { $0["id"] as? String } == [SampleInvoices.cashier, "SUP-01"])
        #expect(staff.last?["role"] as? String == "supervisor")

        let periods = try #require(try await running.json("/periods?terminal=REG-001").value as? [[String: Any]])
        #expect(periods.count == 1 && periods.first?["open"] as? Bool == true)
        #expect((periods.first?["opening_float"] as? [String: String]) == ["CDF": "50000.00", "USD": "20.00"])

        let (status, body) = try await running.json("/periods/\(period.id)")
        let detail = try #require(body as? [String: Any])
        #expect(status == 200 && detail["opened_by_name"] as? String == "Sifa")
        let sessions = try #require(detail["cashier_sessions"] as? [[String: Any]])
        #expect(sessions.first?["cashier_name"] as? String == "Amani")
        let events = try #require(detail["cash_events"] as? [[String: Any]])
        #expect(events.first?["kind"] as? String == "payout" && events.first?["amount"] as? String == "1000.00")
        #expect(detail["invoice_seqs"] as? [Int] == [1])

        let terminal = try #require(try await running.json("/terminals/REG-001").value as? [String: Any])
        let open = try #require(terminal["work_period"] as? [String: Any])
        #expect(open["id"] as? Int == Int(period.id))
        let rows = try #require(try await running.json("/terminals").value as? [[String: Any]])
        #expect(rows.first { $0["code"] as? String == "REG-001" }?["work_period_id"] as? Int == Int(period.id))

        #expect(try await running.json("/periods/999").status == 404)
        #expect(try await running.json("/periods/-1").status == 404)
        #expect(try await running.json("/periods/99999999999999999999999").status == 404)
    }
}

/// Reports in the ops API (docs/REPORTS.md): the live X, the list and one report by number.
@Suite("Ops HTTP API: reports", .timeLimit(.minutes(1)))
struct ReportOpsTests {
    @Test("/terminals/{code}/report-x previews; /reports lists by kind and terminal; /reports/{number} shows one")
    func reports() async throws {
        let running = try await OpsAPITests.Running()
        defer { Task { await running.close() } }
        let lane = try await running.mediator.client("REG-001")
        let sale = invoice("REG-001", sale: 1)
        _ = try await lane.fiscalize(requestID: "s1", invoice: sale)

        let (status, body) = try await running.json("/terminals/REG-001/report-x")
        let x = try #require(body as? [String: Any])
        #expect(status == 200 && x["number"] as? String == "X-PREVIEW")
        let figures = try #require(x["figures"] as? [String: Any])
        let sales = try #require(figures["sales"] as? [[String: Any]])
        #expect((sales.first?["net"] as? NSNumber)?.decimalValue == Decimal(string: sale.totals.subtotal.canonicalText))
        #expect(try await running.json("/terminals/REG-404/report-x").status == 404)

        let z = try ReportTests.record(
            try await lane.closePeriod(closedBy: "SUP", count: ["CDF": ["0.01": sale.totals.total.units + 500]])
        )
        let list = try #require(try await running.json("/reports?kind=z&terminal=REG-001").value as? [[String: Any]])
        #expect(list.map { $0["number"] as? String } == [z.number])
        #expect((try await running.json("/reports?kind=x").value as? [[String: Any]])?.isEmpty == true)
        #expect(try await running.json("/reports?kind=q").status == 400)
        let shown = try #require(try await running.json("/reports/\(z.number)").value as? [String: Any])
        #expect(shown["number"] as? String == z.number && shown["kind"] as? String == "Z")
        #expect(try await running.json("/reports/Z-2026-REG001-9999").status == 404)
        #expect(try await running.json("/reports/not-a-number").status == 404)
    }
}
