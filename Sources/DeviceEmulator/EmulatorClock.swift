import FiscalCore
public import Foundation
import Synchronization

/// Where the emulator reads time: a monotonic clock for nonce expiry and a wall clock for its
/// RTC. Tests use ``ManualEmulatorClock`` to expire nonces and move the RTC without sleeping.
public protocol EmulatorClock: Sendable {
    /// Monotonic time since an arbitrary origin.
    func monotonicNow() -> Duration
    /// The host's wall clock (the RTC adds its own offset).
    func wallNow() -> Date
}

/// The real clocks.
public struct SystemEmulatorClock: EmulatorClock {
    private let origin = ContinuousClock.now
    public init() {}
    public func monotonicNow() -> Duration { ContinuousClock.now - origin }
    public func wallNow() -> Date { Date() }
}

/// A clock that moves only when told to.
public final class ManualEmulatorClock: EmulatorClock {
    private let state: Mutex<(monotonic: Duration, wall: Date)>

    public init(wall: Date = Date(timeIntervalSince1970: 1_795_000_000)) {
        state = Mutex((.zero, wall))
    }

    public func monotonicNow() -> Duration { state.withLock { $0.monotonic } }
    public func wallNow() -> Date { state.withLock { $0.wall } }

    /// Moves both clocks forward.
    public func advance(by duration: Duration) {
        state.withLock {
            $0.monotonic += duration
            $0.wall += duration.inSeconds
        }
    }
}
