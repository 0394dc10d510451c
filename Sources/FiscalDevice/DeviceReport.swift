public import FiscalCore

/// A report the device computes from its own journal: Z (closes the fiscal day, numbered by
/// its own counter), X (the same figures without closing) or A (per article).
public struct DeviceReport: Codable, Hashable, Sendable {
    public enum Kind: String, Codable, Sendable {
        case z = "Z"
        case x = "X"
        case a = "A"
    }

    public var kind: Kind
    public var deviceID: DeviceID
    /// The Z number; for X and A, the number the next Z will take.
    public var zNumber: UInt64
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?
    public var invoiceCount: UInt64
    public var periodStart: String?
    public var generatedAt: String
    /// Per currency and invoice type: count and total.
    public var byType: [TypeLine]
    /// Per currency and tax group: base and tax.
    public var byTaxGroup: [TaxGroupLine]
    /// Per currency and payment method.
    public var byPayment: [PaymentLine]
    /// Per article (A report only).
    public var articles: [ArticleLine]?
    /// SHA-256 of the report's canonical JSON without hash and signature (Z only).
    public var reportHash: String?
    /// The device's signature of `report_hash`, base64url (Z only).
    public var signature: String?

    public struct TypeLine: Codable, Hashable, Sendable {
        public var currency: String
        public var invoiceType: String
        public var count: UInt64
        public var total: Money
        enum CodingKeys: String, CodingKey {
            case currency
            case invoiceType = "invoice_type"
            case count, total
        }
        public init(currency: String, invoiceType: String, count: UInt64, total: Money) {
            self.currency = currency
            self.invoiceType = invoiceType
            self.count = count
            self.total = total
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            currency = try c.decode(String.self, forKey: .currency)
            invoiceType = try c.decode(String.self, forKey: .invoiceType)
            count = try c.decode(UInt64.self, forKey: .count, in: WireRange.counter)
            total = try c.decode(Money.self, forKey: .total)
        }
    }

    public struct TaxGroupLine: Codable, Hashable, Sendable {
        public var currency: String
        public var code: String
        public var base: Money
        public var amount: Money
        public init(currency: String, code: String, base: Money, amount: Money) {
            self.currency = currency
            self.code = code
            self.base = base
            self.amount = amount
        }
    }

    public struct PaymentLine: Codable, Hashable, Sendable {
        public var currency: String
        public var method: String
        public var amount: Money
        public init(currency: String, method: String, amount: Money) {
            self.currency = currency
            self.method = method
            self.amount = amount
        }
    }

    public struct ArticleLine: Codable, Hashable, Sendable {
        public var currency: String
        public var code: String
        public var description: String
        public var quantity: Quantity
        public var amount: Money
        public init(currency: String, code: String, description: String, quantity: Quantity, amount: Money) {
            self.currency = currency
            self.code = code
            self.description = description
            self.quantity = quantity
            self.amount = amount
        }
    }

    enum CodingKeys: String, CodingKey {
        case kind
        case deviceID = "device_id"
        case zNumber = "z_number"
        case firstSeq = "first_seq"
        case lastSeq = "last_seq"
        case invoiceCount = "invoice_count"
        case periodStart = "period_start"
        case generatedAt = "generated_at"
        case byType = "by_type"
        case byTaxGroup = "by_tax_group"
        case byPayment = "by_payment"
        case articles
        case reportHash = "report_hash"
        case signature
    }

    /// Decodes a report, holding its numbers to ``WireRange/counter`` and its fiscal numbers
    /// to ``InvoiceSeq/range``.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        kind = try c.decode(Kind.self, forKey: .kind)
        deviceID = try c.decode(DeviceID.self, forKey: .deviceID)
        zNumber = try c.decode(UInt64.self, forKey: .zNumber, in: WireRange.counter)
        firstSeq = try c.decodeIfPresent(InvoiceSeq.self, forKey: .firstSeq)?.rawValue
        lastSeq = try c.decodeIfPresent(InvoiceSeq.self, forKey: .lastSeq)?.rawValue
        invoiceCount = try c.decode(UInt64.self, forKey: .invoiceCount, in: WireRange.counter)
        periodStart = try c.decodeIfPresent(String.self, forKey: .periodStart)
        generatedAt = try c.decode(String.self, forKey: .generatedAt)
        byType = try c.decode([TypeLine].self, forKey: .byType)
        byTaxGroup = try c.decode([TaxGroupLine].self, forKey: .byTaxGroup)
        byPayment = try c.decode([PaymentLine].self, forKey: .byPayment)
        articles = try c.decodeIfPresent([ArticleLine].self, forKey: .articles)
        reportHash = try c.decodeIfPresent(String.self, forKey: .reportHash)
        signature = try c.decodeIfPresent(String.self, forKey: .signature)
    }

    public init(
        kind: Kind,
        deviceID: DeviceID,
        zNumber: UInt64,
        firstSeq: UInt64?,
        lastSeq: UInt64?,
        invoiceCount: UInt64,
        periodStart: String?,
        generatedAt: String,
        byType: [TypeLine],
        byTaxGroup: [TaxGroupLine],
        byPayment: [PaymentLine],
        articles: [ArticleLine]?
    ) {
        self.kind = kind
        self.deviceID = deviceID
        self.zNumber = zNumber
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
        self.invoiceCount = invoiceCount
        self.periodStart = periodStart
        self.generatedAt = generatedAt
        self.byType = byType
        self.byTaxGroup = byTaxGroup
        self.byPayment = byPayment
        self.articles = articles
    }

    /// The canonical bytes a Z report's hash covers: every figure, without hash and signature.
    public var canonicalJSON: [UInt8] {
        var json = CanonicalJSON()
        json.beginObject()
        json.field("kind", kind.rawValue)
        json.field("device_id", deviceID.rawValue)
        json.field("z_number", zNumber)
        if let firstSeq { json.field("first_seq", firstSeq) }
        if let lastSeq { json.field("last_seq", lastSeq) }
        json.field("invoice_count", invoiceCount)
        json.field("period_start", periodStart)
        json.field("generated_at", generatedAt)
        json.key("by_type")
        json.beginArray()
        for line in byType {
            json.beginObject()
            json.field("currency", line.currency)
            json.field("invoice_type", line.invoiceType)
            json.field("count", line.count)
            json.field("total", line.total)
            json.endObject()
        }
        json.endArray()
        json.key("by_tax_group")
        json.beginArray()
        for line in byTaxGroup {
            json.beginObject()
            json.field("currency", line.currency)
            json.field("code", line.code)
            json.field("base", line.base)
            json.field("amount", line.amount)
            json.endObject()
        }
        json.endArray()
        json.key("by_payment")
        json.beginArray()
        for line in byPayment {
            json.beginObject()
            json.field("currency", line.currency)
            json.field("method", line.method)
            json.field("amount", line.amount)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.bytes
    }
}
