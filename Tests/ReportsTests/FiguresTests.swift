import FiscalCore
import Reports
import SampleData
import Testing

/// The figures in two currencies, for one cashier, and at their edges.
@Suite("Report figures")
struct FiguresTests {
    @Test("the worked shift of docs/REPORTS.md is real data under the default rules")
    func workedShiftIsRealData() {
        expectRealData(WorkedShift.input(), rules: .default)
    }

    @Test("two currencies: each has its own sales, payments, taxes and drawer; nothing is added across")
    func twoCurrencies() throws {
        let figures = try ReportFigures.compute(WorkedShift.input(), asOf: WorkedShift.closedAt)
        #expect(figures.sales.map(\.currency) == ["CDF", "USD"])
        let cdf = figures.sales[0]
        #expect(cdf.gross == whole(46_800))
        #expect(cdf.discounts == whole(3_000))
        #expect(cdf.discountCount == 2)
        #expect(cdf.refunds == whole(1_250))
        #expect(cdf.voids == whole(6_000))
        #expect(cdf.net == whole(36_550))
        #expect(cdf.vat == whole(5_104))
        #expect(cdf.grandTotal == whole(41_654))
        #expect(
            cdf.taxGroups.map { [$0.code, $0.base.canonicalText, $0.amount.canonicalText] } == [
                ["A", "1500.00", "0.00"], ["B", "28750.00", "4600.00"], ["C", "6300.00", "504.00"],
            ]
        )
        #expect(
            cdf.payments.map {
                [$0.method, $0.received.canonicalText, $0.returned.canonicalText, $0.net.canonicalText, "\($0.count)"]
            }
                == [
                    ["cash", "43104.00", "1450.00", "41654.00", "3"],
                    ["mobile_money", "6960.00", "6960.00", "0.00", "2"],
                ]
        )
        #expect(cdf.transactions == 5)
        #expect(cdf.customers == 3)
        #expect(cdf.average == money("8330.80"))
        #expect(cdf.itemsSold == Quantity(decimalText: "12.5"))
        #expect(cdf.refundCount == 1)
        #expect(cdf.voidCount == 1)

        let usd = figures.sales[1]
        #expect(usd.gross == whole(40))
        #expect(usd.net == whole(40))
        #expect(usd.vat == money("6.40"))
        #expect(usd.grandTotal == money("46.40"))
        #expect(usd.payments.map { [$0.method, $0.net.canonicalText] } == [["card", "17.40"], ["cash", "29.00"]])
        #expect(usd.average == money("23.20"))
        #expect(usd.itemsSold == pieces(3))

        // The drawer follows the notes: the USD 20 of sale 41 is USD, its change CDF.
        #expect(figures.drawer.map(\.currency) == ["CDF", "USD"])
        let francs = try #require(figures.drawer("CDF"))
        #expect(francs.openingFloat == whole(50_000))
        #expect(francs.cashReceived == whole(10_000))
        #expect(francs.changeGiven == whole(23_896))
        #expect(francs.cashRefunds == whole(1_450))
        #expect(francs.payouts == whole(5_000))
        #expect(francs.payIns == whole(10_000))
        #expect(francs.expected == whole(39_654))
        let dollars = try #require(figures.drawer("USD"))
        #expect(dollars.openingFloat == whole(20))
        #expect(dollars.cashReceived == whole(50))
        #expect(dollars.changeGiven == whole(1))
        #expect(dollars.cashRefunds == .zero)
        #expect(dollars.payouts == whole(5))
        #expect(dollars.expected == whole(64))

        #expect(figures.statistics.transactions == 7)
        #expect(figures.statistics.customers == 5)
        #expect(figures.statistics.drawerOpens == 5)
        #expect(figures.statistics.noSales == 1)
        #expect(
            figures.lineVoids.map { [$0.currency, "\($0.count)", $0.amount.canonicalText] } == [
                ["CDF", "1", "1200.00"]
            ]
        )
        #expect(
            figures.sessions.map { $0.sales.map { "\($0.currency) \($0.amount) \($0.count)" } } == [
                ["CDF 38800.00 2", "USD 25.00 1"], ["CDF -2250.00 3", "USD 15.00 1"],
            ]
        )
        #expect(figures.firstSeq == 41)
        #expect(figures.lastSeq == 47)
    }

    @Test("two currencies: the count is reconciled per currency, CDF 4.00 short under its threshold, USD balanced")
    func twoCurrencyCount() throws {
        let figures = try ReportFigures.compute(WorkedShift.input(), asOf: WorkedShift.closedAt)
        let settings = ReportSettings()
        #expect(
            WorkedShift.count.violations(
                settings: settings,
                currencies: FiscalRules.default.currencies,
                expected: Dictionary(uniqueKeysWithValues: figures.drawer.map { ($0.currency, $0.expected) })
            ).isEmpty
        )
        let reconciliation = try CashReconciliation.reconcile(
            figures,
            count: WorkedShift.count,
            settings: settings,
            explanation: nil
        )
        #expect(
            reconciliation.lines.map {
                [
                    $0.currency, $0.expected.canonicalText, $0.counted.canonicalText, $0.variance.canonicalText,
                    $0.status.rawValue,
                ]
            }
                == [
                    ["CDF", "39654.00", "39650.00", "-4.00", "SHORT"],
                    ["USD", "64.00", "64.00", "0.00", "BALANCED"],
                ]
        )
    }

    @Test("a cashier's report: that cashier's sessions, invoices and events only, and no opening float")
    func cashierReport() throws {
        let input = WorkedShift.input()
        let bob = try ReportFigures.compute(input, scope: .cashier("CASH-08"), asOf: WorkedShift.closedAt)
        #expect(bob.cashier == "CASH-08")
        #expect(bob.sessions.map(\.cashierID) == ["CASH-08"])
        #expect(bob.firstSeq == 44)
        #expect(bob.lastSeq == 47)
        #expect(bob.statistics.transactions == 4)
        #expect(bob.statistics.customers == 2)
        #expect(bob.statistics.drawerOpens == 2)
        #expect(bob.statistics.noSales == 0)
        #expect(bob.lineVoids.isEmpty)
        let cdf = try #require(bob.sales.first { $0.currency == "CDF" })
        #expect(cdf.net == whole(-2_250))
        #expect(cdf.grandTotal == whole(-2_610))
        // No float: the drawer is what Bob's own sales, refunds and events moved.
        let francs = try #require(bob.drawer("CDF"))
        #expect(francs.openingFloat == .zero)
        #expect(francs.cashReceived == whole(10_000))
        #expect(francs.changeGiven == whole(4_200))
        #expect(francs.cashRefunds == whole(1_450))
        #expect(francs.payIns == whole(10_000))
        #expect(francs.expected == whole(14_350))
        let dollars = try #require(bob.drawer("USD"))
        #expect(dollars.openingFloat == .zero)
        #expect(dollars.payouts == whole(5))
        #expect(dollars.expected == whole(-5))

        // A cashier the period never saw has empty figures.
        let nobody = try ReportFigures.compute(input, scope: .cashier("CASH-99"), asOf: WorkedShift.closedAt)
        #expect(nobody.sales.isEmpty && nobody.drawer.isEmpty && nobody.sessions.isEmpty)
        #expect(nobody.statistics.transactions == 0)

        // The two cashiers' figures add up to the terminal's, but for the float.
        let amani = try ReportFigures.compute(input, scope: .cashier("CASH-07"), asOf: WorkedShift.closedAt)
        let terminal = try ReportFigures.compute(input, asOf: WorkedShift.closedAt)
        for currency in ["CDF", "USD"] {
            let sum = (amani.drawer(currency)?.expected.units ?? 0) + (bob.drawer(currency)?.expected.units ?? 0)
            #expect(sum + (input.openingFloat[currency]?.units ?? 0) == terminal.drawer(currency)?.expected.units)
        }
    }

    @Test("an invoice without a sealed session counts for the terminal, not for any cashier")
    func invoiceWithoutSession() throws {
        var input = WorkedShift.input()
        input.invoices[0].sessionID = nil
        let terminal = try ReportFigures.compute(input, asOf: WorkedShift.closedAt)
        #expect(terminal.statistics.transactions == 7)
        #expect(terminal.sessions[0].sales.map(\.count) == [1, 1])
        let amani = try ReportFigures.compute(input, scope: .cashier("CASH-07"), asOf: WorkedShift.closedAt)
        #expect(amani.statistics.transactions == 2)
    }

    // MARK: Edges

    static func sealed(_ invoice: Invoice, seq: UInt64 = 1, context: SaleContext? = nil) -> ReportInput.Sealed {
        ReportInput.Sealed(seq: seq, sessionID: 1, sealedAt: invoice.timestamp, invoice: invoice, context: context)
    }

    static func period(
        _ invoices: [ReportInput.Sealed],
        events: [ReportInput.Event] = [],
        float: [String: Money] = [:]
    ) -> ReportInput {
        ReportInput(
            terminal: "REG-001",
            periodID: 1,
            openedBy: "SUP-01",
            openedAt: "2026-11-21T08:00:00+01:00",
            openingFloat: CurrencyAmounts(float),
            sessions: [ReportInput.Session(id: 1, cashierID: "CASH-01", openedAt: "2026-11-21T08:00:00+01:00")],
            invoices: invoices,
            events: events
        )
    }

    static let soap = Invoice.Item(
        code: "S",
        description: "Savon",
        quantity: pieces(4),
        unitPrice: whole(1_250),
        taxGroup: "B"
    )

    @Test("a refund or credit note paid back in cash, without a context, is a cash refund in the drawer")
    func cashRefundWithoutContext() throws {
        let sale = SampleInvoices.build(items: [Self.soap])
        let refund = SampleInvoices.build(type: .refund, reference: "1", items: [Self.soap])
        let void = SampleInvoices.build(
            type: .creditNote,
            reference: "2",
            items: [Self.soap],
            payments: { [Invoice.Payment(method: .cash, amount: Money(units: $0.units + 5_000))] }
        )
        for invoice in [sale, refund, void] { #expect(InvoiceValidator().violations(in: invoice).isEmpty) }
        let figures = try ReportFigures.compute(
            Self.period([
                Self.sealed(sale), Self.sealed(sale, seq: 2), Self.sealed(refund, seq: 3), Self.sealed(void, seq: 4),
            ]),
            asOf: "2026-11-21T12:00:00+01:00"
        )
        let drawer = try #require(figures.drawer("CDF"))
        #expect(drawer.cashReceived == whole(11_600))
        // 5,800 + 5,800: the credit note's 50.00 over its total went back as change.
        #expect(drawer.cashRefunds == whole(11_600))
        #expect(drawer.expected == .zero)
        let cash = try #require(figures.sales.first?.payments.first)
        #expect(cash.received == whole(11_600))
        #expect(cash.returned == whole(11_600))
        #expect(cash.net == .zero)
        #expect(cash.count == 4)
        #expect(figures.sales.first?.refunds == whole(5_000))
        #expect(figures.sales.first?.voids == whole(5_000))
        #expect(figures.sales.first?.net == .zero)
    }

    @Test("a refund with a context: what was handed back, less change the customer returned")
    func cashRefundWithContext() throws {
        let refund = SampleInvoices.build(type: .refund, reference: "9", items: [Self.soap])
        let context = SaleContext(
            tendered: [SaleContext.Tender(method: .cash, currency: "CDF", amount: whole(6_000))],
            change: [SaleContext.Change(currency: "CDF", amount: whole(200))]
        )
        #expect(context.violations(against: refund, rules: .default).isEmpty)
        let figures = try ReportFigures.compute(
            Self.period([Self.sealed(refund, context: context)]),
            asOf: "2026-11-21T12:00:00+01:00"
        )
        #expect(figures.drawer("CDF")?.cashRefunds == whole(5_800))
        #expect(figures.drawer("CDF")?.changeGiven == .zero)
        #expect(figures.sales.first?.refunds == whole(5_000))
        #expect(figures.sales.first?.net == whole(-5_000))
        #expect(figures.statistics.customers == 0)
    }

    @Test("without a context, an invoice's cash payments go to the drawer with the change taken off")
    func noContextUsesPayments() throws {
        // Total 5,800.00; 10,000.00 in cash and a card slip of 1,000.00: 5,200.00 of change.
        let invoice = SampleInvoices.build(
            items: [Self.soap],
            payments: { _ in
                [
                    Invoice.Payment(method: .card, amount: whole(1_000)),
                    Invoice.Payment(method: .cash, amount: whole(10_000)),
                ]
            }
        )
        #expect(InvoiceValidator().violations(in: invoice).isEmpty)
        let figures = try ReportFigures.compute(Self.period([Self.sealed(invoice)]), asOf: "2026-11-21T12:00:00+01:00")
        let drawer = try #require(figures.drawer("CDF"))
        #expect(drawer.cashReceived == whole(4_800))
        #expect(drawer.changeGiven == .zero)
        #expect(drawer.expected == whole(4_800))
        let payments = try #require(figures.sales.first?.payments)
        #expect(
            payments.map { [$0.method, $0.net.canonicalText, "\($0.count)"] } == [
                ["card", "1000.00", "1"], ["cash", "4800.00", "1"],
            ]
        )
    }

    @Test("payments beyond the total: the excess comes off the cash lines first, then the last lines")
    func excessOffCash() throws {
        // 5,800.00 paid with 6,000.00 by card and 100.00 in cash: the cash is all change, and the
        // card gives 200.00 back; cash is not counted as a payment of it.
        let invoice = SampleInvoices.build(
            items: [Self.soap],
            payments: { _ in
                [
                    Invoice.Payment(method: .cash, amount: whole(100)),
                    Invoice.Payment(method: .card, amount: whole(6_000)),
                ]
            }
        )
        // Two cash lines are one cash payment.
        let twice = SampleInvoices.build(
            items: [Self.soap],
            payments: { _ in
                [
                    Invoice.Payment(method: .cash, amount: whole(3_000)),
                    Invoice.Payment(method: .cash, amount: whole(3_000)),
                ]
            }
        )
        #expect(InvoiceValidator().violations(in: invoice).isEmpty)
        let figures = try ReportFigures.compute(
            Self.period([Self.sealed(invoice), Self.sealed(twice, seq: 2)]),
            asOf: "2026-11-21T12:00:00+01:00"
        )
        let payments = try #require(figures.sales.first?.payments)
        #expect(
            payments.map { [$0.method, $0.net.canonicalText, "\($0.count)"] } == [
                ["card", "5800.00", "1"], ["cash", "5800.00", "1"],
            ]
        )
        #expect(figures.sales.first?.paymentsTotal == figures.sales.first?.grandTotal)
        #expect(figures.drawer("CDF")?.cashReceived == whole(5_800))
    }

    @Test("sums beyond what an amount holds are VALUE_OUT_OF_RANGE, not a figure that would not decode")
    func overflow() throws {
        // Each invoice is valid (9.28 × 10^14 within the 10^15 limit); their sum is not.
        let big = Invoice.Item(
            code: "B",
            description: "Big",
            quantity: pieces(1),
            unitPrice: whole(800_000_000_000_000),
            taxGroup: "B"
        )
        let invoice = SampleInvoices.build(items: [big])
        #expect(InvoiceValidator().violations(in: invoice).isEmpty)
        let error = #expect(throws: FiscalError.self) {
            try ReportFigures.compute(
                Self.period([Self.sealed(invoice), Self.sealed(invoice, seq: 2)]),
                asOf: "2026-11-21T12:00:00+01:00"
            )
        }
        #expect(error?.code == .valueOutOfRange)
        // One of them is fine.
        #expect(throws: Never.self) {
            try ReportFigures.compute(Self.period([Self.sealed(invoice)]), asOf: "2026-11-21T12:00:00+01:00")
        }
        // So are payouts beyond range.
        let event = ReportInput.Event(
            kind: .payout,
            amount: Money(units: Money.limit),
            currency: "USD",
            sessionID: 1,
            cashierID: "CASH-01"
        )
        let drained = #expect(throws: FiscalError.self) {
            try ReportFigures.compute(Self.period([], events: [event, event]), asOf: "2026-11-21T12:00:00+01:00")
        }
        #expect(drained?.code == .valueOutOfRange)
    }

    @Test("an empty period: zero figures, the float alone in the drawer")
    func emptyPeriod() throws {
        let figures = try ReportFigures.compute(
            Self.period([], float: ["CDF": whole(50_000)]),
            asOf: "2026-11-21T12:00:00+01:00"
        )
        #expect(figures.sales.isEmpty)
        #expect(figures.lineVoids.isEmpty)
        #expect(figures.firstSeq == nil && figures.lastSeq == nil)
        #expect(figures.statistics.transactions == 0 && figures.statistics.customers == 0)
        #expect(figures.statistics.drawerOpens == 0 && figures.statistics.noSales == 0)
        #expect(figures.drawer.count == 1)
        #expect(figures.drawer("CDF")?.expected == whole(50_000))
        #expect(figures.drawer("CDF")?.cashReceived == .zero)
        #expect(figures.sessions.map(\.sales) == [[]])
        #expect(figures.shiftEnd == "2026-11-21T12:00:00+01:00")
        let bare = try ReportFigures.compute(Self.period([]), asOf: "2026-11-21T12:00:00+01:00")
        #expect(bare.drawer.isEmpty)
    }

    @Test("the figures encode as snake_case JSON with decimal amounts and decode back to themselves")
    func jsonRoundTrip() throws {
        let figures = try ReportFigures.compute(WorkedShift.input(), asOf: WorkedShift.closedAt)
        let record = ReportRecord(
            number: "Z-2026-REG001-0001",
            kind: .z,
            sequence: 1,
            terminal: "REG-001",
            periodID: 12,
            generatedAt: WorkedShift.closedAt,
            generatedBy: "SUP-01",
            figures: figures
        )
        let body = try record.body()
        #expect(body.contains(#""grand_total":41654"#))
        #expect(body.contains(#""cash_refunds":1450"#))
        #expect(try ReportRecord.decode(body: body) == record)
    }
}
