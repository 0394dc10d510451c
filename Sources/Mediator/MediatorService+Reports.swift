import FiscalCore
import Logging
import MediatorStore
import ReportText
import Reports

/// X and Z reports (docs/REPORTS.md): REPORT_X and CLOSE_PERIOD. The store computes and stores
/// them in one transaction each; these handlers check the message and shape the reply.
extension MediatorService {
    /// REPORT_X: the terminal's open period (or one cashier in it), as a free preview or a
    /// numbered X taken by `taken_by`. Nothing closes.
    func reportX(_ context: Context, _ x: TerminalRequest.ReportX) async throws(FiscalError) -> TerminalReply {
        if let cashier = x.cashierID, let problem = StaffIDRule.problem(cashier) {
            throw FiscalError(.messageInvalid, "cashier_id: \(problem)")
        }
        let record: ReportRecord
        if x.preview {
            record = try await store.previewX(
                at: context.terminal,
                cashier: x.cashierID,
                settings: configuration.reports
            )
        } else {
            guard let by = x.takenBy else {
                throw FiscalError(.messageInvalid, "taken_by: a numbered X names who takes it")
            }
            if let problem = StaffIDRule.problem(by) { throw FiscalError(.messageInvalid, "taken_by: \(problem)") }
            try await checkStaff(by, as: "taken_by")
            record = try await store.takeX(
                at: context.terminal,
                cashier: x.cashierID,
                by: by,
                settings: configuration.reports
            )
            logger.info(
                "X report taken",
                metadata: ["terminal.id": "\(context.terminal)", "report": "\(record.number)", "staff.id": "\(by)"]
            )
        }
        return try reportReply(context, record)
    }

    /// CLOSE_PERIOD: the Z. A preview answers the Z it would take; otherwise the count is
    /// reconciled, the Z stored, numbered and chained, and the period closed, in one transaction.
    func closePeriod(
        _ context: Context,
        _ close: TerminalRequest.ClosePeriod
    ) async throws(FiscalError)
        -> TerminalReply
    {
        if let problem = StaffIDRule.problem(close.closedBy) {
            throw FiscalError(.messageInvalid, "closed_by: \(problem)")
        }
        if let explanation = close.explanation {
            if explanation.count > CashReconciliation.maxExplanationLength {
                throw FiscalError(
                    .fieldTooLong,
                    "explanation: at most \(CashReconciliation.maxExplanationLength) characters"
                )
            }
            if explanation.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                throw FiscalError(.formatInvalid, "explanation: control characters are not allowed")
            }
        }
        let request = ZRequest(
            terminal: context.terminal,
            closedBy: close.closedBy,
            count: close.count.map(CashCount.init),
            explanation: close.explanation
        )
        let currencies = configuration.rules.currencies
        if close.preview {
            let record = try await store.previewZ(request, settings: configuration.reports, currencies: currencies)
            return try reportReply(context, record)
        }
        let record = try await store.takeZ(request, settings: configuration.reports, currencies: currencies)
        logger.notice(
            "Z report taken; work period closed",
            metadata: [
                "terminal.id": "\(context.terminal)", "report": "\(record.number)",
                "period.id": "\(record.periodID.map(String.init) ?? "-")", "staff.id": "\(close.closedBy)",
            ]
        )
        return try reportReply(context, record)
    }

    private func reportReply(_ context: Context, _ record: ReportRecord) throws(FiscalError) -> TerminalReply {
        var reply = context.blankReply
        do {
            reply.report = try JSONDocument(encoding: record)
            reply.reportText = ReportText.render(
                record,
                terminalName: context.registration?.name,
                hash: record.isPreview ? nil : ReportRecord.hash(of: try record.body())
            )
        } catch {
            throw FiscalError(.replyUnencodable, "report \(record.number) cannot be encoded: \(error)")
        }
        return reply
    }
}
