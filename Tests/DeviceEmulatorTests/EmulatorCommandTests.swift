import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import SampleData
import Testing

/// Every command and every device error code, over the real pseudo-terminal (and in-process
/// where the transport matters).
@Suite("Emulator commands", .timeLimit(.minutes(1)))
struct EmulatorCommandTests {
    @Test("before CFG|INIT the device only answers STATUS; INIT works once")
    func initialization() async throws {
        let device = try await EmulatorHarness(initialize: false)
        defer { Task { await device.close() } }
        let before = try await device.client.status()
        #expect(!before.initialized && before.emulated && before.deviceID == nil)
        await expectCode(.notInitialized) { _ = try await device.client.prepare(SampleInvoices.sale()) }
        await expectCode(.notInitialized) { _ = try await device.client.report(.z) }
        await expectCode(.argumentInvalid) {
            _ = try await device.client.initialize(deviceID: nil, resetToken: "short")
        }
        let identity = try await device.client.initialize(
            deviceID: DeviceID("DEF-KIN-0042"),
            resetToken: "long-enough-token"
        )
        #expect(identity.deviceID == DeviceID("DEF-KIN-0042"))
        #expect(Hex.decode(identity.publicKey)?.count == 32)
        await expectCode(.alreadyInitialized) {
            _ = try await device.client.initialize(deviceID: nil, resetToken: "another-token")
        }
        let after = try await device.client.status()
        #expect(after.initialized && after.publicKey == identity.publicKey && after.nextInvoiceSeq == InvoiceSeq(1))
    }

    @Test(
        "PREPARE/COMMIT give consecutive signed fiscal numbers; LOG returns them",
        arguments: EmulatorHarness.Transport.allCases
    )
    func fiscalizeAndLog(transport: EmulatorHarness.Transport) async throws {
        let device = try await EmulatorHarness(transport: transport)
        defer { Task { await device.close() } }
        var sealed: [DeviceReply.Sealed] = []
        for index in 0..<5 {
            let invoice = SampleInvoices.sale(lines: index + 1, terminal: "REG-00\(index)", seed: index)
            let prepared = try await device.client.prepare(invoice)
            #expect(prepared.payloadDigest == invoice.payloadDigest())
            #expect(prepared.nextInvoiceSeq == InvoiceSeq(UInt64(index + 1)))
            let result = try await device.client.commit(prepared.nonce)
            #expect(result.entry.posTerminalID == "REG-00\(index)")
            #expect(result.securityElements.qrPayload.hasPrefix("DEF1|DEF-TEST-0001|\(index + 1)|"))
            sealed.append(result)
        }
        #expect(sealed.map(\.securityElements.invoiceSeq.rawValue) == [1, 2, 3, 4, 5])
        let status = try await device.client.status()
        #expect(status.nextInvoiceSeq == InvoiceSeq(6) && status.journalEntries == 5)
        #expect(status.lastEntryHash == sealed.last?.entry.entryHash)
        let key = try #require(Ed25519.PublicKey(rawRepresentation: Hex.decode(status.publicKey ?? "") ?? []))
        let logged = try await device.client.log(InvoiceSeq(3))
        #expect(logged.entry == sealed[2].entry)
        #expect(logged.entry.hasValidSignature(key))
        try JournalVerifier(publicKey: key).verify(
            sealed.map(\.entry),
            head: .init(lastSeq: 5, lastHash: status.lastEntryHash)
        )
        await expectCode(.notFound) { _ = try await device.client.log(InvoiceSeq(99)) }
        await expectCode(.argumentInvalid) {
            let _: DeviceReply.Sealed = try await device.client.send(DeviceRequest(.log, argument: "abc"))
        }
    }

    @Test("an invalid invoice gets SCHEMA_INVALID with every violation, and moves nothing")
    func schemaInvalid() async throws {
        let device = try await EmulatorHarness()
        defer { Task { await device.close() } }
        var invoice = SampleInvoices.sale()
        invoice.totals.currency = "EUR"
        invoice.cashierID = ""
        let error = await expectCode(.schemaInvalid) { _ = try await device.client.prepare(invoice) }
        #expect(Set(error?.violations.map(\.code) ?? []) == [.unknownCurrency, .fieldMissing])
        await expectCode(.jsonInvalid) {
            let _: DeviceReply.Prepared = try await device.client.send(
                DeviceRequest(.prepare, body: Array("{not json".utf8))
            )
        }
        await expectCode(.schemaInvalid) {
            let _: DeviceReply.Prepared = try await device.client.send(
                DeviceRequest(.prepare, body: Array(#"{"a":1}"#.utf8))
            )
        }
        let status = try await device.client.status()
        #expect(status.journalEntries == 0 && status.nextInvoiceSeq == InvoiceSeq(1) && !status.preparePending)
    }

    @Test("one PREPARE at a time: another answers DEVICE_BUSY until COMMIT or expiry")
    func busy() async throws {
        let device = try await EmulatorHarness()
        defer { Task { await device.close() } }
        let first = try await device.client.prepare(SampleInvoices.sale(seed: 1))
        await expectCode(.deviceBusy) { _ = try await device.client.prepare(SampleInvoices.sale(seed: 2)) }
        _ = try await device.client.commit(first.nonce)
        let second = try await device.client.prepare(SampleInvoices.sale(seed: 2))
        device.clock.advance(by: .seconds(6))
        // The outstanding nonce expired, so a new PREPARE is accepted and the old nonce is dead.
        let third = try await device.client.prepare(SampleInvoices.sale(seed: 3))
        await expectCode(.invalidNonce) { _ = try await device.client.commit(second.nonce) }
        #expect(try await device.client.commit(third.nonce).securityElements.invoiceSeq == InvoiceSeq(2))
    }

    @Test("nonces: unknown, reused, another PREPARE's and expired nonces are refused; nothing is sealed")
    func nonceRules() async throws {
        let device = try await EmulatorHarness()
        defer { Task { await device.close() } }
        await expectCode(.invalidNonce) { _ = try await device.client.commit(Nonce.random()) }
        await expectCode(.argumentInvalid) {
            let _: DeviceReply.Sealed = try await device.client.send(DeviceRequest(.commit, body: Array("{}".utf8)))
        }
        let first = try await device.client.prepare(SampleInvoices.sale(seed: 1))
        _ = try await device.client.commit(first.nonce)
        let reused = await expectCode(.invalidNonce) { _ = try await device.client.commit(first.nonce) }
        #expect(reused?.message.contains("already used") == true)
        // A COMMIT carrying an earlier PREPARE's nonce does not disturb the outstanding one.
        let second = try await device.client.prepare(SampleInvoices.sale(seed: 2))
        await expectCode(.invalidNonce) { _ = try await device.client.commit(first.nonce) }
        #expect(try await device.client.commit(second.nonce).securityElements.invoiceSeq == InvoiceSeq(2))
        let third = try await device.client.prepare(SampleInvoices.sale(seed: 3))
        device.clock.advance(by: .milliseconds(5001))
        await expectCode(.nonceExpired) { _ = try await device.client.commit(third.nonce) }
        let status = try await device.client.status()
        #expect(status.journalEntries == 2 && status.nextInvoiceSeq == InvoiceSeq(3))
    }

    @Test("STORAGE_FULL at capacity; DEVICE_REVOKED after revocation, kept across a restart")
    func storageAndRevocation() async throws {
        let directory = TemporaryDirectory("emulator")
        let device = try await EmulatorHarness(directory: directory)
        try await device.emulator.setCapacity(2)
        _ = try await device.fiscalize(SampleInvoices.sale(seed: 1))
        _ = try await device.fiscalize(SampleInvoices.sale(seed: 2))
        await expectCode(.storageFull) { _ = try await device.client.prepare(SampleInvoices.sale(seed: 3)) }
        try await device.emulator.setCapacity(10)
        let prepared = try await device.client.prepare(SampleInvoices.sale(seed: 3))
        try await device.emulator.revoke()
        await expectCode(.deviceRevoked) { _ = try await device.client.commit(prepared.nonce) }
        await device.close(keepFiles: true)

        let restarted = try await EmulatorHarness(initialize: false, directory: directory)
        defer { Task { await restarted.close() } }
        let status = try await restarted.client.status()
        #expect(status.revoked && status.journalEntries == 2)
        await expectCode(.deviceRevoked) { _ = try await restarted.client.prepare(SampleInvoices.sale(seed: 4)) }
    }

    @Test("the clock going back is detected at PREPARE and refused by CFG|TIME")
    func clockRollback() async throws {
        let device = try await EmulatorHarness()
        defer { Task { await device.close() } }
        _ = try await device.fiscalize(SampleInvoices.sale())
        try await device.emulator.jumpClockBack(by: .seconds(3600))
        await expectCode(.clockRollbackDetected) { _ = try await device.client.prepare(SampleInvoices.sale(seed: 1)) }
        await expectCode(.clockRollbackDetected) {
            _ = try await device.client.setTime(Date().addingTimeInterval(-7200))
        }
        let set = try await device.client.setTime(device.clock.wallNow().addingTimeInterval(1))
        #expect(DeviceTimestamp.parse(set.deviceTime) != nil)
        #expect(try await device.fiscalize(SampleInvoices.sale(seed: 1)).securityElements.invoiceSeq == InvoiceSeq(2))
    }

    @Test("a restart keeps identity, counter and journal")
    func restart() async throws {
        let directory = TemporaryDirectory("emulator")
        let device = try await EmulatorHarness(directory: directory)
        for seed in 0..<3 { _ = try await device.fiscalize(SampleInvoices.sale(seed: seed)) }
        let before = try await device.client.status()
        await device.close(keepFiles: true)

        let restarted = try await EmulatorHarness(transport: .inProcess, initialize: false, directory: directory)
        defer { Task { await restarted.close() } }
        let after = try await restarted.client.status()
        #expect(after.deviceID == before.deviceID && after.publicKey == before.publicKey)
        #expect(after.nextInvoiceSeq == InvoiceSeq(4) && after.lastEntryHash == before.lastEntryHash)
        let next = try await restarted.fiscalize(SampleInvoices.sale(seed: 9))
        #expect(next.entry.seq == InvoiceSeq(4) && next.entry.previousHash == before.lastEntryHash)
        #expect(try JournalAudit.verify(path: directory.url).entries == 4)
    }

    @Test("X, Z and A reports come from the journal; Z closes the day with its own counter and signature")
    func reports() async throws {
        let device = try await EmulatorHarness()
        defer { Task { await device.close() } }
        let sales = (0..<3).map { SampleInvoices.sale(lines: 2, seed: $0) }
        for sale in sales { _ = try await device.fiscalize(sale) }
        var refund = SampleInvoices.sale(lines: 1, seed: 7)
        refund.invoiceType = .refund
        refund.reference = "DEF-TEST-0001/1"
        _ = try await device.fiscalize(refund)

        let x = try await device.client.report(.x)
        #expect(x.invoiceCount == 4 && x.zNumber == 1 && x.reportHash == nil)
        let salesVAT = sales.flatMap(\.taxGroups).filter { $0.code == "B" }.reduce(0) { $0 + $1.amount.units }
        let refundVAT = refund.taxGroups.filter { $0.code == "B" }.reduce(0) { $0 + $1.amount.units }
        #expect(x.byTaxGroup.first { $0.code == "B" }?.amount.units == salesVAT - refundVAT)
        #expect(x.byType.first { $0.invoiceType == "sale" }?.count == 3)
        #expect(x.byType.first { $0.invoiceType == "refund" }?.count == 1)

        let a = try await device.client.report(.a)
        let articles = try #require(a.articles)
        let expectedCodes = Set((sales + [refund]).flatMap(\.items).map(\.code))
        #expect(Set(articles.map(\.code)) == expectedCodes)

        let z = try await device.client.report(.z)
        #expect(z.zNumber == 1 && z.firstSeq == 1 && z.lastSeq == 4 && z.invoiceCount == 4)
        let key = try #require(
            Ed25519.PublicKey(rawRepresentation: Hex.decode(try await device.client.status().publicKey!)!)
        )
        let hash = try #require(z.reportHash)
        #expect(hash == SHA256.hex(z.canonicalJSON))
        #expect(key.isValidSignature(Base64URL.decode(z.signature!)!, for: Array(hash.utf8)))
        #expect(z.byTaxGroup == x.byTaxGroup)

        let afterZ = try await device.client.report(.x)
        #expect(afterZ.invoiceCount == 0 && afterZ.zNumber == 2 && afterZ.periodStart == z.generatedAt)
        #expect(try await device.client.status().zCount == 1)
    }

    @Test(
        "QRY|ZREPORT reads a Z back byte for byte as RPT|Z returned it; NOT_FOUND beyond, ARGUMENT_INVALID for a non-number",
        arguments: EmulatorHarness.Transport.allCases
    )
    func zReportReadBack(transport: EmulatorHarness.Transport) async throws {
        let device = try await EmulatorHarness(transport: transport)
        defer { Task { await device.close() } }
        await expectCode(.notFound) { _ = try await device.client.storedZReport(1) }
        for seed in 0..<2 { _ = try await device.fiscalize(SampleInvoices.sale(seed: seed)) }
        let asked = try await device.link.exchange(DeviceRequest(.reportZ), timeout: .seconds(5))
        _ = try await device.fiscalize(SampleInvoices.sale(seed: 5))
        let second = try await device.client.report(.z)
        let readBack = try await device.link.exchange(DeviceRequest(.zReport, argument: "1"), timeout: .seconds(5))
        #expect(readBack == asked, "QRY|ZREPORT 1 is not the bytes RPT|Z sent")
        let first = try await device.client.storedZReport(1)
        #expect(first.zNumber == 1 && first.firstSeq == 1 && first.lastSeq == 2 && first.kind == .z)
        #expect(first.reportHash == SHA256.hex(first.canonicalJSON))
        #expect(try await device.client.storedZReport(2) == second)
        await expectCode(.notFound) { _ = try await device.client.storedZReport(3) }
        for argument in ["0", "-1", "x", "9223372036854775808"] {
            await expectCode(.argumentInvalid) {
                _ = try await device.client.send(DeviceRequest(.zReport, argument: argument)) as DeviceReport
            }
        }
        await expectCode(.argumentInvalid) {
            _ = try await device.client.send(DeviceRequest(.zReport)) as DeviceReport
        }
        #expect(try await device.client.status().zCount == 2)
    }

    @Test("DUMPLOG pages through the journal with a signed head; RESET needs the token")
    func dumpLogAndReset() async throws {
        let device = try await EmulatorHarness()
        defer { Task { await device.close() } }
        for seed in 0..<7 { _ = try await device.fiscalize(SampleInvoices.sale(seed: seed)) }
        let page = try await device.client.dumpLog(from: 1, limit: 3)
        #expect(page.entries.map(\.seq.rawValue) == [1, 2, 3] && page.next == 4 && page.headSeq == 7)
        let all = try await device.client.dumpEntireLog()
        #expect(all.entries.map(\.seq.rawValue) == Array(1...7) && all.next == nil)
        let key = try #require(Ed25519.PublicKey(rawRepresentation: Hex.decode(all.publicKey)!))
        try JournalVerifier(publicKey: key).verify(
            all.entries,
            head: .init(lastSeq: all.headSeq, lastHash: all.headHash)
        )
        await expectCode(.argumentInvalid) { _ = try await device.client.dumpLog(from: 0, limit: 5) }

        await expectCode(.unauthorized) { _ = try await device.client.reset(token: "guess") }
        #expect(try await device.client.status().journalEntries == 7)
        let reset = try await device.client.reset(token: EmulatorHarness.resetToken)
        #expect(reset.erasedEntries == 7)
        let status = try await device.client.status()
        #expect(!status.initialized && status.journalEntries == 0 && status.nextInvoiceSeq == InvoiceSeq(1))
    }
}

/// Expects `body` to throw a ``FiscalError`` with `code`; returns it.
@discardableResult
func expectCode(
    _ code: ErrorCode,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async -> FiscalError? {
    do {
        try await body()
        Issue.record("expected \(code), but it succeeded", sourceLocation: sourceLocation)
        return nil
    } catch let error as FiscalError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}
