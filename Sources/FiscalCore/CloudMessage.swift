/// The cloud ingest protocol (docs/CLOUD_API.md), version 1: how a mediator hands sealed
/// invoices to the cloud, in device order, exactly once.
public enum CloudProtocol {
    /// The idempotency key of a sealed invoice: its device and fiscal number. The cloud answers
    /// the same key with the same receipt, however often it is sent.
    public static func idempotencyKey(deviceID: DeviceID, seq: InvoiceSeq) -> String {
        "\(deviceID.rawValue):\(seq.rawValue)"
    }

    /// `POST /v1/outlets/{outlet_id}/invoices`: up to N items, in fiscal-number order.
    public struct Batch: Codable, Sendable {
        public var outletID: String
        public var items: [Item]
        public init(outletID: String, items: [Item]) {
            self.outletID = outletID
            self.items = items
        }
        enum CodingKeys: String, CodingKey {
            case outletID = "outlet_id"
            case items
        }
    }

    /// One sealed invoice: the device's journal entry (signed, hash-chained) and the canonical
    /// invoice it seals, with who sold it.
    public struct Item: Codable, Sendable, Hashable {
        public var idempotencyKey: String
        public var entry: JournalEntry
        /// The canonical invoice JSON, as text: SHA-256 of its UTF-8 bytes is the entry's
        /// `payload_digest`. Empty when the mediator never had the payload (an entry adopted
        /// from the device journal after a host power loss).
        public var invoice: String
        public var posTerminalID: String
        public var cashierID: String
        public var laneNumber: Int?
        public var requestID: String
        public var sealedAt: String

        public init(
            entry: JournalEntry,
            invoice: String,
            posTerminalID: String,
            cashierID: String,
            laneNumber: Int?,
            requestID: String,
            sealedAt: String
        ) {
            self.idempotencyKey = CloudProtocol.idempotencyKey(deviceID: entry.deviceID, seq: entry.seq)
            self.entry = entry
            self.invoice = invoice
            self.posTerminalID = posTerminalID
            self.cashierID = cashierID
            self.laneNumber = laneNumber
            self.requestID = requestID
            self.sealedAt = sealedAt
        }

        enum CodingKeys: String, CodingKey {
            case idempotencyKey = "idempotency_key"
            case entry, invoice
            case posTerminalID = "pos_terminal_id"
            case cashierID = "cashier_id"
            case laneNumber = "lane_number"
            case requestID = "request_id"
            case sealedAt = "sealed_at"
        }
    }

    /// What the cloud did with each item, in the batch's order.
    public enum Outcome: String, Codable, Sendable {
        /// Stored now.
        case accepted
        /// Stored before (same idempotency key); the original receipt is repeated.
        case duplicate
        /// Refused (`code`, `reason`); the cloud processes nothing after it in this batch.
        case rejected
        /// Not looked at, because an earlier item was rejected.
        case skipped
    }

    public struct Result: Codable, Sendable, Hashable {
        public var idempotencyKey: String
        public var status: Outcome
        /// The cloud's id for the stored invoice (accepted, duplicate).
        public var receipt: String?
        public var code: String?
        public var reason: String?

        public init(
            idempotencyKey: String,
            status: Outcome,
            receipt: String? = nil,
            code: String? = nil,
            reason: String? = nil
        ) {
            self.idempotencyKey = idempotencyKey
            self.status = status
            self.receipt = receipt
            self.code = code
            self.reason = reason
        }

        enum CodingKeys: String, CodingKey {
            case idempotencyKey = "idempotency_key"
            case status, receipt, code, reason
        }
    }

    /// The 200 answer to a batch.
    public struct Response: Codable, Sendable {
        public var results: [Result]
        public init(results: [Result]) { self.results = results }
    }

    /// The body of any non-200 answer.
    public struct ErrorBody: Codable, Sendable {
        public var code: String
        public var message: String
        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    /// Rejection codes (`Result.code`) and error-body codes.
    public enum Code {
        public static let orderGap = "ORDER_GAP"
        public static let chainBroken = "CHAIN_BROKEN"
        public static let digestMismatch = "PAYLOAD_DIGEST_MISMATCH"
        public static let outletMismatch = "OUTLET_MISMATCH"
        public static let rejectedByRule = "REJECTED"
        public static let unauthorized = "UNAUTHORIZED"
        public static let badRequest = "BAD_REQUEST"
        public static let unavailable = "UNAVAILABLE"
    }
}
