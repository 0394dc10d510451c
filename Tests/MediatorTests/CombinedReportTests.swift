import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import GRDB
import Mediator
import MediatorStore
import Reports
import SampleData
import TerminalClient
import Testing

/// The store's day over real ZeroMQ (docs/REPORTS.md): three registers with floats, sales in two
/// currencies with a refund, a credit note and discounts, a handover, an X mid-shift, a Z on each
/// register with a variance, and a combined Z whose proof against the device's own RPT|Z holds;
/// then a sale sealed behind the mediator, which the next combined Z names.
@Suite("Combined reports", .serialized, .timeLimit(.minutes(3)))
struct CombinedReportTests {
    static let float = CurrencyAmounts(["CDF": Money(units: 20_000_000), "USD": Money(units: 5000)])

    /// A count of exactly `expected` per currency (0.01 pieces for the cents), minus `short` CDF.
    static func count(_ figures: ReportFigures, shortCDF: Int64 = 0) -> [String: [String: Int64]] {
        var count: [String: [String: Int64]] = [:]
        for line in figures.drawer {
            var units = line.expected.units - (line.currency == "CDF" ? shortCDF : 0)
            let big = line.currency == "CDF" ? Int64(50_000) : Int64(100)
            let name = line.currency == "CDF" ? "500" : "1"
            count[line.currency] = [name: units / big, "0.01": units % big]
            units = 0
        }
        return count
    }

    @Test(
        "a full day: three registers, every Z, and a combined Z that agrees with the device; then a sale behind the mediator is named"
    )
    func fullDay() async throws {
        let running = try await OpsAPITests.Running()
        defer { Task { await running.close() } }
        let mediator = running.mediator
        let store = mediator.store
        try ShopDayTests.registerStaff(store)
        _ = try store.addStaff(StaffRecord(id: "MGR-01", displayName: "Peter", role: .manager))
        var clients: [String: MediatorClient] = [:]
        for code in ["REG-001", "REG-002", "REG-003"] {
            let client = try await mediator.client(code, openPeriod: false)
            _ = try await client.openPeriod(openedBy: "SUP-01", openingFloat: Self.float)
            clients[code] = client
        }
        let one = try #require(clients["REG-001"])
        let two = try #require(clients["REG-002"])
        let three = try #require(clients["REG-003"])

        // REG-001: a discounted sale paid in USD with CDF change, a cash sale, a refund of a line.
        let first = invoice("REG-001", sale: 2)
        let firstSeq = try await one.fiscalize(requestID: "1-a", invoice: first, sale: ShopDayTests.usdSale(first))
            .invoiceSeq
        let second = invoice("REG-001", sale: 4)
        _ = try await one.fiscalize(
            requestID: "1-b",
            invoice: second,
            sale: SaleContext(tendered: [.init(method: .cash, currency: "CDF", amount: second.totals.total)])
        )
        let refund = SampleInvoices.build(
            type: .refund,
            reference: String(firstSeq.rawValue),
            items: [first.items[0]],
            terminal: "REG-001",
            lane: nil
        )
        _ = try await one.fiscalize(
            requestID: "1-r",
            invoice: refund,
            sale: SaleContext(tendered: [.init(method: .cash, currency: "CDF", amount: refund.totals.total)])
        )
        // A handover, Bob sells by mobile money, and an X mid-shift.
        _ = try await one.login(cashierID: "BOB")
        let bobs = SampleInvoices.sale(
            lines: 2,
            terminal: "REG-001",
            cashier: "BOB",
            lane: nil,
            seed: 7,
            payment: .mobileMoney
        )
        _ = try await one.fiscalize(requestID: "1-c", invoice: bobs)
        let x = try ReportTests.record(try await one.reportX(preview: false, takenBy: "SUP-01"))
        #expect(x.figures?.sessions.count == 2 && x.figures?.statistics.transactions == 4)

        // REG-002: a sale and its credit note, and a payout.
        let cancelled = invoice("REG-002", sale: 5)
        let cancelledSeq = try await two.fiscalize(requestID: "2-a", invoice: cancelled).invoiceSeq
        let credit = SampleInvoices.build(
            type: .creditNote,
            reference: String(cancelledSeq.rawValue),
            items: cancelled.items,
            terminal: "REG-002",
            lane: nil
        )
        _ = try await two.fiscalize(requestID: "2-cn", invoice: credit)
        _ = try await two.fiscalize(requestID: "2-b", invoice: invoice("REG-002", sale: 6))
        _ = try await two.cashEvent(
            CashEvent(eventID: "2-e", kind: .payout, amount: Money(units: 50_000), currency: "CDF", reason: "bread")
        )

        // REG-003: a USD sale.
        let dollars = SampleInvoices.sale(
            lines: 2,
            terminal: "REG-003",
            lane: nil,
            currency: "USD",
            seed: 3,
            payment: .cash
        )
        _ = try await three.fiscalize(requestID: "3-a", invoice: dollars)

        // Refusals of the combined Z before the day is closed, and by a supervisor.
        #expect(await refusal { try await mediator.service.combinedZ(takenBy: "MGR-01") }?.code == .dayNotClosed)
        #expect(await refusal { try await mediator.service.combinedZ(takenBy: "SUP-01") }?.code == .roleRequired)

        // The combined X now: three terminals, nothing closed.
        let cx = try await mediator.service.combinedX()
        #expect(
            cx.number == "CX-PREVIEW" && cx.combined?.terminals.map(\.terminal) == ["REG-001", "REG-002", "REG-003"]
        )
        #expect(cx.combined?.totals.statistics.transactions == 8)

        // A Z on each register, REG-001 short by 100 F.
        var zs: [String] = []
        for (code, client) in [("REG-001", one), ("REG-002", two), ("REG-003", three)] {
            let preview = try ReportTests.record(
                try await client.closePeriod(closedBy: "SUP-01", count: nil, preview: true)
            )
            let figures = try #require(preview.figures)
            let z = try ReportTests.record(
                try await client.closePeriod(
                    closedBy: "SUP-01",
                    count: Self.count(figures, shortCDF: code == "REG-001" ? 10_000 : 0),
                    explanation: "end of shift"
                )
            )
            zs.append(z.number)
            if code == "REG-001" {
                #expect(z.reconciliation?.lines.first { $0.currency == "CDF" }?.variance == Money(units: -10_000))
            }
        }

        // The combined Z: the device's own Z agrees with the registers'.
        let cz = try await mediator.service.combinedZ(takenBy: "MGR-01")
        let day = try #require(cz.dayReconciliation)
        #expect(day.verdict == .match, "\(day.differences) \(day.numbers)")
        #expect(cz.number.hasPrefix("CZ-") && cz.number.hasSuffix("-0001") && cz.includedReports == zs)
        #expect(cz.deviceDay?.zNumber == 1 && cz.deviceDay?.invoiceCount == 8)
        #expect(try await mediator.device.client.status().zCount == 1)
        #expect(day.registers.types == day.device.types && day.registers.taxGroups == day.device.taxGroups)
        #expect(await refusal { try await mediator.service.combinedZ(takenBy: "MGR-01") }?.code == .dayAlreadyClosed)
        let alerts = try #require(try await running.json("/alerts").value as? [[String: Any]])
        #expect(!alerts.contains { $0["kind"] as? String == "REPORT_MISMATCH" })

        // A sale sealed at the device behind the mediator: the next combined Z names it.
        _ = try await one.openPeriod(openedBy: "SUP-01")
        _ = try await one.login(cashierID: "BOB")
        _ = try await one.fiscalize(
            requestID: "1-d",
            invoice: SampleInvoices.sale(terminal: "REG-001", cashier: "BOB", lane: nil, seed: 21, payment: .card)
        )
        let behind = try await mediator.device.fiscalize(SampleInvoices.sale(terminal: "REG-009", lane: nil, seed: 99))
        let reopened = try ReportTests.record(
            try await one.closePeriod(closedBy: "SUP-01", count: ["CDF": ["500": 0]], explanation: "none")
        )
        let mismatch = try await mediator.service.combinedZ(takenBy: "MGR-01")
        let named = try #require(mismatch.dayReconciliation)
        #expect(named.verdict == .mismatch && mismatch.includedReports == [reopened.number])
        #expect(
            named.numbers.contains { $0.seq == behind.securityElements.invoiceSeq.rawValue && $0.kind == "missing" }
        )
        #expect(named.differences.contains { $0.item == "range" })
        let raised = try #require(try await running.json("/alerts").value as? [[String: Any]])
        #expect(raised.contains { $0["kind"] as? String == "REPORT_MISMATCH" })
        let (checked, findings) = try await store.verifyReports()
        #expect(checked == 7 && findings.isEmpty, "\(findings)")

        // The device Z a combined Z names, edited behind the mediator's back: verify names the CZ.
        try DatabaseQueue(path: store.path).inDatabase { db in
            try db.execute(
                sql: """
                    DROP TRIGGER device_z_report_no_update;
                    UPDATE device_z_report SET report_hash = 'ffff' || substr(report_hash, 5) WHERE z_number = 1;
                    """
            )
        }
        let tampered = try await store.verifyReports().findings
        #expect(tampered.contains { $0.number == cz.number && $0.problem == .reconciliationMismatch })
    }

    @Test(
        "a combined Z left halfway after the device's RPT|Z is completed once at the next start; one left before it is dropped"
    )
    func crashDuringCombinedZ() async throws {
        for deviceClosed in [true, false] {
            let mediator = try await MediatorHarness(
                transport: .pty,
                beforeStart: { device, store in
                    _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-001")))
                    _ = try await store.openPeriod(at: TerminalID("REG-001"), openedBy: "MGR", openingFloat: .init())
                    _ = try await store.takeZ(
                        ZRequest(terminal: TerminalID("REG-001"), closedBy: "MGR", count: CashCount([:])),
                        settings: ReportSettings(),
                        currencies: ["CDF", "USD"]
                    )
                    _ = try await store.beginCombinedZ(takenBy: "MGR", deviceZBefore: 0)
                    _ = try await store.apply(StoreBatch(id: 1, writes: [.zIntent(zCountBefore: 0, deviceID: nil)]))
                    if deviceClosed { _ = try await device.client.report(.z) }
                }
            )
            try await eventually("the combined intent is resolved") {
                try await mediator.store.pendingCombinedIntent() == nil
            }
            let czs = try await mediator.store.reports(kinds: [.cz])
            if deviceClosed {
                #expect(czs.count == 1)
                let cz = try await mediator.store.report(czs[0].number).record
                #expect(cz.deviceDay?.zNumber == 1 && cz.includedReports?.count == 1 && cz.generatedBy == "MGR")
                // Completing again records nothing more.
                try await mediator.service.completePendingCombinedZ()
                #expect(try await mediator.store.reports(kinds: [.cz]).count == 1)
            } else {
                #expect(czs.isEmpty)
                #expect(try await mediator.device.client.status().zCount == 0)
                // The day can still be closed, once.
                let cz = try await mediator.service.combinedZ(takenBy: "MGR")
                #expect(cz.deviceDay?.zNumber == 1 && cz.dayReconciliation?.verdict == .match)
            }
            await mediator.close()
        }
    }

    @Test(
        "a device whose Z cannot be read back (no QRY|ZREPORT) closed its day: the combined Z is recorded as a mismatch that says so"
    )
    func unreadableDeviceZ() async throws {
        let mediator = try await MediatorHarness(
            transport: .pty,
            configureEmulator: { $0.answersZReportQuery = false },
            beforeStart: { device, store in
                _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-001")))
                _ = try await store.openPeriod(at: TerminalID("REG-001"), openedBy: "MGR", openingFloat: .init())
                _ = try await store.takeZ(
                    ZRequest(terminal: TerminalID("REG-001"), closedBy: "MGR", count: CashCount([:])),
                    settings: ReportSettings(),
                    currencies: ["CDF", "USD"]
                )
                _ = try await store.beginCombinedZ(takenBy: "MGR", deviceZBefore: 0)
                _ = try await store.apply(StoreBatch(id: 1, writes: [.zIntent(zCountBefore: 0, deviceID: nil)]))
                _ = try await device.client.report(.z)
            }
        )
        defer { Task { await mediator.close() } }
        try await eventually("the combined intent is resolved") {
            try await mediator.store.pendingCombinedIntent() == nil
        }
        let czs = try await mediator.store.reports(kinds: [.cz])
        #expect(czs.count == 1)
        let cz = try await mediator.store.report(try #require(czs.first).number).record
        #expect(cz.dayReconciliation?.verdict == .mismatch)
        #expect(cz.dayReconciliation?.differences.first?.item == "device Z")
        // verify names it too: the device Z it names is not stored.
        #expect(try await mediator.store.verifyReports().findings.contains { $0.number == cz.number })
    }
}
