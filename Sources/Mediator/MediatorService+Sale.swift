import FiscalCore
import MediatorStore

/// The sale family: FISCALIZE, PREPARE, COMMIT, ABORT, RESULT and LOG. The device core decides
/// what each does (docs/PROTOCOL.md, "Every state × message"); these handlers check the message,
/// hand it over, and turn the core's answer into the wire reply.
extension MediatorService {
    /// FISCALIZE or PREPARE: the invoice is checked (its terminal, cashier and outlet, then the
    /// fiscal rules), and the sale goes to the device actor, which answers when it is sealed
    /// (FISCALIZE) or prepared (PREPARE).
    func sale(_ context: Context, _ sale: TerminalRequest.Sale, mode: RequestRecord.Mode) async throws(FiscalError) {
        let terminal = context.terminal
        let invoice = sale.invoice
        guard invoice.posTerminalID == terminal.rawValue else {
            throw FiscalError(
                .terminalMismatch,
                "the invoice's pos_terminal_id '\(invoice.posTerminalID)' is not the sender '\(terminal)'"
            )
        }
        if configuration.requireCashierLogin {
            if let unreadable = context.heard.unreadable { throw unreadable }
            guard let cashier = context.heard.cashier else {
                throw FiscalError(.notLoggedIn, "no cashier is logged in at \(terminal); send LOGIN first")
            }
            guard invoice.cashierID == cashier else {
                throw FiscalError(
                    .cashierMismatch,
                    "the invoice's cashier_id '\(invoice.cashierID)' is not the cashier logged in at \(terminal) ('\(cashier)')"
                )
            }
        }
        // The terminal's day decides attribution: its open period, and the session whose
        // cashier the invoice names (docs/SHOP_DAY.md).
        var day = context.day ?? TerminalDay.StateMachine()
        let needs = TerminalDay.StateMachine.Requirements(
            period: configuration.requireWorkPeriod,
            session: configuration.requireCashierLogin
        )
        guard case .attribute(let period, let session) = try day.handle(.sell(cashier: invoice.cashierID, needs)) else {
            preconditionFailure("a sale is attributed or refused")
        }
        if let outlet = configuration.outletID, invoice.outletID != outlet {
            throw FiscalError(
                .terminalMismatch,
                "the invoice's outlet_id '\(invoice.outletID)' is not this mediator's outlet '\(outlet)'"
            )
        }
        do { try validator.validate(invoice) } catch { throw error.rooted(at: "$.invoice") }
        if let saleContext = sale.context {
            let violations = saleContext.violations(against: invoice, rules: configuration.rules)
            guard violations.isEmpty else {
                throw FiscalError(
                    .saleContextInvalid,
                    "the sale context does not agree with the invoice",
                    violations: violations
                ).rooted(at: "$.sale")
            }
        }
        let reference = try await checkReference(invoice, key: RequestKey(terminal, sale.requestID))
        var record = RequestRecord(invoice: invoice, terminal: terminal, requestID: sale.requestID, mode: mode)
        record.periodID = period
        record.sessionID = session
        record.saleContext = sale.context?.storedJSON()
        record.referenceSeq = reference
        await deviceActor.sale(record, reply: responder(context))
    }

    func commit(_ context: Context, _ commit: TerminalRequest.Commit) async throws(FiscalError) {
        let key = RequestKey(context.terminal, commit.requestID)
        await deviceActor.commit(key, nonce: commit.nonce, reply: responder(context))
    }

    func abort(_ context: Context, _ reference: TerminalRequest.RequestRef) async {
        await deviceActor.abort(RequestKey(context.terminal, reference.requestID), reply: responder(context))
    }

    func result(_ context: Context, _ reference: TerminalRequest.RequestRef) async {
        await deviceActor.result(RequestKey(context.terminal, reference.requestID), reply: responder(context))
    }

    /// LOG: a sealed invoice for a reprint or an audit. A terminal sees only its own; an ADMIN
    /// terminal (the back office) sees every one. Another terminal's answers NOT_FOUND, exactly
    /// as a number never sealed does, so a curious terminal learns nothing of it.
    func log(_ context: Context, _ log: TerminalRequest.Log) async throws(FiscalError) -> TerminalReply {
        let seq = log.invoiceSeq
        let found: SealedInvoice?
        do { found = try await store.sealedInvoiceRecord(seq) } catch { throw StoreFailure.fiscal(error) }
        let mayRead = { (sealed: SealedInvoice) in
            sealed.terminalID == context.terminal || context.registration?.kind == .admin
        }
        guard let sealed = found, mayRead(sealed) else {
            throw FiscalError(.notFound, "no sealed invoice \(seq) here")
        }
        var reply = context.blankReply
        reply.sealed = TerminalReply.SealedRecord(
            securityElements: sealed.securityElements,
            posTerminalID: sealed.terminalID.rawValue,
            cashierID: sealed.cashierID,
            outletID: sealed.outletID,
            laneNumber: sealed.laneNumber,
            requestID: sealed.requestID.rawValue,
            sealedAt: sealed.sealedAt
        )
        return reply
    }

    /// Where the device actor's answer to this message goes.
    private func responder(_ context: Context) -> DeviceActor.Responder {
        { [self] answer in finish(context, wireReply(context, answer)) }
    }

    /// The device core's answer as the terminal protocol's reply.
    func wireReply(_ context: Context, _ answer: DeviceActor.Core.Reply) -> TerminalReply {
        var reply = context.blankReply
        reply.requestID = context.request.requestID?.rawValue
        switch answer {
        case .sealed(let entry, let replayed):
            reply.securityElements = entry.securityElements
            if replayed { reply.replayed = true }
        case .prepared(let nonce, let seq, let lease, let replayed):
            reply.nonce = nonce.rawValue
            reply.nextInvoiceSeq = seq?.rawValue
            reply.leaseMs = Int(lease.wholeMilliseconds)
            if replayed { reply.replayed = true }
        case .state(let state, let error, let sealed):
            reply.state = state
            reply.securityElements = sealed?.securityElements
            if let error {
                reply.code = error.code
                reply.message = error.message
            }
        case .refused(let error, let retryAfter):
            // The device's violations name paths in the invoice; the terminal sent it as `invoice`.
            return refusal(context, error.rooted(at: "$.invoice"), retryAfter: retryAfter)
        case .lookUp:
            preconditionFailure("the device actor answers lookups itself")
        case .report:
            preconditionFailure("a report's answer goes to the operator who asked, never to a terminal")
        }
        return reply
    }
}
