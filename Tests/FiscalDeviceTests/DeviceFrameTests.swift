import FiscalCore
import FiscalDevice
import FiscalTestSupport
import SampleData
import Testing

@Suite("Device framing")
struct DeviceFrameTests {
    let request = DeviceFrame(kind: .request, exchangeID: 7, payload: Array("QRY|STATUS\n{}".utf8))
    let reply = DeviceFrame(kind: .reply, exchangeID: 7, payload: Array(#"{"status":"OK"}"#.utf8))

    @Test("a frame survives encoding, whole or one byte at a time")
    func roundTrip() {
        var decoder = DeviceFrameDecoder()
        #expect(decoder.feed(request.encoded()) == [request])
        var frames: [DeviceFrame] = []
        for byte in reply.encoded() { frames += decoder.feed([byte]) }
        #expect(frames == [reply])
        #expect(decoder.discardedBytes == 0)
    }

    @Test("the header layout is the documented one")
    func layout() {
        let bytes = request.encoded()
        #expect(Array(bytes[0..<4]) == [0xFD, 0xF1, 0x01, 0x51])
        #expect(Array(bytes[4..<8]) == [0, 0, 0, 7])
        #expect(Array(bytes[8..<12]) == [0, 0, 0, UInt8(request.payload.count)])
        #expect(bytes.count == 12 + request.payload.count + 4)
    }

    @Test("garbage before, between and after frames is skipped")
    func resyncAfterGarbage() {
        var decoder = DeviceFrameDecoder()
        let garbage: [UInt8] = [0x00, 0xFD, 0x13, 0xFD, 0xF1, 0x09, 0xFF, 0x41, 0x0A]
        let frames = decoder.feed(garbage + request.encoded() + garbage + reply.encoded() + garbage)
        #expect(frames == [request, reply])
        #expect(decoder.discardedBytes > 0)
    }

    @Test("a corrupted frame is refused with its exchange id and the next one is found")
    func crcFailure() {
        var decoder = DeviceFrameDecoder()
        var corrupt = request.encoded()
        corrupt[14] ^= 0x01
        let frames = decoder.feed(corrupt + reply.encoded())
        #expect(frames == [reply])
        let rejections = decoder.takeRejections()
        #expect(rejections.count == 1)
        #expect(rejections.first?.exchangeID == 7)
        #expect(rejections.first?.reason.contains("CRC") == true)
    }

    @Test("an oversized length is refused at once, not waited for")
    func oversized() {
        var decoder = DeviceFrameDecoder(maxPayload: 64)
        let big = DeviceFrame(kind: .request, exchangeID: 9, payload: Array(repeating: 0x41, count: 65))
        let frames = decoder.feed(big.encoded() + request.encoded())
        #expect(frames == [request])
        #expect(decoder.takeRejections().first?.reason.contains("exceeds") == true)
    }

    @Test("a truncated frame followed by a good one: the good one is still decoded")
    func truncatedThenGood() {
        var decoder = DeviceFrameDecoder()
        let truncated = Array(reply.encoded().prefix(10))
        var frames = decoder.feed(truncated + request.encoded())
        frames += decoder.abandonPartialFrame()
        #expect(frames == [request])
    }

    @Test("a truncated frame at the end of the stream is abandoned with its id")
    func truncatedAtEnd() {
        var decoder = DeviceFrameDecoder()
        #expect(decoder.feed(Array(request.encoded().prefix(20))).isEmpty)
        #expect(decoder.hasPartialFrame)
        while decoder.hasPartialFrame { _ = decoder.abandonPartialFrame() }
        #expect(decoder.takeRejections().first { $0.exchangeID == 7 }?.reason == "the frame is truncated")
    }

    @Test("random noise never crashes the decoder and yields no frame", arguments: 0..<20)
    func noise(seed: Int) {
        var generator = SeededRandom(seed: UInt64(seed + 1))
        var decoder = DeviceFrameDecoder(maxPayload: 1024)
        let noise = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let frames = decoder.feed(noise) + decoder.abandonPartialFrame()
        #expect(frames.isEmpty)
        #expect(decoder.feed(request.encoded()).count <= 1)
    }
}

@Suite("Device requests")
struct DeviceRequestTests {
    @Test("command line, argument and body round-trip")
    func roundTrip() throws {
        let request = DeviceRequest(.log, argument: "105")
        #expect(String(decoding: request.payload, as: UTF8.self) == "QRY|LOG 105\n{}")
        #expect(try DeviceRequest.parse(payload: request.payload) == request)
    }

    @Test("every command parses from its own name")
    func allCommands() throws {
        for command in DeviceCommand.allCases {
            #expect(try DeviceRequest.parse(payload: DeviceRequest(command).payload).command == command)
        }
    }

    @Test("unknown commands and invalid UTF-8 are refused with their codes")
    func refusals() {
        let unknown = #expect(throws: FiscalError.self) { try DeviceRequest.parse(payload: Array("TXN|SELL\n{}".utf8)) }
        #expect(unknown?.code == .unknownCommand)
        let binary = #expect(throws: FiscalError.self) { try DeviceRequest.parse(payload: [0x54, 0xFF, 0xFE, 0x0A]) }
        #expect(binary?.code == .frameInvalid)
    }

    @Test("CRC-32 matches the standard check value")
    func crcCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }
}
