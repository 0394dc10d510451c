public import FiscalCore

/// The nonces the device issued through this mediator: to whom, for which request, until when.
///
/// A COMMIT reaches the device only if its nonce passes ``check(_:terminal:requestID:now:)``:
/// issued here, to this terminal, for this request, not used, not expired. A value type owned
/// by the device actor, so that checking a nonce and acting on it happen in one step.
public struct NonceTracker: Sendable {
    public struct Issued: Sendable, Hashable {
        public var terminal: TerminalID
        public var requestID: String
        public var expiresAt: ContinuousClock.Instant
    }

    private var issued: [String: Issued] = [:]
    private var used: [String] = []
    private var usedSet: Set<String> = []
    private let usedMemory: Int

    public init(usedMemory: Int = 4096) { self.usedMemory = usedMemory }

    public mutating func issue(
        _ nonce: String,
        to terminal: TerminalID,
        requestID: String,
        expiresAt: ContinuousClock.Instant
    ) {
        issued[nonce] = Issued(terminal: terminal, requestID: requestID, expiresAt: expiresAt)
    }

    /// Whether a COMMIT with `nonce` from `terminal` for `requestID` may go to the device.
    public func check(
        _ nonce: String,
        terminal: TerminalID,
        requestID: String,
        now: ContinuousClock.Instant
    ) throws(FiscalError) {
        guard let entry = issued[nonce] else {
            if usedSet.contains(nonce) { throw FiscalError(.invalidNonce, "the nonce was already used") }
            throw FiscalError(.invalidNonce, "the nonce was not issued by this mediator")
        }
        guard entry.terminal == terminal else {
            throw FiscalError(.invalidNonce, "the nonce was issued to another terminal")
        }
        guard entry.requestID == requestID else {
            throw FiscalError(.invalidNonce, "the nonce was issued for another request")
        }
        guard now < entry.expiresAt else {
            throw FiscalError(.nonceExpired, "the nonce's lease ran out; PREPARE again")
        }
    }

    /// Marks `nonce` used (it was sent to the device): it never passes again.
    public mutating func consume(_ nonce: String) {
        guard issued.removeValue(forKey: nonce) != nil else { return }
        used.append(nonce)
        usedSet.insert(nonce)
        if used.count > usedMemory {
            for old in used.prefix(usedMemory / 2) { usedSet.remove(old) }
            used.removeFirst(usedMemory / 2)
        }
    }

    /// Forgets a nonce that will not be committed (abort, lease expiry).
    public mutating func revoke(_ nonce: String) { consume(nonce) }

    public var outstanding: Int { issued.count }
}
