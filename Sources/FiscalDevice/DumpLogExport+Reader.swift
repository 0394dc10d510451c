public import FiscalCore
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension DumpLogExport {
    /// Why an export could not be read (from a given entry on, when `entriesBefore` is set).
    public struct ReadError: Error, Hashable, Sendable, CustomStringConvertible {
        /// How many entries were read whole before the problem, when it is inside `entries`.
        public var entriesBefore: Int?
        public var reason: String
        public var description: String { reason }

        public init(entriesBefore: Int?, reason: String) {
            self.entriesBefore = entriesBefore
            self.reason = reason
        }
    }

    /// Entries handed to the reader's callback at once.
    public static let batchSize = 512
    /// The largest entry accepted (a real one is under 2 KiB).
    public static let maxEntryBytes = 64 * 1024
    /// The largest value of any other key.
    public static let maxFieldBytes = 4096

    /// Reads the export at `path` a chunk at a time: `identity` is called once, before any
    /// entry; `entries` with the entries in file order, in batches; returns the head. The keys
    /// may come in any order (older exports sort them); when the entries come before the
    /// identity, they are read in a second pass. Throws ``ReadError`` for a file that is not a
    /// whole export, and whatever the callbacks throw.
    @discardableResult
    public static func read(
        path: String,
        identity: (Identity) throws -> Void,
        entries: ([JournalEntry]) throws -> Void
    ) throws -> (Identity, Head) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ReadError(entriesBefore: nil, reason: "\(path): cannot open the file")
        }
        defer { try? handle.close() }
        var scanner = ExportScanner(handle: handle)
        var fields = Fields()
        var entriesAt: UInt64?
        var delivered = false

        try scanner.skipWhitespace()
        try scanner.expect(UInt8(ascii: "{"), "the export is not a JSON object")
        try scanner.skipWhitespace()
        if try scanner.peek() == UInt8(ascii: "}") {
            scanner.advance()
        } else {
            while true {
                try scanner.skipWhitespace()
                let key = try scanner.key()
                try scanner.skipWhitespace()
                try scanner.expect(UInt8(ascii: ":"), "a key is not followed by ':'")
                try scanner.skipWhitespace()
                if key == "entries" {
                    guard entriesAt == nil else {
                        throw ReadError(entriesBefore: nil, reason: "the export has two entries arrays")
                    }
                    entriesAt = scanner.offset
                    if let known = fields.identity {
                        try identity(known)
                        delivered = true
                        try streamEntries(&scanner, entries)
                    } else {
                        try scanner.skipValue()
                    }
                } else {
                    try fields.take(key, from: &scanner)
                }
                try scanner.skipWhitespace()
                let separator = try scanner.next("the export ends before its closing '}': it is truncated")
                if separator == UInt8(ascii: "}") { break }
                guard separator == UInt8(ascii: ",") else {
                    throw ReadError(entriesBefore: nil, reason: "expected ',' or '}' at byte \(scanner.offset - 1)")
                }
            }
        }
        try scanner.skipWhitespace()
        guard try scanner.peek() == nil else {
            throw ReadError(
                entriesBefore: nil,
                reason: "bytes follow the export's closing '}' at byte \(scanner.offset)"
            )
        }
        guard let known = fields.identity else {
            throw ReadError(entriesBefore: nil, reason: "the export has no device_id or public_key")
        }
        guard let entriesAt else { throw ReadError(entriesBefore: nil, reason: "the export has no entries array") }
        guard let head = fields.head else {
            throw ReadError(entriesBefore: nil, reason: "the export has no head_seq, head_hash or head_signature")
        }
        if !delivered {
            try identity(known)
            var second = ExportScanner(handle: handle)
            try second.seek(to: entriesAt)
            try streamEntries(&second, entries)
        }
        return (known, head)
    }

    /// Reads the `entries` array at the scanner, decoding each element as it comes.
    private static func streamEntries(_ scanner: inout ExportScanner, _ deliver: ([JournalEntry]) throws -> Void) throws
    {
        let decoder = JSONDecoder()
        var batch: [JournalEntry] = []
        batch.reserveCapacity(batchSize)
        var count = 0
        var element: [UInt8] = []
        func fail(_ reason: String) throws -> Never {
            if !batch.isEmpty { try deliver(batch) }
            throw ReadError(entriesBefore: count, reason: reason)
        }
        do {
            try scanner.expect(UInt8(ascii: "["), "entries is not an array")
            try scanner.skipWhitespace()
            if try scanner.peek() == UInt8(ascii: "]") {
                scanner.advance()
                return
            }
            while true {
                try scanner.skipWhitespace()
                element.removeAll(keepingCapacity: true)
                try scanner.value(into: &element, limit: maxEntryBytes)
                do {
                    batch.append(try decoder.decode(JournalEntry.self, from: Data(element)))
                } catch {
                    try fail(
                        "entry \(count + 1) of the export is not a journal entry: \(DecodingError.describe(error))"
                    )
                }
                count += 1
                if batch.count == batchSize {
                    try deliver(batch)
                    batch.removeAll(keepingCapacity: true)
                }
                try scanner.skipWhitespace()
                let separator = try scanner.next("the export ends after \(count) entries, inside the entries array")
                if separator == UInt8(ascii: "]") { break }
                guard separator == UInt8(ascii: ",") else {
                    try fail("expected ',' or ']' after entry \(count) at byte \(scanner.offset - 1)")
                }
            }
        } catch let error as ReadError where error.entriesBefore == nil {
            try fail(error.reason + " (after \(count) entries)")
        }
        if !batch.isEmpty { try deliver(batch) }
    }

    /// The export's fields other than `entries`, each at most once.
    private struct Fields {
        var deviceID: String?
        var publicKey: String?
        var headSeq: UInt64?
        var headHash: String?
        var headSignature: String?
        var seen: Set<String> = []

        var identity: Identity? {
            guard let deviceID, let publicKey else { return nil }
            return Identity(deviceID: DeviceID(deviceID), publicKey: publicKey)
        }

        var head: Head? {
            guard let headSeq, let headHash, let headSignature else { return nil }
            return Head(seq: headSeq, hash: headHash, signature: headSignature)
        }

        mutating func take(_ key: String, from scanner: inout ExportScanner) throws {
            guard seen.insert(key).inserted else {
                throw ReadError(entriesBefore: nil, reason: "the export has the key '\(key.prefix(40))' twice")
            }
            guard ["device_id", "public_key", "head_seq", "head_hash", "head_signature"].contains(key) else {
                try scanner.skipValue()  // `next`, and keys a later version may add
                return
            }
            var bytes: [UInt8] = []
            try scanner.value(into: &bytes, limit: maxFieldBytes)
            func decode<T: Decodable>(_ type: T.Type) throws -> T {
                do {
                    return try JSONDecoder().decode(T.self, from: Data(bytes))
                } catch {
                    throw ReadError(
                        entriesBefore: nil,
                        reason: "the export's \(key) is malformed: \(DecodingError.describe(error))"
                    )
                }
            }
            switch key {
            case "device_id": deviceID = try decode(String.self)
            case "public_key": publicKey = try decode(String.self)
            case "head_seq": headSeq = try decode(UInt64.self)
            case "head_hash": headHash = try decode(String.self)
            case "head_signature": headSignature = try decode(String.self)
            default: break
            }
        }
    }
}

/// A forward reader of JSON bytes from a file, a chunk at a time, that can copy out or skip
/// one JSON value without building it. Strings are crossed with `memchr`, so long hex fields
/// cost little.
struct ExportScanner {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var index = 0
    /// The file offset of `buffer[0]`.
    private var base: UInt64 = 0
    private var atEnd = false
    private static let chunk = 1 << 20
    private static let maxDepth = 64

    init(handle: FileHandle) { self.handle = handle }

    /// The file offset of the next byte.
    var offset: UInt64 { base + UInt64(index) }

    mutating func seek(to offset: UInt64) throws {
        do { try handle.seek(toOffset: offset) } catch {
            throw DumpLogExport.ReadError(entriesBefore: nil, reason: "cannot seek in the export: \(error)")
        }
        buffer = []
        index = 0
        base = offset
        atEnd = false
    }

    /// Makes sure a byte is buffered; false at the end of the file.
    private mutating func fill() throws -> Bool {
        if index < buffer.count { return true }
        if atEnd { return false }
        base += UInt64(buffer.count)
        let data: Data?
        do { data = try handle.read(upToCount: Self.chunk) } catch {
            throw DumpLogExport.ReadError(entriesBefore: nil, reason: "cannot read the export: \(error)")
        }
        buffer = data.map { Array($0) } ?? []
        index = 0
        if buffer.isEmpty { atEnd = true }
        return !buffer.isEmpty
    }

    mutating func peek() throws -> UInt8? { try fill() ? buffer[index] : nil }

    mutating func advance() { index += 1 }

    mutating func next(_ atEndReason: String) throws -> UInt8 {
        guard try fill() else { throw DumpLogExport.ReadError(entriesBefore: nil, reason: atEndReason) }
        defer { index += 1 }
        return buffer[index]
    }

    mutating func expect(_ byte: UInt8, _ reason: String) throws {
        let found = try next("the export ends early: \(reason)")
        guard found == byte else {
            throw DumpLogExport.ReadError(entriesBefore: nil, reason: "\(reason) (byte \(offset - 1))")
        }
    }

    mutating func skipWhitespace() throws {
        while try fill() {
            switch buffer[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// An object key: a JSON string.
    mutating func key() throws -> String {
        guard try peek() == UInt8(ascii: "\"") else {
            throw DumpLogExport.ReadError(entriesBefore: nil, reason: "expected a key at byte \(offset)")
        }
        var bytes: [UInt8] = []
        try value(into: &bytes, limit: 256)
        do {
            return try JSONDecoder().decode(String.self, from: Data(bytes))
        } catch {
            throw DumpLogExport.ReadError(entriesBefore: nil, reason: "a key is not a JSON string at byte \(offset)")
        }
    }

    /// Crosses one JSON value (object, array, string, number or literal), appending its bytes
    /// to `capture` (at most `limit` bytes). Checks nesting, not full JSON syntax: the decoder
    /// that reads the copied bytes does that.
    mutating func value(into capture: inout [UInt8], limit: Int) throws {
        try cross(capture: &capture, copying: true, limit: limit)
    }

    /// Crosses one JSON value without keeping it.
    mutating func skipValue() throws {
        var nothing: [UInt8] = []
        try cross(capture: &nothing, copying: false, limit: .max)
    }

    private mutating func cross(capture: inout [UInt8], copying: Bool, limit: Int) throws {
        var depth = 0
        var copied = 0
        while true {
            guard try fill() else {
                throw DumpLogExport.ReadError(
                    entriesBefore: nil,
                    reason: "the export ends inside a value: it is truncated"
                )
            }
            let byte = buffer[index]
            var end = index + 1
            var last = false
            switch byte {
            case UInt8(ascii: "\""):
                try take(upTo: end, into: &capture, copying: copying, copied: &copied, limit: limit)
                try crossString(into: &capture, copying: copying, copied: &copied, limit: limit)
                if depth == 0 { return }
                continue
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                guard depth <= Self.maxDepth else {
                    throw DumpLogExport.ReadError(
                        entriesBefore: nil,
                        reason: "the export nests deeper than \(Self.maxDepth)"
                    )
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                if depth == 0 { return }  // the end of a number or literal
                depth -= 1
                last = depth == 0
            case UInt8(ascii: ","), 0x20, 0x09, 0x0A, 0x0D:
                if depth == 0 { return }
            default:
                // A run of bytes with nothing to watch for: take it whole.
                while end < buffer.count, !Self.isStructural(buffer[end]) { end += 1 }
            }
            try take(upTo: end, into: &capture, copying: copying, copied: &copied, limit: limit)
            if last { return }
        }
    }

    /// Moves past `buffer[index..<end]`, copying it when asked.
    private mutating func take(
        upTo end: Int,
        into capture: inout [UInt8],
        copying: Bool,
        copied: inout Int,
        limit: Int
    ) throws {
        if copying {
            copied += end - index
            guard copied <= limit else {
                throw DumpLogExport.ReadError(entriesBefore: nil, reason: "a value is longer than \(limit) bytes")
            }
            capture.append(contentsOf: buffer[index..<end])
        }
        index = end
    }

    private static func isStructural(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "}"), UInt8(ascii: "]"),
            UInt8(ascii: ","), 0x20, 0x09, 0x0A, 0x0D:
            true
        default: false
        }
    }

    /// After an opening quote: crosses the string up to and including its closing quote.
    private mutating func crossString(
        into capture: inout [UInt8],
        copying: Bool,
        copied: inout Int,
        limit: Int
    ) throws {
        var escaped = false
        while true {
            guard try fill() else {
                throw DumpLogExport.ReadError(
                    entriesBefore: nil,
                    reason: "the export ends inside a string: it is truncated"
                )
            }
            var end: Int
            var closed = false
            if escaped {
                end = index + 1
                escaped = false
            } else {
                // The next quote or backslash, whichever comes first.
                let (quote, backslash) = Self.find(in: buffer, from: index)
                if let backslash, backslash < (quote ?? .max) {
                    end = backslash + 1
                    escaped = true
                } else if let quote {
                    end = quote + 1
                    closed = true
                } else {
                    end = buffer.count
                }
            }
            try take(upTo: end, into: &capture, copying: copying, copied: &copied, limit: limit)
            if closed { return }
        }
    }

    /// The indexes of the first quote and of the first backslash before it, from `start` on.
    private static func find(in buffer: [UInt8], from start: Int) -> (quote: Int?, backslash: Int?) {
        buffer.withUnsafeBytes { bytes -> (Int?, Int?) in
            guard let base = bytes.baseAddress else { return (nil, nil) }
            let from = base + start
            let remaining = bytes.count - start
            let quote = memchr(from, Int32(UInt8(ascii: "\"")), remaining).map {
                from.distance(to: UnsafeRawPointer($0))
            }
            let backslash = memchr(from, Int32(UInt8(ascii: "\\")), quote ?? remaining).map {
                from.distance(to: UnsafeRawPointer($0))
            }
            return (quote.map { start + $0 }, backslash.map { start + $0 })
        }
    }
}
