import FiscalCore
import Foundation

/// One frame from a terminal, as the mediator decodes it, then what the mediator does next
/// with a request that decoded: the health and invoice checks. The same bytes are also read
/// as a reply, as the terminal client decodes the mediator's answers, and as PAIR and its
/// reply (the pairing endpoint reads frames from any key).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTerminalMessage(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    let decoder = JSONDecoder()
    if let request = try? decoder.decode(TerminalRequest.self, from: data) {
        switch request.body {
        case .heartbeat(let heartbeat):
            _ = heartbeat.health.violations()
        case .fiscalize(let sale), .prepare(let sale):
            _ = InvoiceValidator().violations(in: sale.invoice)
            _ = sale.invoice.payloadDigest()
            _ = sale.context?.violations(against: sale.invoice, rules: .default)
        case .cashEvent(let event):
            _ = event.violations(currencies: FiscalRules.default.currencies)
        case .log(let log):
            precondition(InvoiceSeq.range.contains(log.invoiceSeq.rawValue) && log.invoiceSeq.int64Value > 0)
        case .closePeriod(let close):
            precondition(StaffIDRule.length.contains(close.closedBy.count))
        case .hello, .login, .logout, .commit, .abort, .result, .status, .ping, .openPeriod, .reportX:
            break
        }
    }
    if let reply = try? decoder.decode(TerminalReply.self, from: data) {
        _ = reply.fiscalError
        // What decoded must encode, and decode again to the same reply.
        let again = try? decoder.decode(TerminalReply.self, from: JSONEncoder().encode(reply))
        precondition(again == reply, "a reply does not survive encoding")
    }
    if let pair = try? decoder.decode(PairingRequest.self, from: data) {
        precondition(pair.type == "PAIR" && pair.code.utf8.count <= 32)
    }
    if let pairReply = try? decoder.decode(PairingReply.self, from: data) {
        let again = try? decoder.decode(PairingReply.self, from: JSONEncoder().encode(pairReply))
        precondition(again == pairReply, "a PAIR reply does not survive encoding")
    }
    return 0
}
