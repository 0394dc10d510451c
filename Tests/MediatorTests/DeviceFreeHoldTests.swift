import DeviceEmulator
import FiscalCore
import Foundation
import Mediator
import MediatorStore
import SampleData
import TerminalClient
import Testing

/// Device-free holds (`--holds mediator`, docs/PROTOCOL.md "Two kinds of hold") over real
/// ZeroMQ, a real store and the emulator: a tablet's PREPARE holds nothing at the device.
@Suite("Device-free holds", .timeLimit(.minutes(1)))
struct DeviceFreeHoldTests {
    @Test(
        "a tablet vanishes holding a sale: the lane sells through it, the hold ends by its lease, a re-PREPARE seals once"
    )
    func vanishedTablet() async throws {
        let mediator = try await MediatorHarness(
            // A device hold would keep the lane waiting for this long after the tablet vanished.
            configureEmulator: { $0.nonceTTL = .seconds(30) },
            configure: {
                $0.device.holds = .mediator
                $0.device.lease = .seconds(1)
                $0.device.roamingGrace = .milliseconds(200)
            }
        )
        defer { Task { await mediator.close() } }
        let tablet = try await mediator.client("MOB-001")
        let lane = try await mediator.client("REG-001")
        let bill = invoice("MOB-001", sale: 1)

        let prepared = try await tablet.send(
            TerminalRequest(.prepare(.init(requestID: "table-7", invoice: bill)), terminalID: "MOB-001")
        )
        let nonce = try #require(prepared.nonce)
        #expect(prepared.nextInvoiceSeq == nil, "a device-free hold promises no fiscal number")
        #expect(prepared.leaseMs == 1000)
        try await eventually("the hold is stored as prepared") {
            try mediator.store.request(TerminalID("MOB-001"), "table-7")?.state == .prepared
        }
        // The same PREPARE again (its reply lost): the same nonce.
        let again = try await tablet.send(
            TerminalRequest(.prepare(.init(requestID: "table-7", invoice: bill)), terminalID: "MOB-001")
        )
        #expect(again.nonce == nonce && again.replayed == true)
        tablet.close()

        // The tablet is gone and still holds its sale: the lane's sale is sealed now, first.
        let laneSale = try await lane.fiscalize(requestID: "lane-1", invoice: invoice("REG-001", sale: 2))
        #expect(laneSale.invoiceSeq == InvoiceSeq(1))
        #expect(try mediator.store.request(TerminalID("MOB-001"), "table-7")?.state == .prepared)

        try await eventually("the hold ends by its lease") {
            try mediator.store.request(TerminalID("MOB-001"), "table-7")?.state == .aborted
        }
        // Back in range: the old nonce is dead; a new PREPARE under the same id seals once.
        let returned = try await mediator.client("MOB-001")
        let stale = await refusal {
            try await returned.send(
                TerminalRequest(.commit(.init(requestID: "table-7", nonce: Nonce(nonce))), terminalID: "MOB-001")
            )
        }
        #expect(stale != nil, "the lapsed hold's nonce seals nothing")
        let fresh = try await returned.prepare(requestID: "table-7", invoice: bill)
        #expect(fresh.nonce != nonce)
        let wrong = await refusal {
            try await returned.send(
                TerminalRequest(.commit(.init(requestID: "table-7", nonce: Nonce(nonce))), terminalID: "MOB-001")
            )
        }
        #expect(wrong?.code == .invalidNonce, "a nonce other than the hold's is refused and keeps the hold")
        let sealed = try await returned.commit(requestID: "table-7", nonce: fresh.nonce)
        #expect(sealed.invoiceSeq == InvoiceSeq(2))
        // COMMIT sent again: the stored seal, replayed.
        let replay = try await returned.send(
            TerminalRequest(.commit(.init(requestID: "table-7", nonce: Nonce(fresh.nonce))), terminalID: "MOB-001")
        )
        #expect(replay.replayed == true && replay.securityElements?.invoiceSeq == InvoiceSeq(2))

        let journal = try await mediator.journal()
        #expect(journal.map(\.seq) == [InvoiceSeq(1), InvoiceSeq(2)])
        #expect(journal.filter { $0.payloadDigest == bill.payloadDigest() }.count == 1)
        returned.close()
        lane.close()
    }
}
