public import FiscalCore

/// One terminal request to fiscalize an invoice, as the store keeps it: the exactly-once ledger.
///
/// Keyed by (terminal, request id). Stored before anything reaches the device; its state says
/// how far it got, so a retry replays the outcome instead of fiscalizing twice.
public struct RequestRecord: Hashable, Sendable {
    public typealias State = RequestState

    /// Who drives the two phases.
    public enum Mode: String, Sendable {
        /// The mediator runs PREPARE and COMMIT back to back (`FISCALIZE`).
        case fiscalize
        /// The terminal sends PREPARE, then COMMIT with the nonce.
        case twoPhase = "two_phase"
    }

    public var terminalID: TerminalID
    public var requestID: RequestID
    public var payloadDigest: String
    /// The canonical invoice bytes.
    public var payload: [UInt8]
    public var outletID: String
    public var cashierID: String
    public var laneNumber: Int?
    public var mode: Mode
    public var state: State
    /// The fiscal number the device announced at PREPARE: where to look when in doubt.
    public var expectedSeq: UInt64?
    /// The device nonce while prepared (RAM on the device; kept here for recovery).
    public var nonce: String?
    public var invoiceSeq: UInt64?
    public var errorCode: String?
    public var errorMessage: String?
    public var attempts: Int
    /// The work period the sale was attributed to at intake (docs/SHOP_DAY.md).
    public var periodID: WorkPeriodID?
    /// The cashier session the sale was attributed to at intake.
    public var sessionID: CashierSessionID?
    /// The sale's context (``SaleContext/storedJSON()``), when the terminal sent one.
    public var saleContext: String?
    /// For a refund or a credit note: the fiscal number of the invoice it corrects.
    public var referenceSeq: InvoiceSeq?

    /// The key of exactly-once.
    public var key: RequestKey { RequestKey(terminalID, requestID) }

    public init(
        terminalID: TerminalID,
        requestID: RequestID,
        payloadDigest: String,
        payload: [UInt8],
        outletID: String,
        cashierID: String,
        laneNumber: Int?,
        mode: Mode,
        state: State = .queued,
        expectedSeq: UInt64? = nil,
        nonce: String? = nil,
        invoiceSeq: UInt64? = nil,
        errorCode: String? = nil,
        errorMessage: String? = nil,
        attempts: Int = 1,
        periodID: WorkPeriodID? = nil,
        sessionID: CashierSessionID? = nil,
        saleContext: String? = nil,
        referenceSeq: InvoiceSeq? = nil
    ) {
        self.terminalID = terminalID
        self.requestID = requestID
        self.payloadDigest = payloadDigest
        self.payload = payload
        self.outletID = outletID
        self.cashierID = cashierID
        self.laneNumber = laneNumber
        self.mode = mode
        self.state = state
        self.expectedSeq = expectedSeq
        self.nonce = nonce
        self.invoiceSeq = invoiceSeq
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.attempts = attempts
        self.periodID = periodID
        self.sessionID = sessionID
        self.saleContext = saleContext
        self.referenceSeq = referenceSeq
    }
}

/// A sealed invoice as the mediator keeps it: the device's journal entry, the security
/// elements, and where it came from.
public struct SealedInvoice: Hashable, Sendable {
    public var entry: JournalEntry
    public var terminalID: TerminalID
    public var requestID: RequestID
    public var outletID: String
    public var cashierID: String
    public var laneNumber: Int?
    public var sealedAt: String
    /// The work period and cashier session its request was attributed to (nil for an invoice
    /// sealed outside any, or adopted from the journal without a request).
    public var periodID: WorkPeriodID?
    public var sessionID: CashierSessionID?
    /// The sale's context as the terminal sent it (``SaleContext/storedJSON()``).
    public var saleContext: String?

    public init(
        entry: JournalEntry,
        terminalID: TerminalID,
        requestID: RequestID,
        outletID: String,
        cashierID: String,
        laneNumber: Int?,
        sealedAt: String,
        periodID: WorkPeriodID? = nil,
        sessionID: CashierSessionID? = nil,
        saleContext: String? = nil
    ) {
        self.entry = entry
        self.terminalID = terminalID
        self.requestID = requestID
        self.outletID = outletID
        self.cashierID = cashierID
        self.laneNumber = laneNumber
        self.sealedAt = sealedAt
        self.periodID = periodID
        self.sessionID = sessionID
        self.saleContext = saleContext
    }

    public var securityElements: SecurityElements { entry.securityElements }
}

extension RequestRecord {
    /// A new request (state `queued`) for `invoice` from `terminal`: its canonical bytes and
    /// their SHA-256 are what the device will seal.
    public init(invoice: Invoice, terminal: TerminalID, requestID: RequestID, mode: Mode) {
        let canonical = invoice.canonicalJSON()
        self.init(
            terminalID: terminal,
            requestID: requestID,
            payloadDigest: SHA256.hex(canonical),
            payload: canonical,
            outletID: invoice.outletID,
            cashierID: invoice.cashierID,
            laneNumber: invoice.laneNumber,
            mode: mode
        )
    }
}

extension SealedInvoice {
    /// The sealed invoice `entry` makes of `request`, stored at `sealedAt`.
    public init(entry: JournalEntry, for request: RequestRecord, sealedAt: String) {
        self.init(
            entry: entry,
            terminalID: request.terminalID,
            requestID: request.requestID,
            outletID: request.outletID,
            cashierID: request.cashierID,
            laneNumber: request.laneNumber,
            sealedAt: sealedAt,
            periodID: request.periodID,
            sessionID: request.sessionID,
            saleContext: request.saleContext
        )
    }
}
