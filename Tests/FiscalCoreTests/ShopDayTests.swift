import FiscalCore
import Foundation
import SampleData
import Testing

/// The shop's day as values (docs/SHOP_DAY.md): the terminal's day as a state machine, the sale
/// context's rules one by one, cash events and floats.
@Suite("Shop day values")
struct ShopDayTests {
    typealias Machine = TerminalDay.StateMachine
    static let strict = Machine.Requirements(period: true, session: true)

    // MARK: The terminal's day

    @Test("a period opens once; a second OPEN_PERIOD is WORK_PERIOD_OPEN and changes nothing")
    func onePeriodPerTerminal() throws {
        var day = Machine()
        #expect(try day.handle(.openPeriod) == .openPeriod(adopting: nil))
        day.opened(WorkPeriodID(1))
        let before = day
        let error = try #require(throws: FiscalError.self) { try day.handle(.openPeriod) }
        #expect(error.code == .workPeriodOpen)
        #expect(day == before)
    }

    @Test("a session opened before the period moves into it; a LOGIN of another cashier is a handover")
    func sessionsLiveInsideThePeriod() throws {
        var day = Machine()
        #expect(try day.handle(.logIn(cashier: "ANNE")) == .openSession(cashier: "ANNE", period: nil, closing: nil))
        day.sessionOpened(.init(id: CashierSessionID(10), cashier: "ANNE", period: nil))
        #expect(try day.handle(.openPeriod) == .openPeriod(adopting: CashierSessionID(10)))
        day.opened(WorkPeriodID(3))
        #expect(day.session?.period == WorkPeriodID(3))
        // The same cashier again keeps the session.
        #expect(try day.handle(.logIn(cashier: "ANNE")) == Machine.Action.none)
        // Another cashier: the first session closes, the next opens in the same period.
        #expect(
            try day.handle(.logIn(cashier: "BOB"))
                == .openSession(cashier: "BOB", period: WorkPeriodID(3), closing: CashierSessionID(10))
        )
        day.sessionOpened(.init(id: CashierSessionID(11), cashier: "BOB", period: WorkPeriodID(3)))
        #expect(
            try day.handle(.sell(cashier: "BOB", Self.strict))
                == .attribute(period: WorkPeriodID(3), session: CashierSessionID(11))
        )
    }

    @Test(
        "a sale needs a period and its cashier's session",
        arguments: [
            (false, nil as String?, "ANNE", ErrorCode.workPeriodClosed),
            (true, nil, "ANNE", .notLoggedIn),
            (true, "ANNE", "BOB", .cashierMismatch),
        ]
    )
    func saleRefusals(periodOpen: Bool, cashier: String?, invoiceCashier: String, code: ErrorCode) throws {
        var day = Machine(
            period: periodOpen ? WorkPeriodID(1) : nil,
            session: cashier.map {
                .init(id: CashierSessionID(1), cashier: $0, period: periodOpen ? WorkPeriodID(1) : nil)
            }
        )
        let before = day
        let error = try #require(throws: FiscalError.self) {
            try day.handle(.sell(cashier: invoiceCashier, Self.strict))
        }
        #expect(error.code == code)
        #expect(day == before)
    }

    @Test("without work periods (serve --no-work-periods) a sale is attributed to what there is")
    func saleWithoutPeriods() throws {
        var day = Machine(session: .init(id: CashierSessionID(4), cashier: "ANNE", period: nil))
        let loose = Machine.Requirements(period: false, session: true)
        #expect(try day.handle(.sell(cashier: "ANNE", loose)) == .attribute(period: nil, session: CashierSessionID(4)))
    }

    @Test("cash events need a period and a session; closing twice is WORK_PERIOD_CLOSED")
    func cashEventsAndClosing() throws {
        var day = Machine()
        #expect(throws: FiscalError.self) { try day.handle(.cashEvent) }
        #expect(try day.handle(.openPeriod) == .openPeriod(adopting: nil))
        day.opened(WorkPeriodID(7))
        let noSession = try #require(throws: FiscalError.self) { try day.handle(.cashEvent) }
        #expect(noSession.code == .notLoggedIn)
        _ = try day.handle(.logIn(cashier: "ANNE"))
        day.sessionOpened(.init(id: CashierSessionID(2), cashier: "ANNE", period: WorkPeriodID(7)))
        #expect(try day.handle(.cashEvent) == .attribute(period: WorkPeriodID(7), session: CashierSessionID(2)))
        let wrong = try #require(throws: FiscalError.self) { try day.handle(.closePeriod(WorkPeriodID(6))) }
        #expect(wrong.code == .workPeriodClosed)
        #expect(
            try day.handle(.closePeriod(WorkPeriodID(7)))
                == .closePeriod(WorkPeriodID(7), closingSession: CashierSessionID(2))
        )
        let twice = try #require(throws: FiscalError.self) { try day.handle(.closePeriod(WorkPeriodID(7))) }
        #expect(twice.code == .workPeriodClosed)
        #expect(day == Machine())
    }

    // MARK: The sale context

    /// A CDF sale of three lines (total 118.38 CDF).
    static let invoice = SampleInvoices.sale(lines: 3, seed: 0)

    static func usd(_ amount: String, rate: String? = "2850") -> SaleContext.Tender {
        SaleContext.Tender(
            method: .cash,
            currency: "USD",
            amount: Money(decimalText: amount)!,
            rate: rate.map { ExchangeRate(decimalText: $0)! }
        )
    }

    static func cdf(_ amount: String) -> Money { Money(decimalText: amount)! }

    @Test("USD notes for a CDF total with change in CDF add up")
    func twoCurrencyTender() throws {
        let total = Self.invoice.totals.total
        #expect(total == Self.cdf("118.38"))
        // 20 USD at 2850 = 57000 CDF; change is the rest, in CDF.
        let change = Money(units: 5_700_000 - total.units)
        let context = SaleContext(
            discounts: [.init(item: 0, amount: Self.cdf("500"))],
            tendered: [Self.usd("20")],
            change: [.init(currency: "CDF", amount: change)]
        )
        #expect(context.violations(against: Self.invoice, rules: .default).isEmpty)
        // Mixed: 100 CDF and one US cent (28.50 CDF) cover 118.38 CDF.
        let mixed = SaleContext(
            tendered: [.init(method: .cash, currency: "CDF", amount: Self.cdf("100")), Self.usd("0.01")]
        )
        #expect(mixed.violations(against: Self.invoice, rules: .default).isEmpty)
    }

    static let broken: [(String, SaleContext, ErrorCode, String)] = [
        (
            "discount on no line", SaleContext(discounts: [.init(item: 9, amount: cdf("1"))]), .discountExceedsLine,
            "$.discounts[0].item"
        ),
        (
            "negative discount", SaleContext(discounts: [.init(item: 0, amount: cdf("-1"))]), .amountNegative,
            "$.discounts[0].amount"
        ),
        (
            "a line discounted twice",
            SaleContext(discounts: [.init(item: 1, amount: cdf("1")), .init(item: 1, amount: cdf("2"))]),
            .formatInvalid, "$.discounts[1].item"
        ),
        (
            "a discount beyond money", SaleContext(discounts: [.init(item: 0, amount: Money(units: Money.limit))]),
            .valueOutOfRange, "$.discounts[0].amount"
        ),
        ("tender short", SaleContext(tendered: [usd("0.04")]), .tenderInsufficient, "$.tendered"),
        ("USD without a rate", SaleContext(tendered: [usd("20", rate: nil)]), .rateInvalid, "$.tendered[0].rate"),
        ("a zero rate", SaleContext(tendered: [usd("20", rate: "0")]), .rateInvalid, "$.tendered[0].rate"),
        (
            "CDF at another rate than 1",
            SaleContext(tendered: [
                .init(method: .cash, currency: "CDF", amount: cdf("40000"), rate: ExchangeRate(decimalText: "2")!)
            ]),
            .rateInvalid, "$.tendered[0].rate"
        ),
        (
            "a currency not accepted",
            SaleContext(tendered: [
                .init(method: .cash, currency: "EUR", amount: cdf("40"), rate: ExchangeRate(decimalText: "3000")!)
            ]),
            .unknownCurrency, "$.tendered[0].currency"
        ),
        ("a negative tender", SaleContext(tendered: [usd("-20")]), .amountNegative, "$.tendered[0].amount"),
        (
            "change above the excess",
            SaleContext(tendered: [usd("20")], change: [.init(currency: "CDF", amount: cdf("60000"))]),
            .changeExceedsTender, "$.change"
        ),
        (
            "change in USD with no USD tendered",
            SaleContext(
                tendered: [.init(method: .cash, currency: "CDF", amount: cdf("50000"))],
                change: [.init(currency: "USD", amount: cdf("1"))]
            ),
            .rateInvalid, "$.change[0].currency"
        ),
        (
            "change with nothing tendered", SaleContext(change: [.init(currency: "CDF", amount: cdf("1"))]),
            .changeExceedsTender, "$.change"
        ),
        (
            "negative change",
            SaleContext(tendered: [usd("20")], change: [.init(currency: "CDF", amount: cdf("-1"))]),
            .amountNegative, "$.change[0].amount"
        ),
        (
            "two rates for one currency",
            SaleContext(tendered: [usd("10", rate: "2850"), usd("10", rate: "2800")]),
            .rateInvalid, "$.tendered[1].rate"
        ),
    ]

    @Test("each rule of the sale context, broken alone, is named with its path", arguments: broken.indices)
    func eachRule(index: Int) {
        let (name, context, code, path) = Self.broken[index]
        let found = context.violations(against: Self.invoice, rules: .default)
        #expect(found.contains { $0.code == code && $0.path == path }, "\(name): \(found)")
    }

    @Test("the largest amounts and rates convert without trapping")
    func hugeAmounts() {
        let context = SaleContext(
            tendered: [
                .init(
                    method: .cash,
                    currency: "USD",
                    amount: Money(units: Money.limit),
                    rate: ExchangeRate(units: ExchangeRate.limit)
                )
            ],
            change: [.init(currency: "CDF", amount: Money(units: Money.limit))]
        )
        #expect(context.violations(against: Self.invoice, rules: .default).isEmpty)
        let decoded = try? JSONDecoder().decode(
            SaleContext.self,
            from: Data(#"{"tendered":[{"method":"cash","currency":"USD","amount":1e300,"rate":"1"}]}"#.utf8)
        )
        #expect(decoded == nil)
    }

    @Test("the stored form is stable and reads back")
    func storedForm() throws {
        let context = SaleContext(discounts: [.init(item: 0, amount: Self.cdf("500"))], tendered: [Self.usd("20")])
        let stored = context.storedJSON()
        #expect(stored == context.storedJSON())
        #expect(try JSONDecoder().decode(SaleContext.self, from: Data(stored.utf8)) == context)
    }

    // MARK: Cash events and floats

    @Test(
        "cash events: amounts, currencies, kinds",
        arguments: [
            (
                CashEvent(eventID: "e", kind: .payout, amount: Money(units: -1), currency: "CDF"),
                ErrorCode.amountNegative
            ),
            (CashEvent(eventID: "e", kind: .payIn, amount: Money(units: 100), currency: "EUR"), .unknownCurrency),
            (CashEvent(eventID: "e", kind: .payout), .fieldMissing),
            (CashEvent(eventID: "e", kind: .noSale, amount: Money(units: 1), currency: "CDF"), .formatInvalid),
            (
                CashEvent(eventID: "e", kind: .drawerOpen, reason: String(repeating: "r", count: 129)),
                .fieldTooLong
            ),
        ]
    )
    func cashEventRules(event: CashEvent, code: ErrorCode) {
        #expect(event.violations(currencies: ["CDF", "USD"]).map(\.code).contains(code))
    }

    @Test("a well-formed cash event of each kind passes; an unknown kind is named")
    func cashEventKinds() throws {
        for kind in CashEvent.Kind.allCases {
            let event =
                kind.hasAmount
                ? CashEvent(eventID: "e", kind: kind, amount: Money(units: 100), currency: "USD", reason: "x")
                : CashEvent(eventID: "e", kind: kind)
            #expect(event.violations(currencies: ["CDF", "USD"]).isEmpty, "\(kind)")
        }
        let odd = try JSONDecoder().decode(CashEvent.self, from: Data(#"{"event_id":"e","kind":"theft"}"#.utf8))
        #expect(odd.violations(currencies: ["CDF"]).first?.path == "$.kind")
    }

    @Test("a float per currency: not negative, accepted currencies only")
    func floats() throws {
        let float = try JSONDecoder().decode(
            CurrencyAmounts.self,
            from: Data(#"{"CDF":"50000","USD":20,"EUR":"1","XAF":"-1"}"#.utf8)
        )
        let found = float.violations(currencies: ["CDF", "USD", "XAF"], at: JSONPath.root["opening_float"])
        #expect(found.map(\.path).sorted() == ["$.opening_float.EUR", "$.opening_float.XAF"])
        #expect(
            CurrencyAmounts(["USD": Money(units: 2000), "CDF": Money(units: 5)]).storedJSON()
                == #"{"CDF":"0.05","USD":"20.00"}"#
        )
    }
}
