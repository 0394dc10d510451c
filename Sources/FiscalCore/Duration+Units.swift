/// `Duration` in the units the protocol, libzmq and reports use.
extension Duration {
    /// Whole milliseconds, rounded down (libzmq options, `lease_ms`, `busy_ms`).
    public var wholeMilliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }

    /// Whole nanoseconds, rounded down.
    public var wholeNanoseconds: Int64 { components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000 }

    /// Seconds as a `Double`, for APIs and reports that want one.
    public var inSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
