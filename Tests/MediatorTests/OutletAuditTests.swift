import Audit
import FiscalCore
import FiscalDevice
import MediatorStore
import Testing

/// The audit's logic on hand-made values: what files cannot be trusted to hold.
@Suite("Outlet audit (pure logic)")
struct OutletAuditTests {
    @Test("values out of range or of the wrong type are findings, never traps or defaults")
    func hostileRows() {
        var audit = OutletAudit()
        audit.journalSource("none")
        audit.journalFailed("LINK_DOWN: the device hung up")
        audit.storeBegan("store.sqlite")
        audit.prunedThrough("-3")
        audit.sealedRows([
            .init(
                rowid: 1,
                invoiceSeq: .value(-1),
                deviceID: nil,
                terminalID: nil,
                requestID: nil,
                outletID: nil,
                cashierID: nil,
                payloadDigest: nil,
                entry: nil,
                sealedAt: nil
            )
        ])
        audit.requestRows([
            .init(
                rowid: 7,
                terminalID: "REG-001",
                requestID: "r1",
                payloadDigest: nil,
                payload: nil,
                state: nil,
                invoiceSeq: .notInteger
            )
        ])
        audit.outboxRows([.init(rowid: 3, invoiceSeq: .null, state: "uploaded", receipt: nil, uploadedAt: nil)])
        audit.storeEnded()
        let report = audit.report()
        #expect(!report.clean && report.result == "incomplete" && !report.evidence.journalRead)
        #expect(report.summary == "audit: incomplete (journal unreadable: LINK_DOWN: the device hung up)")
        #expect(
            report.findings.map(\.description) == [
                "JOURNAL_READ journal: the journal is unreadable: LINK_DOWN: the device hung up",
                "STORE_READ store: pruned_through is '-3', not a fiscal number",
                "STORE_READ sealed_invoice row 1: invoice_seq is -1",
                "STORE_READ request REG-001/r1: state 'NULL' is not a request state",
                "STORE_READ outbox row 3: invoice_seq is NULL",
            ]
        )
        let status = Dictionary(uniqueKeysWithValues: report.checks.map { ($0.check, $0.status) })
        #expect(status[.journalChain] == .incomplete && status[.cloudRead] == .skipped && status[.zDevice] == .skipped)
    }

    @Test("a check lists at most 50 findings and counts them all")
    func capped() {
        var audit = OutletAudit()
        audit.journalBegan(
            .init(deviceID: DeviceID("DEF-1"), publicKey: Hex.encode(Ed25519.PrivateKey().publicKey.rawRepresentation))
        )
        audit.journalEnded(head: .init(seq: 0, hash: JournalEntry.genesisHash, signature: ""))
        audit.storeBegan("store.sqlite")
        audit.outboxRows(
            (1...80).map {
                .init(rowid: Int64($0), invoiceSeq: .value(Int64($0)), state: "pending", receipt: nil, uploadedAt: nil)
            }
        )
        audit.storeEnded()
        let report = audit.report()
        let outbox = report.findings.filter { $0.check == .outboxCoversSealed }
        #expect(outbox.count == 50 && report.checks.first { $0.check == .outboxCoversSealed }?.findings == 80)
        #expect(report.findingsTotal == 81)  // and the unsigned head
    }
}
