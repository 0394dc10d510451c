import FiscalCore
import FiscalDevice

/// Computes Z, X and A figures from journaled invoices, as the device does inside itself.
///
/// Refunds and credit notes count negatively in the tax-group, payment and article sums;
/// `by_type` shows each type's own count and (positive) total. Lines are sorted by currency,
/// then code, so equal journals give byte-identical reports.
enum EmulatorReportBuilder {
    static func build(
        kind: DeviceReport.Kind,
        deviceID: DeviceID,
        zNumber: UInt64,
        periodStart: String?,
        generatedAt: String,
        sealed: [(entry: JournalEntry, payload: [UInt8])]
    ) throws -> DeviceReport {
        struct Key: Hashable, Comparable {
            var currency: String
            var code: String
            static func < (a: Key, b: Key) -> Bool { (a.currency, a.code) < (b.currency, b.code) }
        }
        // Sums in Int128: a period of large invoices can add up beyond Int64 (refused below
        // with VALUE_OUT_OF_RANGE), but never overflow while adding.
        var types: [Key: (count: UInt64, total: Int128)] = [:]
        var groups: [Key: (base: Int128, amount: Int128)] = [:]
        var payments: [Key: Int128] = [:]
        var articles: [Key: (description: String, quantity: Int128, amount: Int128)] = [:]

        for (_, payload) in sealed {
            let invoice = try Invoice.decode(json: payload)
            let currency = invoice.totals.currency
            let sign: Int128 = invoice.invoiceType.needsReference ? -1 : 1
            types[Key(currency: currency, code: invoice.invoiceType.rawValue), default: (0, 0)].count += 1
            types[Key(currency: currency, code: invoice.invoiceType.rawValue), default: (0, 0)].total +=
                Int128(invoice.totals.total.units)
            for line in invoice.taxGroups {
                let key = Key(currency: currency, code: line.code)
                groups[key, default: (0, 0)].base += sign * Int128(line.base.units)
                groups[key, default: (0, 0)].amount += sign * Int128(line.amount.units)
            }
            for payment in invoice.payments {
                payments[Key(currency: currency, code: payment.method.rawValue), default: 0] +=
                    sign * Int128(payment.amount.units)
            }
            if kind == .a {
                for item in invoice.items {
                    let key = Key(currency: currency, code: item.code)
                    articles[key, default: (item.description, 0, 0)].quantity += sign * Int128(item.quantity.units)
                    articles[key, default: (item.description, 0, 0)].amount += sign * item.exactAmount
                }
            }
        }

        func money(_ units: Int128, _ section: String, _ key: Key) throws(FiscalError) -> Money {
            guard let small = Int64(exactly: units), small.magnitude <= Money.limit else {
                throw outOfRange(section, key)
            }
            return Money(units: small)
        }
        func outOfRange(_ section: String, _ key: Key) -> FiscalError {
            FiscalError(
                .valueOutOfRange,
                "the \(section) sum for \(key.currency) \(key.code) exceeds what a report can hold"
            )
        }

        return DeviceReport(
            kind: kind,
            deviceID: deviceID,
            zNumber: zNumber,
            firstSeq: sealed.first?.entry.seq.rawValue,
            lastSeq: sealed.last?.entry.seq.rawValue,
            invoiceCount: UInt64(sealed.count),
            periodStart: periodStart,
            generatedAt: generatedAt,
            byType: try types.sorted { $0.key < $1.key }.map { key, line in
                DeviceReport.TypeLine(
                    currency: key.currency,
                    invoiceType: key.code,
                    count: line.count,
                    total: try money(line.total, "by_type", key)
                )
            },
            byTaxGroup: try groups.sorted { $0.key < $1.key }.map { key, line in
                DeviceReport.TaxGroupLine(
                    currency: key.currency,
                    code: key.code,
                    base: try money(line.base, "by_tax_group", key),
                    amount: try money(line.amount, "by_tax_group", key)
                )
            },
            byPayment: try payments.sorted { $0.key < $1.key }.map { key, amount in
                DeviceReport.PaymentLine(
                    currency: key.currency,
                    method: key.code,
                    amount: try money(amount, "by_payment", key)
                )
            },
            articles: kind == .a
                ? try articles.sorted { $0.key < $1.key }.map { key, line in
                    guard let quantity = Int64(exactly: line.quantity), quantity.magnitude <= Quantity.limit else {
                        throw outOfRange("articles", key)
                    }
                    return DeviceReport.ArticleLine(
                        currency: key.currency,
                        code: key.code,
                        description: line.description,
                        quantity: Quantity(units: quantity),
                        amount: try money(line.amount, "articles", key)
                    )
                } : nil
        )
    }
}
