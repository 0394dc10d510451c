/// Distinct identifier types, so a terminal id can never be passed where a request id is meant.

/// A POS terminal's code (`REG-001`, `MOB-003`, ...): the `pos_terminal_id` of an invoice.
public struct TerminalID: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// A cashier's id: the `cashier_id` of an invoice.
public struct CashierID: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// The fiscal device's id (the DEF NID).
public struct DeviceID: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// A 128-bit nonce issued by the device at PREPARE, as 32 lowercase hex digits.
public struct Nonce: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// A fresh nonce from the system's cryptographic random source.
    public static func random() -> Nonce {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return Nonce(Hex.encode(bytes))
    }
}

/// A fiscal number: the device counter's value for one sealed invoice.
///
/// Always in ``range``, 1 ... `Int64.max`, so that it fits an SQLite integer: the only ways
/// to make one from outside data (``init(rawValue:)``, ``init(text:)`` and decoding) refuse
/// anything else, so no store or query can be handed an out-of-range fiscal number.
public struct InvoiceSeq: RawRepresentable, Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    /// Every fiscal number a device can give.
    public static let range: ClosedRange<UInt64> = 1...UInt64(Int64.max)

    public let rawValue: UInt64

    /// `nil` outside ``range``.
    public init?(rawValue: UInt64) {
        guard Self.range.contains(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// A fiscal number the program itself computed; an out-of-range value is a programmer
    /// error. Outside data goes through ``init(rawValue:)``, ``init(text:)`` or decoding.
    public init(_ rawValue: UInt64) {
        precondition(Self.range.contains(rawValue), "fiscal number \(rawValue) is outside 1...Int64.max")
        self.rawValue = rawValue
    }

    /// Parses decimal digits (`"42"`); `nil` for anything else or a number outside ``range``.
    public init?(text: some StringProtocol) {
        guard !text.isEmpty, text.utf8.count <= 19, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let value = UInt64(text), let seq = InvoiceSeq(rawValue: value)
        else { return nil }
        self = seq
    }

    /// The fiscal number as SQLite stores it; exact, since ``range`` fits `Int64`.
    public var int64Value: Int64 { Int64(truncatingIfNeeded: rawValue) }

    public var description: String { String(rawValue) }
    public static func < (lhs: InvoiceSeq, rhs: InvoiceSeq) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The fiscal number after this one; `nil` at the end of ``range``.
    public var next: InvoiceSeq? { InvoiceSeq(rawValue: rawValue + 1) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let value: UInt64
        do {
            value = try container.decode(UInt64.self)
        } catch {
            // Foundation reports a number beyond UInt64 (or negative, or fractional) at the
            // document's root; when it is a number, say so at the fiscal number's own path.
            guard let number = try? container.decode(Double.self) else { throw error }
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "a fiscal number must be 1 to \(Int64.max), not \(number)"
            )
        }
        guard let seq = InvoiceSeq(rawValue: value) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "a fiscal number must be 1 to \(Int64.max), not \(value)"
            )
        }
        self = seq
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// A terminal's id for one sale (1 to 64 characters), chosen by the terminal and reused for every
/// retry of that sale: with the terminal id, the key of exactly-once.
public struct RequestID: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringInterpolation
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }
}

/// A work period's number in the mediator's store (one terminal's shift, docs/SHOP_DAY.md).
public struct WorkPeriodID: RawRepresentable, Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { "\(rawValue)" }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A cashier session's number in the mediator's store (one cashier at one terminal, LOGIN to
/// LOGOUT or handover).
public struct CashierSessionID: RawRepresentable, Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { "\(rawValue)" }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
