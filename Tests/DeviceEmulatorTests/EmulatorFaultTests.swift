import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import SampleData
import Testing

@Suite("Emulator faults", .timeLimit(.minutes(1)))
struct EmulatorFaultTests {
    @Test(
        "power loss before the counter moves: no entry, the nonce is gone, the retry takes the number",
        arguments: EmulatorHarness.Transport.allCases
    )
    func powerLossBeforeCommit(transport: EmulatorHarness.Transport) async throws {
        let device = try await EmulatorHarness(transport: transport, timeout: .milliseconds(400))
        defer { Task { await device.close() } }
        _ = try await device.fiscalize(SampleInvoices.sale(seed: 1))
        let invoice = SampleInvoices.sale(seed: 2)
        device.emulator.arm(.powerLossBeforeCommit)
        let prepared = try await device.client.prepare(invoice)
        await expectCode(.deviceTimeout) { _ = try await device.client.commit(prepared.nonce) }
        let status = try await device.client.status()
        #expect(status.nextInvoiceSeq == InvoiceSeq(2) && status.journalEntries == 1 && !status.preparePending)
        await expectCode(.notFound) { _ = try await device.client.log(InvoiceSeq(2)) }
        await expectCode(.invalidNonce) { _ = try await device.client.commit(prepared.nonce) }
        let retried = try await device.fiscalize(invoice)
        #expect(retried.entry.seq == InvoiceSeq(2) && retried.entry.payloadDigest == invoice.payloadDigest())
    }

    @Test(
        "power loss after the counter moved: no reply, but STATUS and LOG show the sealed entry",
        arguments: EmulatorHarness.Transport.allCases
    )
    func powerLossAfterCommit(transport: EmulatorHarness.Transport) async throws {
        let device = try await EmulatorHarness(transport: transport, timeout: .milliseconds(400))
        defer { Task { await device.close() } }
        let invoice = SampleInvoices.sale(seed: 3)
        device.emulator.arm(.powerLossAfterCommit)
        let prepared = try await device.client.prepare(invoice)
        await expectCode(.deviceTimeout) { _ = try await device.client.commit(prepared.nonce) }
        let status = try await device.client.status()
        #expect(status.nextInvoiceSeq == InvoiceSeq(2) && status.journalEntries == 1)
        let entry = try await device.client.log(InvoiceSeq(1)).entry
        #expect(entry.payloadDigest == invoice.payloadDigest())
        #expect(entry.entryHash == status.lastEntryHash)
    }

    @Test("a fault armed for the N-th COMMIT waits for it")
    func occurrence() async throws {
        let device = try await EmulatorHarness(transport: .inProcess, timeout: .milliseconds(300))
        defer { Task { await device.close() } }
        device.emulator.arm(.powerLossBeforeCommit, at: 3)
        _ = try await device.fiscalize(SampleInvoices.sale(seed: 1))
        _ = try await device.fiscalize(SampleInvoices.sale(seed: 2))
        #expect(device.emulator.pendingFaults == 1)
        await expectCode(.deviceTimeout) { _ = try await device.fiscalize(SampleInvoices.sale(seed: 3)) }
        #expect(device.emulator.pendingFaults == 0)
        #expect(try await device.client.status().journalEntries == 2)
    }

    @Test(
        "garbled, truncated and missing replies surface as link errors, and the device still answers afterwards",
        arguments: EmulatorHarness.Transport.allCases
    )
    func replyFaults(transport: EmulatorHarness.Transport) async throws {
        let device = try await EmulatorHarness(transport: transport, timeout: .milliseconds(400))
        defer { Task { await device.close() } }
        for (fault, code) in [
            (EmulatorFault.garbledReply, ErrorCode.replyInvalid), (.truncatedReply, .replyInvalid),
            (.noReply, .deviceTimeout),
        ] {
            device.emulator.arm(fault)
            await expectCode(code) { _ = try await device.client.status() }
            #expect(try await device.client.status().initialized, "after \(fault)")
        }
        // A garbled COMMIT reply leaves the outcome in doubt; the journal tells the truth.
        let invoice = SampleInvoices.sale(seed: 5)
        let prepared = try await device.client.prepare(invoice)
        device.emulator.arm(.garbledReply)
        await expectCode(.replyInvalid) { _ = try await device.client.commit(prepared.nonce) }
        #expect(try await device.client.log(InvoiceSeq(1)).entry.payloadDigest == invoice.payloadDigest())
    }

    @Test("fault flags parse, and bad ones are refused")
    func parsing() {
        #expect(EmulatorFault.parse("power-loss-after-commit@3")! == (.powerLossAfterCommit, 3))
        #expect(EmulatorFault.parse("no-reply")! == (.noReply, 1))
        #expect(EmulatorFault.parse("power-loss@2") == nil)
        #expect(EmulatorFault.parse("no-reply@0") == nil)
        #expect(
            EmulatorLatency.parse("prepare=5ms,commit=10ms")
                == EmulatorLatency(prepare: .milliseconds(5), commit: .milliseconds(10))
        )
        #expect(EmulatorLatency.parse("commit=fast") == nil)
    }
}

/// Bytes written straight to the pty, as a broken or hostile host would.
@Suite("Malformed input over the pty", .timeLimit(.minutes(1)))
struct MalformedInputTests {
    @Test("every kind of bad frame gets its ERR code; nothing moves the counter or the journal")
    func badFrames() async throws {
        let device = try await EmulatorHarness()
        defer { Task { await device.close() } }
        let path = try #require(device.server?.path)
        let port = try RawSerialPort(path: path)
        defer { port.close() }

        func request(_ id: UInt32, _ payload: String) -> [UInt8] {
            DeviceFrame(kind: .request, exchangeID: id, payload: Array(payload.utf8)).encoded()
        }
        func code(of reply: DeviceFrame?) -> String? {
            guard let reply else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(reply.payload)) as? [String: Any])?["code"] as? String
        }

        // Garbage, then a good request: the device resynchronizes and answers it.
        let afterGarbage = try port.exchange(
            [0x00, 0xFD, 0x13, 0x37] + Array("hello".utf8) + request(1, "QRY|STATUS\n{}"),
            id: 1
        )
        #expect(afterGarbage.map { String(decoding: $0.payload, as: UTF8.self).contains(#""status":"OK""#) } == true)

        var corrupt = request(2, "QRY|STATUS\n{}")
        corrupt[13] ^= 0xFF
        #expect(code(of: try port.exchange(corrupt, id: 2)) == "FRAME_INVALID")

        var oversized = request(3, "QRY|STATUS\n{}")
        oversized.replaceSubrange(8..<12, with: [0x7F, 0xFF, 0xFF, 0xFF])
        #expect(code(of: try port.exchange(oversized, id: 3)) == "FRAME_INVALID")

        // Truncated: the header promises more than ever arrives; the quiet period ends it.
        #expect(code(of: try port.exchange(Array(request(4, "QRY|STATUS\n{}").prefix(15)), id: 4)) == "FRAME_INVALID")

        let binary = DeviceFrame(kind: .request, exchangeID: 5, payload: [0x54, 0xC3, 0x28, 0x0A, 0x7B, 0x7D]).encoded()
        #expect(code(of: try port.exchange(binary, id: 5)) == "FRAME_INVALID")
        #expect(code(of: try port.exchange(request(6, "TXN|SELL\n{}"), id: 6)) == "UNKNOWN_COMMAND")
        #expect(code(of: try port.exchange(request(7, "TXN|COMMIT\n[1,2]"), id: 7)) == "JSON_INVALID")
        #expect(code(of: try port.exchange(request(8, "TXN|PREPARE\n{\"x\":"), id: 8)) == "JSON_INVALID")
        #expect(code(of: try port.exchange(request(9, "TXN|COMMIT\n{\"nonce\":\"00\"}"), id: 9)) == "INVALID_NONCE")
        #expect(code(of: try port.exchange(request(10, "QRY|LOG -1\n{}"), id: 10)) == "ARGUMENT_INVALID")

        let status = try await device.client.status()
        #expect(status.journalEntries == 0 && status.nextInvoiceSeq == InvoiceSeq(1) && !status.preparePending)
        #expect(try await device.fiscalize(SampleInvoices.sale()).entry.seq == InvoiceSeq(1))
    }
}

/// A raw file descriptor on a pty, in raw mode, for writing arbitrary bytes.
final class RawSerialPort {
    private let fd: Int32
    private var decoder = DeviceFrameDecoder()

    init(path: String) throws {
        fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { throw FiscalError(.linkDown, "cannot open \(path)") }
        var settings = termios()
        tcgetattr(fd, &settings)
        cfmakeraw(&settings)
        tcsetattr(fd, TCSANOW, &settings)
    }

    /// Writes `bytes` and waits up to two seconds for a reply frame with exchange id `id`.
    func exchange(_ bytes: [UInt8], id: UInt32) throws -> DeviceFrame? {
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let deadline = ContinuousClock.now + .seconds(2)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 50) > 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { continue }
            if let frame = decoder.feed(buffer[0..<count]).first(where: { $0.exchangeID == id }) { return frame }
        }
        return nil
    }

    func close() { Glibc.close(fd) }
}
