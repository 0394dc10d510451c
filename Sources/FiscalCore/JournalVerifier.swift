import Dispatch
import Foundation
import Synchronization

/// Checks a journal: sequence continuity, the device named by every entry, the hash chain,
/// every entry hash and signature, the device clock never going back, and (when the device's
/// own head is known) that nothing was cut off the end.
///
/// A journal of any size is checked as it streams by (``Walk``): memory stays flat, and the
/// signatures of a batch are checked on every core at once (they are independent; the chain is
/// not, and is checked in order).
public struct JournalVerifier: Sendable {
    public var publicKey: Ed25519.PublicKey
    /// The device whose journal this is: every entry must name it. `nil`: the first entry's.
    public var deviceID: DeviceID?

    public init(publicKey: Ed25519.PublicKey, deviceID: DeviceID? = nil) {
        self.publicKey = publicKey
        self.deviceID = deviceID
    }

    /// The device's own record of where the journal ends.
    public struct Head: Hashable, Sendable {
        public var lastSeq: UInt64
        public var lastHash: String
        public init(lastSeq: UInt64, lastHash: String) {
            self.lastSeq = lastSeq
            self.lastHash = lastHash
        }

        /// Before the first entry.
        public static let genesis = Head(lastSeq: 0, lastHash: JournalEntry.genesisHash)
    }

    /// What is wrong and where; `seq` is the first bad entry (or where a missing one should be).
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// Which property of a journal failed.
        public enum Kind: String, Hashable, Sendable, CaseIterable {
            /// An entry is missing, repeated or out of order.
            case sequence
            /// An entry names another device.
            case device
            /// `previous_hash` is not the entry before's `entry_hash`.
            case chain
            /// `entry_hash` is not SHA-256 of the entry.
            case hash
            /// `auth_code` is not the device's signature.
            case signature
            /// `device_timestamp` is malformed or earlier than the entry before's.
            case clock
            /// The entries do not end at the device's signed head, or the head is not signed.
            case head
            /// The journal could not be read from there on (a truncated or malformed export).
            case unreadable
        }

        public var seq: UInt64
        public var kind: Kind
        public var reason: String
        public var description: String { "entry \(seq): \(reason)" }

        public init(seq: UInt64, kind: Kind, reason: String) {
            self.seq = seq
            self.kind = kind
            self.reason = reason
        }
    }

    /// A journal being checked entry by entry, in order. Feed it with ``check(_:)`` (any number
    /// of times, with batches of any size), then call ``finish(head:)``.
    public struct Walk: Sendable {
        public let verifier: JournalVerifier
        /// Entries checked so far.
        public private(set) var count = 0
        /// The last entry checked (the start while none was).
        public private(set) var last: Head
        private var deviceID: DeviceID?
        private var lastTimestamp: String?

        init(verifier: JournalVerifier, start: Head) {
            self.verifier = verifier
            self.last = start
            deviceID = verifier.deviceID
        }

        /// The fiscal number the next entry must carry.
        public var expectedSeq: UInt64 { last.lastSeq &+ 1 }

        /// Checks the next entries; throws the first failure among them (the lowest seq).
        public mutating func check(_ entries: [JournalEntry]) throws(Failure) {
            // The chain, in order, up to the first entry that breaks it.
            var state = self
            var chainFailure: Failure?
            var checked = 0
            for entry in entries {
                if let failure = state.checkInOrder(entry) {
                    chainFailure = failure
                    break
                }
                checked += 1
            }
            // The signatures of the entries before that, on every core.
            if let index = verifier.firstBadSignature(entries, upTo: checked) {
                let seq = entries[index].seq.rawValue
                throw Failure(
                    seq: seq,
                    kind: .signature,
                    reason: "auth_code is not the device's signature of this entry"
                )
            }
            if let chainFailure { throw chainFailure }
            self = state
        }

        /// Checks one entry against the one before it (all but its signature); advances on success.
        private mutating func checkInOrder(_ entry: JournalEntry) -> Failure? {
            let expected = expectedSeq
            guard entry.seq.rawValue == expected else {
                return Failure(
                    seq: expected,
                    kind: .sequence,
                    reason:
                        "expected seq \(expected), found \(entry.seq): an entry is missing, repeated or out of order"
                )
            }
            if let deviceID, entry.deviceID != deviceID {
                return Failure(
                    seq: expected,
                    kind: .device,
                    reason: "the entry names device \(entry.deviceID), the journal is \(deviceID)'s"
                )
            }
            guard entry.previousHash == last.lastHash else {
                return Failure(seq: expected, kind: .chain, reason: "previous_hash does not match the entry before it")
            }
            guard entry.computedEntryHash == entry.entryHash else {
                return Failure(seq: expected, kind: .hash, reason: "entry_hash does not match the entry's content")
            }
            guard Self.isDeviceTimestamp(entry.deviceTimestamp) else {
                return Failure(
                    seq: expected,
                    kind: .clock,
                    reason: "device_timestamp is not a device time (yyyy-MM-ddTHH:mm:ss.SSSZ)"
                )
            }
            if let lastTimestamp, entry.deviceTimestamp < lastTimestamp {
                return Failure(
                    seq: expected,
                    kind: .clock,
                    reason: "the device clock went back: \(entry.deviceTimestamp) after \(lastTimestamp)"
                )
            }
            deviceID = entry.deviceID
            lastTimestamp = entry.deviceTimestamp
            last = Head(lastSeq: expected, lastHash: entry.entryHash)
            count += 1
            return nil
        }

        /// Checks that the entries end where the device's head says; returns the count checked.
        @discardableResult
        public func finish(head: Head?) throws(Failure) -> Int {
            if let head {
                guard head.lastSeq == last.lastSeq else {
                    throw Failure(
                        seq: min(last.lastSeq, head.lastSeq) &+ 1,
                        kind: .head,
                        reason:
                            "the device's counter says the journal ends at \(head.lastSeq), the entries end at \(last.lastSeq)"
                    )
                }
                guard head.lastHash == last.lastHash else {
                    throw Failure(
                        seq: last.lastSeq,
                        kind: .head,
                        reason: "the last entry's hash is not the device's recorded head"
                    )
                }
            }
            return count
        }

        /// The device's timestamp shape, fixed width (so that text order is time order), and a
        /// real date.
        static func isDeviceTimestamp(_ text: String) -> Bool {
            let bytes = text.utf8
            guard bytes.count == 24, bytes.last == UInt8(ascii: "Z") else { return false }
            let dot = bytes.index(bytes.startIndex, offsetBy: 19)
            guard bytes[dot] == UInt8(ascii: ".") else { return false }
            return DeviceTimestamp.parse(text) != nil
        }
    }

    /// A walk from `start` (genesis by default; the entry before the first one of a partial
    /// export otherwise).
    public func walk(startingAfter start: Head = .genesis) -> Walk {
        Walk(verifier: self, start: start)
    }

    /// Returns the number of entries checked, or throws the first failure.
    ///
    /// `entries` must start at seq 1 unless `startingAfter` gives the entry before the first
    /// one (seq and hash), as for a partial export.
    @discardableResult
    public func verify(
        _ entries: [JournalEntry],
        startingAfter start: Head = .genesis,
        head: Head? = nil
    ) throws(Failure) -> Int {
        var walk = walk(startingAfter: start)
        try walk.check(entries)
        return try walk.finish(head: head)
    }

    /// The index of the first entry among `entries[..<end]` whose signature is not the device's.
    func firstBadSignature(_ entries: [JournalEntry], upTo end: Int) -> Int? {
        let key = publicKey
        let workers = end >= 64 ? min(Self.cores, end / 32) : 1
        guard workers > 1 else {
            return entries[..<end].firstIndex { !$0.hasValidSignature(key) }
        }
        // Each worker takes every `workers`-th entry; the lowest bad index wins.
        let lowest = Mutex<Int?>(nil)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for index in stride(from: worker, to: end, by: workers) where !entries[index].hasValidSignature(key) {
                lowest.withLock { $0 = min($0 ?? index, index) }
                return
            }
        }
        return lowest.withLock { $0 }
    }

    private static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
}
