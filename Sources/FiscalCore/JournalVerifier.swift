/// Checks a journal: sequence continuity, the hash chain, every entry hash and signature, and
/// (when the device's own head is known) that nothing was cut off the end.
public struct JournalVerifier: Sendable {
    public var publicKey: Ed25519.PublicKey

    public init(publicKey: Ed25519.PublicKey) { self.publicKey = publicKey }

    /// The device's own record of where the journal ends.
    public struct Head: Hashable, Sendable {
        public var lastSeq: UInt64
        public var lastHash: String
        public init(lastSeq: UInt64, lastHash: String) {
            self.lastSeq = lastSeq
            self.lastHash = lastHash
        }
    }

    /// What is wrong and where; `seq` is the first bad entry (or where a missing one should be).
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public var seq: UInt64
        public var reason: String
        public var description: String { "entry \(seq): \(reason)" }
        public init(seq: UInt64, reason: String) {
            self.seq = seq
            self.reason = reason
        }
    }

    /// Returns the number of entries checked, or throws the first failure.
    ///
    /// `entries` must start at seq 1 unless `startingAfter` gives the entry before the first
    /// one (seq and hash), as for a partial export.
    @discardableResult
    public func verify(
        _ entries: [JournalEntry],
        startingAfter start: Head = Head(lastSeq: 0, lastHash: JournalEntry.genesisHash),
        head: Head? = nil
    ) throws(Failure) -> Int {
        var expectedSeq = start.lastSeq + 1
        var previousHash = start.lastHash
        for entry in entries {
            guard entry.seq.rawValue == expectedSeq else {
                throw Failure(
                    seq: expectedSeq,
                    reason: "expected seq \(expectedSeq), found \(entry.seq): an entry is missing or out of order"
                )
            }
            guard entry.previousHash == previousHash else {
                throw Failure(seq: entry.seq.rawValue, reason: "previous_hash does not match the entry before it")
            }
            guard entry.computedEntryHash == entry.entryHash else {
                throw Failure(seq: entry.seq.rawValue, reason: "entry_hash does not match the entry's content")
            }
            guard entry.hasValidSignature(publicKey) else {
                throw Failure(seq: entry.seq.rawValue, reason: "auth_code is not the device's signature of this entry")
            }
            previousHash = entry.entryHash
            expectedSeq += 1
        }
        if let head {
            let lastSeq = expectedSeq - 1
            guard head.lastSeq == lastSeq else {
                throw Failure(
                    seq: min(lastSeq, head.lastSeq) + 1,
                    reason:
                        "the device's counter says the journal ends at \(head.lastSeq), the entries end at \(lastSeq)"
                )
            }
            guard head.lastHash == previousHash else {
                throw Failure(seq: lastSeq, reason: "the last entry's hash is not the device's recorded head")
            }
        }
        return entries.count
    }
}
