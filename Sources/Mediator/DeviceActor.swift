public import FiscalCore
public import FiscalDevice
import Foundation
public import Logging
public import MediatorStore
public import Metrics

/// The only path to the fiscal device: a thin runner of ``DeviceCore``.
///
/// Owns the core and the replies it owes. It feeds the core events (terminal messages, device
/// exchanges that returned, store writes that finished, the time) and performs the actions the
/// core returns; it decides nothing itself. The device, the store and the clock are reached by
/// three loops inside ``run()``: one exchange at a time to the device, one batch at a time to the
/// store, and one timer for the core's next deadline. Nothing here blocks a thread: the serial
/// line and the emulator have their own threads, and the store uses GRDB's asynchronous API.
///
/// Across an `await` anything may have changed; that is why every decision is the core's, made
/// synchronously on the state as it is when the event arrives.
public actor DeviceActor {
    public typealias Configuration = DeviceConfiguration
    public typealias Core = DeviceCore
    /// Answers one terminal message (never ``DeviceCore/Reply/lookUp(_:_:)``: those are looked up here).
    public typealias Responder = @Sendable (Core.Reply) -> Void
    /// Pushes an event to one terminal (`nil`: to every connected terminal).
    public typealias Notify = @Sendable (TerminalID?, TerminalReply) -> Void

    public nonisolated let configuration: Configuration
    nonisolated let client: FiscalDeviceClient
    nonisolated let store: MediatorDatabase
    nonisolated let logger: Logger
    private nonisolated let notify: Notify
    private nonisolated let metrics: any MetricsFactory

    private var core: Core
    private var responders: [Core.Ticket: Responder] = [:]
    private var nextTicket: UInt64 = 1
    private var armedDeadline: Core.Instant?
    /// The origin of the core's time line.
    private nonisolated let origin = ContinuousClock.now
    private nonisolated var now: Core.Instant { Core.Instant(sinceOrigin: origin.duration(to: .now)) }
    private var ready = false
    private var readyWaiters: [CheckedContinuation<Void, Never>] = []
    private var drainedWaiters: [CheckedContinuation<Void, Never>] = []
    /// ``run()`` returned: its loops are gone.
    private var stopped = false
    /// Report requests not answered yet: answered SHUTTING_DOWN if ``run()`` ends before them.
    private var reportTickets: Set<Core.Ticket> = []

    private nonisolated let exchanges = AsyncStream.makeStream(of: Core.Exchange.self)
    private nonisolated let storeJobs = AsyncStream.makeStream(of: StoreJob.self)
    private nonisolated let lookups = AsyncStream.makeStream(of: Lookup.self)
    private nonisolated let doorbell = Doorbell()

    enum StoreJob: Sendable {
        case write(StoreBatch)
        case read(Core.StoreRead)
    }

    struct Lookup: Sendable {
        var kind: Core.Lookup
        var key: RequestKey
        var responder: Responder
    }

    public init(
        client: FiscalDeviceClient,
        store: MediatorDatabase,
        configuration: Configuration = Configuration(),
        logger: Logger,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        notify: @escaping Notify
    ) {
        self.client = client
        self.store = store
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.notify = notify
        core = Core(configuration: configuration)
    }

    // MARK: Terminal messages

    /// FISCALIZE or PREPARE (by `record.mode`) of a validated invoice.
    public func sale(_ record: RequestRecord, reply: @escaping Responder) {
        let ticket = issue(reply)
        perform(core.admit(record, ticket: ticket, now: now))
    }

    public func commit(_ key: RequestKey, nonce: Nonce, reply: @escaping Responder) {
        let ticket = issue(reply)
        perform(core.commit(key, nonce: nonce, ticket: ticket, now: now))
    }

    public func abort(_ key: RequestKey, reply: @escaping Responder) {
        let ticket = issue(reply)
        perform(core.abort(key, ticket: ticket, now: now))
    }

    public func result(_ key: RequestKey, reply: @escaping Responder) {
        let ticket = issue(reply)
        perform(core.result(key, ticket: ticket, now: now))
    }

    public func terminalDisconnected(_ terminal: TerminalID) { perform(core.disconnected(terminal, now: now)) }

    public func terminalReturned(_ terminal: TerminalID) { perform(core.returned(terminal, now: now)) }

    /// The upload line found a fiscal number missing from the store: adopt it from the journal.
    public func checkJournal() { perform(core.checkJournal(now: now)) }

    public func snapshot() -> DeviceSnapshot { core.snapshot(now: now, link: client.link.name) }

    // MARK: Operator reports

    /// RPT|Z or RPT|X at the device, in its turn between sales (``DeviceCore/requestReport(_:ticket:now:)``):
    /// a Z is returned once it is stored. Suspends the caller's task, never a thread.
    public func report(_ kind: DeviceReport.Kind) async throws(FiscalError) -> DeviceReport {
        if stopped { throw FiscalError(.shuttingDown, "the mediator is stopping") }
        let answer = await withCheckedContinuation { (continuation: CheckedContinuation<Core.Reply, Never>) in
            let ticket = issue { continuation.resume(returning: $0) }
            reportTickets.insert(ticket)
            perform(core.requestReport(kind, ticket: ticket, now: now))
        }
        switch answer {
        case .report(let report): return report
        case .refused(let error, _): throw error
        case .sealed, .prepared, .state, .lookUp:
            throw FiscalError(.replyInvalid, "the device core answered a report request with a sale's reply")
        }
    }

    // MARK: Lifecycle

    /// Recovers, then runs the device, store and timer loops until cancelled. Cancel it only
    /// after ``drain()`` returned.
    public func run() async {
        perform(core.start(now: now))
        await withDiscardingTaskGroup { group in
            group.addTask { await self.deviceLoop() }
            group.addTask { await self.storeLoop() }
            group.addTask { await self.lookupLoop() }
            group.addTask { await self.timerLoop() }
        }
        // Cancelled before it drained: nothing will drain any more, so nobody waits for it.
        stopped = true
        for ticket in reportTickets {
            responders.removeValue(forKey: ticket)?(
                .refused(FiscalError(.shuttingDown, "the mediator stopped before the report was done"), retryAfter: nil)
            )
        }
        reportTickets.removeAll()
        for waiter in drainedWaiters { waiter.resume() }
        drainedWaiters.removeAll()
    }

    /// Returns once recovery is done and sales are admitted.
    public func waitUntilReady() async {
        if ready { return }
        await withCheckedContinuation { readyWaiters.append($0) }
    }

    /// Refuses new work, fails what is queued with SHUTTING_DOWN, and returns once the exchange
    /// at the device has finished and every write is on disk.
    public func drain() async {
        perform(core.shutdown(now: now))
        if core.isDrained || stopped { return }
        await withCheckedContinuation { drainedWaiters.append($0) }
    }

    // MARK: Running the core

    private func issue(_ responder: @escaping Responder) -> Core.Ticket {
        defer { nextTicket += 1 }
        let ticket = Core.Ticket(nextTicket)
        responders[ticket] = responder
        return ticket
    }

    private func perform(_ actions: [Core.Action]) {
        for action in actions {
            switch action {
            case .exchange(let exchange): exchanges.continuation.yield(exchange)
            case .write(let batch): storeJobs.continuation.yield(.write(batch))
            case .read(let read): storeJobs.continuation.yield(.read(read))
            case .reply(let ticket, let reply):
                guard let responder = responders.removeValue(forKey: ticket) else { continue }
                reportTickets.remove(ticket)
                if case .lookUp(let kind, let key) = reply {
                    lookups.continuation.yield(Lookup(kind: kind, key: key, responder: responder))
                } else {
                    responder(reply)
                }
            case .push(let terminal, let push): notify(terminal, Self.event(push))
            case .log(let note): log(note)
            case .ready:
                ready = true
                for waiter in readyWaiters { waiter.resume() }
                readyWaiters.removeAll()
            case .drained:
                for waiter in drainedWaiters { waiter.resume() }
                drainedWaiters.removeAll()
            }
        }
        let deadline = core.nextDeadline()
        if let deadline, armedDeadline.map({ deadline < $0 }) ?? true { doorbell.ring() }
    }

    private func exchangeReturned(_ token: UInt64, _ result: Core.DeviceResult) {
        perform(core.exchangeReturned(token, result, now: now))
    }

    private func stored(_ job: StoreJob, _ outcome: Result<StoreOutcome, FiscalError>) {
        switch (job, outcome) {
        case (.write(let batch), .success(.written(let results))):
            perform(core.written(batch.id, results, now: now))
        case (.write(let batch), .failure(let error)):
            perform(core.writeFailed(batch.id, error, now: now))
        case (.read, .success(.unfinished(let records, let pendingZ))):
            perform(core.loaded(records, pendingZ: pendingZ, now: now))
        case (.read, .success(.missing(let seqs))): perform(core.found(missing: seqs, now: now))
        case (.read, .failure(let error)): perform(core.readFailed(error, now: now))
        case (.write, .success), (.read, .success(.written)):
            preconditionFailure("a store job answered out of kind")
        }
    }

    private func tick() { perform(core.tick(now: now)) }

    /// The core's next deadline on the continuous clock, remembered as the one the timer sleeps for.
    private func arm() -> ContinuousClock.Instant? {
        armedDeadline = core.nextDeadline()
        return armedDeadline.map { origin.advanced(by: $0.sinceOrigin) }
    }

    // MARK: The loops

    /// One exchange at a time: the core never asks for a second before the first returned.
    private nonisolated func deviceLoop() async {
        let prepare = Metrics.Timer(
            label: "fiscal_device_exchange_seconds",
            dimensions: [("command", "prepare")],
            factory: metrics
        )
        let commit = Metrics.Timer(
            label: "fiscal_device_exchange_seconds",
            dimensions: [("command", "commit")],
            factory: metrics
        )
        for await exchange in exchanges.stream {
            let started = ContinuousClock.now
            let result = await Self.run(exchange.command, on: client)
            switch exchange.command {
            case .prepare: prepare.record(duration: started.duration(to: .now))
            case .commit: commit.record(duration: started.duration(to: .now))
            case .status, .log, .report, .zReport: break
            }
            await exchangeReturned(exchange.token, result)
        }
    }

    enum StoreOutcome: Sendable {
        case written([StoreWriteResult])
        case unfinished([RequestRecord], pendingZ: DeviceZIntent?)
        case missing([InvoiceSeq])
    }

    /// One batch (or recovery read) at a time, in the order the core asked.
    private nonisolated func storeLoop() async {
        for await job in storeJobs.stream {
            let outcome: Result<StoreOutcome, FiscalError>
            do {
                switch job {
                case .write(let batch): outcome = .success(.written(try await store.apply(batch)))
                case .read(.unfinished):
                    let (records, pendingZ) = try await store.unfinishedWork()
                    outcome = .success(.unfinished(records, pendingZ: pendingZ))
                case .read(.missing(let last)):
                    outcome = .success(.missing(try await store.missingSeqs(upTo: last, limit: Core.adoptionBatch)))
                }
            } catch {
                outcome = .failure(StoreFailure.fiscal(error))
            }
            await stored(job, outcome)
        }
    }

    /// COMMIT, ABORT and RESULT of requests the core no longer holds: answered from the store.
    /// A read that fails is STORE_UNAVAILABLE, never NOT_FOUND.
    private nonisolated func lookupLoop() async {
        for await lookup in lookups.stream {
            do {
                let (record, sealed) = try await store.lookUp(lookup.key)
                lookup.responder(Core.answer(lookup.kind, record: record, sealed: sealed))
            } catch {
                let failure = StoreFailure.fiscal(error)
                lookup.responder(.refused(failure, retryAfter: configuration.unavailableRetryAfter))
            }
        }
    }

    /// Sleeps until the core's next deadline (or until an event brings it closer), then ticks.
    private nonisolated func timerLoop() async {
        while !Task.isCancelled {
            let deadline = await arm()
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.doorbell.wait() }
                if let deadline {
                    group.addTask {
                        do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
                    }
                }
                _ = await group.next()
                group.cancelAll()
            }
            guard !Task.isCancelled else { return }
            await tick()
        }
    }

    // MARK: Translations

    static func run(_ command: Core.Command, on client: FiscalDeviceClient) async -> Core.DeviceResult {
        do {
            switch command {
            case .prepare(let payload): return .prepared(try await client.send(DeviceRequest(.prepare, body: payload)))
            case .commit(let nonce): return .sealed(try await client.commit(nonce).entry)
            case .status: return .status(try await client.status())
            case .log(let seq): return .logged(try await client.log(seq).entry)
            case .report(let kind): return .report(try await client.report(kind))
            case .zReport(let number): return .report(try await client.storedZReport(number))
            }
        } catch {
            switch error.code {
            case .deviceTimeout, .linkDown, .replyInvalid, .frameInvalid: return .lost(error)
            default: return .refused(error)
            }
        }
    }

    static func event(_ push: Core.Push) -> TerminalReply {
        switch push {
        case .queued(let request, let position):
            var event = TerminalReply.event(.queued)
            event.requestID = request.rawValue
            event.position = position
            return event
        case .lockGranted(let request):
            var event = TerminalReply.event(.lockGranted)
            event.requestID = request.rawValue
            return event
        case .leaseExpired(let request):
            var event = TerminalReply.event(.leaseExpired)
            event.requestID = request.rawValue
            event.code = .nonceExpired
            return event
        case .alert(let code, let message):
            var event = TerminalReply.event(.deviceAlert)
            event.code = code
            event.message = message
            return event
        case .recovered:
            return TerminalReply.event(.deviceRecovered)
        }
    }

    private nonisolated func log(_ note: Core.Note) {
        let metadata = note.metadata.mapValues { Logger.MetadataValue.string($0) }
        let level: Logger.Level =
            switch note.level {
            case .debug: .debug
            case .info: .info
            case .notice: .notice
            case .warning: .warning
            case .error: .error
            case .critical: .critical
            }
        logger.log(level: level, "\(note.message)", metadata: metadata)
    }
}
