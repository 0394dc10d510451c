import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import Testing

/// A device (or something posing as one on the serial line) may answer anything: the host's
/// decoders throw `REPLY_INVALID` or decode, and never trap.
@Suite("Hostile device replies and frames")
struct HostileReplyTests {
    static let entry: JournalEntry = {
        var entry = JournalEntry(
            seq: InvoiceSeq(7),
            deviceID: DeviceID("DEF-1"),
            previousHash: JournalEntry.genesisHash,
            payloadDigest: String(repeating: "a", count: 64),
            posTerminalID: "REG-001",
            cashierID: "CASH-01",
            invoiceType: .sale,
            total: Money(units: 2900),
            currency: "CDF",
            deviceTimestamp: "2026-11-21T09:15:00.412Z"
        )
        entry.authCode = "sig"
        entry.entryHash = String(repeating: "b", count: 64)
        return entry
    }()

    /// One valid OK body per reply type, with the command it answers and a decoder for it.
    static let replies: [(DeviceCommand, any Encodable & Sendable, @Sendable ([UInt8]) throws(FiscalError) -> Void)] = [
        (
            .prepare,
            DeviceReply.Prepared(
                nonce: Nonce("4b03d412c77de0c8d4e9d0458ef84391"),
                payloadDigest: "d",
                nextInvoiceSeq: InvoiceSeq(8),
                ttlMs: 30_000,
                expiresAt: "2026-11-21T09:15:30.412Z"
            ),
            { payload throws(FiscalError) in
                let _: DeviceReply.Prepared = try FiscalDeviceClient.decodeReply(payload, for: .prepare)
            }
        ),
        (
            .commit, DeviceReply.Sealed(entry: entry),
            { payload throws(FiscalError) in
                let _: DeviceReply.Sealed = try FiscalDeviceClient.decodeReply(payload, for: .commit)
            }
        ),
        (
            .status,
            DeviceReply.Status(
                deviceID: DeviceID("DEF-1"),
                initialized: true,
                emulated: true,
                firmware: "f",
                revoked: false,
                nextInvoiceSeq: InvoiceSeq(8),
                lastEntryHash: "h",
                journalEntries: 7,
                capacity: 1000,
                zCount: 1,
                deviceTime: "t",
                preparePending: false,
                publicKey: "k"
            ),
            { payload throws(FiscalError) in
                let _: DeviceReply.Status = try FiscalDeviceClient.decodeReply(payload, for: .status)
            }
        ),
        (
            .dumpLog,
            DeviceReply.DumpLog(
                deviceID: DeviceID("DEF-1"),
                publicKey: "k",
                entries: [entry],
                headSeq: 7,
                headHash: "h",
                headSignature: "s",
                next: 8
            ),
            { payload throws(FiscalError) in
                let _: DeviceReply.DumpLog = try FiscalDeviceClient.decodeReply(payload, for: .dumpLog)
            }
        ),
        (
            .reportX,
            DeviceReport(
                kind: .x,
                deviceID: DeviceID("DEF-1"),
                zNumber: 2,
                firstSeq: 1,
                lastSeq: 7,
                invoiceCount: 7,
                periodStart: nil,
                generatedAt: "t",
                byType: [.init(currency: "CDF", invoiceType: "sale", count: 7, total: Money(units: 100))],
                byTaxGroup: [.init(currency: "CDF", code: "B", base: Money(units: 80), amount: Money(units: 20))],
                byPayment: [.init(currency: "CDF", method: "cash", amount: Money(units: 100))],
                articles: [
                    .init(currency: "CDF", code: "A", description: "d", quantity: Quantity(units: 1), amount: .zero)
                ]
            ),
            { payload throws(FiscalError) in
                let _: DeviceReport = try FiscalDeviceClient.decodeReply(payload, for: .reportX)
            }
        ),
        (
            .initialize, DeviceReply.Initialized(deviceID: DeviceID("DEF-1"), publicKey: "k"),
            { payload throws(FiscalError) in
                let _: DeviceReply.Initialized = try FiscalDeviceClient.decodeReply(payload, for: .initialize)
            }
        ),
        (
            .setTime, DeviceReply.TimeSet(deviceTime: "t"),
            { payload throws(FiscalError) in
                let _: DeviceReply.TimeSet = try FiscalDeviceClient.decodeReply(payload, for: .setTime)
            }
        ),
        (
            .reset, DeviceReply.ResetDone(erasedEntries: 7),
            { payload throws(FiscalError) in
                let _: DeviceReply.ResetDone = try FiscalDeviceClient.decodeReply(payload, for: .reset)
            }
        ),
    ]

    @Test("every reply type, every field, every boundary value: REPLY_INVALID, a device error, or a value")
    func replyWalk() throws {
        var refused: [DeviceCommand: Set<String>] = [:]
        for (command, body, decode) in Self.replies {
            let ok = try HostileJSON(encoding: body).setting("status", .raw(#""OK""#))
            // The valid reply decodes.
            try decode(Array(ok.text.utf8))
            for variant in ok.hostileVariants {
                do throws(FiscalError) {
                    try decode(Array(variant.json.text.utf8))
                } catch {
                    refused[command, default: []].insert(variant.label)
                    #expect(error.code == .replyInvalid || variant.label.hasPrefix("$.status"), "\(variant.label)")
                }
            }
        }
        // Numbers no device gives are refused before any code can count with them.
        #expect(refused[.prepare]?.contains("$.next_invoice_seq = 0") == true)
        #expect(refused[.prepare]?.contains("$.ttl_ms = -1") == true)
        #expect(refused[.status]?.contains("$.next_invoice_seq = 2^63") == true)
        #expect(refused[.status]?.contains("$.journal_entries = 2^63") == true)
        #expect(refused[.commit]?.contains("$.entry.seq = 2^63") == true)
        #expect(refused[.dumpLog]?.contains("$.next = 0") == true)
        #expect(refused[.dumpLog]?.contains("$.head_seq = 2^64") == true)
        #expect(refused[.reportX]?.contains("$.z_number = 2^63") == true)
        #expect(refused[.reset]?.contains("$.erased_entries = -1") == true)
    }

    @Test("an ERR reply with hostile fields is a device error or REPLY_INVALID")
    func errorWalk() throws {
        let error = try HostileJSON(
            json:
                #"{"status":"ERR","code":"SCHEMA_INVALID","message":"m","violations":[{"code":"FIELD_MISSING","path":"$.x","message":"m"}]}"#
        )
        do throws(FiscalError) {
            let _: DeviceReply.Status = try FiscalDeviceClient.decodeReply(Array(error.text.utf8), for: .status)
        } catch {
            #expect(error.code == .schemaInvalid && error.violations.first?.path == "$.x")
        }
        var thrown = 0
        let variants = error.hostileVariants
        for variant in variants {
            do throws(FiscalError) {
                let _: DeviceReply.Status = try FiscalDeviceClient.decodeReply(
                    Array(variant.json.text.utf8),
                    for: .status
                )
            } catch {
                thrown += 1
            }
        }
        // An ERR, however mangled, is never taken for a status.
        #expect(thrown == variants.count)
    }

    @Test(
        "an ERR reply without a message, or with an empty one, still gives a message (found by the device-frame fuzzer)",
        arguments: [#"{"status":"ERR","code":"NOT_FOUND","message":""}"#, #"{"status":"ERR","code":"NOT_FOUND"}"#]
    )
    func emptyMessage(reply: String) {
        do throws(FiscalError) {
            let _: DeviceReply.Sealed = try FiscalDeviceClient.decodeReply(Array(reply.utf8), for: .log)
            Issue.record("an ERR reply decoded")
        } catch {
            #expect(error.code == .notFound && error.message == "the device refused QRY|LOG")
        }
    }

    @Test("a header of unknown kind is garbage: skipped, and the frame after it is found")
    func unknownKind() {
        let good = DeviceFrame(kind: .reply, exchangeID: 9, payload: Array(#"{"status":"OK"}"#.utf8))
        var bad = good.encoded()
        bad[3] = 0x53
        var decoder = DeviceFrameDecoder()
        #expect(decoder.feed(bad + good.encoded()) == [good])
        #expect(decoder.takeRejections().isEmpty)
    }
}
