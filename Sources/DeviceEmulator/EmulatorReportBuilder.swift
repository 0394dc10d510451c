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
        var types: [Key: (count: UInt64, total: Int64)] = [:]
        var groups: [Key: (base: Int64, amount: Int64)] = [:]
        var payments: [Key: Int64] = [:]
        var articles: [Key: (description: String, quantity: Int64, amount: Int64)] = [:]

        for (_, payload) in sealed {
            let invoice = try Invoice.decode(json: payload)
            let currency = invoice.totals.currency
            let sign: Int64 = invoice.invoiceType.needsReference ? -1 : 1
            types[Key(currency: currency, code: invoice.invoiceType.rawValue), default: (0, 0)].count += 1
            types[Key(currency: currency, code: invoice.invoiceType.rawValue), default: (0, 0)].total +=
                invoice.totals.total.units
            for line in invoice.taxGroups {
                let key = Key(currency: currency, code: line.code)
                groups[key, default: (0, 0)].base += sign * line.base.units
                groups[key, default: (0, 0)].amount += sign * line.amount.units
            }
            for payment in invoice.payments {
                payments[Key(currency: currency, code: payment.method.rawValue), default: 0] +=
                    sign * payment.amount.units
            }
            if kind == .a {
                for item in invoice.items {
                    let key = Key(currency: currency, code: item.code)
                    articles[key, default: (item.description, 0, 0)].quantity += sign * item.quantity.units
                    articles[key, default: (item.description, 0, 0)].amount += sign * item.amount.units
                }
            }
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
            byType: types.keys.sorted().map {
                DeviceReport.TypeLine(
                    currency: $0.currency,
                    invoiceType: $0.code,
                    count: types[$0]!.count,
                    total: Money(units: types[$0]!.total)
                )
            },
            byTaxGroup: groups.keys.sorted().map {
                DeviceReport.TaxGroupLine(
                    currency: $0.currency,
                    code: $0.code,
                    base: Money(units: groups[$0]!.base),
                    amount: Money(units: groups[$0]!.amount)
                )
            },
            byPayment: payments.keys.sorted().map {
                DeviceReport.PaymentLine(currency: $0.currency, method: $0.code, amount: Money(units: payments[$0]!))
            },
            articles: kind == .a
                ? articles.keys.sorted().map {
                    let line = articles[$0]!
                    return DeviceReport.ArticleLine(
                        currency: $0.currency,
                        code: $0.code,
                        description: line.description,
                        quantity: Quantity(units: line.quantity),
                        amount: Money(units: line.amount)
                    )
                } : nil
        )
    }
}
