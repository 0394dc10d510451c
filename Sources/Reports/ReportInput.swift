public import FiscalCore

/// What a terminal's X or Z report is computed from: one work period as the store recorded it
/// (docs/SHOP_DAY.md) and the invoices the device sealed in it. Plain values, read by the
/// store in one transaction; ``ReportFigures/compute(_:scope:asOf:)`` does the rest without I/O.
public struct ReportInput: Sendable, Hashable {
    public var terminal: String
    public var periodID: Int64
    public var openedBy: String
    public var openedAt: String
    /// nil while the period is open.
    public var closedAt: String?
    public var openingFloat: CurrencyAmounts
    /// The period's cashier sessions, in the order they opened.
    public var sessions: [Session]
    /// The invoices sealed in the period, in fiscal-number order.
    public var invoices: [Sealed]
    /// The period's cash and drawer events, in the order they were recorded.
    public var events: [Event]

    public init(
        terminal: String,
        periodID: Int64,
        openedBy: String,
        openedAt: String,
        closedAt: String? = nil,
        openingFloat: CurrencyAmounts,
        sessions: [Session] = [],
        invoices: [Sealed] = [],
        events: [Event] = []
    ) {
        self.terminal = terminal
        self.periodID = periodID
        self.openedBy = openedBy
        self.openedAt = openedAt
        self.closedAt = closedAt
        self.openingFloat = openingFloat
        self.sessions = sessions
        self.invoices = invoices
        self.events = events
    }

    /// A cashier's turn at the terminal.
    public struct Session: Sendable, Hashable {
        public var id: Int64
        public var cashierID: String
        /// From the staff registry; nil when the cashier is not registered there.
        public var cashierName: String?
        public var openedAt: String
        public var closedAt: String?

        public init(id: Int64, cashierID: String, cashierName: String? = nil, openedAt: String, closedAt: String? = nil)
        {
            self.id = id
            self.cashierID = cashierID
            self.cashierName = cashierName
            self.openedAt = openedAt
            self.closedAt = closedAt
        }
    }

    /// One sealed invoice with what the till said beside it.
    public struct Sealed: Sendable, Hashable {
        public var seq: UInt64
        public var sessionID: Int64?
        public var sealedAt: String
        public var invoice: Invoice
        /// nil when the terminal sent no `sale` context.
        public var context: SaleContext?

        public init(seq: UInt64, sessionID: Int64?, sealedAt: String, invoice: Invoice, context: SaleContext? = nil) {
            self.seq = seq
            self.sessionID = sessionID
            self.sealedAt = sealedAt
            self.invoice = invoice
            self.context = context
        }
    }

    /// A recorded cash or drawer event.
    public struct Event: Sendable, Hashable {
        public var kind: CashEvent.Kind
        public var amount: Money?
        public var currency: String?
        public var sessionID: Int64
        public var cashierID: String

        public init(
            kind: CashEvent.Kind,
            amount: Money? = nil,
            currency: String? = nil,
            sessionID: Int64,
            cashierID: String
        ) {
            self.kind = kind
            self.amount = amount
            self.currency = currency
            self.sessionID = sessionID
            self.cashierID = cashierID
        }
    }
}

/// Whose figures a report shows: the whole terminal's period, or one cashier's sessions in it.
public enum ReportScope: Sendable, Hashable {
    case terminal
    case cashier(String)

    /// The cashier, for a cashier's report.
    public var cashier: String? {
        if case .cashier(let id) = self { id } else { nil }
    }
}
