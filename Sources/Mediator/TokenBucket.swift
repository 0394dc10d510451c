/// A token bucket: `rate` tokens a second, at most `burst` saved up. Each message takes one;
/// with none left the message is refused (RATE_LIMITED) and told when the next one comes.
public struct TokenBucket: Sendable, Hashable {
    public var rate: Double
    public var burst: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant?

    public init(rate: Double, burst: Int) {
        self.rate = rate
        self.burst = Double(burst)
        tokens = Double(burst)
    }

    /// Takes a token at `now`; returns nil if one was there, else how long until one is.
    public mutating func take(now: ContinuousClock.Instant) -> Duration? {
        if let updated {
            let elapsed = updated.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + max(0, seconds) * rate)
        }
        updated = now
        guard tokens < 1 else {
            tokens -= 1
            return nil
        }
        return .milliseconds(Int(((1 - tokens) / rate * 1000).rounded(.up)))
    }
}
