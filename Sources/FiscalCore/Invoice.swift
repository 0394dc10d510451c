/// The canonical invoice a terminal asks the device to seal.
///
/// Field order follows the DEF protocol seed: merchant and traceability ids, invoice type,
/// timestamp, client, items, the tax-group breakdown, totals, payments. The canonical JSON
/// encoding (``Invoice/canonicalJSON()``) writes them in exactly this order.
public struct Invoice: Hashable, Sendable, Codable {
    public var merchantNIF: String
    public var outletID: String
    public var posTerminalID: String
    public var cashierID: String
    public var laneNumber: Int?
    public var invoiceType: InvoiceType
    /// The fiscal reference of the invoice a refund or credit note corrects.
    public var reference: String?
    /// ISO 8601 with a UTC offset, e.g. `2026-11-21T10:15:00+01:00`.
    public var timestamp: String
    public var client: Client
    public var items: [Item]
    public var taxGroups: [TaxLine]
    public var totals: Totals
    public var payments: [Payment]

    public init(
        merchantNIF: String,
        outletID: String,
        posTerminalID: String,
        cashierID: String,
        laneNumber: Int? = nil,
        invoiceType: InvoiceType,
        reference: String? = nil,
        timestamp: String,
        client: Client,
        items: [Item],
        taxGroups: [TaxLine],
        totals: Totals,
        payments: [Payment]
    ) {
        self.merchantNIF = merchantNIF
        self.outletID = outletID
        self.posTerminalID = posTerminalID
        self.cashierID = cashierID
        self.laneNumber = laneNumber
        self.invoiceType = invoiceType
        self.reference = reference
        self.timestamp = timestamp
        self.client = client
        self.items = items
        self.taxGroups = taxGroups
        self.totals = totals
        self.payments = payments
    }

    enum CodingKeys: String, CodingKey {
        case merchantNIF = "merchant_nif"
        case outletID = "outlet_id"
        case posTerminalID = "pos_terminal_id"
        case cashierID = "cashier_id"
        case laneNumber = "lane_number"
        case invoiceType = "invoice_type"
        case reference
        case timestamp
        case client
        case items
        case taxGroups = "tax_groups"
        case totals
        case payments
    }

    /// Missing identifiers decode as empty strings so that validation reports every missing
    /// traceability id at once, each with its path, instead of stopping at the first.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        merchantNIF = try c.decodeIfPresent(String.self, forKey: .merchantNIF) ?? ""
        outletID = try c.decodeIfPresent(String.self, forKey: .outletID) ?? ""
        posTerminalID = try c.decodeIfPresent(String.self, forKey: .posTerminalID) ?? ""
        cashierID = try c.decodeIfPresent(String.self, forKey: .cashierID) ?? ""
        laneNumber = try c.decodeIfPresent(Int.self, forKey: .laneNumber, in: WireRange.int)
        invoiceType = try c.decode(InvoiceType.self, forKey: .invoiceType)
        reference = try c.decodeIfPresent(String.self, forKey: .reference)
        timestamp = try c.decodeIfPresent(String.self, forKey: .timestamp) ?? ""
        client = try c.decode(Client.self, forKey: .client)
        items = try c.decodeIfPresent([Item].self, forKey: .items) ?? []
        taxGroups = try c.decodeIfPresent([TaxLine].self, forKey: .taxGroups) ?? []
        totals = try c.decode(Totals.self, forKey: .totals)
        payments = try c.decodeIfPresent([Payment].self, forKey: .payments) ?? []
    }
}

extension Invoice {
    /// The kinds of fiscal document a shop issues.
    public enum InvoiceType: String, Hashable, Sendable, Codable, CaseIterable {
        /// An ordinary sale (facture de vente).
        case sale
        /// Money handed back for returned goods; carries the original invoice's `reference`.
        case refund
        /// A credit note (facture d'avoir) correcting an earlier invoice; carries `reference`.
        case creditNote = "credit_note"
        /// An advance or deposit received before delivery (facture d'acompte).
        case deposit
        /// A sale for export, usually in tax group E.
        case exportSale = "export_sale"

        /// Whether this type corrects an earlier invoice and must name it in `reference`.
        public var needsReference: Bool { self == .refund || self == .creditNote }
    }

    /// The buyer.
    public struct Client: Hashable, Sendable, Codable {
        public var name: String?
        /// The buyer's tax number; required for companies, professionals and embassies.
        public var nif: String?
        public var classification: Classification

        public init(name: String? = nil, nif: String? = nil, classification: Classification) {
            self.name = name
            self.nif = nif
            self.classification = classification
        }

        /// The DGI client classifications.
        public enum Classification: String, Hashable, Sendable, Codable, CaseIterable {
            case individual
            case company
            case commercialIndividual = "commercial_individual"
            case professional
            case embassy

            /// Whether an invoice to this kind of client must carry the client's name and NIF.
            public var needsIdentification: Bool { self != .individual }
        }
    }

    /// One invoice line. `unit_price` excludes tax.
    public struct Item: Hashable, Sendable, Codable {
        public var code: String
        public var description: String
        public var quantity: Quantity
        public var unitPrice: Money
        public var taxGroup: String

        public init(code: String, description: String, quantity: Quantity, unitPrice: Money, taxGroup: String) {
            self.code = code
            self.description = description
            self.quantity = quantity
            self.unitPrice = unitPrice
            self.taxGroup = taxGroup
        }

        enum CodingKeys: String, CodingKey {
            case code, description, quantity
            case unitPrice = "unit_price"
            case taxGroup = "tax_group"
        }

        /// `quantity × unit_price` in minor units, rounded half away from zero: exact, even
        /// where it is beyond what ``Money`` holds (validation reports that).
        public var exactAmount: Int128 {
            FixedPoint.divideRounded(Int128(quantity.units) * Int128(unitPrice.units), by: 1000)
        }

        /// `quantity × unit_price`, rounded half away from zero to the minor unit. Exact for
        /// every item of a valid invoice; beyond `Int64`, clamped (``InvoiceValidator`` refuses
        /// such an item with `VALUE_OUT_OF_RANGE`).
        public var amount: Money { Money(units: Int64(clamping: exactAmount)) }
    }

    /// One row of the tax-group breakdown.
    public struct TaxLine: Hashable, Sendable, Codable {
        public var code: String
        public var rate: TaxRate
        public var base: Money
        public var amount: Money

        public init(code: String, rate: TaxRate, base: Money, amount: Money) {
            self.code = code
            self.rate = rate
            self.base = base
            self.amount = amount
        }
    }

    public struct Totals: Hashable, Sendable, Codable {
        public var subtotal: Money
        public var totalVAT: Money
        public var total: Money
        /// ISO 4217 code.
        public var currency: String

        public init(subtotal: Money, totalVAT: Money, total: Money, currency: String) {
            self.subtotal = subtotal
            self.totalVAT = totalVAT
            self.total = total
            self.currency = currency
        }

        enum CodingKeys: String, CodingKey {
            case subtotal
            case totalVAT = "total_vat"
            case total, currency
        }
    }

    public struct Payment: Hashable, Sendable, Codable {
        public var method: Method
        public var amount: Money
        /// A card slip, mobile-money transaction or cheque number.
        public var reference: String?

        public init(method: Method, amount: Money, reference: String? = nil) {
            self.method = method
            self.amount = amount
            self.reference = reference
        }

        public enum Method: String, Hashable, Sendable, Codable, CaseIterable {
            case cash
            case card
            case mobileMoney = "mobile_money"
            case bankTransfer = "bank_transfer"
            case cheque
            case credit
            case voucher
            case other
        }
    }
}
