public import FiscalCore

/// Valid invoices for tests, benchmarks and demos, with every sum computed by the same rules
/// validation checks.
public enum SampleInvoices {
    /// The cashier the samples are rung up by unless told otherwise.
    public static let cashier = "CASH-01"

    /// A sale of `lines` items spread over tax groups B (16 %), C (8 %) and A (exempt), paid
    /// in cash (with change) or by mobile money.
    public static func sale(
        lines: Int = 3,
        terminal: String = "REG-001",
        cashier: String = SampleInvoices.cashier,
        lane: Int? = 1,
        currency: String = "CDF",
        seed: Int = 0,
        payment: Invoice.Payment.Method? = nil,
        outlet: String = "OUTLET-KIN-01"
    ) -> Invoice {
        let groups = ["B", "C", "A"]
        let items = (0..<max(1, lines)).map { index in
            Invoice.Item(
                code: "ART-\(100 + (index + seed) % 900)",
                description: "Article \(index + 1)",
                quantity: Quantity(units: Int64(1000 * (1 + index % 3) + (index % 2) * 500)),
                unitPrice: Money(units: Int64(1250 + 375 * ((index + seed) % 17))),
                taxGroup: groups[index % groups.count]
            )
        }
        return build(
            type: .sale,
            items: items,
            terminal: terminal,
            cashier: cashier,
            lane: lane,
            currency: currency,
            payments: { total in
                let method = payment ?? (seed % 2 == 0 ? .cash : .mobileMoney)
                // Cash is tendered with change; other methods pay the exact total.
                return [
                    Invoice.Payment(method: method, amount: Money(units: total.units + (method == .cash ? 500 : 0)))
                ]
            },
            outlet: outlet
        )
    }

    /// An invoice with correct breakdown and totals for `items`.
    public static func build(
        type: Invoice.InvoiceType = .sale,
        reference: String? = nil,
        items: [Invoice.Item],
        terminal: String = "REG-001",
        cashier: String = SampleInvoices.cashier,
        lane: Int? = 1,
        currency: String = "CDF",
        rules: FiscalRules = .default,
        payments: (Money) -> [Invoice.Payment] = { [Invoice.Payment(method: .cash, amount: $0)] },
        outlet: String = "OUTLET-KIN-01"
    ) -> Invoice {
        var bases: [String: Int64] = [:]
        for item in items { bases[item.taxGroup, default: 0] += item.amount.units }
        let taxLines = bases.keys.sorted().map { code -> Invoice.TaxLine in
            let rate = rules.taxGroup(code)?.rate ?? TaxRate(units: 0)
            let base = bases[code]!
            let amount = Int64(FixedPoint.divideRounded(Int128(base) * Int128(rate.units), by: 10_000))
            return Invoice.TaxLine(code: code, rate: rate, base: Money(units: base), amount: Money(units: amount))
        }
        let subtotal = taxLines.reduce(Int64(0)) { $0 + $1.base.units }
        let vat = taxLines.reduce(Int64(0)) { $0 + $1.amount.units }
        let total = Money(units: subtotal + vat)
        return Invoice(
            merchantNIF: "A1234567B",
            outletID: outlet,
            posTerminalID: terminal,
            cashierID: cashier,
            laneNumber: lane,
            invoiceType: type,
            reference: reference,
            timestamp: "2026-11-21T10:15:00+01:00",
            client: Invoice.Client(classification: .individual),
            items: items,
            taxGroups: taxLines,
            totals: Invoice.Totals(
                subtotal: Money(units: subtotal),
                totalVAT: Money(units: vat),
                total: total,
                currency: currency
            ),
            payments: payments(total)
        )
    }
}
