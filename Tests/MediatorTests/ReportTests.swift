import FiscalCore
import FiscalTestSupport
import Foundation
import GRDB
import Mediator
import MediatorStore
import Reports
import SampleData
import TerminalClient
import Testing

/// X and Z reports over real ZeroMQ and a real SQLite store (docs/REPORTS.md): previews and
/// numbered reports, the Z's refusals that change nothing, the Z that closes the period, the
/// chain across periods, and the store's immutability.
@Suite("Reports", .serialized, .timeLimit(.minutes(2)))
struct ReportTests {
    static let float = CurrencyAmounts(["CDF": Money(units: 20_000_000), "USD": Money(units: 2000)])
    static var year: String { String(DeviceTimestamp.format(Date()).prefix(4)) }

    static func record(_ reply: TerminalReply) throws -> ReportRecord {
        try #require(reply.report).decode(as: ReportRecord.self)
    }

    /// A count of exactly `amount` CDF in 500 F notes plus coins of 1 F and 0.01 F, and USD.
    static func count(cdf amount: Money, usd: Money) -> [String: [String: Int64]] {
        let units = amount.units
        return [
            "CDF": ["500": units / 50_000, "1": (units % 50_000) / 100, "0.01": units % 100],
            "USD": ["1": usd.units / 100, "0.01": usd.units % 100],
        ]
    }

    @Test(
        "X previews and numbered Xs per terminal and cashier; a Z refused changes nothing; a Z closes the period and chains"
    )
    func xAndZ() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        try ShopDayTests.registerStaff(mediator.store)
        let client = try await mediator.client("REG-001", openPeriod: false)
        _ = try await client.openPeriod(openedBy: "SUP-01", openingFloat: Self.float)

        // Amani sells twice (cash in CDF with change, USD notes with CDF change), Bob once.
        let first = invoice("REG-001", sale: 2)
        let firstContext = SaleContext(
            tendered: [.init(method: .cash, currency: "CDF", amount: Money(units: first.totals.total.units + 500))],
            change: [.init(currency: "CDF", amount: Money(units: 500))]
        )
        _ = try await client.fiscalize(requestID: "r1", invoice: first, sale: firstContext)
        let second = invoice("REG-001", sale: 4)
        let secondContext = ShopDayTests.usdSale(second)
        _ = try await client.fiscalize(requestID: "r2", invoice: second, sale: secondContext)
        _ = try await client.cashEvent(
            CashEvent(eventID: "e1", kind: .payout, amount: Money(units: 100_000), currency: "CDF", reason: "bread")
        )
        _ = try await client.login(cashierID: "BOB")
        let bobs = SampleInvoices.sale(lines: 2, terminal: "REG-001", cashier: "BOB", lane: nil, seed: 7)
        _ = try await client.fiscalize(
            requestID: "r3",
            invoice: bobs,
            sale: SaleContext(tendered: [.init(method: .mobileMoney, currency: "CDF", amount: bobs.totals.total)])
        )

        // The preview is free: unnumbered, nothing stored.
        let preview = try Self.record(try await client.reportX())
        #expect(preview.number == "X-PREVIEW" && preview.kind == .x)
        let figures = try #require(preview.figures)
        let cdf = try #require(figures.sales.first { $0.currency == "CDF" })
        let net = [first, second, bobs].reduce(Int64(0)) { $0 + $1.totals.subtotal.units }
        #expect(cdf.net.units == net)
        #expect(cdf.gross.units == net + 250)  // the USD sale's discount
        #expect(cdf.grandTotal == cdf.paymentsTotal)
        #expect(
            figures.statistics.transactions == 3
                && figures.sessions.map(\.cashierID) == [SampleInvoices.cashier, "BOB"]
        )
        let drawerCDF = try #require(figures.drawer("CDF"))
        let changeUSDSale = secondContext.change[0].amount.units
        #expect(
            drawerCDF.expected.units
                == 20_000_000 + first.totals.total.units + 500 - 500 - changeUSDSale - 100_000
        )
        let drawerUSD = try #require(figures.drawer("USD"))
        #expect(drawerUSD.expected == Money(units: 4000) && drawerUSD.cashReceived == Money(units: 2000))
        #expect(try await mediator.store.reports().isEmpty)

        // A numbered X, and a cashier's X with only Bob's sale and no float.
        let taken = try Self.record(try await client.reportX(preview: false, takenBy: "SUP-01"))
        #expect(taken.number == "X-\(Self.year)-REG001-0001" && taken.generatedByName == "Sifa")
        let bobsX = try Self.record(try await client.reportX(preview: false, cashierID: "BOB", takenBy: "SUP-01"))
        #expect(bobsX.number == "X-\(Self.year)-REG001-0002" && bobsX.figures?.cashier == "BOB")
        #expect(bobsX.figures?.statistics.transactions == 1 && bobsX.figures?.drawer("CDF") == nil)
        #expect(await refusal { try await client.reportX(preview: false) }?.code == .messageInvalid)

        // Refusals change nothing.
        let usd = Money(units: 4000)
        let expected = drawerCDF.expected
        #expect(
            await refusal { try await client.closePeriod(closedBy: "SUP-01", count: nil) }?.code == .cashCountInvalid
        )
        let odd = await refusal {
            try await client.closePeriod(closedBy: "SUP-01", count: ["CDF": ["123": 1], "USD": ["1": 40]])
        }
        #expect(odd?.code == .cashCountInvalid && odd?.violations.first?.path == "$.count.CDF.123")
        let negative = await refusal {
            try await client.closePeriod(closedBy: "SUP-01", count: ["CDF": ["500": -1], "USD": ["1": 40]])
        }
        #expect(negative?.code == .cashCountInvalid)
        let huge = await refusal {
            try await client.closePeriod(closedBy: "SUP-01", count: ["CDF": ["500": Int64.max], "USD": ["1": 40]])
        }
        #expect(huge?.code == .cashCountInvalid)
        #expect(
            await refusal { try await client.closePeriod(closedBy: "BOB", count: Self.count(cdf: expected, usd: usd)) }?
                .code == .roleRequired
        )
        let short = Money(units: expected.units - 300_000)
        #expect(
            await refusal { try await client.closePeriod(closedBy: "SUP-01", count: Self.count(cdf: short, usd: usd)) }?
                .code == .varianceExplanationRequired
        )
        #expect(
            await refusal { try await client.closePeriod(closedBy: "SUP-01", count: ["USD": ["1": 40]]) }?.code
                == .cashCountInvalid
        )
        #expect(try await mediator.store.reports(kinds: [.z]).isEmpty)
        #expect(try await mediator.store.openPeriod(at: TerminalID("REG-001")) != nil)

        // The preview of the Z shows the variance and changes nothing; the Z itself closes.
        let zPreview = try Self.record(
            try await client.closePeriod(closedBy: "SUP-01", count: Self.count(cdf: short, usd: usd), preview: true)
        )
        #expect(zPreview.number == "Z-PREVIEW" && zPreview.reconciliation?.lines.first?.variance.units == -300_000)
        #expect(try await mediator.store.openPeriod(at: TerminalID("REG-001")) != nil)
        let z = try Self.record(
            try await client.closePeriod(
                closedBy: "SUP-01",
                count: Self.count(cdf: short, usd: usd),
                explanation: "a 3,000 F note missing"
            )
        )
        #expect(z.number == "Z-\(Self.year)-REG001-0001" && z.previousNumber == nil)
        let line = try #require(z.reconciliation?.lines.first { $0.currency == "CDF" })
        #expect(line.variance.units == -300_000 && line.status == .short && line.expected == expected)
        #expect(z.reconciliation?.lines.first { $0.currency == "USD" }?.status == .balanced)
        #expect(try await mediator.store.openPeriod(at: TerminalID("REG-001")) == nil)
        #expect(
            await refusal {
                try await client.fiscalize(
                    requestID: "r4",
                    invoice: SampleInvoices.sale(terminal: "REG-001", cashier: "BOB", lane: nil, seed: 9)
                )
            }?.code == .workPeriodClosed
        )
        #expect(
            await refusal { try await client.closePeriod(closedBy: "SUP-01", count: Self.count(cdf: short, usd: usd)) }?
                .code == .workPeriodClosed
        )

        // The next period's Z chains to this one.
        _ = try await client.openPeriod(openedBy: "SUP-01")
        // The Z closed Bob's session with the period: he logs in again.
        _ = try await client.login(cashierID: "BOB")
        _ = try await client.fiscalize(
            requestID: "r5",
            invoice: SampleInvoices.sale(terminal: "REG-001", cashier: "BOB", lane: nil, seed: 11, payment: .card)
        )
        let again = try Self.record(
            try await client.closePeriod(closedBy: "SUP-01", count: ["CDF": ["500": 0]], explanation: "kept none")
        )
        let (stored, hash) = try await mediator.store.report(z.number)
        #expect(stored == z)
        #expect(again.number == "Z-\(Self.year)-REG001-0002" && again.previousNumber == z.number)
        #expect(again.previousHash == hash)
        let (checked, findings) = try await mediator.store.verifyReports()
        #expect(checked == 4 && findings.isEmpty)
        #expect(await refusal { try await mediator.store.report("Z-2026-REG001-9999") }?.code == .reportNotFound)
    }

    @Test("a Z waits for a request on its way (PERIOD_BUSY names it), then closes once it is sealed")
    func periodBusy() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let client = try await mediator.client("REG-002")
        let sale = invoice("REG-002", sale: 1)
        let (nonce, _) = try await client.prepare(requestID: "held", invoice: sale)
        let busy = await refusal { try await client.closePeriod(closedBy: "SUP-01", count: [:]) }
        #expect(busy?.code == .periodBusy && busy?.message.contains("held") == true)
        _ = try await client.commit(requestID: "held", nonce: nonce)
        let z = try Self.record(
            try await client.closePeriod(closedBy: "SUP-01", count: ["CDF": ["500": 0]], explanation: "no cash kept")
        )
        #expect(z.figures?.statistics.transactions == 1)
    }

    @Test("a sale attributed to a period whose Z was taken meanwhile is refused by the store, and nothing is stored")
    func admissionAfterZ() async throws {
        let directory = TemporaryDirectory()
        let store = try MediatorDatabase(path: directory.url.appendingPathComponent("m.sqlite").path)
        _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-001")))
        let period = try await store.openPeriod(at: TerminalID("REG-001"), openedBy: "SUP", openingFloat: .init())
        _ = try await store.takeZ(
            ZRequest(terminal: TerminalID("REG-001"), closedBy: "SUP", count: CashCount([:])),
            settings: ReportSettings(),
            currencies: ["CDF", "USD"]
        )
        let sale = invoice("REG-001", sale: 3)
        var record = RequestRecord(
            invoice: sale,
            terminal: TerminalID("REG-001"),
            requestID: RequestID("late"),
            mode: .fiscalize
        )
        record.periodID = period.id
        guard case .refused(let error) = try store.admit(record) else {
            Issue.record("a sale in a closed period was stored")
            return
        }
        #expect(error.code == .workPeriodClosed)
        #expect(try store.request(TerminalID("REG-001"), RequestID("late")) == nil)
    }
}
