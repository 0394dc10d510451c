public import FiscalCore
public import MediatorStore

/// The nonces the device issued through this mediator: to which request, until when.
///
/// A COMMIT reaches the device only if its nonce passes ``check(_:for:now:)``: issued here, for
/// this terminal's request, not used, not expired. A value owned by the device core, so that
/// checking a nonce and acting on it happen in one step.
public struct NonceTracker: Sendable {
    public typealias Instant = DeviceInstant

    public struct Issued: Sendable, Hashable {
        public var key: RequestKey
        public var expiresAt: Instant
    }

    private var issued: [Nonce: Issued] = [:]
    private var used: [Nonce] = []
    private var usedSet: Set<Nonce> = []
    private let usedMemory: Int

    public init(usedMemory: Int = 4096) { self.usedMemory = usedMemory }

    public mutating func issue(_ nonce: Nonce, to key: RequestKey, until expiresAt: Instant) {
        issued[nonce] = Issued(key: key, expiresAt: expiresAt)
    }

    /// The request an outstanding nonce was issued for.
    public func holder(of nonce: Nonce) -> RequestKey? { issued[nonce]?.key }

    /// Whether a COMMIT with `nonce` for `key` may go to the device.
    public func check(_ nonce: Nonce, for key: RequestKey, now: Instant) throws(FiscalError) {
        guard let entry = issued[nonce] else {
            if usedSet.contains(nonce) { throw FiscalError(.invalidNonce, "the nonce was already used") }
            throw FiscalError(.invalidNonce, "the nonce was not issued by this mediator")
        }
        guard entry.key.terminal == key.terminal else {
            throw FiscalError(.invalidNonce, "the nonce was issued to another terminal")
        }
        guard entry.key.request == key.request else {
            throw FiscalError(.invalidNonce, "the nonce was issued for another request")
        }
        guard now < entry.expiresAt else {
            throw FiscalError(.nonceExpired, "the nonce's lease ran out; PREPARE again")
        }
    }

    /// Marks `nonce` used (it was sent to the device): it never passes again.
    public mutating func consume(_ nonce: Nonce) {
        guard issued.removeValue(forKey: nonce) != nil else { return }
        used.append(nonce)
        usedSet.insert(nonce)
        if used.count > usedMemory {
            for old in used.prefix(usedMemory / 2) { usedSet.remove(old) }
            used.removeFirst(usedMemory / 2)
        }
    }

    /// Forgets a nonce that will not be committed (abort, lease expiry).
    public mutating func revoke(_ nonce: Nonce) { consume(nonce) }

    public var outstanding: Int { issued.count }
}
