import Foundation

/// A decimal quantity stored exactly as an integer count of `1 / 10^scale`.
///
/// Decodes from a JSON number or a decimal string; encodes as a JSON number. The canonical
/// text (`canonicalText`) always has exactly `scale` fraction digits.
public protocol FixedPointValue: Hashable, Sendable, Comparable, Codable, CustomStringConvertible {
    /// Fraction digits kept.
    static var scale: Int { get }
    /// Largest accepted magnitude, in units.
    static var limit: Int64 { get }
    /// What this kind of value is called in error messages.
    static var kindName: String { get }
    /// The value in its smallest unit.
    var units: Int64 { get }
    init(units: Int64)
}

extension FixedPointValue {
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.units < rhs.units }

    /// Parses decimal text such as `"1250.50"`; `nil` if it is not an exact value of this scale.
    public init?(decimalText: String) {
        guard let units = FixedPoint.parse(decimalText, scale: Self.scale, limit: Self.limit) else { return nil }
        self.init(units: units)
    }

    /// The value with exactly `scale` fraction digits, as in the canonical encoding.
    public var canonicalText: String { FixedPoint.format(units, scale: Self.scale) }
    public var description: String { canonicalText }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Numbers first: they are what clients send, and a failed attempt costs a thrown error.
        let text: String
        if let number = try? container.decode(Decimal.self) {
            text = number.description
        } else {
            text = try container.decode(String.self)
        }
        guard let value = Self(decimalText: text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription:
                    "\(Self.kindName) must be a decimal with at most \(Self.scale) fraction digits "
                    + "and at most \(FixedPoint.format(Self.limit, scale: Self.scale)) in magnitude"
            )
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Decimal(string: canonicalText) ?? 0)
    }
}

/// An amount of money in minor units (centimes, cents): two fraction digits, never `Double`.
public struct Money: FixedPointValue {
    public static let scale = 2
    public static let limit: Int64 = 100_000_000_000_000_000  // 10^15 major units
    public static let kindName = "an amount"
    public var units: Int64
    public init(units: Int64) { self.units = units }
    public static let zero = Money(units: 0)
    public static func + (lhs: Money, rhs: Money) -> Money { Money(units: lhs.units + rhs.units) }
}

/// A quantity of an article, in thousandths (1.5 kg is 1500).
public struct Quantity: FixedPointValue {
    public static let scale = 3
    public static let limit: Int64 = 1_000_000_000_000  // 10^9 units
    public static let kindName = "a quantity"
    public var units: Int64
    public init(units: Int64) { self.units = units }
}

/// A tax rate in hundredths of a percent (16 % is 1600).
public struct TaxRate: FixedPointValue {
    public static let scale = 2
    public static let limit: Int64 = 10_000  // 100 %
    public static let kindName = "a tax rate"
    public var units: Int64
    public init(units: Int64) { self.units = units }
}
