public import FiscalCore

/// The typed bodies of the device's OK replies. Every reply is a JSON object with
/// `"status": "OK"` or `"status": "ERR"`; an ERR carries `code`, `message` and, for
/// `SCHEMA_INVALID`, `violations`.
public enum DeviceReply {
    /// The envelope every reply shares.
    public struct Envelope: Decodable, Sendable {
        public var status: String
        public var code: ErrorCode?
        public var message: String?
        public var violations: [Violation]?
    }

    /// `TXN|PREPARE`: the nonce that COMMIT must carry.
    public struct Prepared: Codable, Hashable, Sendable {
        public var nonce: Nonce
        public var payloadDigest: String
        /// The next fiscal number the device would give, if this is committed next.
        public var nextInvoiceSeq: InvoiceSeq
        public var ttlMs: Int
        public var expiresAt: String

        public init(nonce: Nonce, payloadDigest: String, nextInvoiceSeq: InvoiceSeq, ttlMs: Int, expiresAt: String) {
            self.nonce = nonce
            self.payloadDigest = payloadDigest
            self.nextInvoiceSeq = nextInvoiceSeq
            self.ttlMs = ttlMs
            self.expiresAt = expiresAt
        }

        enum CodingKeys: String, CodingKey {
            case nonce
            case payloadDigest = "payload_digest"
            case nextInvoiceSeq = "next_invoice_seq"
            case ttlMs = "ttl_ms"
            case expiresAt = "expires_at"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            nonce = try c.decode(Nonce.self, forKey: .nonce)
            payloadDigest = try c.decode(String.self, forKey: .payloadDigest)
            nextInvoiceSeq = try c.decode(InvoiceSeq.self, forKey: .nextInvoiceSeq)
            ttlMs = try c.decode(Int.self, forKey: .ttlMs, in: WireRange.milliseconds)
            expiresAt = try c.decode(String.self, forKey: .expiresAt)
        }
    }

    /// `TXN|COMMIT` and `QRY|LOG`: the sealed journal entry and its security elements.
    public struct Sealed: Codable, Hashable, Sendable {
        public var securityElements: SecurityElements
        public var entry: JournalEntry

        public init(entry: JournalEntry) {
            self.entry = entry
            securityElements = entry.securityElements
        }

        enum CodingKeys: String, CodingKey {
            case securityElements = "security_elements"
            case entry
        }
    }

    /// `QRY|STATUS`.
    public struct Status: Codable, Hashable, Sendable {
        public var deviceID: DeviceID?
        public var initialized: Bool
        public var emulated: Bool
        public var firmware: String
        public var revoked: Bool
        /// The fiscal number the next COMMIT will take.
        public var nextInvoiceSeq: InvoiceSeq
        /// The last sealed entry's hash (the journal head), genesis when empty.
        public var lastEntryHash: String
        public var journalEntries: UInt64
        public var capacity: UInt64
        public var zCount: UInt64
        public var deviceTime: String
        public var preparePending: Bool
        public var publicKey: String?

        enum CodingKeys: String, CodingKey {
            case deviceID = "device_id"
            case initialized, emulated, firmware, revoked
            case nextInvoiceSeq = "next_invoice_seq"
            case lastEntryHash = "last_entry_hash"
            case journalEntries = "journal_entries"
            case capacity
            case zCount = "z_count"
            case deviceTime = "device_time"
            case preparePending = "prepare_pending"
            case publicKey = "public_key"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            deviceID = try c.decodeIfPresent(DeviceID.self, forKey: .deviceID)
            initialized = try c.decode(Bool.self, forKey: .initialized)
            emulated = try c.decode(Bool.self, forKey: .emulated)
            firmware = try c.decode(String.self, forKey: .firmware)
            revoked = try c.decode(Bool.self, forKey: .revoked)
            nextInvoiceSeq = try c.decode(InvoiceSeq.self, forKey: .nextInvoiceSeq)
            lastEntryHash = try c.decode(String.self, forKey: .lastEntryHash)
            journalEntries = try c.decode(UInt64.self, forKey: .journalEntries, in: WireRange.counter)
            capacity = try c.decode(UInt64.self, forKey: .capacity, in: WireRange.counter)
            zCount = try c.decode(UInt64.self, forKey: .zCount, in: WireRange.counter)
            deviceTime = try c.decode(String.self, forKey: .deviceTime)
            preparePending = try c.decode(Bool.self, forKey: .preparePending)
            publicKey = try c.decodeIfPresent(String.self, forKey: .publicKey)
        }

        public init(
            deviceID: DeviceID?,
            initialized: Bool,
            emulated: Bool,
            firmware: String,
            revoked: Bool,
            nextInvoiceSeq: InvoiceSeq,
            lastEntryHash: String,
            journalEntries: UInt64,
            capacity: UInt64,
            zCount: UInt64,
            deviceTime: String,
            preparePending: Bool,
            publicKey: String?
        ) {
            self.deviceID = deviceID
            self.initialized = initialized
            self.emulated = emulated
            self.firmware = firmware
            self.revoked = revoked
            self.nextInvoiceSeq = nextInvoiceSeq
            self.lastEntryHash = lastEntryHash
            self.journalEntries = journalEntries
            self.capacity = capacity
            self.zCount = zCount
            self.deviceTime = deviceTime
            self.preparePending = preparePending
            self.publicKey = publicKey
        }
    }

    /// `ADM|DUMPLOG`: one page of the journal, and the device's signed head.
    public struct DumpLog: Codable, Hashable, Sendable {
        public var deviceID: DeviceID
        /// Hex of the device's Ed25519 public key.
        public var publicKey: String
        public var entries: [JournalEntry]
        /// The last seq the device has sealed, for checking that nothing was cut off.
        public var headSeq: UInt64
        public var headHash: String
        /// The device's signature of `head_seq|head_hash`, base64url.
        public var headSignature: String
        /// The `from` to ask for next, or null when this page reaches the head.
        public var next: UInt64?

        public init(
            deviceID: DeviceID,
            publicKey: String,
            entries: [JournalEntry],
            headSeq: UInt64,
            headHash: String,
            headSignature: String,
            next: UInt64?
        ) {
            self.deviceID = deviceID
            self.publicKey = publicKey
            self.entries = entries
            self.headSeq = headSeq
            self.headHash = headHash
            self.headSignature = headSignature
            self.next = next
        }

        enum CodingKeys: String, CodingKey {
            case deviceID = "device_id"
            case publicKey = "public_key"
            case entries
            case headSeq = "head_seq"
            case headHash = "head_hash"
            case headSignature = "head_signature"
            case next
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            deviceID = try c.decode(DeviceID.self, forKey: .deviceID)
            publicKey = try c.decode(String.self, forKey: .publicKey)
            entries = try c.decode([JournalEntry].self, forKey: .entries)
            headSeq = try c.decode(UInt64.self, forKey: .headSeq, in: WireRange.counter)
            headHash = try c.decode(String.self, forKey: .headHash)
            headSignature = try c.decode(String.self, forKey: .headSignature)
            next = try c.decodeIfPresent(InvoiceSeq.self, forKey: .next)?.rawValue
        }

        /// The bytes of the head the device signs.
        public static func headSigningInput(deviceID: DeviceID, seq: UInt64, hash: String) -> [UInt8] {
            Array("DEF-HEAD-1|\(deviceID)|\(seq)|\(hash)".utf8)
        }
    }

    /// `CFG|INIT`: the new identity.
    public struct Initialized: Codable, Hashable, Sendable {
        public var deviceID: DeviceID
        public var publicKey: String

        public init(deviceID: DeviceID, publicKey: String) {
            self.deviceID = deviceID
            self.publicKey = publicKey
        }

        enum CodingKeys: String, CodingKey {
            case deviceID = "device_id"
            case publicKey = "public_key"
        }
    }

    /// `CFG|TIME`.
    public struct TimeSet: Codable, Hashable, Sendable {
        public var deviceTime: String
        public init(deviceTime: String) { self.deviceTime = deviceTime }
        enum CodingKeys: String, CodingKey { case deviceTime = "device_time" }
    }

    /// `ADM|RESET`.
    public struct ResetDone: Codable, Hashable, Sendable {
        public var erasedEntries: UInt64
        public init(erasedEntries: UInt64) { self.erasedEntries = erasedEntries }
        enum CodingKeys: String, CodingKey { case erasedEntries = "erased_entries" }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            erasedEntries = try c.decode(UInt64.self, forKey: .erasedEntries, in: WireRange.counter)
        }
    }
}
