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

/// A fiscal number: the device counter's value for one sealed invoice. Starts at 1.
public struct InvoiceSeq: RawRepresentable, Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public var rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }
    public var description: String { String(rawValue) }
    public static func < (lhs: InvoiceSeq, rhs: InvoiceSeq) -> Bool { lhs.rawValue < rhs.rawValue }
    public var next: InvoiceSeq { InvoiceSeq(rawValue + 1) }
}

/// A terminal's id for one sale (1 to 64 characters), chosen by the terminal and reused for every
/// retry of that sale: with the terminal id, the key of exactly-once.
public struct RequestID: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }
}
