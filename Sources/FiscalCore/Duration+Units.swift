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
    /// and a unit); nil for anything else.
    public static func parsing(_ text: String) -> Duration? {
        let units: [(String, (Int) -> Duration)] = [
            ("us", { .microseconds($0) }), ("ms", { .milliseconds($0) }), ("s", { .seconds($0) }),
            ("m", { .seconds($0 * 60) }), ("h", { .seconds($0 * 3600) }), ("d", { .seconds($0 * 86_400) }),
        ]
        for (suffix, make) in units where text.hasSuffix(suffix) {
            guard let value = Int(text.dropLast(suffix.count)), value >= 0 else { return nil }
            return make(value)
        }
        return nil
    }
}
