/// How many units of the invoice's currency one unit of another currency is worth, with six
/// fraction digits (a CDF rate for the US dollar is `2850.000000`). Never `Double`.
public struct ExchangeRate: FixedPointValue {
    public static let scale = 6
    public static let limit: Int64 = 1_000_000_000_000_000  // 10^9 per unit
    public static let kindName = "a rate"
    public var units: Int64
    public init(units: Int64) { self.units = units }
    /// A rate of exactly 1 (a tender in the invoice's own currency).
    public static let one = ExchangeRate(units: 1_000_000)

    /// `amount` in the other currency, worth this much in the invoice's currency, in minor units,
    /// rounded down (the customer is never credited a fraction of a centime they did not give).
    /// Both currencies have two fraction digits, so minor units convert as major units do.
    public func convert(_ amount: Money) -> Int128 {
        let product = Int128(amount.units) * Int128(units)
        let divisor = Int128(1_000_000)
        let quotient = product / divisor
        // Toward minus infinity, so a negative amount never rounds in the customer's favour.
        return product % divisor < 0 ? quotient - 1 : quotient
    }
}
