extension CloudProtocol {
    /// `POST /v1/outlets/{outlet_id}/reports` takes a JSON array of these (docs/CLOUD_API.md,
    /// "Reports"): a stored report exactly as stored. `body` is the stored JSON text, sent as a
    /// string so the cloud rechecks `hash == SHA-256(body)` byte for byte.
    public struct ReportItem: Codable, Sendable, Hashable {
        public var number: String
        public var hash: String
        public var body: String

        public init(number: String, hash: String, body: String) {
            self.number = number
            self.hash = hash
            self.body = body
        }
    }

    /// What the cloud did with one report, in the batch's order.
    public struct ReportResult: Codable, Sendable, Hashable {
        public var number: String
        /// `accepted`, `duplicate` (an identical report it already holds), `rejected` (`code`,
        /// `reason`), or `skipped` (a later report of a chain whose earlier one was rejected in
        /// this batch).
        public var status: Outcome
        public var code: String?
        public var reason: String?

        public init(number: String, status: Outcome, code: String? = nil, reason: String? = nil) {
            self.number = number
            self.status = status
            self.code = code
            self.reason = reason
        }
    }

    /// The 2xx answer to a batch of reports.
    public struct ReportResponse: Codable, Sendable {
        public var results: [ReportResult]
        public init(results: [ReportResult]) { self.results = results }
    }

    /// One held report, as `GET /v1/outlets/{outlet_id}/reports` lists it (per chain, by
    /// sequence).
    public struct HeldReport: Codable, Sendable, Hashable {
        public var number: String
        public var kind: String
        public var terminal: String?
        public var sequence: Int64
        public var hash: String
        public var receivedAt: String

        public init(number: String, kind: String, terminal: String?, sequence: Int64, hash: String, receivedAt: String)
        {
            self.number = number
            self.kind = kind
            self.terminal = terminal
            self.sequence = sequence
            self.hash = hash
            self.receivedAt = receivedAt
        }

        enum CodingKeys: String, CodingKey {
            case number, kind, terminal, sequence, hash
            case receivedAt = "received_at"
        }
    }
}

extension CloudProtocol.Code {
    /// SHA-256 of a report's `body` is not its `hash`.
    public static let reportHashMismatch = "REPORT_HASH_MISMATCH"
    /// The cloud holds another report under this number (a different hash).
    public static let reportConflict = "REPORT_CONFLICT"
}
