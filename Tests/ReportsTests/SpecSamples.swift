import FiscalCore
import Reports

/// The seed spec's sample X (§4.5.2) and Z (§4.6.3) as work periods of sealed invoices, contexts
/// and events, in Kenyan shillings under the fixture rules file (B: VAT 16 %, A: exempt).
///
/// The invoices are built in cells (a session's sales paid one way), each cell's 16 % base split
/// over its invoices in whole shillings, so that every VAT amount is exact and the sums are the
/// spec's to the cent. How each target was reached is in docs/REPORTS.md ("The spec's samples").
enum SpecSamples {
    static let day = "2026-01-24"
    static let offset = "+03:00"
    static func at(_ minute: Int, second: Int = 0) -> String { stamp(day, minute, second: second, offset: offset) }

    /// A sale's lines: `count` pieces in all, a few 50-shilling loaves and one line with the
    /// rest of the 16 % base (its discount on it), plus an exempt line when `exempt` is not zero.
    static func lines(base: Int64, exempt: Int64 = 0, discount: Int64 = 0, count: Int64) -> [ShiftBuilder.Line] {
        let loaves = count - 1 - (exempt > 0 ? 1 : 0)
        var lines = [
            ShiftBuilder.Line(description: "Bread 400 g", quantity: pieces(loaves), unitPrice: whole(50), group: "B"),
            ShiftBuilder.Line(
                description: "Groceries",
                quantity: pieces(1),
                unitPrice: whole(base - loaves * 50),
                group: "B",
                discount: whole(discount)
            ),
        ]
        if exempt > 0 {
            lines.append(
                ShiftBuilder.Line(
                    description: "Maize flour 2 kg",
                    quantity: pieces(1),
                    unitPrice: whole(exempt),
                    group: "A"
                )
            )
        }
        return lines
    }

    /// `base` over `count` invoices in whole units: the first takes twice the share (a bigger
    /// basket, which later refunds can name), the others share the rest, the last the remainder.
    static func bases(_ base: Int64, over count: Int) -> [Int64] {
        guard count > 1 else { return [base] }
        let share = base / Int64(count)
        let first = count >= 3 ? 2 * share : share
        let rest = (base - first) / Int64(count - 1)
        var result = [first] + Array(repeating: rest, count: count - 1)
        result[count - 1] += base - result.reduce(0, +)
        return result
    }

    /// One cell: `count` sales in a session paid one way (or split), with a 16 % base in all.
    struct Cell {
        var session: Int64
        var method: Invoice.Payment.Method
        var count: Int
        var base: Int64
        var exempt: Int64 = 0
        /// A split sale: the amounts of the methods before the last, which takes the rest.
        var split: [(Invoice.Payment.Method, Money?)] = []
    }

    /// A refund or credit note: its 16 % base, exempt part, and how it was handed back.
    struct Correction {
        var session: Int64
        var type: Invoice.InvoiceType
        var base: Int64
        var exempt: Int64 = 0
        var parts: [(Invoice.Payment.Method, Money?)]
    }

    static let john = "CASH-01"
    static let jane = "CASH-02"

    // MARK: The X (§4.5.2): 14:30:25, John 08:00-12:00, Jane 12:00-now.

    static let xSessions = [
        ReportInput.Session(
            id: 1,
            cashierID: john,
            cashierName: "John Mwangi",
            openedAt: at(8 * 60),
            closedAt: at(12 * 60)
        ),
        ReportInput.Session(id: 2, cashierID: jane, cashierName: "Jane Wanjiku", openedAt: at(12 * 60)),
    ]

    static func x(rules: FiscalRules) -> ReportInput {
        // 138 sales, 120,220.00 of 16 % base: cash 68,500.00 received (67,280.00 alone and
        // 1,220.00 of a split), card 16,112.00, mobile money 54,843.20.
        let cells = [
            Cell(session: 1, method: .cash, count: 40, base: 29_000),
            Cell(session: 1, method: .card, count: 6, base: 6_500),
            Cell(session: 1, method: .mobileMoney, count: 23, base: 23_000),
            Cell(
                session: 1,
                method: .mobileMoney,
                count: 1,
                base: 2_000,
                split: [(.cash, whole(1_220)), (.mobileMoney, nil)]
            ),
            Cell(session: 2, method: .cash, count: 40, base: 29_000),
            Cell(session: 2, method: .card, count: 6, base: 6_500),
            Cell(session: 2, method: .mobileMoney, count: 21, base: 22_720),
            Cell(
                session: 2,
                method: .mobileMoney,
                count: 1,
                base: 1_500,
                split: [(.card, whole(1_032)), (.mobileMoney, nil)]
            ),
        ]
        // Refunds 2,100.00 (1,500 + 600), voids 850.00 (500 + 250 + 100); 1,200.00 of it in cash.
        let corrections = [
            Correction(session: 1, type: .refund, base: 1_500, parts: [(.cash, whole(1_200)), (.mobileMoney, nil)]),
            Correction(session: 1, type: .creditNote, base: 500, parts: [(.mobileMoney, nil)]),
            Correction(session: 2, type: .refund, base: 600, parts: [(.card, nil)]),
            Correction(session: 2, type: .creditNote, base: 250, parts: [(.mobileMoney, nil)]),
            Correction(session: 2, type: .creditNote, base: 100, parts: [(.card, nil)]),
        ]
        var shift = ShiftBuilder(rules: rules, firstSeq: 1001)
        ring(
            &shift,
            sessions: xSessions,
            spans: [1: (8 * 60, 12 * 60), 2: (12 * 60, 14 * 60 + 29)],
            cells: cells,
            corrections: corrections,
            itemsPerSale: 4,
            discount: { index in index % 5 == 0 ? (index < 10 ? 210 : 185) : 0 },
            lastSaleItems: 4
        )
        // Payouts 3,500.00; 156 drawer openings.
        shift.event(.payout, whole(2_000), "KES", session: xSessions[0])
        shift.event(.payout, whole(1_500), "KES", session: xSessions[1])
        shift.event(.drawerOpen, session: xSessions[0], times: 80)
        shift.event(.drawerOpen, session: xSessions[1], times: 76)
        return ReportInput(
            terminal: "REG-001",
            periodID: 1247,
            openedBy: "SUP-01",
            openedAt: at(8 * 60),
            openingFloat: CurrencyAmounts(["KES": whole(5_000)]),
            sessions: xSessions,
            invoices: shift.sealed,
            events: shift.events
        )
    }

    static let xTakenAt = at(14 * 60 + 30, second: 25)

    // MARK: The Z (§4.6.3): 20:15, John 08:00-12:00, Jane 12:00-16:00, John 16:00-20:15.

    static let zSessions = [
        ReportInput.Session(
            id: 1,
            cashierID: john,
            cashierName: "John Mwangi",
            openedAt: at(8 * 60),
            closedAt: at(12 * 60)
        ),
        ReportInput.Session(
            id: 2,
            cashierID: jane,
            cashierName: "Jane Wanjiku",
            openedAt: at(12 * 60),
            closedAt: at(16 * 60)
        ),
        ReportInput.Session(id: 3, cashierID: john, cashierName: "John Mwangi", openedAt: at(16 * 60)),
    ]

    static func z(rules: FiscalRules) -> ReportInput {
        // 208 sales: cash 127 (120,500.00), mobile money 68 (89,965.20), card 10 (21,044.00),
        // voucher 3 (6,500.00); 204,870.00 of 16 % base and 360.00 exempt.
        let cells = [
            Cell(session: 1, method: .cash, count: 40, base: 32_000, exempt: 150),
            Cell(session: 1, method: .mobileMoney, count: 22, base: 23_650),
            Cell(session: 1, method: .card, count: 3, base: 6_000),
            Cell(session: 1, method: .voucher, count: 1, base: 2_000),
            Cell(session: 2, method: .cash, count: 55, base: 44_000),
            Cell(session: 2, method: .mobileMoney, count: 29, base: 34_828, exempt: 42),
            Cell(session: 2, method: .card, count: 4, base: 7_100),
            Cell(session: 2, method: .voucher, count: 1, base: 2_000, exempt: 120),
            Cell(session: 3, method: .cash, count: 32, base: 27_750),
            Cell(session: 3, method: .mobileMoney, count: 17, base: 19_042),
            Cell(session: 3, method: .card, count: 3, base: 5_000, exempt: 48),
            Cell(session: 3, method: .voucher, count: 1, base: 1_500),
        ]
        // Refunds 3,230.00 (1,860 + 870 + 500), voids 2,000.00 (800 + 600 + 400 + 200); the
        // refund of 1,500.00 at 16 % and 360.00 exempt, 2,100.00 in all, paid back in cash.
        let corrections = [
            Correction(session: 1, type: .refund, base: 500, parts: [(.card, nil)]),
            Correction(session: 1, type: .creditNote, base: 800, parts: [(.mobileMoney, nil)]),
            Correction(session: 2, type: .refund, base: 1_500, exempt: 360, parts: [(.cash, nil)]),
            Correction(session: 2, type: .creditNote, base: 600, parts: [(.mobileMoney, nil)]),
            Correction(session: 2, type: .creditNote, base: 400, parts: [(.card, nil)]),
            Correction(session: 3, type: .refund, base: 870, parts: [(.mobileMoney, nil)]),
            Correction(session: 3, type: .creditNote, base: 200, parts: [(.mobileMoney, nil)]),
        ]
        var shift = ShiftBuilder(rules: rules, firstSeq: 1)
        ring(
            &shift,
            sessions: zSessions,
            spans: [1: (8 * 60, 12 * 60), 2: (12 * 60, 16 * 60), 3: (16 * 60, 20 * 60 + 14)],
            cells: cells,
            corrections: corrections,
            itemsPerSale: 6,
            discount: { index in index % 4 == 0 ? (index < 8 ? 225 : 200) : 0 },
            lastSaleItems: 5
        )
        // Payouts 8,000.00; 245 drawer openings, 12 of them no-sales.
        let (s1, s2, s3) = (zSessions[0], zSessions[1], zSessions[2])
        shift.event(.payout, whole(5_000), "KES", session: s1)
        shift.event(.payout, whole(2_000), "KES", session: s2)
        shift.event(.payout, whole(1_000), "KES", session: s3)
        shift.event(.drawerOpen, session: s1, times: 80)
        shift.event(.drawerOpen, session: s2, times: 93)
        shift.event(.drawerOpen, session: s3, times: 60)
        shift.event(.noSale, session: s1, times: 4)
        shift.event(.noSale, session: s2, times: 5)
        shift.event(.noSale, session: s3, times: 3)
        return ReportInput(
            terminal: "REG-001",
            periodID: 1247,
            openedBy: "SUP-01",
            openedAt: at(8 * 60),
            openingFloat: CurrencyAmounts(["KES": whole(5_000)]),
            sessions: zSessions,
            invoices: shift.sealed,
            events: shift.events
        )
    }

    static let zTakenAt = at(20 * 60 + 15)

    /// The count of the spec's Z: 115,350.00 in KES notes and coins (the spec's own count
    /// screen, §4.6.4, adds up to 87,350.00: it has 15 notes of 1,000 where 43 make its total).
    static let zCount = CashCount([
        "KES": [
            "1000": 43, "500": 42, "200": 85, "100": 234, "50": 156, "40": 28, "20": 45, "10": 63, "5": 40, "1": 300,
        ]
    ])

    /// Kenyan notes and coins, and a threshold of 20 shillings, so the spec's 50.00 short needs
    /// its explanation.
    static let zSettings = ReportSettings(
        businessName: "SuperMart Nairobi",
        denominations: ["KES": ["2000", "1000", "500", "200", "100", "50", "40", "20", "10", "5", "1"].map(money)],
        varianceThresholds: ["KES": whole(20)]
    )

    /// Rings up `cells` session by session, each session's corrections after its sales, times
    /// spread over the session's span; `discount(index)` is the discount of the index-th sale.
    static func ring(
        _ shift: inout ShiftBuilder,
        sessions: [ReportInput.Session],
        spans: [Int64: (Int, Int)],
        cells: [Cell],
        corrections: [Correction],
        itemsPerSale: Int64,
        discount: (Int) -> Int64,
        lastSaleItems: Int64
    ) {
        let saleCount = cells.reduce(0) { $0 + $1.count }
        var index = 0
        for session in sessions {
            let mine = cells.filter { $0.session == session.id }
            let fixes = corrections.filter { $0.session == session.id }
            let count = mine.reduce(0) { $0 + $1.count } + fixes.count
            let (start, end) = spans[session.id]!
            var slot = 0
            func time() -> String {
                defer { slot += 1 }
                return at(start + (end - start) * slot / max(count, 1), second: (slot * 7) % 60)
            }
            for cell in mine {
                for (position, base) in bases(cell.base, over: cell.count).enumerated() {
                    let lines = lines(
                        base: base,
                        exempt: position == 0 ? cell.exempt : 0,
                        discount: discount(index),
                        count: index == saleCount - 1 ? lastSaleItems : itemsPerSale
                    )
                    let parts = cell.split.isEmpty ? [(cell.method, Money?.none)] : cell.split
                    shift.split(session: session, at: time(), currency: "KES", lines: lines, parts: parts)
                    index += 1
                }
            }
            for fix in fixes {
                var lines = [
                    ShiftBuilder.Line(
                        description: "Groceries",
                        quantity: pieces(1),
                        unitPrice: whole(fix.base),
                        group: "B"
                    )
                ]
                if fix.exempt > 0 {
                    lines.append(
                        ShiftBuilder.Line(
                            description: "Maize flour 2 kg",
                            quantity: pieces(2),
                            unitPrice: whole(fix.exempt / 2),
                            group: "A"
                        )
                    )
                }
                shift.split(fix.type, session: session, at: time(), currency: "KES", lines: lines, parts: fix.parts)
            }
        }
    }
}
