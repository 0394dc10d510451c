import FiscalCore
import Logging
import MediatorStore

/// The shop's day (docs/SHOP_DAY.md): OPEN_PERIOD, CASH_EVENT, and the staff check behind
/// LOGIN. The store decides each against the terminal's day (``TerminalDay/StateMachine``)
/// inside its write transaction; these handlers check the message and shape the reply.
extension MediatorService {
    /// OPEN_PERIOD: the terminal's work period, with its opening float per currency.
    func openPeriod(_ context: Context, _ open: TerminalRequest.OpenPeriod) async throws(FiscalError) -> TerminalReply {
        let violations = open.openingFloat.violations(
            currencies: configuration.rules.currencies,
            at: JSONPath.root["opening_float"]
        )
        guard violations.isEmpty else {
            throw FiscalError(.floatInvalid, "the opening float is not acceptable", violations: violations)
        }
        if let problem = StaffIDRule.problem(open.openedBy) {
            throw FiscalError(.messageInvalid, "opened_by: \(problem)")
        }
        try await checkStaff(open.openedBy, as: "opened_by")
        let period = try await store.openPeriod(
            at: context.terminal,
            openedBy: open.openedBy,
            openingFloat: open.openingFloat
        )
        logger.info(
            "work period opened",
            metadata: [
                "terminal.id": "\(context.terminal)", "period.id": "\(period.id)", "staff.id": "\(open.openedBy)",
            ]
        )
        var reply = context.blankReply
        reply.period = try await periodInfo(context.terminal)
        return reply
    }

    /// CASH_EVENT: a payout, a pay-in, a drawer open, a no-sale or a line void, attributed to
    /// the terminal's open period and cashier session; a replayed `event_id` answers as before.
    func cashEvent(_ context: Context, _ event: CashEvent) async throws(FiscalError) -> TerminalReply {
        let violations = event.violations(currencies: configuration.rules.currencies)
        guard violations.isEmpty else {
            throw FiscalError(.cashEventInvalid, "the cash event is not acceptable", violations: violations)
        }
        let (record, replayed) = try await store.recordCashEvent(event, at: context.terminal)
        var reply = context.blankReply
        reply.cashEvent = TerminalReply.CashEventInfo(
            eventID: record.eventID,
            periodID: record.periodID.rawValue,
            sessionID: record.sessionID.rawValue,
            cashierID: record.cashierID,
            recordedAt: record.recordedAt
        )
        if replayed { reply.replayed = true }
        return reply
    }

    /// For a refund or a credit note: the fiscal number it corrects, checked against what is
    /// sealed here. The reference must be the fiscal number of a sale of this outlet sealed here,
    /// in the same currency (REFERENCE_UNKNOWN, REFERENCE_INVALID), and this one with the earlier
    /// ones of the same invoice (sealed or on their way) must not be more than its total
    /// (REFUND_EXCEEDS_ORIGINAL). Nil for other invoice types.
    func checkReference(_ invoice: Invoice, key: RequestKey) async throws(FiscalError) -> InvoiceSeq? {
        guard invoice.invoiceType.needsReference else { return nil }
        let kind = invoice.invoiceType.rawValue
        guard let reference = invoice.reference, let seq = InvoiceSeq(text: reference) else {
            throw FiscalError(
                .referenceUnknown,
                "a \(kind)'s reference is the fiscal number of the invoice it corrects"
            )
        }
        guard let basis = try await storeRead({ try await store.refundBasis(of: seq, excluding: key) }) else {
            throw FiscalError(.referenceUnknown, "no invoice \(seq) is sealed here")
        }
        let original = basis.original
        guard basis.outletID == invoice.outletID else {
            throw FiscalError(.referenceInvalid, "invoice \(seq) is of another outlet")
        }
        guard !original.invoiceType.needsReference else {
            throw FiscalError(.referenceInvalid, "invoice \(seq) is a \(original.invoiceType.rawValue), not a sale")
        }
        guard original.totals.currency == invoice.totals.currency else {
            throw FiscalError(
                .referenceInvalid,
                "invoice \(seq) is in \(original.totals.currency), this \(kind) in \(invoice.totals.currency)"
            )
        }
        let earlier = basis.earlier.filter(\.invoiceType.needsReference)
            .reduce(Int128(0)) { $0 + Int128($1.totals.total.units) }
        let available = Int128(original.totals.total.units) - earlier
        guard Int128(invoice.totals.total.units) <= available else {
            throw FiscalError(
                .refundExceedsOriginal,
                "invoice \(seq) totals \(original.totals.total) \(original.totals.currency); "
                    + "\(Money(units: Int64(clamping: max(available, 0)))) is left to refund"
            )
        }
        return seq
    }

    /// Refuses `id` (STAFF_UNKNOWN) when the staff registry is in use and it is not an active
    /// member; an empty registry lets anyone the terminal names work (today's behaviour).
    func checkStaff(_ id: String, as field: String) async throws(FiscalError) {
        switch try await storeRead({ try await store.standing(of: id) }) {
        case .registryUnused, .active: return
        case .inactive: throw FiscalError(.staffUnknown, "\(field) '\(id)' is deactivated in the staff registry")
        case .unknown: throw FiscalError(.staffUnknown, "\(field) '\(id)' is not in the staff registry")
        }
    }

    /// The terminal's open work period as a reply shows it, if any.
    func periodInfo(_ terminal: TerminalID) async throws(FiscalError) -> TerminalReply.PeriodInfo? {
        guard let (period, session) = try await storeRead({ try await store.openPeriod(at: terminal) }) else {
            return nil
        }
        return TerminalReply.PeriodInfo(
            id: period.id.rawValue,
            terminalID: period.terminalID,
            openedBy: period.openedBy,
            openedAt: period.openedAt,
            openingFloat: period.openingFloat,
            sessionID: session?.id,
            cashierID: session?.cashierID
        )
    }
}
