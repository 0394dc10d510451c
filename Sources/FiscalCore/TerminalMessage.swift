/// The terminal protocol's messages (docs/PROTOCOL.md), version 1.
///
/// Every message is one ZeroMQ frame holding one UTF-8 JSON object. Requests carry `v`,
/// `type` and a `msg_id` the terminal chooses; the reply echoes `type` and `msg_id` and says
/// `status: "OK"` or `"ERR"`. Events from the mediator have `type: "EVENT"`.
public enum TerminalProtocol {
    public static let version = 1

    /// Request and reply types.
    public enum MessageType: String, Codable, Sendable, CaseIterable {
        case hello = "HELLO"
        case prepare = "PREPARE"
        case commit = "COMMIT"
        case abort = "ABORT"
        case fiscalize = "FISCALIZE"
        case result = "RESULT"
        case log = "LOG"
        case status = "STATUS"
        case ping = "PING"
        case login = "LOGIN"
        case logout = "LOGOUT"
        case heartbeat = "HEARTBEAT"
        case openPeriod = "OPEN_PERIOD"
        case cashEvent = "CASH_EVENT"
        case reportX = "REPORT_X"
        case closePeriod = "CLOSE_PERIOD"
        case event = "EVENT"
    }

    /// Events the mediator pushes.
    public enum EventKind: String, Codable, Sendable {
        /// A PREPARE or FISCALIZE waits behind others: `position` (1 = next).
        case queued = "QUEUED"
        /// A queued PREPARE got the device; its reply follows.
        case lockGranted = "LOCK_GRANTED"
        /// The lock holder's lease ran out; its request is aborted (`code: NONCE_EXPIRED`).
        case leaseExpired = "LEASE_EXPIRED"
        /// The device refuses to seal (`code`): halt checkouts.
        case deviceAlert = "DEVICE_ALERT"
        /// The device seals again after an alert.
        case deviceRecovered = "DEVICE_RECOVERED"
    }
}

/// A message from a terminal: the envelope (`v`, `type`, `msg_id`, and an optional
/// `terminal_id`) and one typed body per message type, decoded in one place.
///
/// The JSON on the wire is flat (docs/PROTOCOL.md): the body's fields sit beside the envelope's.
/// A field a type requires that is missing, of the wrong type or out of range is a decoding
/// error naming its JSON path (`$.request_id`, `$.invoice.items[1].quantity`, ...).
public struct TerminalRequest: Codable, Sendable {
    public var v: Int
    public var msgID: String?
    /// Any message may name its terminal; it must then be the sender's.
    public var terminalID: String?
    public var body: Body

    /// One case per request type, with what that type carries.
    public enum Body: Sendable {
        case hello(Hello)
        case login(Login)
        case logout
        case heartbeat(Heartbeat)
        case fiscalize(Sale)
        case prepare(Sale)
        case commit(Commit)
        case abort(RequestRef)
        case result(RequestRef)
        case log(Log)
        case status
        case ping
        case openPeriod(OpenPeriod)
        case cashEvent(CashEvent)
        case reportX(ReportX)
        case closePeriod(ClosePeriod)
    }

    /// REPORT_X: the X report of the terminal's open period, or of one cashier in it. A preview
    /// (the default) is free and unnumbered; `preview: false` takes a numbered one, by `taken_by`.
    public struct ReportX: Codable, Sendable, Hashable {
        public var preview: Bool
        public var cashierID: String?
        public var takenBy: String?
        public init(preview: Bool = true, cashierID: String? = nil, takenBy: String? = nil) {
            self.preview = preview
            self.cashierID = cashierID
            self.takenBy = takenBy
        }
        enum CodingKeys: String, CodingKey {
            case preview
            case cashierID = "cashier_id"
            case takenBy = "taken_by"
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            preview = try c.decodeIfPresent(Bool.self, forKey: .preview) ?? true
            cashierID = try c.decodeIfPresent(String.self, forKey: .cashierID)
            takenBy = try c.decodeIfPresent(String.self, forKey: .takenBy)
        }
    }

    /// CLOSE_PERIOD: the Z report. `preview: true` answers the Z it would take and changes
    /// nothing; otherwise, with the cash count by denomination per currency, it takes the Z and
    /// closes the work period.
    public struct ClosePeriod: Codable, Sendable, Hashable {
        public var preview: Bool
        /// Staff id with the supervisor or manager role.
        public var closedBy: String
        /// Currency → denomination (decimal text) → pieces.
        public var count: [String: [String: Int64]]?
        public var explanation: String?
        public init(
            preview: Bool = false,
            closedBy: String,
            count: [String: [String: Int64]]? = nil,
            explanation: String? = nil
        ) {
            self.preview = preview
            self.closedBy = closedBy
            self.count = count
            self.explanation = explanation
        }
        enum CodingKeys: String, CodingKey {
            case preview
            case closedBy = "closed_by"
            case count, explanation
        }

        /// The count, each number held to `Int64` at its own path (`$.count.CDF.500`), so a
        /// count of 1e30 is named where it is rather than reported as the whole message.
        static func decodeCount(_ c: KeyedDecodingContainer<CodingKeys>) throws -> [String: [String: Int64]]? {
            guard c.contains(.count), try !c.decodeNil(forKey: .count) else { return nil }
            let currencies = try c.nestedContainer(keyedBy: TextKey.self, forKey: .count)
            var count: [String: [String: Int64]] = [:]
            for currency in currencies.allKeys {
                let pieces = try currencies.nestedContainer(keyedBy: TextKey.self, forKey: currency)
                var lines: [String: Int64] = [:]
                for denomination in pieces.allKeys {
                    lines[denomination.stringValue] = try pieces.decode(
                        Int64.self,
                        forKey: denomination,
                        in: -Int64.max...Int64.max
                    )
                }
                count[currency.stringValue] = lines
            }
            return count
        }

        struct TextKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            preview = try c.decodeIfPresent(Bool.self, forKey: .preview) ?? false
            closedBy = try c.decodeText(forKey: .closedBy, length: StaffIDRule.length)
            count = try Self.decodeCount(c)
            explanation = try c.decodeIfPresent(String.self, forKey: .explanation)
        }
    }

    /// OPEN_PERIOD: opens the terminal's work period with a float per currency.
    public struct OpenPeriod: Codable, Sendable, Hashable {
        public var openingFloat: CurrencyAmounts
        /// The staff id who opens it (checked against the staff registry when it is in use).
        public var openedBy: String
        public init(openingFloat: CurrencyAmounts, openedBy: String) {
            self.openingFloat = openingFloat
            self.openedBy = openedBy
        }
        enum CodingKeys: String, CodingKey {
            case openingFloat = "opening_float"
            case openedBy = "opened_by"
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            openingFloat = try c.decode(CurrencyAmounts.self, forKey: .openingFloat)
            openedBy = try c.decodeText(forKey: .openedBy, length: StaffIDRule.length)
        }
    }

    /// HELLO: who is at the terminal and on which machine.
    public struct Hello: Codable, Sendable, Hashable {
        /// The machine's identifier (a MAC address or a GUID, spec §4.1.5).
        public var machineID: String?
        public var cashierID: String?
        public var appVersion: String?
        public init(machineID: String? = nil, cashierID: String? = nil, appVersion: String? = nil) {
            self.machineID = machineID
            self.cashierID = cashierID
            self.appVersion = appVersion
        }
        enum CodingKeys: String, CodingKey {
            case machineID = "machine_id"
            case cashierID = "cashier_id"
            case appVersion = "app_version"
        }
    }

    /// LOGIN: the cashier who takes the terminal.
    public struct Login: Codable, Sendable, Hashable {
        public var cashierID: String
        public init(cashierID: String) { self.cashierID = cashierID }
        enum CodingKeys: String, CodingKey { case cashierID = "cashier_id" }
    }

    /// HEARTBEAT: the terminal's own view of its health.
    public struct Heartbeat: Codable, Sendable, Hashable {
        public var health: TerminalHealth
        public var cashierID: String?
        public var appVersion: String?
        public init(health: TerminalHealth, cashierID: String? = nil, appVersion: String? = nil) {
            self.health = health
            self.cashierID = cashierID
            self.appVersion = appVersion
        }
        enum CodingKeys: String, CodingKey {
            case health
            case cashierID = "cashier_id"
            case appVersion = "app_version"
        }
    }

    /// FISCALIZE and PREPARE: the sale's request id, its invoice, and optionally its context
    /// (discounts, tender, change) beside the invoice, never inside it.
    public struct Sale: Codable, Sendable {
        public var requestID: RequestID
        public var invoice: Invoice
        public var context: SaleContext?
        public init(requestID: RequestID, invoice: Invoice, context: SaleContext? = nil) {
            self.requestID = requestID
            self.invoice = invoice
            self.context = context
        }
        enum CodingKeys: String, CodingKey {
            case requestID = "request_id"
            case invoice
            case context = "sale"
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            requestID = try c.decodeRequestID(forKey: .requestID)
            invoice = try c.decode(Invoice.self, forKey: .invoice)
            context = try c.decodeIfPresent(SaleContext.self, forKey: .context)
        }
    }

    /// COMMIT: the request and the nonce its PREPARE returned.
    public struct Commit: Codable, Sendable, Hashable {
        public var requestID: RequestID
        public var nonce: Nonce
        public init(requestID: RequestID, nonce: Nonce) {
            self.requestID = requestID
            self.nonce = nonce
        }
        enum CodingKeys: String, CodingKey {
            case requestID = "request_id"
            case nonce
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            requestID = try c.decodeRequestID(forKey: .requestID)
            nonce = Nonce(try c.decodeText(forKey: .nonce, length: 1...128))
        }
    }

    /// ABORT and RESULT: which request.
    public struct RequestRef: Codable, Sendable, Hashable {
        public var requestID: RequestID
        public init(requestID: RequestID) { self.requestID = requestID }
        enum CodingKeys: String, CodingKey { case requestID = "request_id" }
        public init(from decoder: any Decoder) throws {
            requestID = try decoder.container(keyedBy: CodingKeys.self).decodeRequestID(forKey: .requestID)
        }
    }

    /// LOG: which sealed invoice.
    public struct Log: Codable, Sendable, Hashable {
        /// Decoding refuses one outside 1 ... `Int64.max`.
        public var invoiceSeq: InvoiceSeq
        public init(invoiceSeq: InvoiceSeq) { self.invoiceSeq = invoiceSeq }
        enum CodingKeys: String, CodingKey { case invoiceSeq = "invoice_seq" }
    }

    public init(_ body: Body, msgID: String? = nil, terminalID: String? = nil) {
        v = TerminalProtocol.version
        self.body = body
        self.msgID = msgID
        self.terminalID = terminalID
    }

    /// The message type its body stands for.
    public var type: TerminalProtocol.MessageType {
        switch body {
        case .hello: .hello
        case .login: .login
        case .logout: .logout
        case .heartbeat: .heartbeat
        case .fiscalize: .fiscalize
        case .prepare: .prepare
        case .commit: .commit
        case .abort: .abort
        case .result: .result
        case .log: .log
        case .status: .status
        case .ping: .ping
        case .openPeriod: .openPeriod
        case .cashEvent: .cashEvent
        case .reportX: .reportX
        case .closePeriod: .closePeriod
        }
    }

    /// The request its body is about, for the messages that name one.
    public var requestID: RequestID? {
        switch body {
        case .fiscalize(let sale), .prepare(let sale): sale.requestID
        case .commit(let commit): commit.requestID
        case .abort(let reference), .result(let reference): reference.requestID
        case .hello, .login, .logout, .heartbeat, .log, .status, .ping, .openPeriod, .cashEvent, .reportX,
            .closePeriod:
            nil
        }
    }

    enum CodingKeys: String, CodingKey {
        case v, type
        case msgID = "msg_id"
        case terminalID = "terminal_id"
    }

    /// Decodes the envelope, then the body its `type` names, holding every integer to its
    /// range (``WireRange``).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        v = try c.decode(Int.self, forKey: .v, in: WireRange.version)
        msgID = try c.decodeIfPresent(String.self, forKey: .msgID)
        terminalID = try c.decodeIfPresent(String.self, forKey: .terminalID)
        switch try c.decode(TerminalProtocol.MessageType.self, forKey: .type) {
        case .hello: body = .hello(try Hello(from: decoder))
        case .login: body = .login(try Login(from: decoder))
        case .logout: body = .logout
        case .heartbeat: body = .heartbeat(try Heartbeat(from: decoder))
        case .fiscalize: body = .fiscalize(try Sale(from: decoder))
        case .prepare: body = .prepare(try Sale(from: decoder))
        case .commit: body = .commit(try Commit(from: decoder))
        case .abort: body = .abort(try RequestRef(from: decoder))
        case .result: body = .result(try RequestRef(from: decoder))
        case .log: body = .log(try Log(from: decoder))
        case .status: body = .status
        case .ping: body = .ping
        case .openPeriod: body = .openPeriod(try OpenPeriod(from: decoder))
        case .cashEvent: body = .cashEvent(try CashEvent(from: decoder))
        case .reportX: body = .reportX(try ReportX(from: decoder))
        case .closePeriod: body = .closePeriod(try ClosePeriod(from: decoder))
        case .event:
            throw DecodingError.dataCorruptedError(
                forKey: .type,
                in: c,
                debugDescription: "EVENT is sent by the mediator only"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(v, forKey: .v)
        try c.encode(type, forKey: .type)
        try c.encodeIfPresent(msgID, forKey: .msgID)
        try c.encodeIfPresent(terminalID, forKey: .terminalID)
        switch body {
        case .hello(let hello): try hello.encode(to: encoder)
        case .login(let login): try login.encode(to: encoder)
        case .heartbeat(let heartbeat): try heartbeat.encode(to: encoder)
        case .fiscalize(let sale), .prepare(let sale): try sale.encode(to: encoder)
        case .commit(let commit): try commit.encode(to: encoder)
        case .abort(let reference), .result(let reference): try reference.encode(to: encoder)
        case .log(let log): try log.encode(to: encoder)
        case .openPeriod(let open): try open.encode(to: encoder)
        case .cashEvent(let event): try event.encode(to: encoder)
        case .reportX(let report): try report.encode(to: encoder)
        case .closePeriod(let close): try close.encode(to: encoder)
        case .logout, .status, .ping: break
        }
    }
}

extension TerminalRequest {
    /// A request from loose fields, for tests and simple clients; a field its type needs must be
    /// given (a programmer error otherwise). Messages a terminal should never send are made
    /// as raw JSON instead.
    public init(
        type: TerminalProtocol.MessageType,
        msgID: String? = nil,
        terminalID: String? = nil,
        cashierID: String? = nil,
        appVersion: String? = nil,
        machineID: String? = nil,
        requestID: RequestID? = nil,
        nonce: String? = nil,
        invoice: Invoice? = nil,
        invoiceSeq: InvoiceSeq? = nil,
        health: TerminalHealth? = nil
    ) {
        func need<T>(_ value: T?, _ field: String) -> T {
            guard let value else { preconditionFailure("\(type.rawValue) needs \(field)") }
            return value
        }
        let body: Body =
            switch type {
            case .hello: .hello(Hello(machineID: machineID, cashierID: cashierID, appVersion: appVersion))
            case .login: .login(Login(cashierID: need(cashierID, "cashier_id")))
            case .logout: .logout
            case .heartbeat:
                .heartbeat(Heartbeat(health: need(health, "health"), cashierID: cashierID, appVersion: appVersion))
            case .fiscalize:
                .fiscalize(Sale(requestID: need(requestID, "request_id"), invoice: need(invoice, "invoice")))
            case .prepare: .prepare(Sale(requestID: need(requestID, "request_id"), invoice: need(invoice, "invoice")))
            case .commit: .commit(Commit(requestID: need(requestID, "request_id"), nonce: Nonce(need(nonce, "nonce"))))
            case .abort: .abort(RequestRef(requestID: need(requestID, "request_id")))
            case .result: .result(RequestRef(requestID: need(requestID, "request_id")))
            case .log: .log(Log(invoiceSeq: need(invoiceSeq, "invoice_seq")))
            case .status: .status
            case .ping: .ping
            case .openPeriod, .cashEvent, .reportX, .closePeriod:
                preconditionFailure("\(type.rawValue) is made from its body")
            case .event: preconditionFailure("EVENT is sent by the mediator only")
            }
        self.init(body, msgID: msgID, terminalID: terminalID)
    }
}

extension KeyedDecodingContainer {
    /// A request id: 1 to 64 characters, else a decoding error at its path.
    func decodeRequestID(forKey key: Key) throws -> RequestID {
        RequestID(try decodeText(forKey: key, length: 1...64))
    }

    /// A string whose length is in `length`, else a decoding error at its path.
    func decodeText(forKey key: Key, length: ClosedRange<Int>) throws -> String {
        let text = try decode(String.self, forKey: key)
        guard length.contains(text.count) else {
            throw DecodingError.dataCorruptedError(
                forKey: key,
                in: self,
                debugDescription: "must be \(length.lowerBound) to \(length.upperBound) characters"
            )
        }
        return text
    }
}

/// The status fields of a HEARTBEAT (spec §4.8.2): what the terminal knows about its own
/// hardware and session. The mediator adds what it knows itself (connection, cashier, lock).
public struct TerminalHealth: Codable, Sendable, Hashable {
    public var printerAvailable: Bool
    public var drawerAvailable: Bool
    public var workPeriodOpen: Bool
    /// The terminal's own address as it sees it (IPv4 or IPv6).
    public var ipAddress: String?
    /// The round trip the terminal measured for its previous heartbeat, in milliseconds.
    public var latencyMs: Int?

    public init(
        printerAvailable: Bool,
        drawerAvailable: Bool,
        workPeriodOpen: Bool,
        ipAddress: String? = nil,
        latencyMs: Int? = nil
    ) {
        self.printerAvailable = printerAvailable
        self.drawerAvailable = drawerAvailable
        self.workPeriodOpen = workPeriodOpen
        self.ipAddress = ipAddress
        self.latencyMs = latencyMs
    }

    enum CodingKeys: String, CodingKey {
        case printerAvailable = "printer_available"
        case drawerAvailable = "drawer_available"
        case workPeriodOpen = "work_period_open"
        case ipAddress = "ip_address"
        case latencyMs = "latency_ms"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        printerAvailable = try c.decode(Bool.self, forKey: .printerAvailable)
        drawerAvailable = try c.decode(Bool.self, forKey: .drawerAvailable)
        workPeriodOpen = try c.decode(Bool.self, forKey: .workPeriodOpen)
        ipAddress = try c.decodeIfPresent(String.self, forKey: .ipAddress)
        // ``violations()`` holds it to 0 ... 600000, naming $.health.latency_ms.
        latencyMs = try c.decodeIfPresent(Int.self, forKey: .latencyMs, in: WireRange.int)
    }

    /// Every problem with the fields, by JSON path under `$.health` (empty when valid).
    public func violations() -> [Violation] {
        var found: [Violation] = []
        if let ip = ipAddress, !IPAddress.isValid(ip) {
            found.append(
                Violation(
                    code: .formatInvalid,
                    path: "$.health.ip_address",
                    message: "'\(ip)' is not an IPv4 or IPv6 address"
                )
            )
        }
        if let latency = latencyMs, !(0...600_000).contains(latency) {
            found.append(
                Violation(code: .valueOutOfRange, path: "$.health.latency_ms", message: "\(latency) is not 0 to 600000")
            )
        }
        return found
    }
}

/// Textual IP addresses, checked without the C library's resolver.
public enum IPAddress {
    /// Whether `text` is a dotted-quad IPv4 address or an IPv6 address (RFC 4291 text forms).
    public static func isValid(_ text: String) -> Bool {
        isIPv4(Substring(text)) || isIPv6(text)
    }

    static func isIPv4(_ text: Substring) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4
            && parts.allSatisfy { part in
                (1...3).contains(part.count) && part.allSatisfy(\.isASCIIDigit) && (Int(part) ?? 256) <= 255
                    && !(part.count > 1 && part.first == "0")
            }
    }

    static func isIPv6(_ text: String) -> Bool {
        guard text.count <= 45, text.contains(":") else { return false }
        var body = Substring(text)
        var groupsNeeded = 8
        // An embedded IPv4 tail (::ffff:10.0.0.1) stands for two groups.
        if let lastColon = body.lastIndex(of: ":"), body[body.index(after: lastColon)...].contains(".") {
            guard isIPv4(body[body.index(after: lastColon)...]) else { return false }
            body = body[...lastColon]
            if !body.hasSuffix("::") { body = body.dropLast() }
            groupsNeeded = 6
        }
        var halves = [body]
        if let gap = body.firstRange(of: "::") {
            halves = [body[..<gap.lowerBound], body[gap.upperBound...]]
            guard halves[1].firstRange(of: "::") == nil else { return false }
        }
        let groups = halves.map { $0.isEmpty ? [] : $0.split(separator: ":", omittingEmptySubsequences: false) }
        let valid = groups.joined().allSatisfy { group in
            (1...4).contains(group.count) && group.allSatisfy(\.isHexDigit)
        }
        let count = groups.joined().count
        return valid && (halves.count == 2 ? count < groupsNeeded : count == groupsNeeded)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// A reply or an event from the mediator. Fields not relevant to the type are absent.
public struct TerminalReply: Codable, Sendable, Hashable {
    public var v = TerminalProtocol.version
    public var type: TerminalProtocol.MessageType
    public var msgID: String?
    /// `OK` or `ERR` for replies; absent on events.
    public var status: String?
    public var event: TerminalProtocol.EventKind?
    public var code: ErrorCode?
    public var message: String?
    public var violations: [Violation]?
    public var retryAfterMs: Int?
    public var requestID: String?
    public var nonce: String?
    public var leaseMs: Int?
    public var nextInvoiceSeq: UInt64?
    public var securityElements: SecurityElements?
    /// True when the outcome was stored before and is being replayed.
    public var replayed: Bool?
    /// A request's state (RESULT, ABORT).
    public var state: RequestState?
    public var position: Int?
    public var sealed: SealedRecord?
    public var mediator: MediatorInfo?
    public var device: DeviceInfo?
    public var lockHolder: LockHolder?
    public var queueDepth: Int?
    public var inDoubt: Int?
    /// HELLO, LOGIN, LOGOUT: the cashier logged in at the terminal now.
    public var cashierID: String?
    /// HELLO, HEARTBEAT: how often the mediator expects a HEARTBEAT from this terminal.
    public var heartbeatMs: Int?
    /// HELLO: the terminal as the registry knows it.
    public var terminal: TerminalInfo?
    /// OPEN_PERIOD, HELLO: the terminal's open work period.
    public var period: PeriodInfo?
    /// CASH_EVENT: the event as recorded.
    public var cashEvent: CashEventInfo?
    /// REPORT_X, CLOSE_PERIOD: the report record (docs/REPORTS.md), and its 80 mm text.
    public var report: JSONDocument?
    public var reportText: String?

    public init(type: TerminalProtocol.MessageType, msgID: String? = nil, status: String? = "OK") {
        self.type = type
        self.msgID = msgID
        self.status = status
    }

    /// An `ERR` reply.
    public static func error(
        _ type: TerminalProtocol.MessageType,
        msgID: String?,
        _ error: FiscalError,
        retryAfterMs: Int? = nil
    ) -> TerminalReply {
        var reply = TerminalReply(type: type, msgID: msgID, status: "ERR")
        reply.code = error.code
        reply.message = error.message
        reply.violations = error.violations.isEmpty ? nil : error.violations
        reply.retryAfterMs = retryAfterMs
        return reply
    }

    /// An event.
    public static func event(_ kind: TerminalProtocol.EventKind) -> TerminalReply {
        var reply = TerminalReply(type: .event, status: nil)
        reply.event = kind
        return reply
    }

    public var isOK: Bool { status == "OK" }

    /// The error this reply carries, if it is an `ERR`.
    public var fiscalError: FiscalError? {
        guard status == "ERR" else { return nil }
        return FiscalError(code ?? .messageInvalid, message ?? "", violations: violations ?? [])
    }

    enum CodingKeys: String, CodingKey {
        case v, type
        case msgID = "msg_id"
        case status, event, code, message, violations
        case retryAfterMs = "retry_after_ms"
        case requestID = "request_id"
        case nonce
        case leaseMs = "lease_ms"
        case nextInvoiceSeq = "next_invoice_seq"
        case securityElements = "security_elements"
        case replayed, state, position, sealed, mediator, device
        case lockHolder = "lock_holder"
        case queueDepth = "queue_depth"
        case inDoubt = "in_doubt"
        case cashierID = "cashier_id"
        case heartbeatMs = "heartbeat_ms"
        case terminal, period
        case cashEvent = "cash_event"
        case report
        case reportText = "report_text"
    }

    /// Decodes a reply or an event, holding every integer to its range (``WireRange``), so
    /// that a client never sleeps for `retry_after_ms: -1` or counts with a position of 2^63.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        v = try c.decode(Int.self, forKey: .v, in: WireRange.version)
        type = try c.decode(TerminalProtocol.MessageType.self, forKey: .type)
        msgID = try c.decodeIfPresent(String.self, forKey: .msgID)
        status = try c.decodeIfPresent(String.self, forKey: .status)
        event = try c.decodeIfPresent(TerminalProtocol.EventKind.self, forKey: .event)
        code = try c.decodeIfPresent(ErrorCode.self, forKey: .code)
        message = try c.decodeIfPresent(String.self, forKey: .message)
        violations = try c.decodeIfPresent([Violation].self, forKey: .violations)
        retryAfterMs = try c.decodeIfPresent(Int.self, forKey: .retryAfterMs, in: WireRange.milliseconds)
        requestID = try c.decodeIfPresent(String.self, forKey: .requestID)
        nonce = try c.decodeIfPresent(String.self, forKey: .nonce)
        leaseMs = try c.decodeIfPresent(Int.self, forKey: .leaseMs, in: WireRange.milliseconds)
        nextInvoiceSeq = try c.decodeIfPresent(InvoiceSeq.self, forKey: .nextInvoiceSeq)?.rawValue
        securityElements = try c.decodeIfPresent(SecurityElements.self, forKey: .securityElements)
        replayed = try c.decodeIfPresent(Bool.self, forKey: .replayed)
        state = try c.decodeIfPresent(RequestState.self, forKey: .state)
        position = try c.decodeIfPresent(Int.self, forKey: .position, in: WireRange.count)
        sealed = try c.decodeIfPresent(SealedRecord.self, forKey: .sealed)
        mediator = try c.decodeIfPresent(MediatorInfo.self, forKey: .mediator)
        device = try c.decodeIfPresent(DeviceInfo.self, forKey: .device)
        lockHolder = try c.decodeIfPresent(LockHolder.self, forKey: .lockHolder)
        queueDepth = try c.decodeIfPresent(Int.self, forKey: .queueDepth, in: WireRange.count)
        inDoubt = try c.decodeIfPresent(Int.self, forKey: .inDoubt, in: WireRange.count)
        cashierID = try c.decodeIfPresent(String.self, forKey: .cashierID)
        heartbeatMs = try c.decodeIfPresent(Int.self, forKey: .heartbeatMs, in: WireRange.milliseconds)
        terminal = try c.decodeIfPresent(TerminalInfo.self, forKey: .terminal)
        period = try c.decodeIfPresent(PeriodInfo.self, forKey: .period)
        cashEvent = try c.decodeIfPresent(CashEventInfo.self, forKey: .cashEvent)
        report = try c.decodeIfPresent(JSONDocument.self, forKey: .report)
        reportText = try c.decodeIfPresent(String.self, forKey: .reportText)
    }

    /// A work period as OPEN_PERIOD and HELLO return it.
    public struct PeriodInfo: Codable, Sendable, Hashable {
        public var id: Int64
        public var terminalID: String
        public var openedBy: String
        public var openedAt: String
        public var openingFloat: CurrencyAmounts
        /// The cashier session open in it now, if any.
        public var sessionID: Int64?
        public var cashierID: String?
        public init(
            id: Int64,
            terminalID: String,
            openedBy: String,
            openedAt: String,
            openingFloat: CurrencyAmounts,
            sessionID: Int64?,
            cashierID: String?
        ) {
            self.id = id
            self.terminalID = terminalID
            self.openedBy = openedBy
            self.openedAt = openedAt
            self.openingFloat = openingFloat
            self.sessionID = sessionID
            self.cashierID = cashierID
        }
        enum CodingKeys: String, CodingKey {
            case id
            case terminalID = "terminal_id"
            case openedBy = "opened_by"
            case openedAt = "opened_at"
            case openingFloat = "opening_float"
            case sessionID = "session_id"
            case cashierID = "cashier_id"
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(Int64.self, forKey: .id, in: 1...Int64.max)
            terminalID = try c.decode(String.self, forKey: .terminalID)
            openedBy = try c.decode(String.self, forKey: .openedBy)
            openedAt = try c.decode(String.self, forKey: .openedAt)
            openingFloat = try c.decode(CurrencyAmounts.self, forKey: .openingFloat)
            sessionID = try c.decodeIfPresent(Int64.self, forKey: .sessionID, in: 1...Int64.max)
            cashierID = try c.decodeIfPresent(String.self, forKey: .cashierID)
        }
    }

    /// A cash event as CASH_EVENT returns it: where it was attributed.
    public struct CashEventInfo: Codable, Sendable, Hashable {
        public var eventID: String
        public var periodID: Int64
        public var sessionID: Int64
        public var cashierID: String
        public var recordedAt: String
        public init(eventID: String, periodID: Int64, sessionID: Int64, cashierID: String, recordedAt: String) {
            self.eventID = eventID
            self.periodID = periodID
            self.sessionID = sessionID
            self.cashierID = cashierID
            self.recordedAt = recordedAt
        }
        enum CodingKeys: String, CodingKey {
            case eventID = "event_id"
            case periodID = "period_id"
            case sessionID = "session_id"
            case cashierID = "cashier_id"
            case recordedAt = "recorded_at"
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            eventID = try c.decode(String.self, forKey: .eventID)
            periodID = try c.decode(Int64.self, forKey: .periodID, in: 1...Int64.max)
            sessionID = try c.decode(Int64.self, forKey: .sessionID, in: 1...Int64.max)
            cashierID = try c.decode(String.self, forKey: .cashierID)
            recordedAt = try c.decode(String.self, forKey: .recordedAt)
        }
    }

    /// A terminal's registry entry, as HELLO returns it.
    public struct TerminalInfo: Codable, Sendable, Hashable {
        public var code: String
        public var name: String
        public var kind: TerminalKind
        public var businessMode: BusinessMode
        public var laneNumber: Int?
        public init(code: String, name: String, kind: TerminalKind, businessMode: BusinessMode, laneNumber: Int?) {
            self.code = code
            self.name = name
            self.kind = kind
            self.businessMode = businessMode
            self.laneNumber = laneNumber
        }
        enum CodingKeys: String, CodingKey {
            case code, name
            case kind = "type"
            case businessMode = "business_mode"
            case laneNumber = "lane_number"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            code = try c.decode(String.self, forKey: .code)
            name = try c.decode(String.self, forKey: .name)
            kind = try c.decode(TerminalKind.self, forKey: .kind)
            businessMode = try c.decode(BusinessMode.self, forKey: .businessMode)
            laneNumber = try c.decodeIfPresent(Int.self, forKey: .laneNumber, in: WireRange.count)
        }
    }

    /// A sealed invoice as LOG returns it.
    public struct SealedRecord: Codable, Sendable, Hashable {
        public var securityElements: SecurityElements
        public var posTerminalID: String
        public var cashierID: String
        public var outletID: String
        public var laneNumber: Int?
        public var requestID: String
        public var sealedAt: String

        public init(
            securityElements: SecurityElements,
            posTerminalID: String,
            cashierID: String,
            outletID: String,
            laneNumber: Int?,
            requestID: String,
            sealedAt: String
        ) {
            self.securityElements = securityElements
            self.posTerminalID = posTerminalID
            self.cashierID = cashierID
            self.outletID = outletID
            self.laneNumber = laneNumber
            self.requestID = requestID
            self.sealedAt = sealedAt
        }

        enum CodingKeys: String, CodingKey {
            case securityElements = "security_elements"
            case posTerminalID = "pos_terminal_id"
            case cashierID = "cashier_id"
            case outletID = "outlet_id"
            case laneNumber = "lane_number"
            case requestID = "request_id"
            case sealedAt = "sealed_at"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            securityElements = try c.decode(SecurityElements.self, forKey: .securityElements)
            posTerminalID = try c.decode(String.self, forKey: .posTerminalID)
            cashierID = try c.decode(String.self, forKey: .cashierID)
            outletID = try c.decode(String.self, forKey: .outletID)
            laneNumber = try c.decodeIfPresent(Int.self, forKey: .laneNumber, in: WireRange.lane)
            requestID = try c.decode(String.self, forKey: .requestID)
            sealedAt = try c.decode(String.self, forKey: .sealedAt)
        }
    }

    public struct MediatorInfo: Codable, Sendable, Hashable {
        public var name: String
        public var version: String
        public var outletID: String
        public var protocolVersion: Int
        public init(name: String, version: String, outletID: String, protocolVersion: Int = TerminalProtocol.version) {
            self.name = name
            self.version = version
            self.outletID = outletID
            self.protocolVersion = protocolVersion
        }
        enum CodingKeys: String, CodingKey {
            case name, version
            case outletID = "outlet_id"
            case protocolVersion = "protocol"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            version = try c.decode(String.self, forKey: .version)
            outletID = try c.decode(String.self, forKey: .outletID)
            protocolVersion = try c.decode(Int.self, forKey: .protocolVersion, in: WireRange.version)
        }
    }

    public struct DeviceInfo: Codable, Sendable, Hashable {
        public var deviceID: String?
        public var emulated: Bool
        public var state: DeviceState
        public var haltedCode: ErrorCode?
        /// The last fiscal number the device gave, as the mediator knows it.
        public var lastInvoiceSeq: UInt64?
        public var link: String
        /// For an emulated device only: milliseconds it has spent working since the mediator
        /// started (device utilization is its growth over wall time).
        public var busyMs: Int?
        public init(
            deviceID: String?,
            emulated: Bool,
            state: DeviceState,
            haltedCode: ErrorCode?,
            lastInvoiceSeq: UInt64?,
            link: String
        ) {
            self.deviceID = deviceID
            self.emulated = emulated
            self.state = state
            self.haltedCode = haltedCode
            self.lastInvoiceSeq = lastInvoiceSeq
            self.link = link
        }
        enum CodingKeys: String, CodingKey {
            case deviceID = "device_id"
            case emulated, state
            case haltedCode = "halted_code"
            case lastInvoiceSeq = "last_invoice_seq"
            case link
            case busyMs = "busy_ms"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            deviceID = try c.decodeIfPresent(String.self, forKey: .deviceID)
            emulated = try c.decode(Bool.self, forKey: .emulated)
            state = try c.decode(DeviceState.self, forKey: .state)
            haltedCode = try c.decodeIfPresent(ErrorCode.self, forKey: .haltedCode)
            lastInvoiceSeq = try c.decodeIfPresent(UInt64.self, forKey: .lastInvoiceSeq, in: WireRange.counter)
            link = try c.decode(String.self, forKey: .link)
            busyMs = try c.decodeIfPresent(Int.self, forKey: .busyMs, in: 0...Int(Int64.max))
        }
    }

    public struct LockHolder: Codable, Sendable, Hashable {
        public var terminalID: String
        public var requestID: String
        public var mode: String
        public init(terminalID: String, requestID: String, mode: String) {
            self.terminalID = terminalID
            self.requestID = requestID
            self.mode = mode
        }
        enum CodingKeys: String, CodingKey {
            case terminalID = "terminal_id"
            case requestID = "request_id"
            case mode
        }
    }
}
