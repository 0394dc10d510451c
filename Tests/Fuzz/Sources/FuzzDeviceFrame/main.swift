import FiscalCore
import FiscalDevice
import Foundation

/// Bytes from the serial line: the frame decoder, fed in pieces the input chooses (so that
/// resynchronization, partial frames and their abandonment are reached), then each frame's
/// payload as a request (the device's parser) and as every kind of reply (the host's).
///
/// The input is also framed with a correct CRC, so that mutations of the payload reach the
/// parsers without having to guess a CRC-32.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDeviceFrame(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    var decoder = DeviceFrameDecoder(maxPayload: 4096)
    var frames: [DeviceFrame] = []
    // Pieces of 1 to 16 bytes, their sizes taken from the input itself.
    var offset = 0
    while offset < bytes.count {
        let size = Int(bytes[offset] & 0x0F) + 1
        frames += decoder.feed(bytes[offset..<min(bytes.count, offset + size)])
        offset += size
    }
    while decoder.hasPartialFrame { frames += decoder.abandonPartialFrame() }
    _ = decoder.takeRejections()
    precondition(!decoder.hasPartialFrame)
    for frame in frames {
        precondition(frame.payload.count >= 1 && frame.payload.count <= 4096)
        parse(frame.payload)
    }

    // The whole input as one payload, framed correctly: it must come out unchanged.
    if !bytes.isEmpty, bytes.count <= DeviceFrame.defaultMaxPayload {
        let frame = DeviceFrame(kind: .reply, exchangeID: 7, payload: bytes)
        var whole = DeviceFrameDecoder()
        precondition(whole.feed([0xFD, 0x00] + frame.encoded()) == [frame], "a valid frame after garbage was lost")
        parse(bytes)
    }
    return 0
}

func parse(_ payload: [UInt8]) {
    if let request = try? DeviceRequest.parse(payload: payload) {
        _ = request.payload
    }
    decode(DeviceReply.Prepared.self, payload, .prepare)
    decode(DeviceReply.Sealed.self, payload, .commit)
    decode(DeviceReply.Status.self, payload, .status)
    decode(DeviceReply.DumpLog.self, payload, .dumpLog)
    decode(DeviceReport.self, payload, .reportZ)
    decode(DeviceReply.Initialized.self, payload, .initialize)
    decode(DeviceReply.TimeSet.self, payload, .setTime)
    decode(DeviceReply.ResetDone.self, payload, .reset)
}

func decode<Reply: Decodable>(_ type: Reply.Type, _ payload: [UInt8], _ command: DeviceCommand) {
    do throws(FiscalError) {
        let _: Reply = try FiscalDeviceClient.decodeReply(payload, for: command)
    } catch {
        precondition(!error.message.isEmpty)
    }
}
