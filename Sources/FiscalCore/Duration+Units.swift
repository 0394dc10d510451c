/// `Duration` in the units the protocol, libzmq and reports use.
extension Duration {
    /// Whole milliseconds, rounded down (libzmq options, `lease_ms`, `busy_ms`).
    public var wholeMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }

    /// Whole nanoseconds, rounded down.
    public var wholeNanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }

    /// Seconds as a `Double`, for APIs and reports that want one.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

extension Duration {
    /// A duration written for people: `250us`, `15ms`, `2s`, `5m`, `1h`, `90d` (a whole number
    /// and a unit); nil for anything else, and for more than ``longestParsed``.
    public static func parsing(_ text: String) -> Duration? {
        let units: [(suffix: String, microseconds: Int64)] = [
            ("us", 1), ("ms", 1000), ("s", 1_000_000), ("m", 60_000_000), ("h", 3_600_000_000),
            ("d", 86_400_000_000),
        ]
        for unit in units where text.hasSuffix(unit.suffix) {
            let digits = text.dropLast(unit.suffix.count)
            guard !digits.isEmpty, digits.utf8.count <= 18, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let value = Int64(digits)
            else { return nil }
            let (microseconds, overflow) = value.multipliedReportingOverflow(by: unit.microseconds)
            guard !overflow, microseconds <= longestParsed.wholeMicroseconds else { return nil }
            return .microseconds(microseconds)
        }
        return nil
    }

    /// The longest duration ``parsing(_:)`` accepts: ten years, far beyond any timeout, lease
    /// or load run, and small enough for any arithmetic on it in milliseconds.
    public static let longestParsed: Duration = .seconds(10 * 366 * 86_400)

    private var wholeMicroseconds: Int64 { components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000 }
}
