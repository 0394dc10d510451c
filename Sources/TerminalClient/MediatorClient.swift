public import FiscalCore
import Foundation
public import ZeroMQ

/// The client a POS terminal links to talk to the mediator (docs/PROTOCOL.md).
///
/// A DEALER socket, a CURVE client with the terminal's key pair (protocol version 2: the
/// mediator knows the terminal by its key; no routing id is set) or, against a mediator run with
/// `--insecure-plaintext`, with the terminal id as routing id. `ZMQ_IMMEDIATE` (nothing is
/// queued for a mediator that is not connected, so a request either leaves or times out),
/// reconnection with backoff, and ZMTP heartbeats. Replies are matched to requests by
/// `msg_id`; events arrive on ``events``.
///
/// Request ids are the caller's: persist one per sale before sending it, and after a timeout or
/// a crash call ``fiscalizeReliably(requestID:invoice:)`` (or RESULT) with the same id. That is
/// what makes a retry safe: the mediator never fiscalizes one request id twice.
///
/// Owns: the requests waiting for their reply. Run ``run()`` (or use ``withClient(_:_:)``) so
/// replies are read.
public actor MediatorClient {
    public struct Configuration: Sendable {
        public var endpoint: String
        public var terminalID: TerminalID
        /// Logged in by ``hello()`` (HELLO opens the cashier's session).
        public var cashierID: String?
        /// This machine's identifier (a MAC address or a GUID); the mediator binds the terminal
        /// code to it at the first HELLO and refuses another machine under the same code.
        public var machineID: String?
        public var appVersion = "TerminalClient/1"
        /// How long to wait for a reply. A queued FISCALIZE waits for every request ahead of it.
        public var requestTimeout: Duration = .seconds(10)
        public var reconnectInterval: Duration = .milliseconds(100)
        public var reconnectIntervalMax: Duration = .seconds(2)
        public var heartbeatInterval: Duration = .seconds(1)
        /// The terminal's key pair and the mediator's public key (from pairing, out of band);
        /// `nil` only against `serve --insecure-plaintext`.
        public var curve: CurveSettings?

        public init(endpoint: String, terminalID: TerminalID) {
            self.endpoint = endpoint
            self.terminalID = terminalID
        }
    }

    public nonisolated let configuration: Configuration
    public nonisolated let events: AsyncStream<TerminalReply>
    private let eventsContinuation: AsyncStream<TerminalReply>.Continuation
    private let loop: SocketLoop
    private var pending:
        [String: (continuation: CheckedContinuation<TerminalReply?, Never>, timer: Task<Void, Never>)] = [:]
    private var nextMessage: UInt64 = 1
    /// Makes this instance's msg_ids unique, so a reply meant for an earlier instance (or
    /// connection) under the same terminal id is never taken for one of ours.
    private let instance = Nonce.random().rawValue.prefix(8)

    public init(context: ZMQContext, configuration: Configuration) throws {
        self.configuration = configuration
        (events, eventsContinuation) = AsyncStream.makeStream(
            of: TerminalReply.self,
            bufferingPolicy: .bufferingNewest(1000)
        )
        let endpoint = configuration.endpoint
        let routingID = Array(configuration.terminalID.rawValue.utf8)
        let curve = configuration.curve
        let reconnect = configuration.reconnectInterval
        let reconnectMax = configuration.reconnectIntervalMax
        let heartbeat = configuration.heartbeatInterval
        loop = try SocketLoop(context: context, kind: .dealer, name: "terminal \(configuration.terminalID)") { socket in
            try socket.set(.linger(.zero))
            if let curve {
                try socket.set(.curveClient(serverKey: curve.serverKey, client: curve.keys.pair))
            } else {
                try socket.set(.routingID(routingID))
            }
            try socket.set(.immediate(true))
            try socket.set(.reconnectInterval(reconnect))
            try socket.set(.reconnectIntervalMax(reconnectMax))
            try socket.set(.heartbeatInterval(heartbeat))
            try socket.set(.heartbeatTimeout(heartbeat * 3))
            try socket.connect(endpoint)
            return []
        }
    }

    /// Connects, runs `body` with the client while replies are read, then closes.
    public static func withClient<T: Sendable>(
        context: ZMQContext,
        configuration: Configuration,
        _ body: (MediatorClient) async throws -> T
    ) async throws -> T {
        let client = try MediatorClient(context: context, configuration: configuration)
        let reader = Task { await client.run() }
        defer {
            client.close()
            reader.cancel()
        }
        return try await body(client)
    }

    /// Reads replies and events until ``close()``.
    public func run() async {
        // CURVE: the mediator learns a connection is this terminal's from its first message, so
        // each new connection after the first (a reconnection) announces itself with a PING: the
        // replies parked for the terminal while it was away come on it at once.
        let announcer: Task<Void, Never>? =
            configuration.curve == nil
            ? nil
            : Task { [loop, configuration] in
                var first = true
                for await event in loop.events {
                    guard case .handshakeSucceeded = event else { continue }
                    self.handshook()
                    if first {
                        first = false
                        continue
                    }
                    let ping = TerminalRequest(.ping, msgID: "\(configuration.terminalID)-announce")
                    if let json = try? JSONEncoder().encode(ping) { loop.send([Array(json)]) }
                }
            }
        defer { announcer?.cancel() }
        let decoder = JSONDecoder()
        for await message in loop.inbound {
            guard let payload = message.frames.last,
                let reply = try? decoder.decode(TerminalReply.self, from: Data(payload))
            else { continue }
            if reply.type == .event {
                eventsContinuation.yield(reply)
            } else if let id = reply.msgID, let waiting = pending.removeValue(forKey: id) {
                waiting.timer.cancel()
                waiting.continuation.resume(returning: reply)
            }
        }
        eventsContinuation.finish()
    }

    /// Closes the socket; requests still waiting time out.
    public nonisolated func close() { loop.stop() }

    // MARK: Requests

    /// Sends a request and returns the mediator's OK reply; an ERR reply is thrown.
    public func send(_ request: TerminalRequest, timeout: Duration? = nil) async throws(FiscalError) -> TerminalReply {
        var request = request
        let id = "\(configuration.terminalID)-\(instance)-\(nextMessage)"
        nextMessage += 1
        request.msgID = id
        guard let json = try? JSONEncoder().encode(request) else {
            throw FiscalError(.messageInvalid, "cannot encode the request")
        }
        let limit = timeout ?? configuration.requestTimeout
        let reply: TerminalReply? = await withCheckedContinuation { continuation in
            let timer = Task { [weak self] in
                try? await Task.sleep(for: limit)
                await self?.expire(id)
            }
            pending[id] = (continuation, timer)
            loop.send([Array(json)])
        }
        guard let reply else {
            if configuration.curve != nil, handshakes == 0 {
                throw FiscalError(
                    .mediatorTimeout,
                    "no reply to \(request.type.rawValue) within \(limit): no CURVE handshake completed (is this key paired, not revoked, and the server key right?)"
                )
            }
            throw FiscalError(.mediatorTimeout, "no reply to \(request.type.rawValue) within \(limit)")
        }
        if let error = reply.fiscalError { throw error }
        return reply
    }

    /// Whether a CURVE handshake ever completed (else a timeout says why it may be).
    private var handshakes = 0
    private func handshook() { handshakes += 1 }

    private func expire(_ id: String) {
        pending.removeValue(forKey: id)?.continuation.resume(returning: nil)
    }

    /// HELLO: announces the terminal (binding it to ``Configuration/machineID`` on first use) and
    /// logs in `cashierID` (default: the configured one), if any.
    public func hello(cashierID: String? = nil) async throws(FiscalError) -> TerminalReply {
        let hello = TerminalRequest.Hello(
            machineID: configuration.machineID,
            cashierID: cashierID ?? configuration.cashierID,
            appVersion: configuration.appVersion
        )
        return try await send(TerminalRequest(.hello(hello), terminalID: configuration.terminalID.rawValue))
    }

    /// LOGIN: `cashierID` is at this terminal from now on (another cashier's session closes).
    public func login(cashierID: String) async throws(FiscalError) -> TerminalReply {
        try await send(TerminalRequest(.login(.init(cashierID: cashierID))))
    }

    /// LOGOUT: nobody is at this terminal; sales are refused until the next LOGIN.
    public func logout() async throws(FiscalError) -> TerminalReply {
        try await send(TerminalRequest(.logout))
    }

    /// HEARTBEAT with the terminal's status fields; the reply says when the next one is due.
    public func heartbeat(_ health: TerminalHealth, cashierID: String? = nil) async throws(FiscalError) -> TerminalReply
    {
        let heartbeat = TerminalRequest.Heartbeat(
            health: health,
            cashierID: cashierID,
            appVersion: configuration.appVersion
        )
        return try await send(TerminalRequest(.heartbeat(heartbeat)))
    }

    /// OPEN_PERIOD: opens this terminal's work period with a float per currency.
    public func openPeriod(
        openedBy: String,
        openingFloat: CurrencyAmounts = CurrencyAmounts()
    ) async throws(FiscalError) -> TerminalReply {
        try await send(TerminalRequest(.openPeriod(.init(openingFloat: openingFloat, openedBy: openedBy))))
    }

    /// Opens this terminal's work period unless `hello` (HELLO's reply) shows one open: what a
    /// POS does at start-up when it does not manage shifts itself.
    public func ensurePeriod(after hello: TerminalReply, openedBy: String) async throws(FiscalError) {
        guard hello.period == nil else { return }
        do throws(FiscalError) {
            _ = try await openPeriod(openedBy: openedBy)
        } catch  where error.code == .workPeriodOpen {
            // Opened meanwhile (another run of this terminal): the one open is used.
        }
    }

    /// CASH_EVENT: a payout, pay-in, drawer open, no-sale or line void at this terminal.
    public func cashEvent(_ event: CashEvent) async throws(FiscalError) -> TerminalReply {
        try await send(TerminalRequest(.cashEvent(event)))
    }

    /// REPORT_X: the X report of this terminal's open period (or of one cashier in it); a free
    /// preview unless `takenBy` takes a numbered one. The reply's `report` is the record.
    public func reportX(
        preview: Bool = true,
        cashierID: String? = nil,
        takenBy: String? = nil
    ) async throws(FiscalError) -> TerminalReply {
        try await send(TerminalRequest(.reportX(.init(preview: preview, cashierID: cashierID, takenBy: takenBy))))
    }

    /// CLOSE_PERIOD: the Z report, with the count by denomination per currency; `preview`
    /// answers the Z it would take and changes nothing.
    public func closePeriod(
        closedBy: String,
        count: [String: [String: Int64]]?,
        explanation: String? = nil,
        preview: Bool = false
    ) async throws(FiscalError) -> TerminalReply {
        try await send(
            TerminalRequest(
                .closePeriod(.init(preview: preview, closedBy: closedBy, count: count, explanation: explanation))
            )
        )
    }

    /// FISCALIZE: the mediator prepares and commits back to back; `sale` is the context recorded
    /// beside the invoice (discounts, tender, change).
    public func fiscalize(
        requestID: String,
        invoice: Invoice,
        sale: SaleContext? = nil
    ) async throws(FiscalError) -> SecurityElements {
        let reply = try await send(
            TerminalRequest(.fiscalize(.init(requestID: RequestID(requestID), invoice: invoice, context: sale)))
        )
        guard let elements = reply.securityElements else {
            throw FiscalError(.replyInvalid, "FISCALIZE reply without security elements")
        }
        return elements
    }

    /// PREPARE: returns the nonce to COMMIT with, and the lease in milliseconds; `sale` is the
    /// context recorded beside the invoice.
    public func prepare(
        requestID: String,
        invoice: Invoice,
        sale: SaleContext? = nil
    ) async throws(FiscalError) -> (nonce: String, leaseMs: Int) {
        let reply = try await send(
            TerminalRequest(.prepare(.init(requestID: RequestID(requestID), invoice: invoice, context: sale)))
        )
        guard let nonce = reply.nonce else { throw FiscalError(.replyInvalid, "PREPARE reply without a nonce") }
        return (nonce, reply.leaseMs ?? 0)
    }

    public func commit(requestID: String, nonce: String) async throws(FiscalError) -> SecurityElements {
        let reply = try await send(
            TerminalRequest(.commit(.init(requestID: RequestID(requestID), nonce: Nonce(nonce))))
        )
        guard let elements = reply.securityElements else {
            throw FiscalError(.replyInvalid, "COMMIT reply without security elements")
        }
        return elements
    }

    public func abort(requestID: String) async throws(FiscalError) -> TerminalReply {
        try await send(TerminalRequest(.abort(.init(requestID: RequestID(requestID)))))
    }

    public func result(requestID: String) async throws(FiscalError) -> TerminalReply {
        try await send(TerminalRequest(.result(.init(requestID: RequestID(requestID)))))
    }

    public func log(_ seq: InvoiceSeq) async throws(FiscalError) -> TerminalReply {
        try await send(TerminalRequest(.log(.init(invoiceSeq: seq))))
    }

    public func status() async throws(FiscalError) -> TerminalReply {
        try await send(TerminalRequest(.status))
    }

    /// Fiscalizes `invoice` under `requestID`, whatever is lost on the way: after a timeout it
    /// asks RESULT, waits while the request is in progress, and sends FISCALIZE again (same
    /// request id: never a second fiscal number) when the mediator lost or aborted it.
    public func fiscalizeReliably(
        requestID: String,
        invoice: Invoice,
        deadline: Duration = .seconds(120)
    ) async throws(FiscalError)
        -> SecurityElements
    {
        let end = ContinuousClock.now + deadline
        var pause: Duration = .milliseconds(50)
        var send = true
        while true {
            do throws(FiscalError) {
                if send { return try await fiscalize(requestID: requestID, invoice: invoice) }
                let reply = try await result(requestID: requestID)
                if reply.state == .sealed, let elements = reply.securityElements { return elements }
                if reply.state == .aborted || reply.state == .failed {
                    // PROTOCOL.md's retry rule: send it again unless it failed for a cause to fix.
                    if let code = reply.code, code.entry?.retryable == false, code != .nonceExpired {
                        throw FiscalError(code, reply.message ?? "request \(requestID) failed")
                    }
                    send = true
                    continue
                }
            } catch {
                switch error.code {
                case .mediatorTimeout, .inProgress: send = false
                case .notFound: send = true
                case .queueFull, .deviceUnavailable, .storeUnavailable, .rateLimited, .aborted, .shuttingDown:
                    send = true
                default: throw error
                }
            }
            guard ContinuousClock.now + pause < end else {
                throw FiscalError(.mediatorTimeout, "request \(requestID) not settled within \(deadline)")
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(1))
        }
    }

    /// A sale by PREPARE and COMMIT that ends with exactly one acknowledgement, across lost
    /// replies, aborts and reconnections: RESULT first (a COMMIT that landed is not repeated),
    /// then PREPARE under the same request id and COMMIT. `client` gives the connection to use
    /// now (a roaming terminal replaces it); `afterPrepare` runs between PREPARE and COMMIT
    /// (showing the total, or walking out of Wi-Fi range).
    public static func twoPhaseReliably(
        requestID: String,
        invoice: Invoice,
        deadline: Duration = .seconds(120),
        client: () -> MediatorClient,
        afterPrepare: (_ nonce: String, _ leaseMs: Int) async -> Void = { _, _ in }
    ) async throws(FiscalError) -> SecurityElements {
        let end = ContinuousClock.now + deadline
        var pause: Duration = .milliseconds(50)
        while true {
            do throws(FiscalError) {
                let result = try? await client().result(requestID: requestID)
                if result?.state == .sealed, let elements = result?.securityElements { return elements }
                if let state = result?.state, state.isActive { throw FiscalError(.inProgress, state.rawValue) }
                let (nonce, leaseMs) = try await client().prepare(requestID: requestID, invoice: invoice)
                await afterPrepare(nonce, leaseMs)
                return try await client().commit(requestID: requestID, nonce: nonce)
            } catch {
                switch error.code {
                case .mediatorTimeout, .inProgress, .queueFull, .deviceUnavailable, .storeUnavailable, .rateLimited,
                    .aborted, .nonceExpired, .invalidNonce, .notPrepared, .shuttingDown, .deviceBusy:
                    guard ContinuousClock.now + pause < end else { throw error }
                    try? await Task.sleep(for: pause)
                    pause = min(pause * 2, .seconds(1))
                default:
                    throw error
                }
            }
        }
    }
}
