import FiscalCore
import FiscalTestSupport
import Foundation
import MediatorStore
import Testing

/// Numbers from a terminal, the cloud or the command line reach the store's queries: beyond
/// what SQLite holds they find nothing; they never trap (issue 12: `Int64(seq)` on a LOG with
/// `invoice_seq` 2^63 killed the mediator).
@Suite("Hostile numbers at the store", .timeLimit(.minutes(1)))
struct HostileStoreInputTests {
    @Test("the LOG frame of issue 12 is MESSAGE_INVALID at decode time, before any query")
    func logFrame() throws {
        let frame = #"{"v":1,"type":"LOG","msg_id":"1","invoice_seq":9223372036854775808}"#
        let error = try #require(throws: DecodingError.self) {
            try JSONDecoder().decode(TerminalRequest.self, from: Data(frame.utf8))
        }
        // The mediator answers a decoding error outside $.invoice with MESSAGE_INVALID and this text.
        #expect(!error.jsonPath.hasPrefix("$.invoice.") && error.fiscalDescription.hasPrefix("$.invoice_seq"))
    }

    @Test(
        "fiscal numbers beyond Int64 find nothing in any query",
        arguments: [UInt64(Int64.max) + 1, UInt64.max]
    )
    func queriesBeyondInt64(seq: UInt64) async throws {
        let directory = TemporaryDirectory("hostile-store")
        defer { directory.remove() }
        let store = try MediatorDatabase(path: directory.url.appendingPathComponent("mediator.sqlite").path)
        #expect(try store.sealedInvoice(seq) == nil)
        #expect(try store.sealedInvoices(from: seq).isEmpty)
        #expect(try store.outboxItem(seq) == nil)
        // Writes about a number no fiscal number can be are refused with a code, never trapped on.
        await #expect(throws: FiscalError.self) { try await store.quarantine(seq, reason: "r") }
        await #expect(throws: FiscalError.self) { try await store.noteSyncFailure(seq, "m") }
        #expect(try store.retryQuarantined(seq) == 0)
        await #expect(throws: FiscalError.self) { try await store.markUploaded([(seq: seq, receipt: "CLD-1")]) }
        #expect(try store.missingSeqs(upTo: 3) == [1, 2, 3])
        #expect(try store.lastSealedSeq() == nil)
    }

    @Test("a fiscal number the type holds is queried as it is")
    func largestSeq() throws {
        let directory = TemporaryDirectory("hostile-store")
        defer { directory.remove() }
        let store = try MediatorDatabase(path: directory.url.appendingPathComponent("mediator.sqlite").path)
        #expect(try store.sealedInvoice(InvoiceSeq(UInt64(Int64.max))) == nil)
    }
}
