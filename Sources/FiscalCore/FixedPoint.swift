/// Exact decimal numbers held as integers with a fixed number of fraction digits.
///
/// Money, quantities and tax rates are never `Double`: a value is parsed from its decimal text
/// into an integer count of its smallest unit, and written back with exactly `scale` fraction
/// digits, so the canonical encoding is deterministic.
package enum FixedPoint {
    /// Parses `-?digits(.digits)?` with at most `scale` fraction digits.
    ///
    /// Returns `nil` for any other text, more fraction digits than `scale`, or a magnitude
    /// above `limit`.
    package static func parse(_ text: String, scale: Int, limit: Int64) -> Int64? {
        var integerPart = Substring(text)
        var negative = false
        if integerPart.first == "-" {
            negative = true
            integerPart = integerPart.dropFirst()
        }
        var fractionPart: Substring = ""
        if let point = integerPart.firstIndex(of: ".") {
            fractionPart = integerPart[integerPart.index(after: point)...]
            integerPart = integerPart[..<point]
            guard !fractionPart.isEmpty else { return nil }
        }
        // Trailing zeros beyond the scale change nothing ("1.500" as money is 1.50).
        while fractionPart.count > scale, fractionPart.last == "0" { fractionPart = fractionPart.dropLast() }
        guard !integerPart.isEmpty, fractionPart.count <= scale else { return nil }
        var value: Int64 = 0
        var digitCount = 0
        for byte in Array(integerPart.utf8) + Array(fractionPart.utf8) {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            digitCount += 1
            guard digitCount <= 18 else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        for _ in fractionPart.count..<scale {
            guard value <= Int64.max / 10 else { return nil }
            value *= 10
        }
        guard value <= limit else { return nil }
        return negative ? -value : value
    }

    /// Writes `value` with exactly `scale` fraction digits: `format(150, scale: 2)` is `"1.50"`.
    package static func format(_ value: Int64, scale: Int) -> String {
        let negative = value < 0
        let magnitude = value.magnitude
        var divisor: UInt64 = 1
        for _ in 0..<scale { divisor *= 10 }
        let integer = magnitude / divisor
        var fraction = String(magnitude % divisor)
        while fraction.count < scale { fraction = "0" + fraction }
        let body = scale == 0 ? String(integer) : "\(integer).\(fraction)"
        return negative ? "-" + body : body
    }

    /// `numerator / denominator`, rounded half away from zero.
    package static func divideRounded(_ numerator: Int128, by denominator: Int128) -> Int128 {
        let quotient = numerator / denominator
        let remainder = numerator % denominator
        if remainder.magnitude * 2 >= denominator.magnitude {
            return numerator < 0 ? quotient - 1 : quotient + 1
        }
        return quotient
    }
}
