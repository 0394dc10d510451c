public import FiscalCore
public import Foundation

/// A cash count by denomination per currency, as `CLOSE_PERIOD` carries it:
/// `{"CDF": {"20000": 5, "500": 12}, "USD": {"20": 3}}`: how many of each note or coin.
public struct CashCount: Hashable, Sendable, Codable {
    /// Currency → denomination (decimal text) → pieces.
    public var pieces: [String: [String: Int64]]

    public init(_ pieces: [String: [String: Int64]]) { self.pieces = pieces }

    public init(from decoder: any Decoder) throws {
        pieces = try decoder.singleValueContainer().decode([String: [String: Int64]].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(pieces)
    }

    /// The most pieces of one denomination a count may name.
    public static let maxPieces: Int64 = 10_000_000

    /// The counted total per currency, after ``violations(settings:currencies:expected:)`` found none.
    ///
    /// Summed in `Int128` and clamped, so that a count nobody checked cannot trap the process
    /// (a denomination of 10^15 times 10^7 pieces is beyond `Int64`); a checked count is exact.
    public func totals() -> [String: Money] {
        pieces.mapValues { lines in
            Money(
                units: Int64(
                    clamping: lines.reduce(Int128(0)) { sum, line in
                        sum + Int128(Money(decimalText: line.key)?.units ?? 0) * Int128(line.value)
                    }
                )
            )
        }
    }

    /// Every problem with the count, with paths under `$.count`: a currency not accepted, a
    /// denomination that is not configured for it, a negative or absurd number of pieces, and a
    /// currency the drawer holds (`expected` not zero) that is not counted.
    public func violations(settings: ReportSettings, currencies: [String], expected: [String: Money]) -> [Violation] {
        var found: [Violation] = []
        let root = JSONPath.root["count"]
        if pieces.count > CurrencyAmounts.maxCurrencies {
            found.append(Violation(.tooManyEntries, at: root, "more than \(CurrencyAmounts.maxCurrencies) currencies"))
            return found
        }
        for currency in pieces.keys.sorted() {
            let path = root[currency]
            guard currencies.contains(currency) else {
                found.append(Violation(.unknownCurrency, at: path, "currency '\(currency)' is not accepted"))
                continue
            }
            let configured = Set(settings.denominations(currency).map(\.units))
            if configured.isEmpty {
                found.append(
                    Violation(.cashCountInvalid, at: path, "no denominations are configured for \(currency)")
                )
                continue
            }
            var total = Int128(0)
            for denomination in (pieces[currency] ?? [:]).keys.sorted() {
                let count = pieces[currency]![denomination]!
                guard let value = Money(decimalText: denomination), configured.contains(value.units) else {
                    found.append(
                        Violation(
                            .cashCountInvalid,
                            at: path[denomination],
                            "\(denomination) is not a \(currency) denomination"
                        )
                    )
                    continue
                }
                guard (0...Self.maxPieces).contains(count) else {
                    found.append(
                        Violation(
                            .cashCountInvalid,
                            at: path[denomination],
                            "a count is 0 to \(Self.maxPieces) pieces, not \(count)"
                        )
                    )
                    continue
                }
                total += Int128(value.units) * Int128(count)
            }
            if total > Int128(Money.limit) {
                found.append(
                    Violation(.valueOutOfRange, at: path, "the \(currency) count is beyond what an amount holds")
                )
            }
        }
        for (currency, amount) in expected.sorted(by: { $0.key < $1.key })
        where amount.units != 0 && pieces[currency] == nil {
            found.append(
                Violation(
                    .fieldMissing,
                    at: root[currency],
                    "the drawer holds \(currency): count it (0 pieces if empty)"
                )
            )
        }
        return found
    }
}

/// What the reports are configured with (`reports` in the configuration file).
public struct ReportSettings: Hashable, Sendable, Codable {
    /// The business name printed at the top of every report.
    public var businessName: String
    /// Notes and coins per currency, largest first.
    public var denominations: [String: [Money]]
    /// Above this variance (either way) a Z needs an explanation; per currency, zero when absent.
    public var varianceThresholds: [String: Money]
    /// Counts are blind: the expected amount is shown only after the count is stored.
    public var blindCount: Bool

    public init(
        businessName: String = "",
        denominations: [String: [Money]] = ReportSettings.defaultDenominations,
        varianceThresholds: [String: Money] = ReportSettings.defaultThresholds,
        blindCount: Bool = false
    ) {
        self.businessName = businessName
        self.denominations = denominations
        self.varianceThresholds = varianceThresholds
        self.blindCount = blindCount
    }

    enum CodingKeys: String, CodingKey {
        case businessName = "business_name"
        case denominations
        case varianceThresholds = "variance_threshold"
        case blindCount = "blind_count"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        businessName = try c.decodeIfPresent(String.self, forKey: .businessName) ?? ""
        denominations =
            try c.decodeIfPresent([String: [Money]].self, forKey: .denominations) ?? Self.defaultDenominations
        varianceThresholds =
            try c.decodeIfPresent([String: Money].self, forKey: .varianceThresholds) ?? Self.defaultThresholds
        blindCount = try c.decodeIfPresent(Bool.self, forKey: .blindCount) ?? false
    }

    public func denominations(_ currency: String) -> [Money] { denominations[currency] ?? [] }

    public func threshold(_ currency: String) -> Money { varianceThresholds[currency] ?? .zero }

    /// Congolese franc notes (20,000 F down to the 1-centime note still legal tender) and US
    /// dollar notes and coins.
    public static let defaultDenominations: [String: [Money]] = [
        "CDF": [
            "20000", "10000", "5000", "1000", "500", "200", "100", "50", "20", "10", "5", "1", "0.50", "0.20",
            "0.10", "0.05", "0.01",
        ].map { Money(decimalText: $0)! },
        "USD": ["100", "50", "20", "10", "5", "2", "1", "0.50", "0.25", "0.10", "0.05", "0.01"].map {
            Money(decimalText: $0)!
        },
    ]

    public static let defaultThresholds: [String: Money] = [
        "CDF": Money(decimalText: "2000")!,
        "USD": Money(decimalText: "1")!,
    ]
}

/// The count against the drawer, per currency: variance = counted − expected, so a drawer short
/// of cash has a negative variance.
public struct CashReconciliation: Hashable, Sendable, Codable {
    public var lines: [Line]
    public var explanation: String?

    public struct Line: Hashable, Sendable, Codable {
        public var currency: String
        public var expected: Money
        public var counted: Money
        public var variance: Money
        public var status: Status
    }

    public enum Status: String, Hashable, Sendable, Codable {
        case short = "SHORT"
        case over = "OVER"
        case balanced = "BALANCED"
    }

    /// The longest explanation kept.
    public static let maxExplanationLength = 256

    /// Reconciles `count` with the drawer of `figures`. A variance above the currency's threshold
    /// without an explanation is VARIANCE_EXPLANATION_REQUIRED, unless `requireExplanation` is
    /// false (a preview, which is where the variance is first seen). The count must be valid.
    public static func reconcile(
        _ figures: ReportFigures,
        count: CashCount,
        settings: ReportSettings,
        explanation: String?,
        requireExplanation: Bool = true
    ) throws(FiscalError) -> CashReconciliation {
        let counted = count.totals()
        let expected = Dictionary(uniqueKeysWithValues: figures.drawer.map { ($0.currency, $0.expected) })
        let explained = explanation.map { $0.trimmingWhitespace() }.flatMap { $0.isEmpty ? nil : $0 }
        if let explained {
            // Printed on the Z and hashed with it: bounded, and one line of plain text.
            if explained.count > maxExplanationLength {
                throw FiscalError(
                    .fieldTooLong,
                    "the explanation exceeds \(maxExplanationLength) characters"
                )
            }
            if explained.unicodeScalars.contains(where: {
                $0.properties.generalCategory == .control || $0.properties.generalCategory == .lineSeparator
                    || $0.properties.generalCategory == .paragraphSeparator || $0.properties.isBidiControl
            }) {
                throw FiscalError(.formatInvalid, "the explanation contains control or bidi characters")
            }
        }
        var lines: [Line] = []
        var unexplained: [String] = []
        for currency in Set(expected.keys).union(counted.keys).sorted() {
            let want = expected[currency] ?? .zero
            let have = counted[currency] ?? .zero
            // In Int128: a count nobody checked must not trap here either.
            let difference = Int128(have.units) - Int128(want.units)
            guard difference.magnitude <= UInt128(Money.limit) else {
                throw FiscalError(.valueOutOfRange, "the \(currency) variance is beyond what an amount holds")
            }
            let variance = Money(units: Int64(difference))
            let status: Status = variance.units < 0 ? .short : variance.units > 0 ? .over : .balanced
            lines.append(Line(currency: currency, expected: want, counted: have, variance: variance, status: status))
            if abs(variance.units) > settings.threshold(currency).units {
                unexplained.append("\(currency) \(variance)")
            }
        }
        if requireExplanation, !unexplained.isEmpty, explained == nil {
            throw FiscalError(
                .varianceExplanationRequired,
                "the variance (\(unexplained.joined(separator: ", "))) is above the threshold: give an explanation"
            )
        }
        return CashReconciliation(lines: lines, explanation: explained)
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }
}

extension ReportSettings {
    /// The settings in the JSON file at `url` (`serve --reports`, `mediator.reports`); a key
    /// absent keeps its default. A denomination that is not positive, or a negative threshold, is
    /// CONFIG_INVALID naming it.
    public static func load(from url: URL) throws(FiscalError) -> ReportSettings {
        let settings: ReportSettings
        do {
            settings = try JSONDecoder().decode(ReportSettings.self, from: Data(contentsOf: url))
        } catch {
            throw FiscalError(.configInvalid, "\(url.path): \(error)")
        }
        if let problem = settings.problems().first { throw FiscalError(.configInvalid, "\(url.path): \(problem)") }
        return settings
    }

    /// What is wrong with these settings, each naming its key.
    public func problems() -> [String] {
        var found: [String] = []
        for (currency, list) in denominations.sorted(by: { $0.key < $1.key }) {
            if list.isEmpty { found.append("denominations.\(currency) is empty") }
            if let bad = list.first(where: { $0.units <= 0 }) {
                found.append("denominations.\(currency): \(bad) is not positive")
            }
            if Set(list).count != list.count { found.append("denominations.\(currency) lists a value twice") }
        }
        for (currency, threshold) in varianceThresholds.sorted(by: { $0.key < $1.key }) where threshold.units < 0 {
            found.append("variance_threshold.\(currency) is negative")
        }
        if businessName.count > 64 { found.append("business_name is longer than 64 characters") }
        return found
    }
}
