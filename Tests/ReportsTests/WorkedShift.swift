import FiscalCore
import Reports

/// The worked shift of docs/REPORTS.md: one register in Kinshasa, CDF and USD, under the default
/// rules (A exempt, B 16 %, C 8 %), every figure computed there by hand.
enum WorkedShift {
    static let day = "2026-11-21"
    static func at(_ minute: Int) -> String { stamp(day, minute, offset: "+01:00") }
    static let rate = ExchangeRate(decimalText: "2850")!

    static let amani = ReportInput.Session(
        id: 31,
        cashierID: "CASH-07",
        cashierName: "Amani K.",
        openedAt: at(8 * 60),
        closedAt: at(12 * 60)
    )
    static let bob = ReportInput.Session(id: 32, cashierID: "CASH-08", cashierName: "Bob L.", openedAt: at(12 * 60))

    static func input() -> ReportInput {
        var shift = ShiftBuilder(rules: .default, firstSeq: 41)
        // 41: the worked sale of docs/SHOP_DAY.md: 37,304.00 CDF, 2,500.00 off the rice, paid
        // with a USD 20 note at 2,850, 19,696.00 CDF given back.
        shift.add(
            session: amani,
            at: at(9 * 60 + 10),
            currency: "CDF",
            lines: [
                .init(
                    description: "Riz 5 kg",
                    quantity: pieces(2),
                    unitPrice: whole(12_500),
                    group: "B",
                    discount: whole(2_500)
                ),
                .init(
                    description: "Huile 1 L",
                    quantity: Quantity(decimalText: "1.5")!,
                    unitPrice: whole(4_200),
                    group: "C"
                ),
                .init(description: "Pain", quantity: pieces(3), unitPrice: whole(500), group: "A"),
            ],
            pay: { total in [Invoice.Payment(method: .cash, amount: total)] },
            tender: { _ in
                (
                    [SaleContext.Tender(method: .cash, currency: "USD", amount: whole(20), rate: rate)],
                    [SaleContext.Change(currency: "CDF", amount: whole(19_696))]
                )
            }
        )
        // 42: a solar lamp, 29.00 USD, a 30-dollar payment and 1.00 USD change.
        shift.add(
            session: amani,
            at: at(10 * 60 + 30),
            currency: "USD",
            lines: [.init(description: "Lampe solaire", quantity: pieces(1), unitPrice: whole(25), group: "B")],
            pay: { _ in [Invoice.Payment(method: .cash, amount: whole(30))] },
            tender: { _ in
                (
                    [SaleContext.Tender(method: .cash, currency: "USD", amount: whole(30))],
                    [SaleContext.Change(currency: "USD", amount: whole(1))]
                )
            }
        )
        // 43: sugar, 6,960.00 CDF by mobile money.
        shift.sale(
            session: amani,
            at: at(11 * 60 + 15),
            currency: "CDF",
            lines: [.init(description: "Sucre 1 kg", quantity: pieces(2), unitPrice: whole(3_000), group: "B")],
            method: .mobileMoney
        )
        // 44: soap, 5,800.00 CDF, 500.00 off, paid with 10,000.00 CDF, 4,200.00 back.
        shift.add(
            session: bob,
            at: at(13 * 60),
            currency: "CDF",
            lines: [
                .init(
                    description: "Savon",
                    quantity: pieces(4),
                    unitPrice: whole(1_250),
                    group: "B",
                    discount: whole(500)
                )
            ],
            pay: { _ in [Invoice.Payment(method: .cash, amount: whole(10_000))] },
            tender: { _ in
                (
                    [SaleContext.Tender(method: .cash, currency: "CDF", amount: whole(10_000))],
                    [SaleContext.Change(currency: "CDF", amount: whole(4_200))]
                )
            }
        )
        // 45: one soap returned, 1,450.00 CDF handed back in cash.
        shift.sale(
            .refund,
            of: 44,
            session: bob,
            at: at(14 * 60 + 20),
            currency: "CDF",
            lines: [.init(description: "Savon", quantity: pieces(1), unitPrice: whole(1_250), group: "B")],
            method: .cash
        )
        // 46: the sugar sale cancelled, 6,960.00 CDF back by mobile money.
        shift.sale(
            .creditNote,
            of: 43,
            session: bob,
            at: at(15 * 60),
            currency: "CDF",
            lines: [.init(description: "Sucre 1 kg", quantity: pieces(2), unitPrice: whole(3_000), group: "B")],
            method: .mobileMoney
        )
        // 47: two chargers, 17.40 USD by card.
        shift.sale(
            session: bob,
            at: at(15 * 60 + 30),
            currency: "USD",
            lines: [.init(description: "Chargeur", quantity: pieces(2), unitPrice: money("7.50"), group: "B")],
            method: .card
        )
        shift.event(.payout, whole(5_000), "CDF", session: amani)
        shift.event(.lineVoid, whole(1_200), "CDF", session: amani)
        shift.event(.drawerOpen, session: amani, times: 2)
        shift.event(.noSale, session: amani)
        shift.event(.payIn, whole(10_000), "CDF", session: bob)
        shift.event(.payout, whole(5), "USD", session: bob)
        shift.event(.drawerOpen, session: bob, times: 2)
        return ReportInput(
            terminal: "REG-001",
            periodID: 12,
            openedBy: "SUP-01",
            openedAt: at(8 * 60),
            openingFloat: CurrencyAmounts(["CDF": whole(50_000), "USD": whole(20)]),
            sessions: [amani, bob],
            invoices: shift.sealed,
            events: shift.events
        )
    }

    static let closedAt = at(16 * 60 + 5)

    /// 39,650.00 CDF (4.00 short, under the 2,000.00 threshold) and 64.00 USD (balanced).
    static let count = CashCount([
        "CDF": ["20000": 1, "10000": 1, "5000": 1, "1000": 4, "500": 1, "100": 1, "50": 1],
        "USD": ["20": 3, "1": 4],
    ])
}
