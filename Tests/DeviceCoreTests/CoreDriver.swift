import FiscalCore
import FiscalDevice
import MediatorStore

@testable import Mediator

/// Drives a ``DeviceCore`` by hand in value-level tests: a device model and a store model
/// answer only when the test says so, so each test fixes one exact order of events.
struct CoreDriver {
    var core: Core
    var now = SimInstant(sinceOrigin: .seconds(1))
    var device = SimDevice(ttl: .seconds(30))
    var store = SimStore()
    /// Every action the core returned, in order.
    var log: [Core.Action] = []
    var exchange: Core.Exchange?
    var write: StoreBatch?
    var nextTicket: UInt64 = 1

    /// Holds at the device unless `configure` says otherwise: most scenarios are about what the
    /// device does while a terminal holds it.
    init(_ configure: (inout DeviceConfiguration) -> Void = { _ in }) {
        var configuration = DeviceConfiguration()
        configuration.holds = .device
        configure(&configuration)
        core = Core(configuration: configuration)
    }

    /// A copy started on an empty store and a device that answers: ready to sell.
    func started() -> CoreDriver {
        var copy = self
        copy.start()
        return copy
    }

    mutating func start() {
        take(core.start(now: now))
        take(core.loaded(store.unfinished(), pendingZ: store.pendingZ, now: now))
        deviceAnswers()
        if case .read(.missing(let last)) = log.last { take(core.found(missing: store.missing(upTo: last), now: now)) }
        precondition(core.snapshot(now: now, link: "sim").ready, "the core did not become ready")
    }

    mutating func take(_ actions: [Core.Action]) {
        for action in actions {
            log.append(action)
            switch action {
            case .exchange(let exchange):
                precondition(self.exchange == nil, "two exchanges at once")
                self.exchange = exchange
            case .write(let batch):
                precondition(write == nil, "two writes at once")
                write = batch
            default: break
            }
        }
    }

    mutating func ticket() -> Core.Ticket {
        defer { nextTicket += 1 }
        return Core.Ticket(nextTicket)
    }

    static func record(
        _ terminal: String,
        _ request: RequestID,
        digest: String? = nil,
        mode: RequestRecord.Mode
    )
        -> RequestRecord
    {
        let digest = digest ?? "\(terminal)-\(request)"
        return RequestRecord(
            terminalID: TerminalID(terminal),
            requestID: request,
            payloadDigest: digest,
            payload: SimDevice.payload(terminal: TerminalID(terminal), digest: digest),
            outletID: "OUTLET",
            cashierID: "CASH-01",
            laneNumber: nil,
            mode: mode
        )
    }

    @discardableResult
    mutating func sale(_ record: RequestRecord) -> Core.Ticket {
        let ticket = ticket()
        take(core.admit(record, ticket: ticket, now: now))
        return ticket
    }

    @discardableResult
    mutating func commit(_ key: RequestKey, _ nonce: Nonce) -> Core.Ticket {
        let ticket = ticket()
        take(core.commit(key, nonce: nonce, ticket: ticket, now: now))
        return ticket
    }

    @discardableResult
    mutating func abort(_ key: RequestKey) -> Core.Ticket {
        let ticket = ticket()
        take(core.abort(key, ticket: ticket, now: now))
        return ticket
    }

    /// The operator asks for a report.
    @discardableResult
    mutating func report(_ kind: DeviceReport.Kind) -> Core.Ticket {
        let ticket = ticket()
        take(core.requestReport(kind, ticket: ticket, now: now))
        return ticket
    }

    @discardableResult
    mutating func result(_ key: RequestKey) -> Core.Ticket {
        let ticket = ticket()
        take(core.result(key, ticket: ticket, now: now))
        return ticket
    }

    /// The device answers the exchange in flight (or, with `result`, answers that instead).
    @discardableResult
    mutating func deviceAnswers(
        _ result: Core.DeviceResult? = nil,
        after: Duration = .milliseconds(5)
    )
        -> Core.DeviceResult?
    {
        guard let exchange else { return nil }
        self.exchange = nil
        now = now.advanced(by: after)
        let answer = result ?? device.process(exchange.command, now: now)
        take(core.exchangeReturned(exchange.token, answer, now: now))
        return answer
    }

    /// The store finishes the write in flight (or fails it).
    mutating func storeWrites(failing: Bool = false) {
        guard let batch = write else { return }
        write = nil
        if failing {
            take(core.writeFailed(batch.id, FiscalError(.storeUnavailable, "database or disk is full"), now: now))
        } else {
            take(core.written(batch.id, store.apply(batch), now: now))
        }
    }

    /// Device and store answer until neither has anything in flight.
    mutating func settle(limit: Int = 100) {
        for _ in 0..<limit {
            if write != nil {
                storeWrites()
            } else if exchange != nil {
                deviceAnswers()
            } else {
                return
            }
        }
    }

    mutating func advance(_ duration: Duration) {
        now = now.advanced(by: duration)
        take(core.tick(now: now))
    }

    /// The replies given to `ticket` so far.
    func replies(_ ticket: Core.Ticket) -> [Core.Reply] {
        log.compactMap { action in
            if case .reply(ticket, let reply) = action { return reply }
            return nil
        }
    }

    func reply(_ ticket: Core.Ticket) -> Core.Reply? { replies(ticket).last }

    var pushes: [Core.Push] {
        log.compactMap { action in
            if case .push(_, let push) = action { return push }
            return nil
        }
    }

    var holderKey: RequestKey? { core.holderKey }
}

extension Core.Reply {
    /// The reply's code when it is a refusal.
    var code: ErrorCode? {
        if case .refused(let error, _) = self { return error.code }
        return nil
    }
    var sealedSeq: InvoiceSeq? {
        if case .sealed(let entry, _) = self { return entry.seq }
        return nil
    }
    var nonce: Nonce? {
        if case .prepared(let nonce, _, _, _) = self { return nonce }
        return nil
    }
}
