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
