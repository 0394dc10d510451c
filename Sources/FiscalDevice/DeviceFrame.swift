/// One frame of the DEF byte-stream protocol (docs/DEVICE_PROTOCOL.md):
///
/// ```
/// offset  size  field
///      0     2  magic 0xFD 0xF1
///      2     1  version 0x01
///      3     1  kind: 'Q' (0x51) request, 'R' (0x52) reply
///      4     4  exchange id, big-endian; a reply echoes its request's
///      8     4  payload length N, big-endian, 1...maxPayload
///     12     N  payload (UTF-8)
///   12+N     4  CRC-32/ISO-HDLC of bytes 2 ..< 12+N, big-endian
/// ```
public struct DeviceFrame: Hashable, Sendable {
    public enum Kind: UInt8, Sendable {
        case request = 0x51
        case reply = 0x52
    }

    public var kind: Kind
    public var exchangeID: UInt32
    public var payload: [UInt8]

    public static let magic: [UInt8] = [0xFD, 0xF1]
    public static let version: UInt8 = 1
    public static let headerSize = 12
    public static let trailerSize = 4
    /// The default largest payload: 256 KiB.
    public static let defaultMaxPayload = 256 * 1024

    public init(kind: Kind, exchangeID: UInt32, payload: [UInt8]) {
        self.kind = kind
        self.exchangeID = exchangeID
        self.payload = payload
    }

    /// The frame's bytes on the wire.
    public func encoded() -> [UInt8] {
        var bytes = Self.magic
        bytes.reserveCapacity(Self.headerSize + payload.count + Self.trailerSize)
        bytes.append(Self.version)
        bytes.append(kind.rawValue)
        bytes.appendBigEndian(exchangeID)
        bytes.appendBigEndian(UInt32(payload.count))
        bytes.append(contentsOf: payload)
        bytes.appendBigEndian(CRC32.checksum(bytes[2...]))
        return bytes
    }
}

extension [UInt8] {
    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }
}

/// Reassembles frames from a byte stream and resynchronizes after garbage.
///
/// Bytes that cannot start a valid frame (no magic, bad version or kind, a length of zero or
/// above the maximum, a CRC mismatch) are dropped one at a time and the search for the magic
/// starts again at the next byte, so a valid frame that follows garbage is always found.
public struct DeviceFrameDecoder: Sendable {
    public let maxPayload: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes dropped while resynchronizing, since creation.
    public private(set) var discardedBytes = 0
    /// Frames that failed their CRC or header check, since creation.
    public private(set) var rejectedFrames = 0
    /// Frames rejected since the last `takeRejections()`, for answering `FRAME_INVALID`.
    private var rejections: [Rejection] = []

    /// A frame whose header was readable but which was refused.
    public struct Rejection: Hashable, Sendable {
        /// The exchange id its header carried (a reply should echo it).
        public var exchangeID: UInt32
        public var reason: String
    }

    /// The frames refused since the last call.
    public mutating func takeRejections() -> [Rejection] {
        defer { rejections.removeAll() }
        return rejections
    }

    public init(maxPayload: Int = DeviceFrame.defaultMaxPayload) { self.maxPayload = maxPayload }

    /// Whether bytes of an incomplete frame are waiting.
    public var hasPartialFrame: Bool { start < buffer.count }

    /// Adds bytes and returns every complete, valid frame they finish.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [DeviceFrame] {
        buffer.append(contentsOf: bytes)
        var frames: [DeviceFrame] = []
        while let frame = nextFrame() { frames.append(frame) }
        compact()
        return frames
    }

    /// Gives up on a partial frame that stopped arriving: drops its first byte and rescans
    /// what is left, so a frame whose header lied about its length cannot stall the stream.
    public mutating func abandonPartialFrame() -> [DeviceFrame] {
        guard hasPartialFrame else { return [] }
        if buffer.count - start >= DeviceFrame.headerSize, buffer[start] == DeviceFrame.magic[0],
            buffer[start + 1] == DeviceFrame.magic[1]
        {
            rejectedFrames += 1
            rejections.append(Rejection(exchangeID: readUInt32(at: start + 4), reason: "the frame is truncated"))
        }
        dropByte()
        var frames: [DeviceFrame] = []
        while let frame = nextFrame() { frames.append(frame) }
        compact()
        return frames
    }

    /// Forgets everything buffered (before a new exchange: whatever waits is stale).
    public mutating func reset() {
        discardedBytes += buffer.count - start
        buffer.removeAll(keepingCapacity: true)
        start = 0
    }

    private mutating func nextFrame() -> DeviceFrame? {
        while true {
            // Find the magic.
            while start < buffer.count {
                if buffer[start] == DeviceFrame.magic[0],
                    start + 1 >= buffer.count || buffer[start + 1] == DeviceFrame.magic[1]
                {
                    break
                }
                dropByte()
            }
            guard buffer.count - start >= DeviceFrame.headerSize else { return nil }
            let version = buffer[start + 2]
            let length = Int(readUInt32(at: start + 8))
            guard version == DeviceFrame.version, let kind = DeviceFrame.Kind(rawValue: buffer[start + 3]) else {
                // Not a frame header at all: garbage that happened to hold the magic.
                dropByte()
                continue
            }
            guard length >= 1, length <= maxPayload else {
                rejectedFrames += 1
                let reason =
                    length == 0
                    ? "the frame is empty" : "a payload of \(length) bytes exceeds the maximum of \(maxPayload)"
                rejections.append(Rejection(exchangeID: readUInt32(at: start + 4), reason: reason))
                dropByte()
                continue
            }
            let total = DeviceFrame.headerSize + length + DeviceFrame.trailerSize
            guard buffer.count - start >= total else { return nil }
            let crcOffset = start + DeviceFrame.headerSize + length
            let expected = readUInt32(at: crcOffset)
            guard CRC32.checksum(buffer[(start + 2)..<crcOffset]) == expected else {
                rejectedFrames += 1
                rejections.append(
                    Rejection(exchangeID: readUInt32(at: start + 4), reason: "the frame failed its CRC check")
                )
                dropByte()
                continue
            }
            let frame = DeviceFrame(
                kind: kind,
                exchangeID: readUInt32(at: start + 4),
                payload: Array(buffer[(start + DeviceFrame.headerSize)..<crcOffset])
            )
            start += total
            return frame
        }
    }

    private mutating func dropByte() {
        start += 1
        discardedBytes += 1
    }

    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 4096 {
            buffer.removeFirst(start)
            start = 0
        }
    }

    private func readUInt32(at offset: Int) -> UInt32 {
        UInt32(buffer[offset]) << 24 | UInt32(buffer[offset + 1]) << 16 | UInt32(buffer[offset + 2]) << 8
            | UInt32(buffer[offset + 3])
    }
}
