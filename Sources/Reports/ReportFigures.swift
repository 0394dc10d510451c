public import FiscalCore

/// The figures of an X or Z report (docs/REPORTS.md says how each is derived), computed by one
/// pure function from a ``ReportInput``. Every amount is per currency: CDF and USD are never
/// added together. Net, VAT and payments come from sealed invoices only, so they agree with
/// what the device signed; the drawer comes from the tender and change the till recorded.
///
/// The JSON form (snake_case keys, amounts as decimal strings) is what a Z record stores and
/// hashes, and what `report show --format json` prints.
public struct ReportFigures: Codable, Hashable, Sendable {
    public var terminal: String
    public var periodID: Int64
    /// The cashier of a cashier's report; nil for the whole terminal.
    public var cashier: String?
    public var shiftStart: String
    /// When the period closed, or the time the figures were taken for an open one.
    public var shiftEnd: String
    /// The first and last fiscal numbers in the report (nil when it has none).
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?
    /// Per invoice currency, sorted by code.
    public var sales: [CurrencySales]
    /// Per physical currency in the drawer, sorted by code.
    public var drawer: [DrawerLine]
    public var statistics: Statistics
    /// Line voids declared by the till (count and amount per currency): information only,
    /// never subtracted from anything.
    public var lineVoids: [CountedAmount]
    /// The cashier sessions in the report, in order.
    public var sessions: [SessionLine]

    enum CodingKeys: String, CodingKey {
        case terminal
        case periodID = "period_id"
        case cashier
        case shiftStart = "shift_start"
        case shiftEnd = "shift_end"
        case firstSeq = "first_seq"
        case lastSeq = "last_seq"
        case sales, drawer, statistics
        case lineVoids = "line_voids"
        case sessions
    }

    /// The sales summary of one currency.
    public struct CurrencySales: Codable, Hashable, Sendable {
        public var currency: String
        /// Sale lines before discounts: line amounts plus their discounts.
        public var gross: Money
        public var discounts: Money
        /// `refund` invoices, before tax.
        public var refunds: Money
        /// `credit_note` invoices, before tax.
        public var voids: Money
        /// gross − discounts − refunds − voids.
        public var net: Money
        /// Tax of sales less tax of refunds and credit notes.
        public var vat: Money
        /// net + vat: what the sealed invoices add up to.
        public var grandTotal: Money
        /// Per tax group: base and tax, net of refunds and credit notes.
        public var taxGroups: [TaxGroupLine]
        /// Per payment method, from the invoices' `payments` (change taken off).
        public var payments: [PaymentLine]
        /// Sealed invoices in this currency.
        public var transactions: Int
        /// grandTotal ÷ transactions, rounded half away from zero.
        public var average: Money
        /// Sale invoices (everything but refunds and credit notes).
        public var customers: Int
        /// Quantities sold on sale invoices.
        public var itemsSold: Quantity
        public var voidCount: Int
        public var refundCount: Int
        /// Discounted lines.
        public var discountCount: Int
        /// Per invoice type: count and (positive) total, as the device's own Z shows them.
        public var types: [TypeLine] = []

        enum CodingKeys: String, CodingKey {
            case currency, gross, discounts, refunds, voids, net, vat
            case grandTotal = "grand_total"
            case taxGroups = "tax_groups"
            case payments, transactions, average, customers
            case itemsSold = "items_sold"
            case voidCount = "void_count"
            case refundCount = "refund_count"
            case discountCount = "discount_count"
            case types
        }
    }

    /// One invoice type's count and total (VAT included, positive even for refunds).
    public struct TypeLine: Codable, Hashable, Sendable {
        public var invoiceType: String
        public var count: Int
        public var total: Money
        public init(invoiceType: String, count: Int, total: Money) {
            self.invoiceType = invoiceType
            self.count = count
            self.total = total
        }
        enum CodingKeys: String, CodingKey {
            case invoiceType = "invoice_type"
            case count, total
        }
    }

    public struct TaxGroupLine: Codable, Hashable, Sendable {
        public var code: String
        public var rate: TaxRate
        public var base: Money
        public var amount: Money
    }

    /// One payment method: taken on sales, handed back on refunds and credit notes, and net.
    public struct PaymentLine: Codable, Hashable, Sendable {
        public var method: String
        public var received: Money
        public var returned: Money
        public var net: Money
        /// Invoices that used the method.
        public var count: Int
    }

    /// The cash drawer in one currency: opening float + cash received − change given − cash
    /// refunds − payouts + pay-ins = expected.
    public struct DrawerLine: Codable, Hashable, Sendable {
        public var currency: String
        public var openingFloat: Money
        public var cashReceived: Money
        public var changeGiven: Money
        public var cashRefunds: Money
        public var payouts: Money
        public var payIns: Money
        public var expected: Money

        enum CodingKeys: String, CodingKey {
            case currency
            case openingFloat = "opening_float"
            case cashReceived = "cash_received"
            case changeGiven = "change_given"
            case cashRefunds = "cash_refunds"
            case payouts
            case payIns = "pay_ins"
            case expected
        }
    }

    /// Counts that are not amounts.
    public struct Statistics: Codable, Hashable, Sendable {
        /// Sealed invoices, all currencies.
        public var transactions: Int
        /// Sale invoices, all currencies.
        public var customers: Int
        /// `drawer_open` and `no_sale` events (a no-sale is a drawer opening).
        public var drawerOpens: Int
        public var noSales: Int

        enum CodingKeys: String, CodingKey {
            case transactions, customers
            case drawerOpens = "drawer_opens"
            case noSales = "no_sales"
        }
    }

    public struct CountedAmount: Codable, Hashable, Sendable {
        public var currency: String
        public var count: Int
        public var amount: Money
    }

    /// One cashier session: its span and what it sold (net, per currency).
    public struct SessionLine: Codable, Hashable, Sendable {
        public var sessionID: Int64
        public var cashierID: String
        public var cashierName: String?
        public var openedAt: String
        public var closedAt: String?
        public var sales: [CountedAmount]

        enum CodingKeys: String, CodingKey {
            case sessionID = "session_id"
            case cashierID = "cashier_id"
            case cashierName = "cashier_name"
            case openedAt = "opened_at"
            case closedAt = "closed_at"
            case sales
        }
    }
}

extension ReportFigures.CurrencySales {
    /// The payments' net, which equals ``grandTotal`` when every invoice's payments cover it.
    public var paymentsTotal: Money { Money(units: payments.reduce(0) { $0 + $1.net.units }) }
}

extension ReportFigures {
    /// The drawer line of `currency`, if the drawer saw it.
    public func drawer(_ currency: String) -> DrawerLine? { drawer.first { $0.currency == currency } }
}
