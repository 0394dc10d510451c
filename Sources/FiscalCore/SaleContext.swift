/// What happened at the till around one sale, beside its canonical invoice and never inside it:
/// the discounts taken off its lines, what the customer handed over (in any accepted currency,
/// at the rate used) and the change given back (docs/SHOP_DAY.md).
///
/// The device validates and signs the canonical invoice only; the context is the mediator's
/// record, stored with the request and so with the sealed invoice, for the drawer's figures
/// per currency. `FISCALIZE` and `PREPARE` carry it as `sale`, beside `invoice`.
public struct SaleContext: Hashable, Sendable, Codable {
    /// The amount taken off each line named; the invoice's `unit_price` is already net of it.
    public var discounts: [Discount]
    /// What the customer handed over (for a refund or a credit note: what was handed back).
    public var tendered: [Tender]
    /// What was given back, per currency.
    public var change: [Change]

    public init(discounts: [Discount] = [], tendered: [Tender] = [], change: [Change] = []) {
        self.discounts = discounts
        self.tendered = tendered
        self.change = change
    }

    /// A line's discount.
    public struct Discount: Hashable, Sendable, Codable {
        /// The line's index in the invoice's `items`, from 0.
        public var item: Int
        public var amount: Money
        public init(item: Int, amount: Money) {
            self.item = item
            self.amount = amount
        }
        enum CodingKeys: String, CodingKey { case item, amount }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            item = try c.decode(Int.self, forKey: .item, in: WireRange.count)
            amount = try c.decode(Money.self, forKey: .amount)
        }
    }

    /// Notes, a card or a wallet: one way the customer paid, in its own currency.
    public struct Tender: Hashable, Sendable, Codable {
        public var method: Invoice.Payment.Method
        public var currency: String
        public var amount: Money
        /// Units of the invoice's currency per unit of `currency`; absent (or 1) when they are
        /// the same currency.
        public var rate: ExchangeRate?
        public init(method: Invoice.Payment.Method, currency: String, amount: Money, rate: ExchangeRate? = nil) {
            self.method = method
            self.currency = currency
            self.amount = amount
            self.rate = rate
        }
    }

    /// Change given back in one currency.
    public struct Change: Hashable, Sendable, Codable {
        public var currency: String
        public var amount: Money
        public init(currency: String, amount: Money) {
            self.currency = currency
            self.amount = amount
        }
    }

    enum CodingKeys: String, CodingKey { case discounts, tendered, change }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        discounts = try c.decodeIfPresent([Discount].self, forKey: .discounts) ?? []
        tendered = try c.decodeIfPresent([Tender].self, forKey: .tendered) ?? []
        change = try c.decodeIfPresent([Change].self, forKey: .change) ?? []
    }

    /// The discount on line `item`, zero when none is listed.
    public func discount(onItem item: Int) -> Money {
        discounts.first { $0.item == item }?.amount ?? .zero
    }

    /// The stored form: JSON with sorted keys and canonical decimal text, so that the same
    /// context is the same bytes. Written by hand (``CanonicalJSON``): it is on every sale's path.
    public func storedJSON() -> String {
        var json = CanonicalJSON()
        json.beginObject()
        json.key("change")
        json.beginArray()
        for given in change {
            json.beginObject()
            json.field("amount", given.amount.canonicalText)
            json.field("currency", given.currency)
            json.endObject()
        }
        json.endArray()
        json.key("discounts")
        json.beginArray()
        for discount in discounts {
            json.beginObject()
            json.field("amount", discount.amount.canonicalText)
            json.key("item")
            json.integer(discount.item)
            json.endObject()
        }
        json.endArray()
        json.key("tendered")
        json.beginArray()
        for tender in tendered {
            json.beginObject()
            json.field("amount", tender.amount.canonicalText)
            json.field("currency", tender.currency)
            json.field("method", tender.method.rawValue)
            json.field("rate", tender.rate?.canonicalText)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return String(decoding: json.bytes, as: UTF8.self)
    }
}

extension SaleContext {
    /// Every way the context disagrees with `invoice` under `rules`, with paths under `$`
    /// (the terminal sees them under `$.sale`); empty when it adds up.
    ///
    /// The rules: a discount names a line, once, and is not negative, and the line before it
    /// stays within what money holds; each tender is positive, in an accepted currency, with a
    /// rate when its currency is not the invoice's (and 1 when it is); change is not negative,
    /// in an accepted currency, and one in another currency is converted at that currency's
    /// tender rate; what was tendered, converted, covers the total; change is not more than
    /// the excess. Conversions round down to the minor unit, in `Int128`, so nothing overflows.
    public func violations(against invoice: Invoice, rules: FiscalRules) -> [Violation] {
        var found: [Violation] = []
        let root = JSONPath.root
        let currency = invoice.totals.currency
        let accepted = Set(rules.currencies)

        if discounts.count > max(invoice.items.count, 1) {
            found.append(
                Violation(.tooManyEntries, at: root["discounts"], "more discounts than the invoice has lines")
            )
        } else {
            var seen = Set<Int>()
            for (index, discount) in discounts.enumerated() {
                let path = root["discounts"][index]
                guard invoice.items.indices.contains(discount.item) else {
                    found.append(
                        Violation(
                            .discountExceedsLine,
                            at: path["item"],
                            "item \(discount.item) is no line of the invoice"
                        )
                    )
                    continue
                }
                if !seen.insert(discount.item).inserted {
                    found.append(
                        Violation(.formatInvalid, at: path["item"], "line \(discount.item) is discounted twice")
                    )
                }
                if discount.amount.units < 0 {
                    found.append(Violation(.amountNegative, at: path["amount"], "a discount is not negative"))
                } else if invoice.items[discount.item].exactAmount < 0 {
                    found.append(
                        Violation(.discountExceedsLine, at: path["amount"], "a discount on a line below zero")
                    )
                } else if invoice.items[discount.item].exactAmount + Int128(discount.amount.units)
                    > Int128(Money.limit)
                {
                    found.append(
                        Violation(.valueOutOfRange, at: path["amount"], "the line before its discount is beyond range")
                    )
                }
            }
        }

        if tendered.count > rules.limits.maxPayments {
            found.append(
                Violation(.tooManyEntries, at: root["tendered"], "more than \(rules.limits.maxPayments) tenders")
            )
        }
        if change.count > rules.limits.maxPayments {
            found.append(
                Violation(.tooManyEntries, at: root["change"], "more than \(rules.limits.maxPayments) change lines")
            )
        }
        guard found.isEmpty else { return found }

        var rates: [String: ExchangeRate] = [currency: .one]
        for (index, tender) in tendered.enumerated() {
            let path = root["tendered"][index]
            if tender.amount.units <= 0 {
                found.append(Violation(.amountNegative, at: path["amount"], "a tender is more than zero"))
            }
            guard accepted.contains(tender.currency) else {
                found.append(
                    Violation(.unknownCurrency, at: path["currency"], "currency '\(tender.currency)' is not accepted")
                )
                continue
            }
            if tender.currency == currency {
                if let rate = tender.rate, rate != .one {
                    found.append(Violation(.rateInvalid, at: path["rate"], "a tender in \(currency) has rate 1"))
                }
            } else if let rate = tender.rate, rate.units > 0 {
                if let known = rates[tender.currency], known != rate {
                    found.append(
                        Violation(.rateInvalid, at: path["rate"], "two rates for \(tender.currency) in one sale")
                    )
                }
                rates[tender.currency] = rate
            } else {
                found.append(
                    Violation(
                        .rateInvalid,
                        at: path["rate"],
                        "a tender in \(tender.currency) for a \(currency) invoice needs a positive rate"
                    )
                )
            }
        }
        for (index, given) in change.enumerated() {
            let path = root["change"][index]
            if given.amount.units < 0 {
                found.append(Violation(.amountNegative, at: path["amount"], "change is not negative"))
            }
            if !accepted.contains(given.currency) {
                found.append(
                    Violation(.unknownCurrency, at: path["currency"], "currency '\(given.currency)' is not accepted")
                )
            } else if rates[given.currency] == nil {
                found.append(
                    Violation(
                        .rateInvalid,
                        at: path["currency"],
                        "change in \(given.currency) needs a tender in \(given.currency) to give its rate"
                    )
                )
            }
        }
        guard found.isEmpty else { return found }

        let total = Int128(invoice.totals.total.units)
        if tendered.isEmpty {
            if change.contains(where: { $0.amount.units > 0 }) {
                found.append(Violation(.changeExceedsTender, at: root["change"], "change with nothing tendered"))
            }
            return found
        }
        let paid = tendered.reduce(Int128(0)) { sum, tender in
            sum + (rates[tender.currency] ?? .one).convert(tender.amount)
        }
        let given = change.reduce(Int128(0)) { sum, change in
            sum + (rates[change.currency] ?? .one).convert(change.amount)
        }
        if paid < total {
            found.append(
                Violation(
                    .tenderInsufficient,
                    at: root["tendered"],
                    "tendered \(Self.format(paid)) \(currency) does not cover the total \(invoice.totals.total)"
                )
            )
        } else if given > paid - total {
            found.append(
                Violation(
                    .changeExceedsTender,
                    at: root["change"],
                    "change worth \(Self.format(given)) \(currency) is more than the \(Self.format(paid - total)) tendered over the total"
                )
            )
        }
        return found
    }

    private static func format(_ units: Int128) -> String {
        FixedPoint.format(Int64(clamping: units), scale: Money.scale)
    }
}
