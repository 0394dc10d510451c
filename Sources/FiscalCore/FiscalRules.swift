public import Foundation

/// The data validation runs against: the DGI tax groups, accepted currencies and field limits.
///
/// This is configuration, not logic: a deployment loads it from a JSON file
/// (`FiscalRules.load(from:)`) and falls back to ``FiscalRules/default``. docs/TAX_GROUPS.md
/// documents the default table and the file format.
public struct FiscalRules: Hashable, Sendable, Codable {
    public var taxGroups: [TaxGroup]
    /// ISO 4217 codes accepted in `totals.currency`.
    public var currencies: [String]
    public var limits: Limits

    public init(taxGroups: [TaxGroup], currencies: [String], limits: Limits = Limits()) {
        self.taxGroups = taxGroups
        self.currencies = currencies
        self.limits = limits
    }

    enum CodingKeys: String, CodingKey {
        case taxGroups = "tax_groups"
        case currencies, limits
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        taxGroups = try c.decode([TaxGroup].self, forKey: .taxGroups)
        currencies = try c.decode([String].self, forKey: .currencies)
        limits = try c.decodeIfPresent(Limits.self, forKey: .limits) ?? Limits()
    }

    /// One DGI tax group.
    public struct TaxGroup: Hashable, Sendable, Codable {
        public var code: String
        public var rate: TaxRate
        public var label: String

        public init(code: String, rate: TaxRate, label: String) {
            self.code = code
            self.rate = rate
            self.label = label
        }
    }

    /// Size limits that keep one invoice within what the device accepts.
    public struct Limits: Hashable, Sendable, Codable {
        public var maxIdentifierLength = 64
        public var maxTextLength = 128
        public var maxItems = 500
        public var maxPayments = 16

        public init() {}

        enum CodingKeys: String, CodingKey {
            case maxIdentifierLength = "max_identifier_length"
            case maxTextLength = "max_text_length"
            case maxItems = "max_items"
            case maxPayments = "max_payments"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            let defaults = Limits()
            maxIdentifierLength =
                try c.decodeIfPresent(Int.self, forKey: .maxIdentifierLength) ?? defaults.maxIdentifierLength
            maxTextLength = try c.decodeIfPresent(Int.self, forKey: .maxTextLength) ?? defaults.maxTextLength
            maxItems = try c.decodeIfPresent(Int.self, forKey: .maxItems) ?? defaults.maxItems
            maxPayments = try c.decodeIfPresent(Int.self, forKey: .maxPayments) ?? defaults.maxPayments
        }
    }

    /// The group with this code, if the table has one.
    public func taxGroup(_ code: String) -> TaxGroup? { taxGroups.first { $0.code == code } }

    /// Checks the table itself: a clear message for the first problem found.
    public func check() throws(FiscalError) {
        guard !taxGroups.isEmpty else { throw FiscalError(.configInvalid, "tax_groups: the table is empty") }
        var seen = Set<String>()
        for (index, group) in taxGroups.enumerated() {
            guard !group.code.isEmpty, seen.insert(group.code).inserted else {
                throw FiscalError(.configInvalid, "tax_groups[\(index)].code: empty or duplicate code '\(group.code)'")
            }
            guard group.rate.units >= 0 else {
                throw FiscalError(.configInvalid, "tax_groups[\(index)].rate: must not be negative")
            }
        }
        guard !currencies.isEmpty else { throw FiscalError(.configInvalid, "currencies: the list is empty") }
    }

    /// Reads a rules file; the error names the file and the key at fault.
    public static func load(from url: URL) throws(FiscalError) -> FiscalRules {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw FiscalError(.configInvalid, "\(url.path): cannot read: \(error.localizedDescription)")
        }
        let rules: FiscalRules
        do {
            rules = try JSONDecoder().decode(FiscalRules.self, from: data)
        } catch let error as DecodingError {
            throw FiscalError(.configInvalid, "\(url.path): \(error.fiscalDescription)")
        } catch {
            throw FiscalError(.configInvalid, "\(url.path): \(error)")
        }
        do {
            try rules.check()
        } catch {
            throw FiscalError(.configInvalid, "\(url.path): \(error.message)")
        }
        return rules
    }

    /// The default table: the 14 DGI tax groups A to N and the currencies CDF and USD.
    ///
    /// Rates and labels follow the DGI's groups for the normalized invoice as the project
    /// understands them; a deployment whose decree differs ships its own file.
    public static let `default` = FiscalRules(
        taxGroups: [
            TaxGroup(code: "A", rate: TaxRate(units: 0), label: "Exonéré"),
            TaxGroup(code: "B", rate: TaxRate(units: 1600), label: "Taxable 16 %"),
            TaxGroup(code: "C", rate: TaxRate(units: 800), label: "Taxable 8 %"),
            TaxGroup(code: "D", rate: TaxRate(units: 0), label: "Régime dérogatoire"),
            TaxGroup(code: "E", rate: TaxRate(units: 0), label: "Exportation et assimilées"),
            TaxGroup(code: "F", rate: TaxRate(units: 1600), label: "Marché public à financement extérieur 16 %"),
            TaxGroup(code: "G", rate: TaxRate(units: 800), label: "Marché public à financement extérieur 8 %"),
            TaxGroup(code: "H", rate: TaxRate(units: 0), label: "Consignation d'emballages"),
            TaxGroup(code: "I", rate: TaxRate(units: 0), label: "Garantie et caution"),
            TaxGroup(code: "J", rate: TaxRate(units: 0), label: "Débours"),
            TaxGroup(code: "K", rate: TaxRate(units: 0), label: "Non assujetti"),
            TaxGroup(code: "L", rate: TaxRate(units: 0), label: "Prélèvement hors TVA"),
            TaxGroup(code: "M", rate: TaxRate(units: 0), label: "Vente réglementée"),
            TaxGroup(code: "N", rate: TaxRate(units: 0), label: "TVA spécifique"),
        ],
        currencies: ["CDF", "USD"]
    )
}

extension DecodingError {
    /// A decoding failure's JSON path and reason; any other error as it describes itself.
    public static func describe(_ error: any Error) -> String {
        (error as? DecodingError)?.fiscalDescription ?? "\(error)"
    }

    /// The JSON path and reason of a decoding failure, e.g. `$.items[2].quantity: ...`.
    public var fiscalDescription: String {
        switch self {
        case .keyNotFound(let key, let context):
            return "\(JSONPath(context.codingPath + [key])): required key is missing"
        case .typeMismatch(let type, let context):
            return "\(JSONPath(context.codingPath)): expected \(type): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "\(JSONPath(context.codingPath)): expected \(type), found null"
        case .dataCorrupted(let context):
            return "\(JSONPath(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(self)"
        }
    }

    /// The JSON path of the failure.
    public var jsonPath: String {
        switch self {
        case .keyNotFound(let key, let context): JSONPath(context.codingPath + [key]).description
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            JSONPath(context.codingPath).description
        @unknown default: "$"
        }
    }
}
