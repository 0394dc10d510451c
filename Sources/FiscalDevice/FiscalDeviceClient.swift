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
            case .zReport: reportTimeout
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

    /// `QRY|ZREPORT <n>`: Z report number `number` exactly as `RPT|Z` returned it, read back from
    /// the device's memory (`NOT_FOUND` if it has none). The mediator asks it when an `RPT|Z`'s
    /// reply was lost; a DEF without this emulator's extension answers `UNKNOWN_COMMAND`.
    public func storedZReport(_ number: UInt64) async throws(FiscalError) -> DeviceReport {
        try await send(DeviceRequest(.zReport, argument: String(number)))
    }

    /// `ADM|DUMPLOG`: up to `limit` entries from seq `from` (the device may answer fewer: as
    /// many as fit one frame, with `next` saying where to continue).
    public func dumpLog(
        from: UInt64 = 1,
        limit: Int = DumpLogPager.initialLimit()
    ) async throws(FiscalError)
        -> DeviceReply.DumpLog
    {
        try await send(DeviceRequest(.dumpLog, body: Array(#"{"from":\#(from),"limit":\#(limit)}"#.utf8)))
    }

    /// The next page of a walk through the journal, or nil when the walk reached the head. A
    /// page that does not arrive whole is asked for again with half as many entries.
    public func nextLogPage(_ pager: inout DumpLogPager) async throws(FiscalError) -> DeviceReply.DumpLog? {
        while case .ask(let from, let limit) = pager.next {
            do {
                let page = try await dumpLog(from: from, limit: limit)
                try pager.received(page)
                return page
            } catch {
                try pager.failed(error)
            }
        }
        return nil
    }

    /// Walks the journal from `from` to the head, page by page, handing each page to `body`:
    /// memory stays flat whatever the journal's size. Returns the finished pager (its page
    /// count and halvings).
    @discardableResult
    public func forEachLogPage(
        from: UInt64 = 1,
        _ body: (DeviceReply.DumpLog) async throws -> Void
    ) async throws -> DumpLogPager {
        var pager = DumpLogPager(from: from)
        while let page = try await nextLogPage(&pager) { try await body(page) }
        return pager
    }

    /// Every journal entry, page by page, in one value (the last page's head): for journals
    /// that fit in memory. ``forEachLogPage(from:_:)`` streams instead.
    public func dumpEntireLog() async throws(FiscalError) -> DeviceReply.DumpLog {
        var pager = DumpLogPager()
        var entries: [JournalEntry] = []
        var last: DeviceReply.DumpLog?
        while let page = try await nextLogPage(&pager) {
            entries += page.entries
            last = page
        }
        guard var whole = last else { throw FiscalError(.replyInvalid, "ADM|DUMPLOG returned no page") }
        whole.entries = entries
        whole.next = nil
        return whole
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
