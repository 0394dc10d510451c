public import FiscalCore
public import Foundation

/// Typed DEF commands over any ``FiscalDeviceLink``, each with its own timeout.
///
/// An `ERR` reply is thrown as a ``FiscalError`` carrying the device's code, message and
/// violations; transport problems are thrown with the link codes.
public struct FiscalDeviceClient: Sendable {
    /// Per-command timeouts.
    public struct Configuration: Sendable, Hashable {
        public var prepareTimeout: Duration = .seconds(2)
        /// After it, the COMMIT is in doubt and looked up in the journal: inside a terminal's 10 s.
        public var commitTimeout: Duration = .seconds(3)
        public var queryTimeout: Duration = .seconds(1)
        public var reportTimeout: Duration = .seconds(15)
        public var adminTimeout: Duration = .seconds(30)
        public init() {}

        func timeout(for command: DeviceCommand) -> Duration {
            switch command {
            case .prepare: prepareTimeout
            case .commit: commitTimeout
            case .status, .log: queryTimeout
            case .reportZ, .reportX, .reportA: reportTimeout
            case .dumpLog, .reset, .setTime, .initialize: adminTimeout
            }
        }
    }

    public let link: any FiscalDeviceLink
    public var configuration: Configuration

    public init(link: any FiscalDeviceLink, configuration: Configuration = Configuration()) {
        self.link = link
        self.configuration = configuration
    }

    /// `TXN|PREPARE`: asks the device to validate the invoice and hold a nonce for it.
    public func prepare(_ invoice: Invoice) async throws(FiscalError) -> DeviceReply.Prepared {
        try await send(DeviceRequest(.prepare, body: invoice.canonicalJSON()))
    }

    /// `TXN|COMMIT`: seals the prepared invoice; the counter moves only here.
    public func commit(_ nonce: Nonce) async throws(FiscalError) -> DeviceReply.Sealed {
        try await send(DeviceRequest(.commit, body: Self.object(["nonce": nonce.rawValue])))
    }

    public func status() async throws(FiscalError) -> DeviceReply.Status {
        try await send(DeviceRequest(.status))
    }

    /// `QRY|LOG <seq>`: the journal entry with that fiscal number (`NOT_FOUND` if none).
    public func log(_ seq: InvoiceSeq) async throws(FiscalError) -> DeviceReply.Sealed {
        try await send(DeviceRequest(.log, argument: String(seq.rawValue)))
    }

    public func report(_ kind: DeviceReport.Kind) async throws(FiscalError) -> DeviceReport {
        let command: DeviceCommand =
            switch kind {
            case .z: .reportZ
            case .x: .reportX
            case .a: .reportA
            }
        return try await send(DeviceRequest(command))
    }

    /// `ADM|DUMPLOG`: up to `limit` entries from seq `from`.
    public func dumpLog(from: UInt64 = 1, limit: Int = 500) async throws(FiscalError) -> DeviceReply.DumpLog {
        try await send(DeviceRequest(.dumpLog, body: Array(#"{"from":\#(from),"limit":\#(limit)}"#.utf8)))
    }

    /// Every journal entry, page by page.
    public func dumpEntireLog() async throws(FiscalError) -> DeviceReply.DumpLog {
        var page = try await dumpLog()
        var entries = page.entries
        while let next = page.next {
            page = try await dumpLog(from: next)
            entries += page.entries
        }
        page.entries = entries
        page.next = nil
        return page
    }

    public func reset(token: String) async throws(FiscalError) -> DeviceReply.ResetDone {
        try await send(DeviceRequest(.reset, body: Self.object(["token": token])))
    }

    public func setTime(_ date: Date) async throws(FiscalError) -> DeviceReply.TimeSet {
        try await send(DeviceRequest(.setTime, body: Self.object(["time": DeviceTimestamp.format(date)])))
    }

    /// `CFG|INIT`: gives the device its id and key pair. `resetToken` is the DGI authorization
    /// that `ADM|RESET` will demand.
    public func initialize(deviceID: DeviceID?, resetToken: String) async throws(FiscalError) -> DeviceReply.Initialized
    {
        var fields = ["reset_token": resetToken]
        if let deviceID { fields["device_id"] = deviceID.rawValue }
        return try await send(DeviceRequest(.initialize, body: Self.object(fields)))
    }

    /// Sends a request and decodes the OK body as `Reply`.
    public func send<Reply: Decodable>(_ request: DeviceRequest) async throws(FiscalError) -> Reply {
        let payload = try await link.exchange(request, timeout: configuration.timeout(for: request.command))
        return try Self.decodeReply(payload, for: request.command)
    }

    /// Decodes a reply payload in one pass: an OK body as `Reply`, an ERR as a thrown
    /// ``FiscalError``.
    public static func decodeReply<Reply: Decodable>(
        _ payload: [UInt8],
        for command: DeviceCommand
    ) throws(FiscalError) -> Reply {
        let outcome: StatusWrapped<Reply>
        do {
            outcome = try JSONDecoder().decode(StatusWrapped<Reply>.self, from: Data(payload))
        } catch let error as DecodingError {
            throw FiscalError(
                .replyInvalid,
                "the reply to \(command.rawValue) is malformed: \(error.fiscalDescription)"
            )
        } catch {
            throw FiscalError(.replyInvalid, "the reply to \(command.rawValue) is malformed: \(error)")
        }
        switch outcome {
        case .ok(let reply): return reply
        case .error(let envelope):
            throw FiscalError(
                envelope.code ?? .replyInvalid,
                // An empty message says nothing to an operator: name the command instead.
                envelope.message.flatMap { $0.isEmpty ? nil : $0 } ?? "the device refused \(command.rawValue)",
                violations: envelope.violations ?? []
            )
        }
    }

    /// A reply read by its `status` first, then as `Reply` (OK) or as the error envelope.
    private enum StatusWrapped<Reply: Decodable>: Decodable {
        case ok(Reply)
        case error(DeviceReply.Envelope)

        enum Keys: String, CodingKey { case status }

        init(from decoder: any Decoder) throws {
            let status = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .status)
            self = status == "OK" ? .ok(try Reply(from: decoder)) : .error(try DeviceReply.Envelope(from: decoder))
        }
    }

    private static func object(_ fields: [String: String]) -> [UInt8] {
        var json = CanonicalJSON()
        json.beginObject()
        for key in fields.keys.sorted() { json.field(key, fields[key]!) }
        json.endObject()
        return json.bytes
    }
}
