/// Money or the drawer moving outside a sale, as a terminal declares it (`CASH_EVENT`,
/// docs/SHOP_DAY.md): attributed to the terminal's open period and cashier session, stored
/// append-only, idempotent by `event_id`.
public struct CashEvent: Hashable, Sendable, Codable {
    /// The terminal's own id for the event: the same id again is a replay.
    public var eventID: String
    /// Kept as text so that an unknown kind is a violation with its path, not a decoding error.
    public var kind: String
    public var amount: Money?
    public var currency: String?
    public var reason: String?

    public init(eventID: String, kind: Kind, amount: Money? = nil, currency: String? = nil, reason: String? = nil) {
        self.eventID = eventID
        self.kind = kind.rawValue
        self.amount = amount
        self.currency = currency
        self.reason = reason
    }

    public enum Kind: String, Hashable, Sendable, Codable, CaseIterable {
        /// Cash taken out of the drawer (a supplier paid, petty cash): `amount` and `currency`.
        case payout
        /// Cash put into the drawer outside a sale: `amount` and `currency`.
        case payIn = "pay_in"
        /// The drawer opened (for a sale or not); no amount.
        case drawerOpen = "drawer_open"
        /// The drawer opened without a sale; no amount.
        case noSale = "no_sale"
        /// A line removed before the sale was fiscalized: information for the reports, never a
        /// fiscal amount; `amount` and `currency`.
        case lineVoid = "line_void"

        /// Whether the kind moves or names an amount.
        public var hasAmount: Bool {
            switch self {
            case .payout, .payIn, .lineVoid: true
            case .drawerOpen, .noSale: false
            }
        }
    }

    /// Its kind, when it is one of ``Kind``.
    public var knownKind: Kind? { Kind(rawValue: kind) }

    /// The longest `reason` kept.
    public static let maxReasonLength = 128

    enum CodingKeys: String, CodingKey {
        case eventID = "event_id"
        case kind, amount, currency, reason
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        eventID = try c.decodeText(forKey: .eventID, length: 1...64)
        kind = try c.decodeText(forKey: .kind, length: 1...32)
        amount = try c.decodeIfPresent(Money.self, forKey: .amount)
        currency = try c.decodeIfPresent(String.self, forKey: .currency)
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
    }

    /// Every problem with the event under `currencies` (paths at the message's top level);
    /// empty when it can be recorded.
    public func violations(currencies: [String]) -> [Violation] {
        var found: [Violation] = []
        let root = JSONPath.root
        guard let known = knownKind else {
            let kinds = Kind.allCases.map(\.rawValue).joined(separator: ", ")
            return [Violation(.formatInvalid, at: root["kind"], "kind '\(kind)' is not one of \(kinds)")]
        }
        if known.hasAmount {
            if let amount {
                if amount.units < 0 {
                    found.append(Violation(.amountNegative, at: root["amount"], "an amount is not negative"))
                } else if amount.units == 0, known != .lineVoid {
                    found.append(Violation(.amountNegative, at: root["amount"], "a \(kind) moves more than zero"))
                }
            } else {
                found.append(Violation(.fieldMissing, at: root["amount"], "a \(kind) needs an amount"))
            }
            if let currency {
                if !currencies.contains(currency) {
                    found.append(
                        Violation(.unknownCurrency, at: root["currency"], "currency '\(currency)' is not accepted")
                    )
                }
            } else {
                found.append(Violation(.fieldMissing, at: root["currency"], "a \(kind) needs a currency"))
            }
        } else if amount != nil || currency != nil {
            found.append(Violation(.formatInvalid, at: root["amount"], "a \(kind) carries no amount or currency"))
        }
        if let reason {
            if reason.count > Self.maxReasonLength {
                found.append(
                    Violation(.fieldTooLong, at: root["reason"], "reason exceeds \(Self.maxReasonLength) characters")
                )
            } else if reason.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                found.append(Violation(.formatInvalid, at: root["reason"], "reason contains control characters"))
            }
        }
        return found
    }
}

/// Amounts per currency, as a JSON object of decimal strings (`{"CDF": "50000.00", "USD": "20.00"}`):
/// an opening float, a count. Currencies are never added together.
public struct CurrencyAmounts: Hashable, Sendable, Codable {
    public var amounts: [String: Money]

    public init(_ amounts: [String: Money] = [:]) { self.amounts = amounts }

    public static let maxCurrencies = 8

    public init(from decoder: any Decoder) throws {
        amounts = try decoder.singleValueContainer().decode([String: Money].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(amounts.mapValues(\.canonicalText))
    }

    public subscript(currency: String) -> Money? { amounts[currency] }

    /// The currencies in a stable order.
    public var currencies: [String] { amounts.keys.sorted() }

    /// Every problem under `currencies`, at `path.CUR`: a currency not accepted, a negative
    /// amount, too many entries.
    public func violations(currencies accepted: [String], at path: JSONPath) -> [Violation] {
        guard amounts.count <= Self.maxCurrencies else {
            return [Violation(.tooManyEntries, at: path, "more than \(Self.maxCurrencies) currencies")]
        }
        var found: [Violation] = []
        for currency in currencies {
            if !accepted.contains(currency) {
                found.append(Violation(.unknownCurrency, at: path[currency], "currency '\(currency)' is not accepted"))
            } else if let amount = amounts[currency], amount.units < 0 {
                found.append(Violation(.amountNegative, at: path[currency], "a float is not negative"))
            }
        }
        return found
    }

    /// The stored form: sorted keys, canonical decimal text.
    public func storedJSON() -> String {
        var json = CanonicalJSON()
        json.beginObject()
        for currency in currencies {
            json.key(currency)
            json.string(amounts[currency]?.canonicalText ?? Money.zero.canonicalText)
        }
        json.endObject()
        return String(decoding: json.bytes, as: UTF8.self)
    }
}
