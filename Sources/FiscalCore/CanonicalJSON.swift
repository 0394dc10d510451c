/// A writer for canonical JSON: keys in the order the caller writes them, no whitespace,
/// strings escaped the one way RFC 8785 does, numbers written from exact fixed-point text.
///
/// Two equal values always give the same bytes, so their SHA-256 digest is stable.
public struct CanonicalJSON: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var needsComma: [Bool] = []

    public init() { bytes.reserveCapacity(1024) }

    public mutating func beginObject() {
        valuePrefix()
        bytes.append(UInt8(ascii: "{"))
        needsComma.append(false)
    }
    public mutating func endObject() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }
    public mutating func beginArray() {
        valuePrefix()
        bytes.append(UInt8(ascii: "["))
        needsComma.append(false)
    }
    public mutating func endArray() {
        needsComma.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes `"key":`; the value written next belongs to it.
    public mutating func key(_ key: String) {
        valuePrefix()
        writeString(key)
        bytes.append(UInt8(ascii: ":"))
        // The value that follows must not get a comma of its own.
        needsComma[needsComma.count - 1] = false
    }

    public mutating func string(_ value: String) {
        valuePrefix()
        writeString(value)
    }
    public mutating func integer<T: BinaryInteger>(_ value: T) {
        valuePrefix()
        bytes.append(contentsOf: String(value).utf8)
    }
    public mutating func bool(_ value: Bool) {
        valuePrefix()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }
    public mutating func null() {
        valuePrefix()
        bytes.append(contentsOf: "null".utf8)
    }
    /// A number from already-canonical decimal text such as `"16.00"`.
    public mutating func number(_ fixed: some FixedPointValue) {
        valuePrefix()
        bytes.append(contentsOf: fixed.canonicalText.utf8)
    }

    public mutating func field(_ name: String, _ value: String) {
        key(name)
        string(value)
    }
    public mutating func field(_ name: String, _ value: String?) {
        if let value {
            key(name)
            string(value)
        }
    }
    public mutating func field(_ name: String, _ value: some FixedPointValue) {
        key(name)
        number(value)
    }
    public mutating func field<T: BinaryInteger>(_ name: String, _ value: T) {
        key(name)
        integer(value)
    }
    public mutating func field(_ name: String, _ value: Bool) {
        key(name)
        bool(value)
    }

    private mutating func valuePrefix() {
        guard !needsComma.isEmpty else { return }
        if needsComma[needsComma.count - 1] { bytes.append(UInt8(ascii: ",")) }
        needsComma[needsComma.count - 1] = true
    }

    private mutating func writeString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x00..<0x20:
                bytes.append(contentsOf: "\\u00".utf8)
                bytes.append(contentsOf: Hex.encode([byte]).utf8)
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
