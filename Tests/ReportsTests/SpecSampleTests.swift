import FiscalCore
import Reports
import Testing

/// The seed spec's sample X (§4.5.2) and Z (§4.6.3), reproduced to the cent from sealed
/// invoices, contexts and events. Where a sample contradicts itself, the test asserts what the
/// model computes and says why (docs/REPORTS.md, "Where the spec's samples do not add up").
@Suite("The spec's sample reports")
struct SpecSampleTests {
    @Test("the X sample's fixture is real data: valid invoices and contexts under the KES rules file")
    func xIsRealData() throws {
        let rules = try kenyanRules()
        #expect(rules.currencies == ["KES"])
        expectRealData(SpecSamples.x(rules: rules), rules: rules)
    }

    @Test("the Z sample's fixture is real data: valid invoices and contexts under the KES rules file")
    func zIsRealData() throws {
        let rules = try kenyanRules()
        expectRealData(SpecSamples.z(rules: rules), rules: rules)
    }

    @Test("X (§4.5.2): sales, VAT, drawer and statistics to the cent")
    func xSample() throws {
        let rules = try kenyanRules()
        let figures = try ReportFigures.compute(SpecSamples.x(rules: rules), asOf: SpecSamples.xTakenAt)
        #expect(figures.sales.map(\.currency) == ["KES"])
        let kes = try #require(figures.sales.first)
        #expect(kes.gross == money("125450.00"))
        #expect(kes.discounts == money("5230.00"))
        #expect(kes.refunds == money("2100.00"))
        #expect(kes.voids == money("850.00"))
        #expect(kes.net == money("117270.00"))
        #expect(kes.vat == money("18763.20"))
        #expect(kes.grandTotal == money("136033.20"))
        #expect(kes.taxGroups.map(\.code) == ["B"])
        #expect(kes.taxGroups.first?.rate == TaxRate(units: 1600))
        #expect(kes.taxGroups.first?.base == money("117270.00"))
        #expect(kes.taxGroups.first?.amount == money("18763.20"))

        // Payments. The sample's lines (cash 68,500.00, M-Pesa 52,233.20, card 15,300.00) add up
        // to the grand total, which is net of refunds and voids, so they are nets; yet its drawer
        // counts the same 68,500.00 as cash received and takes the 1,200.00 of cash refunds off it
        // again. In the model the cash line is received − returned = 67,300.00, and the nets
        // still add up to the grand total, so the 1,200.00 shows on another line: here mobile
        // money, 53,433.20. Card is the sample's 15,300.00.
        let cash = try #require(kes.payments.first { $0.method == "cash" })
        #expect(cash.received == money("68500.00"))
        #expect(cash.returned == money("1200.00"))
        #expect(cash.net == money("67300.00"))
        let card = try #require(kes.payments.first { $0.method == "card" })
        #expect(card.net == money("15300.00"))
        let mobile = try #require(kes.payments.first { $0.method == "mobile_money" })
        #expect(mobile.net == money("53433.20"))
        #expect(kes.payments.map(\.method) == ["card", "cash", "mobile_money"])
        #expect(kes.paymentsTotal == kes.grandTotal)

        // The drawer is the sample's.
        let drawer = try #require(figures.drawer("KES"))
        #expect(figures.drawer.count == 1)
        #expect(drawer.openingFloat == money("5000.00"))
        #expect(drawer.cashReceived == money("68500.00"))
        #expect(drawer.changeGiven == .zero)
        #expect(drawer.cashRefunds == money("1200.00"))
        #expect(drawer.payouts == money("3500.00"))
        #expect(drawer.payIns == .zero)
        #expect(drawer.expected == money("68800.00"))

        // Statistics. The sample shows 142 transactions (average 957.98) beside 138 customers,
        // 2 refunds and 3 voids: those are 143 sealed invoices, so the model says 143 and an
        // average of 136,033.20 / 143 = 951.28.
        #expect(figures.statistics.customers == 138)
        #expect(kes.customers == 138)
        #expect(kes.refundCount == 2)
        #expect(kes.voidCount == 3)
        #expect(kes.discountCount == 28)
        #expect(figures.statistics.drawerOpens == 156)
        #expect(figures.statistics.noSales == 0)
        #expect(figures.statistics.transactions == 143)
        #expect(kes.transactions == 143)
        #expect(kes.average == money("951.28"))
        #expect(kes.itemsSold == pieces(552))

        // The cashiers: John 08:00-12:00 (closed), Jane 12:00-now (open).
        #expect(figures.sessions.map(\.cashierName) == ["John Mwangi", "Jane Wanjiku"])
        #expect(figures.sessions.map(\.openedAt) == [SpecSamples.at(8 * 60), SpecSamples.at(12 * 60)])
        #expect(figures.sessions.map(\.closedAt) == [SpecSamples.at(12 * 60), nil])
        #expect(figures.shiftStart == SpecSamples.at(8 * 60))
        #expect(figures.shiftEnd == SpecSamples.xTakenAt)
        let sessionNet = figures.sessions.flatMap(\.sales).reduce(Int64(0)) { $0 + $1.amount.units }
        #expect(sessionNet == kes.net.units)
        #expect(figures.firstSeq == 1001)
        #expect(figures.lastSeq == 1143)
    }

    @Test("Z (§4.6.3): sales, sessions, payments, tax summary and statistics to the cent")
    func zSample() throws {
        let rules = try kenyanRules()
        let figures = try ReportFigures.compute(SpecSamples.z(rules: rules), asOf: SpecSamples.zTakenAt)
        let kes = try #require(figures.sales.first)
        #expect(figures.sales.count == 1)
        #expect(kes.gross == money("215680.00"))
        #expect(kes.discounts == money("10450.00"))
        #expect(kes.refunds == money("3230.00"))
        #expect(kes.voids == money("2000.00"))
        #expect(kes.net == money("200000.00"))
        #expect(kes.vat == money("32000.00"))
        #expect(kes.grandTotal == money("232000.00"))

        // Sessions: John 62,500 (68), Jane 85,230 (92), John 52,270 (55); net of refunds and voids.
        #expect(figures.sessions.map(\.cashierName) == ["John Mwangi", "Jane Wanjiku", "John Mwangi"])
        #expect(
            figures.sessions.map { $0.sales.map(\.amount) } == [
                [money("62500.00")], [money("85230.00")], [money("52270.00")],
            ]
        )
        #expect(figures.sessions.map { $0.sales.map(\.count) } == [[68], [92], [55]])
        #expect(figures.sessions.map { $0.sales.map(\.currency) } == [["KES"], ["KES"], ["KES"]])

        // Payments: the counts are the sample's (128, 72, 12, 3 = 215). The sample's amounts
        // (120,500.00 + 85,000.00 + 20,000.00 + 6,500.00) add up to the net grand total while its
        // drawer counts 120,500.00 as cash received and takes 2,100.00 of cash refunds off again:
        // the model's cash line is 120,500.00 received − 2,100.00 returned = 118,400.00, and the
        // 2,100.00 shows on mobile money (87,100.00) so the nets still make the grand total.
        let lines = Dictionary(uniqueKeysWithValues: kes.payments.map { ($0.method, $0) })
        #expect(lines.keys.sorted() == ["card", "cash", "mobile_money", "voucher"])
        #expect(lines["cash"]?.count == 128)
        #expect(lines["mobile_money"]?.count == 72)
        #expect(lines["card"]?.count == 12)
        #expect(lines["voucher"]?.count == 3)
        #expect(lines["cash"]?.received == money("120500.00"))
        #expect(lines["cash"]?.returned == money("2100.00"))
        #expect(lines["cash"]?.net == money("118400.00"))
        #expect(lines["mobile_money"]?.net == money("87100.00"))
        #expect(lines["card"]?.net == money("20000.00"))
        #expect(lines["voucher"]?.net == money("6500.00"))
        #expect(kes.paymentsTotal == money("232000.00"))
        #expect(kes.payments.reduce(0) { $0 + $1.count } == 215)

        // Drawer: 5,000 + 120,500 − 2,100 − 8,000 = 115,400.00.
        let drawer = try #require(figures.drawer("KES"))
        #expect(drawer.openingFloat == money("5000.00"))
        #expect(drawer.cashReceived == money("120500.00"))
        #expect(drawer.changeGiven == .zero)
        #expect(drawer.cashRefunds == money("2100.00"))
        #expect(drawer.payouts == money("8000.00"))
        #expect(drawer.payIns == .zero)
        #expect(drawer.expected == money("115400.00"))

        // Statistics.
        #expect(figures.statistics.transactions == 215)
        #expect(kes.average == money("1079.07"))
        #expect(figures.statistics.customers == 208)
        #expect(kes.itemsSold == pieces(1_247))
        #expect(kes.voidCount == 4)
        #expect(kes.refundCount == 3)
        #expect(kes.discountCount == 52)
        #expect(figures.statistics.drawerOpens == 245)
        #expect(figures.statistics.noSales == 12)

        // Tax summary: VAT 16 % on 200,000.00 is 32,000.00; exempt sales of 360.00 all refunded.
        #expect(kes.taxGroups.map(\.code) == ["A", "B"])
        let exempt = try #require(kes.taxGroups.first { $0.code == "A" })
        #expect(exempt.rate == TaxRate(units: 0))
        #expect(exempt.base == .zero)
        #expect(exempt.amount == .zero)
        let vat = try #require(kes.taxGroups.first { $0.code == "B" })
        #expect(vat.base == money("200000.00"))
        #expect(vat.amount == money("32000.00"))
    }

    @Test("Z (§4.6.3): counted 115,350.00 against 115,400.00 is 50.00 SHORT, with its explanation")
    func zReconciliation() throws {
        let rules = try kenyanRules()
        let figures = try ReportFigures.compute(SpecSamples.z(rules: rules), asOf: SpecSamples.zTakenAt)
        let expected = Dictionary(uniqueKeysWithValues: figures.drawer.map { ($0.currency, $0.expected) })
        #expect(
            SpecSamples.zCount.violations(
                settings: SpecSamples.zSettings,
                currencies: rules.currencies,
                expected: expected
            )
            .isEmpty
        )
        #expect(SpecSamples.zCount.totals() == ["KES": money("115350.00")])

        let reconciliation = try CashReconciliation.reconcile(
            figures,
            count: SpecSamples.zCount,
            settings: SpecSamples.zSettings,
            explanation: "  Coin counting rounding "
        )
        let line = try #require(reconciliation.lines.first)
        #expect(reconciliation.lines.count == 1)
        #expect(line.currency == "KES")
        #expect(line.expected == money("115400.00"))
        #expect(line.counted == money("115350.00"))
        #expect(line.variance == money("-50.00"))
        #expect(line.status == .short)
        #expect(reconciliation.explanation == "Coin counting rounding")

        // Above the 20.00 threshold, a missing (or blank) explanation is refused.
        for missing in [nil, "", "   "] as [String?] {
            let error = #expect(throws: FiscalError.self) {
                try CashReconciliation.reconcile(
                    figures,
                    count: SpecSamples.zCount,
                    settings: SpecSamples.zSettings,
                    explanation: missing
                )
            }
            #expect(error?.code == .varianceExplanationRequired)
            #expect(error?.message.contains("KES -50.00") == true, "\(error?.message ?? "")")
        }
        // At or under the threshold, none is needed.
        var lenient = SpecSamples.zSettings
        lenient.varianceThresholds = ["KES": whole(50)]
        let quiet = try CashReconciliation.reconcile(
            figures,
            count: SpecSamples.zCount,
            settings: lenient,
            explanation: nil
        )
        #expect(quiet.explanation == nil)
        #expect(quiet.lines.first?.status == .short)
    }
}
