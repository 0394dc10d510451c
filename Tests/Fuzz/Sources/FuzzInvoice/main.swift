import FiscalCore
import Foundation

/// A canonical invoice as the device and the mediator decode it, then validation; a valid
/// invoice's canonical bytes must decode to the same invoice (same payload digest), or two
/// parties could seal one sale under two digests.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzInvoice(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let invoice: Invoice
    do throws(FiscalError) {
        invoice = try Invoice.decode(json: bytes)
    } catch {
        precondition(error.code == .schemaInvalid)
        return 0
    }
    let violations = InvoiceValidator().violations(in: invoice)
    precondition(violations.allSatisfy { $0.path.hasPrefix("$") })
    let canonical = invoice.canonicalJSON()
    guard violations.isEmpty else { return 0 }
    do throws(FiscalError) {
        let again = try Invoice.decode(json: canonical)
        precondition(again.canonicalJSON() == canonical, "canonical bytes do not survive decoding")
    } catch {
        preconditionFailure("the canonical bytes of a valid invoice do not decode: \(error)")
    }
    return 0
}
