/// How far a request got: what RESULT and ABORT answer, what the store keeps. Shared by the
/// mediator, the terminal client and the ops API.
public enum RequestState: String, Sendable, Codable, CaseIterable {
    /// Accepted, waiting for the device lock.
    case queued
    /// The device holds it with a nonce; waiting for COMMIT (terminal-driven) or about to commit.
    case prepared
    /// COMMIT is being sent to the device: if the mediator dies now, it is in doubt.
    case committing
    /// COMMIT's outcome is unknown until the device's journal says.
    case inDoubt = "in_doubt"
    /// Sealed: its fiscal number is set and the sealed invoice is stored.
    case sealed
    /// Aborted (by the terminal, a lease expiry, a disconnect or recovery): may be prepared again.
    case aborted
    /// Refused by the device or by validation (`code`): may be prepared again once fixed.
    case failed

    /// Whether the device may still act on it (only the device core moves it on).
    public var isActive: Bool { self == .queued || self == .prepared || self == .committing || self == .inDoubt }

    /// Whether it is over: sealed, aborted or failed.
    public var isFinal: Bool { !isActive }
}

/// The device as STATUS, HELLO and `/health` show it.
public enum DeviceState: String, Sendable, Codable, CaseIterable {
    /// Sales are sealed.
    case ready
    /// The device refuses to seal (`halted_code`: STORAGE_FULL, DEVICE_REVOKED, CLOCK_ROLLBACK_DETECTED).
    case halted
    /// The device does not answer (DEVICE_UNREACHABLE).
    case unavailable
    /// An in-doubt COMMIT is being looked up in the journal.
    case resolving
    /// The mediator's store refuses writes (STORE_FAILING).
    case storeFailing = "store_failing"
    /// Settling what the last run left unfinished; sales wait.
    case recovering
}
