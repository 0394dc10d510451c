import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import Testing

/// `ADM|DUMPLOG` at any journal size: pages that fit a frame, the client's halving, the export
/// written and read back a chunk at a time.
@Suite("Journal export", .timeLimit(.minutes(1)))
struct JournalExportTests {
    /// A device in a fresh directory whose journal holds `count` bulk-written entries, reopened
    /// in-process on that journal.
    static func device(
        entries count: Int,
        signed: Bool = false,
        configure: (inout FiscalDeviceEmulator.Configuration) -> Void = { _ in }
    ) async throws -> EmulatorHarness {
        let directory = TemporaryDirectory("export")
        let blank = try await EmulatorHarness(transport: .inProcess, directory: directory)
        await blank.close(keepFiles: true)
        try JournalBulkWriter.append(count, to: directory.url, signed: signed)
        return try await EmulatorHarness(
            transport: .inProcess,
            initialize: false,
            directory: directory,
            configure: configure
        )
    }

    /// Runs `body` with a device holding `count` bulk-written entries, then closes it and
    /// removes its files (whether `body` succeeds or not).
    static func withDevice(
        entries count: Int,
        signed: Bool = false,
        configure: (inout FiscalDeviceEmulator.Configuration) -> Void = { _ in },
        _ body: (EmulatorHarness) async throws -> Void
    ) async throws {
        let device = try await Self.device(entries: count, signed: signed, configure: configure)
        do {
            try await body(device)
        } catch {
            await device.close()
            throw error
        }
        await device.close()
    }

    /// Exports the device's journal to `file` through the paged walk.
    static func export(_ device: EmulatorHarness, to file: URL) async throws -> (DumpLogExport.Summary, DumpLogPager) {
        let writer = try DumpLogExport.Writer(path: file.path)
        let pager = try await device.client.forEachLogPage { try writer.append($0) }
        return (try writer.finish(), pager)
    }

    @Test("a 100,000-entry journal exports in pages that each fit a frame, streamed to a file")
    func hundredThousand() async throws {
        try await Self.withDevice(entries: 100_000) { device in
            let file = device.directory.appending("journal.json")
            let (summary, pager) = try await Self.export(device, to: file)
            #expect(summary.entries == 100_000 && summary.head.seq == 100_000)
            // Every page arrived whole through a link that refuses frames over 256 KiB.
            #expect(pager.halvings == 0)
            #expect(pager.pages == (100_000 + pager.limit - 1) / pager.limit)
            #expect(!FileManager.default.fileExists(atPath: file.path + ".partial"))

            // The file ends with entry 100,000 and the device's head, signed. (Reading all of it back
            // costs seconds in a debug build: the reader and the verifier are tested below on journals
            // of 600 and 700 entries, and measured on 100,000 in docs/PERFORMANCE.md.)
            let handle = try FileHandle(forReadingFrom: file)
            defer { try? handle.close() }
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: size - 4096)
            let tail = String(decoding: try #require(try handle.readToEnd()), as: UTF8.self)
            let lines = tail.split(separator: "\n")
            let last = try JSONDecoder().decode(JournalEntry.self, from: Data(lines[lines.count - 2].utf8))
            #expect(last.seq == InvoiceSeq(100_000) && lines[lines.count - 1].hasPrefix("],\"head_seq\":100000,"))
            #expect(summary.head.hash == last.entryHash)
            let status = try await device.client.status()
            let signed = DeviceReply.DumpLog.isSignedHead(
                deviceID: summary.identity.deviceID,
                seq: summary.head.seq,
                hash: summary.head.hash,
                signature: summary.head.signature,
                key: try #require(Ed25519.PublicKey(hex: status.publicKey ?? ""))
            )
            #expect(signed)
        }
    }

    @Test("the device bounds a page by bytes and says where to continue")
    func deviceBoundsPages() async throws {
        try await Self.withDevice(entries: 1_000) { device in
            let page = try await device.client.dumpLog(from: 1, limit: 1000)
            let count = page.entries.count
            #expect(count > 100 && count < 1000)
            #expect(page.entries.map(\.seq.rawValue) == Array(1...UInt64(count)))
            #expect(page.next == UInt64(count) + 1 && page.headSeq == 1000)
            // The encoded page is within the frame limit (it came through the link: it must be).
            let encoded = try JSONEncoder().encode(page)
            #expect(encoded.count <= DeviceFrame.defaultMaxPayload)
            let last = try await device.client.dumpLog(from: 990, limit: 1000)
            #expect(last.entries.map(\.seq.rawValue) == Array(990...1000) && last.next == nil)
        }
    }

    @Test("a page too big for the frame is asked again with half the count, until it fits")
    func halvesOversizedPages() async throws {
        // A device that does not bound its pages at 256 KiB, and a host asking for 652 entries.
        let large: (inout FiscalDeviceEmulator.Configuration) -> Void = { $0.maxPayload = 1 << 20 }
        try await Self.withDevice(entries: 700, signed: true, configure: large) { device in
            var pager = DumpLogPager(maxPayload: 1 << 20)
            #expect(pager.limit == 652)
            var entries: [JournalEntry] = []
            var last: DeviceReply.DumpLog?
            while let page = try await device.client.nextLogPage(&pager) {
                entries += page.entries
                last = page
            }
            #expect(pager.halvings == 1 && pager.limit == 326)
            var whole = try #require(last)
            whole.entries = entries
            #expect(try whole.verify() == 700)
        }
    }

    @Test(
        "the pager: halves on REPLY_INVALID and DEVICE_TIMEOUT, gives up at one entry, refuses a page that does not advance"
    )
    func pagerRules() throws {
        var pager = DumpLogPager()
        #expect(pager.next == .ask(from: 1, limit: 161))
        try pager.failed(FiscalError(.replyInvalid, "corrupt"))
        try pager.failed(FiscalError(.deviceTimeout, "slow"))
        #expect(pager.next == .ask(from: 1, limit: 40) && pager.halvings == 2)
        #expect(throws: FiscalError.self) { try pager.failed(FiscalError(.notInitialized, "blank")) }
        while pager.limit > 1 { try pager.failed(FiscalError(.replyInvalid, "corrupt")) }
        #expect(throws: FiscalError.self) { try pager.failed(FiscalError(.replyInvalid, "corrupt")) }

        func page(
            _ seqs: ClosedRange<UInt64>,
            head: UInt64,
            next: UInt64?,
            device: String = "DEF-1"
        ) -> DeviceReply.DumpLog {
            let entries = seqs.map {
                JournalEntry(
                    seq: InvoiceSeq($0),
                    deviceID: DeviceID(device),
                    previousHash: "",
                    payloadDigest: "",
                    posTerminalID: "",
                    cashierID: "",
                    invoiceType: .sale,
                    total: Money(units: 0),
                    currency: "CDF",
                    deviceTimestamp: ""
                )
            }
            return DeviceReply.DumpLog(
                deviceID: DeviceID(device),
                publicKey: "key",
                entries: entries,
                headSeq: head,
                headHash: "",
                headSignature: "",
                next: next
            )
        }
        var walk = DumpLogPager()
        try walk.received(page(1...3, head: 9, next: 4))
        #expect(walk.next == .ask(from: 4, limit: 161))
        #expect(throws: FiscalError.self) { try walk.received(page(4...5, head: 9, next: 4)) }  // no progress
        #expect(throws: FiscalError.self) { try walk.received(page(4...5, head: 9, next: 6, device: "DEF-2")) }
        #expect(throws: FiscalError.self) { try walk.received(page(4...5, head: 3, next: nil)) }  // head moved back
        try walk.received(page(4...9, head: 9, next: nil))
        #expect(walk.next == .done && walk.pages == 2)
    }

    @Test("an export written with sorted keys (entries before the key) verifies; a truncated one names its entry")
    func readerFormats() async throws {
        try await Self.withDevice(entries: 600, signed: true) { device in
            let file = device.directory.appending("journal.json")
            _ = try await Self.export(device, to: file)
            #expect(try JournalAudit.verify(path: file).entries == 600)

            // The format `device dumplog` used to print: pretty, sorted keys, public_key last.
            let whole = try await device.client.dumpEntireLog()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let sorted = device.directory.appending("sorted.json")
            try encoder.encode(whole).write(to: sorted)
            #expect(try JournalAudit.verify(path: sorted).entries == 600)

            // Cut in the middle of an entry: the first entry it cannot read is named.
            let bytes = try Data(contentsOf: file)
            let cut = device.directory.appending("cut.json")
            let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            let keep = lines.prefix(551).joined(separator: [UInt8(ascii: "\n")])  // the opening line and 550 entries
            try Data(keep + Array(lines[551].prefix(100))).write(to: cut)
            let failure = try #require(Self.failure(cut))
            #expect(failure.seq == 551 && failure.kind == .unreadable)

            // Bytes after the closing brace, a second entries array: not a whole export.
            try (bytes + Data("{}".utf8)).write(to: cut)
            #expect(Self.failure(cut)?.kind == .unreadable)
            var doubled = String(decoding: bytes, as: UTF8.self)
            doubled = doubled.replacingOccurrences(of: #""head_seq""#, with: #""entries":[],"head_seq""#)
            try Data(doubled.utf8).write(to: cut)
            #expect(Self.failure(cut)?.kind == .unreadable)
        }
    }

    static func failure(_ path: URL) -> JournalVerifier.Failure? {
        do {
            _ = try JournalAudit.verify(path: path)
            return nil
        } catch let failure as JournalVerifier.Failure {
            return failure
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }
}
