import FiscalCore
import Foundation
import Reports
import SampleData
import Testing

/// An amount from decimal text (`"1234.50"`), for fixtures written by hand.
func money(_ text: String) -> Money {
    guard let value = Money(decimalText: text) else { preconditionFailure("not an amount: \(text)") }
    return value
}

/// Whole units of a currency (`kes(1500)` is 1,500.00).
func whole(_ units: Int64) -> Money { Money(units: units * 100) }

/// A quantity of whole pieces, or thousandths through `Quantity(decimalText:)`.
func pieces(_ count: Int64) -> Quantity { Quantity(units: count * 1000) }

/// `2026-01-24T08:03:00+03:00`: minute `minute` of `day`, in `offset`.
func stamp(_ day: String, _ minute: Int, second: Int = 0, offset: String) -> String {
    func pad(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(day)T\(pad(minute / 60)):\(pad(minute % 60)):\(pad(second))\(offset)"
}

/// A work period put together invoice by invoice, as a till would ring it up: every invoice
/// built by `SampleInvoices.build` under the rules (so its breakdown and totals are what the
/// validator recomputes), with its sale context, fiscal numbers in order, and refunds and
/// credit notes naming an earlier sale of the same currency that still has room for them (the
/// store's REFUND_EXCEEDS_ORIGINAL rule).
struct ShiftBuilder {
    let rules: FiscalRules
    var terminal = "REG-001"
    var nextSeq: UInt64
    var sealed: [ReportInput.Sealed] = []
    var events: [ReportInput.Event] = []
    /// How much of each sale (by fiscal number) corrections have taken.
    var corrected: [UInt64: Int64] = [:]

    init(rules: FiscalRules, firstSeq: UInt64 = 1) {
        self.rules = rules
        self.nextSeq = firstSeq
    }

    /// One invoice line; `discount` is what was taken off it (the price is already net of it).
    struct Line {
        var description: String
        var quantity: Quantity
        var unitPrice: Money
        var group: String
        var discount: Money = .zero
    }

    /// Adds an invoice: `pay` gives its payments from its total, `tender` its context's tenders
    /// and change from its total (nil: no context at all).
    @discardableResult
    mutating func add(
        _ type: Invoice.InvoiceType = .sale,
        of original: UInt64? = nil,
        session: ReportInput.Session?,
        at timestamp: String,
        currency: String,
        lines: [Line],
        pay: (Money) -> [Invoice.Payment],
        tender: ((Money) -> (tendered: [SaleContext.Tender], change: [SaleContext.Change]))?
    ) -> ReportInput.Sealed {
        let items = lines.enumerated().map { index, line in
            Invoice.Item(
                code: "ART-\(100 + index)",
                description: line.description,
                quantity: line.quantity,
                unitPrice: line.unitPrice,
                taxGroup: line.group
            )
        }
        var invoice = SampleInvoices.build(
            type: type,
            items: items,
            terminal: terminal,
            cashier: session?.cashierID ?? SampleInvoices.cashier,
            currency: currency,
            rules: rules,
            payments: pay
        )
        invoice.timestamp = timestamp
        if type.needsReference {
            invoice.reference = reference(for: invoice, of: original, method: invoice.payments.first?.method)
        }
        var context: SaleContext?
        if let tender {
            let (tendered, change) = tender(invoice.totals.total)
            context = SaleContext(
                discounts: lines.enumerated().compactMap { index, line in
                    line.discount.units > 0 ? SaleContext.Discount(item: index, amount: line.discount) : nil
                },
                tendered: tendered,
                change: change
            )
        }
        let sale = ReportInput.Sealed(
            seq: nextSeq,
            sessionID: session?.id,
            sealedAt: timestamp,
            invoice: invoice,
            context: context
        )
        nextSeq += 1
        sealed.append(sale)
        return sale
    }

    /// A sale paid exactly with one method (its context says the same, in its currency).
    @discardableResult
    mutating func sale(
        _ type: Invoice.InvoiceType = .sale,
        of original: UInt64? = nil,
        session: ReportInput.Session,
        at timestamp: String,
        currency: String,
        lines: [Line],
        method: Invoice.Payment.Method
    ) -> ReportInput.Sealed {
        split(
            type,
            of: original,
            session: session,
            at: timestamp,
            currency: currency,
            lines: lines,
            parts: [(method, nil)]
        )
    }

    /// A sale paid with several methods: each part's amount, the last taking the rest.
    @discardableResult
    mutating func split(
        _ type: Invoice.InvoiceType = .sale,
        of original: UInt64? = nil,
        session: ReportInput.Session,
        at timestamp: String,
        currency: String,
        lines: [Line],
        parts: [(Invoice.Payment.Method, Money?)]
    ) -> ReportInput.Sealed {
        func amounts(_ total: Money) -> [(Invoice.Payment.Method, Money)] {
            var left = total.units
            return parts.enumerated().map { index, part in
                let amount = index == parts.count - 1 ? left : (part.1?.units ?? 0)
                left -= amount
                return (part.0, Money(units: amount))
            }
        }
        return add(
            type,
            of: original,
            session: session,
            at: timestamp,
            currency: currency,
            lines: lines,
            pay: { total in amounts(total).map { Invoice.Payment(method: $0.0, amount: $0.1) } },
            tender: { total in
                (amounts(total).map { SaleContext.Tender(method: $0.0, currency: currency, amount: $0.1) }, [])
            }
        )
    }

    /// A cash or drawer event.
    mutating func event(
        _ kind: CashEvent.Kind,
        _ amount: Money? = nil,
        _ currency: String? = nil,
        session: ReportInput.Session,
        times: Int = 1
    ) {
        for _ in 0..<times {
            events.append(
                ReportInput.Event(
                    kind: kind,
                    amount: amount,
                    currency: currency,
                    sessionID: session.id,
                    cashierID: session.cashierID
                )
            )
        }
    }

    /// The fiscal number of `original`, or of the first earlier sale in the invoice's currency
    /// with room for it, preferring one paid the same way.
    mutating func reference(for invoice: Invoice, of original: UInt64?, method: Invoice.Payment.Method?) -> String {
        let total = invoice.totals.total.units
        let candidates = sealed.filter {
            $0.invoice.invoiceType == .sale && $0.invoice.totals.currency == invoice.totals.currency
                && $0.invoice.totals.total.units - (corrected[$0.seq] ?? 0) >= total
                && (original == nil || $0.seq == original)
        }
        let chosen =
            candidates.first { $0.invoice.payments.first?.method == method } ?? candidates.first
        guard let chosen else { preconditionFailure("no sale has room for a correction of \(invoice.totals.total)") }
        corrected[chosen.seq, default: 0] += total
        return String(chosen.seq)
    }
}

/// Checks that a fixture is real data: every invoice passes the validator under `rules`, every
/// context agrees with its invoice, and every correction names an earlier sale of its currency
/// that the corrections of it do not exceed.
func expectRealData(_ input: ReportInput, rules: FiscalRules, sourceLocation: SourceLocation = #_sourceLocation) {
    let validator = InvoiceValidator(rules: rules)
    var corrected: [String: Int64] = [:]
    for sale in input.invoices {
        let found = validator.violations(in: sale.invoice)
        #expect(found.isEmpty, "invoice \(sale.seq): \(found)", sourceLocation: sourceLocation)
        if let context = sale.context {
            let disagreements = context.violations(against: sale.invoice, rules: rules)
            #expect(disagreements.isEmpty, "context \(sale.seq): \(disagreements)", sourceLocation: sourceLocation)
        }
        if let reference = sale.invoice.reference {
            let original = input.invoices.first { String($0.seq) == reference }
            #expect(
                original?.invoice.invoiceType == .sale,
                "\(sale.seq) corrects \(reference)",
                sourceLocation: sourceLocation
            )
            #expect(original.map { $0.seq < sale.seq } == true, sourceLocation: sourceLocation)
            #expect(original?.invoice.totals.currency == sale.invoice.totals.currency, sourceLocation: sourceLocation)
            corrected[reference, default: 0] += sale.invoice.totals.total.units
            #expect(
                corrected[reference]! <= original?.invoice.totals.total.units ?? 0,
                "corrections of \(reference) exceed it",
                sourceLocation: sourceLocation
            )
        }
    }
    #expect(
        input.invoices.map(\.seq) == input.invoices.map(\.seq).sorted(),
        "fiscal-number order",
        sourceLocation: sourceLocation
    )
}

/// The rules file the spec's samples are rung up under: Kenyan shillings, VAT 16 % and exempt.
func kenyanRules() throws -> FiscalRules {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/rules-kes", withExtension: "json"))
    return try FiscalRules.load(from: url)
}

/// A fixture file of the test target.
func fixture(_ name: String) throws -> String {
    let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
    return try String(contentsOf: url, encoding: .utf8)
}
