import FiscalCore
import Hummingbird
import Mediator
import MediatorStore

/// The shop's day in the ops API (docs/SHOP_DAY.md): staff, work periods with their cashier
/// sessions and cash events.
extension Handlers {
    func staff() async throws -> Response {
        json(
            .array(
                try await service.store.staff().map { member in
                    .object([
                        "id": .string(member.id), "display_name": .string(member.displayName),
                        "role": .string(member.role.rawValue), "active": .bool(member.active),
                        "created_at": .string(member.createdAt), "modified_at": .string(member.modifiedAt),
                    ])
                }
            )
        )
    }

    func periods(terminal: String?) async throws -> Response {
        let periods = try await service.store.workPeriods(at: terminal.map { TerminalID($0) }, limit: 200)
        return json(.array(periods.map(Self.periodJSON)))
    }

    func period(_ id: String) async throws -> Response {
        guard let number = Int64(id), number > 0, let detail = try await service.store.workPeriod(WorkPeriodID(number))
        else {
            return json(
                .object([
                    "code": .string(ErrorCode.notFound.rawValue),
                    "message": .string("no work period \(PeerText.escaped(id, limit: 32))"),
                ]),
                status: .notFound
            )
        }
        return json(try await detailJSON(detail))
    }

    /// The terminal's open period with its sessions and cash events, or null.
    func openPeriodJSON(_ terminal: TerminalID) async throws -> JSONValue {
        guard let (period, _) = try await service.store.openPeriod(at: terminal),
            let detail = try await service.store.workPeriod(period.id)
        else { return .null }
        return try await detailJSON(detail)
    }

    private func detailJSON(_ detail: WorkPeriodDetail) async throws -> JSONValue {
        var staffNames: [String: String] = [:]
        for member in try await service.store.staff() { staffNames[member.id] = member.displayName }
        func name(_ id: String) -> JSONValue { staffNames[id].map(JSONValue.string) ?? .null }
        guard case .object(var fields) = Self.periodJSON(detail.period) else { return .null }
        fields["opened_by_name"] = name(detail.period.openedBy)
        fields["cashier_sessions"] = .array(
            detail.sessions.map { session in
                .object([
                    "id": .int(Int(clamping: session.id)), "cashier_id": .string(session.cashierID),
                    "cashier_name": name(session.cashierID), "opened_at": .string(session.openedAt),
                    "closed_at": session.closedAt.map(JSONValue.string) ?? .null,
                    "close_reason": session.closeReason.map(JSONValue.string) ?? .null,
                ])
            }
        )
        fields["cash_events"] = .array(
            detail.cashEvents.map { event in
                .object([
                    "event_id": .string(event.eventID), "kind": .string(event.kind),
                    "amount": event.amount.map { .string($0.canonicalText) } ?? .null,
                    "currency": event.currency.map(JSONValue.string) ?? .null,
                    "reason": event.reason.map(JSONValue.string) ?? .null,
                    "session_id": .int(Int(clamping: event.sessionID.rawValue)), "cashier_id": .string(event.cashierID),
                    "recorded_at": .string(event.recordedAt),
                ])
            }
        )
        fields["invoice_seqs"] = .array(detail.invoiceSeqs.map { .int(Int(clamping: $0)) })
        return .object(fields)
    }

    static func periodJSON(_ period: WorkPeriodRecord) -> JSONValue {
        .object([
            "id": .int(Int(clamping: period.id.rawValue)), "terminal_id": .string(period.terminalID),
            "opened_by": .string(period.openedBy), "opened_at": .string(period.openedAt),
            "opening_float": .object(period.openingFloat.amounts.mapValues { .string($0.canonicalText) }),
            "closed_by": period.closedBy.map(JSONValue.string) ?? .null,
            "closed_at": period.closedAt.map(JSONValue.string) ?? .null,
            "open": .bool(period.isOpen),
        ])
    }
}
