import FiscalCore
import FiscalDevice
import Foundation
import MediatorStore

@testable import Mediator

/// One seeded run of the device core against a model of the DEF, a model of the store and a few
/// terminals that follow PROTOCOL.md's retry rule (and, now and then, do not).
///
/// At each step it chooses among every event enabled in that state: a terminal's message (a
/// sale, COMMIT with the right nonce or a stolen one, ABORT, RESULT, a duplicate), a terminal
/// timing out or dropping its connection, the device answering (ok, busy, lost before or after it
/// acted, garbled, slow, power loss at either COMMIT point), a store write or read finishing or
/// failing, time passing to the core's next deadline, a killed mediator, a host power loss, a
/// graceful shutdown. No wall clock: a seed replays exactly. After every step the invariants are
/// checked; after the last one, faults stop, everything is let settle, and the end state is
/// checked too.
struct Simulation {
    struct Failure: Error, CustomStringConvertible {
        var seed: UInt64
        var step: Int
        var message: String
        var trace: [String]
        var description: String {
            "seed \(seed) failed at step \(step): \(message)\n  last steps:\n    "
                + trace.suffix(Int(ProcessInfo.processInfo.environment["DEVICE_CORE_TRACE"] ?? "") ?? 40).joined(
                    separator: "\n    "
                )
                + "\n  replay: DEVICE_CORE_SEED=\(seed) swift test --filter DeviceCoreSimulation"
        }
    }

    struct Sale {
        var requestID: RequestID
        var digest: String
        var mode: RequestRecord.Mode
        /// The device refuses it (SCHEMA_INVALID): the terminal gives it up.
        var bad: Bool
    }

    enum Message: Hashable {
        case sale(RequestID)
        case commit(RequestID)
        case abort(RequestID)
        case result(RequestID)
    }

    struct Terminal {
        var id: TerminalID
        var sales: [Sale]
        var index = 0
        var connected = true
        /// Replies it still waits for (not timed out).
        var listening: [Core.Ticket: Message] = [:]
        var nonce: Nonce?
        var acked: [RequestID: JournalEntry] = [:]
        var sent = 0
        var current: Sale? { index < sales.count ? sales[index] : nil }
    }

    let seed: UInt64
    var rng: SeededGenerator
    var now = SimInstant(sinceOrigin: .zero)
    let configuration: DeviceConfiguration
    var core: Core
    var device: SimDevice
    var store = SimStore()
    var terminals: [Terminal] = []
    var exchange: Core.Exchange?
    var write: StoreBatch?
    var read: Core.StoreRead?
    var lookups: [(ticket: Core.Ticket, kind: Core.Lookup, key: RequestKey)] = []
    /// Tickets the core has not answered yet, and whose they are.
    var owed: [Core.Ticket: (terminal: Int, message: Message)] = [:]
    var nextTicket: UInt64 = 1
    var stopping = false
    var drained = false
    var faults = true
    var step = 0
    var trace: [String] = []
    /// Whether steps are written down (for a failing seed's replay: it costs most of a run's time).
    var tracing = false
    var visited: Set<String> = []
    /// Nonces terminals have seen, to try them where they do not belong.
    var seenNonces: [Nonce] = []
    /// The operator's report requests not answered yet (RPT|Z, RPT|X through the mediator).
    var reportOwed: [Core.Ticket: DeviceReport.Kind] = [:]
    /// Broken report rules, as found (a Z answered before stored, a Z ahead of the store, ...).
    var reportProblems: [String] = []

    init(seed: UInt64) {
        self.seed = seed
        var rng = SeededGenerator(seed: seed)
        var configuration = DeviceConfiguration()
        configuration.lease = rng.millis(800...4000)
        configuration.roamingGrace =
            rng.chance(0.3) ? .zero : rng.millis(50...(Int(configuration.lease.wholeMilliseconds) - 100))
        configuration.queueLimit = rng.int(3...8)
        configuration.perTerminalQueueLimit = rng.int(1...min(3, configuration.queueLimit))
        configuration.prepareRetryWindow = rng.millis(300...3000)
        configuration.haltRecheck = rng.millis(200...2000)
        configuration.retryBackoff = (.milliseconds(20), rng.millis(100...500))
        configuration.probeInterval = rng.millis(500...3000)
        configuration.unreachableProbeInterval = rng.millis(100...1000)
        configuration.slowExchange = .milliseconds(800)
        // Both kinds of hold, by the seed's parity (no draw, so other schedules stay as they were).
        configuration.holds = seed % 2 == 0 ? .device : .mediator
        self.configuration = configuration
        device = SimDevice(ttl: rng.millis(300...5000))
        // Some seeds' DEF lacks QRY|ZREPORT (by the seed, so other schedules draw as they did).
        device.readsZBack = seed % 7 != 3
        core = Core(configuration: configuration, nonceSeed: Array("sim \(seed) \(step)".utf8))
        for number in 1...rng.int(1...4) {
            let id = TerminalID("REG-00\(number)")
            let sales = (0..<rng.int(2...5)).map { index in
                let bad = rng.chance(0.05)
                return Sale(
                    requestID: RequestID("s\(index)"),
                    digest: (bad ? "!" : "") + "d\(number)-\(index)",
                    mode: rng.chance(0.4) ? .twoPhase : .fiscalize,
                    bad: bad
                )
            }
            terminals.append(Terminal(id: id, sales: sales))
        }
        self.rng = rng
    }

    // MARK: Running

    /// Runs `steps` random steps, then lets everything settle; throws the first broken invariant.
    mutating func run(steps: Int) throws(Failure) {
        apply(core.start(now: now), "start")
        try check()
        while step < steps {
            step += 1
            randomStep()
            try check()
        }
        try settle()
    }

    private mutating func fail(_ message: String) -> Failure {
        let state =
            "core: \(core.lifecycle), slot \(core.slotName), queue \(core.queue.count), journal \(core.journal), "
            + "line \(core.line.pending.count) pending, in flight \(core.line.inFlight?.id ?? 0), "
            + "failing \(core.line.failing != nil), reading \(String(describing: core.line.reading)), "
            + "deadline \(core.nextDeadline().map { "\($0)" } ?? "none"); sim: exchange \(exchange?.token ?? 0), "
            + "write \(write?.id ?? 0), read \(String(describing: read))"
        return Failure(seed: seed, step: step, message: message + "\n  " + state, trace: trace)
    }

    private mutating func note(_ text: @autoclosure () -> String) {
        guard tracing else { return }
        let line = "\(now): \(text())"
        if trace.last?.hasSuffix(line) == true { return }
        trace.append("\(step) " + line)
        if trace.count > 2000 { trace.removeFirst(1000) }
    }

    /// Feeds the core's actions into the world.
    private mutating func apply(_ actions: [Core.Action], _ cause: @autoclosure () -> String) {
        note(cause())
        for action in actions {
            switch action {
            case .exchange(let exchange):
                if self.exchange != nil { device.overlapping += 1 }
                if stopping, case .prepare = exchange.command { preparesAfterShutdown += 1 }
                self.exchange = exchange
                note("  → device \(exchange.command.name) #\(exchange.token)")
            case .write(let batch):
                if write != nil { overlappingWrites += 1 }
                write = batch
            case .read(let read):
                if self.read != nil { overlappingWrites += 1 }
                self.read = read
            case .reply(let ticket, let reply):
                if let kind = reportOwed.removeValue(forKey: ticket) {
                    deliverReport(kind, reply, ticket)
                    continue
                }
                guard let (terminal, message) = owed.removeValue(forKey: ticket) else {
                    unknownReplies += 1
                    continue
                }
                if case .lookUp(let kind, let key) = reply {
                    owed[ticket] = (terminal, message)
                    lookups.append((ticket, kind, key))
                } else {
                    deliver(reply, for: ticket, to: terminal, message)
                }
            case .push(let terminal, .leaseExpired(let request)):
                if let index = terminals.firstIndex(where: { $0.id == terminal }),
                    terminals[index].current?.requestID == request
                {
                    terminals[index].nonce = nil
                }
            case .push, .log:
                break
            case .ready:
                note("  → ready")
            case .drained:
                drained = true
                note("  → drained")
            }
        }
    }

    var preparesAfterShutdown = 0
    var overlappingWrites = 0
    var unknownReplies = 0
    var forgedReplies: [String] = []
    var doubleNumbers: [String] = []

    /// A reply reaches its terminal (if it still listens).
    private mutating func deliver(_ reply: Core.Reply, for ticket: Core.Ticket, to index: Int, _ message: Message) {
        note("  → reply \(ticket) \(message): \(Self.describe(reply))")
        var terminal = terminals[index]
        defer { terminals[index] = terminal }
        switch reply {
        case .sealed(let entry, _), .state(.sealed, _, sealed: .some(let entry)):
            verify(entry, for: message, terminal)
        default: break
        }
        guard terminal.listening.removeValue(forKey: ticket) != nil, let sale = terminal.current else { return }
        let request: RequestID
        switch message {
        case .sale(let id), .commit(let id), .abort(let id), .result(let id): request = id
        }
        guard request == sale.requestID else { return }
        switch reply {
        case .sealed(let entry, _), .state(.sealed, _, sealed: .some(let entry)):
            if let before = terminal.acked[request], before != entry {
                doubleNumbers.append("\(terminal.id)/\(request): \(before.seq) and \(entry.seq)")
            }
            terminal.acked[request] = entry
            terminal.index += 1
            terminal.nonce = nil
            terminal.sent = 0
        case .prepared(let nonce, _, _, _):
            terminal.nonce = nonce
            seenNonces.append(nonce)
        case .refused(let error, _):
            // A refused COMMIT never needs that nonce again (PROTOCOL.md): RESULT, or PREPARE anew.
            if case .commit = message { terminal.nonce = nil }
            if error.code == .schemaInvalid && sale.bad {
                terminal.index += 1
                terminal.sent = 0
            }
        case .state(.aborted, _, _), .state(.failed, _, _):
            terminal.nonce = nil
        case .state, .lookUp, .report:
            break
        }
    }

    /// A report's answer reaches the operator: a Z only once it is on disk, and only the device's.
    private mutating func deliverReport(_ kind: DeviceReport.Kind, _ reply: Core.Reply, _ ticket: Core.Ticket) {
        note("  → operator \(ticket) RPT|\(kind.rawValue): \(Self.describe(reply))")
        switch reply {
        case .report(let report):
            guard report.kind == kind else {
                reportProblems.append("RPT|\(kind.rawValue) answered with a \(report.kind.rawValue) report")
                return
            }
            guard kind == .z else { return }
            let number = Int(report.zNumber)
            guard number >= 1, number <= device.zReports.count, device.zReports[number - 1] == report else {
                reportProblems.append("Z \(report.zNumber) answered, which the device never made so")
                return
            }
            if store.durable.zReports[report.zNumber]?.reportHash != report.reportHash {
                reportProblems.append("Z \(report.zNumber) answered before it was stored durably")
            }
        case .refused:
            break
        case .sealed, .prepared, .state, .lookUp:
            reportProblems.append("RPT|\(kind.rawValue) answered with a sale's reply: \(Self.describe(reply))")
        }
    }

    /// A command reaches the device. A Z must cover only numbers the store already holds: the
    /// seals the core learned before it are written ahead of the Z's intent.
    private mutating func atDevice(_ command: Core.Command) -> Core.DeviceResult {
        let result = device.process(command, now: now)
        if case .report(let report) = result, case .report(.z) = command, let first = report.firstSeq,
            let last = report.lastSeq
        {
            let missing = (first...last).filter { store.current.sealed[$0] == nil }
            if !missing.isEmpty {
                reportProblems.append("Z \(report.zNumber) was made with numbers the store lacked: \(missing)")
            }
        }
        return result
    }

    /// Security elements only ever come from the device's journal, for that very sale.
    private mutating func verify(_ entry: JournalEntry, for message: Message, _ terminal: Terminal) {
        let seq = Int(entry.seq.rawValue)
        guard seq >= 1, seq <= device.journal.count, device.journal[seq - 1] == entry else {
            forgedReplies.append("\(terminal.id) got fiscal number \(entry.seq), which the device never sealed so")
            return
        }
        let request: RequestID
        switch message {
        case .sale(let id), .commit(let id), .abort(let id), .result(let id): request = id
        }
        if let sale = terminal.sales.first(where: { $0.requestID == request }), sale.digest != entry.payloadDigest {
            forgedReplies.append("\(terminal.id)/\(request) got the entry of another invoice (\(entry.seq))")
        }
    }

    static func describe(_ reply: Core.Reply) -> String {
        switch reply {
        case .sealed(let entry, let replayed): "sealed \(entry.seq)\(replayed ? " (replayed)" : "")"
        case .prepared(let nonce, let seq, _, let replayed):
            "prepared \(nonce) for \(seq.map { "\($0)" } ?? "a device-free hold")\(replayed ? " (replayed)" : "")"
        case .state(let state, let error, let sealed):
            "state \(state.rawValue)\(error.map { " \($0.code)" } ?? "")\(sealed.map { " \($0.seq)" } ?? "")"
        case .refused(let error, _): "refused \(error.code)"
        case .lookUp(let kind, let key): "look up \(kind) \(key)"
        case .report(let report): "report \(report.kind.rawValue) \(report.zNumber)"
        }
    }

    // MARK: Events

    /// Everything that can happen next.
    enum Event: Hashable {
        case sale(Int)
        case commit(Int)
        case stolenCommit(Int)
        case abort(Int)
        case result(Int)
        case timeout(Int)
        case disconnect(Int)
        case device(DeviceOutcome)
        case writeOK, writeFails, readOK, readFails, lookup
        case deadline, time, deviceFull, crash, powerLoss, shutdown, restart
        /// The operator asks the running mediator for a report.
        case report(DeviceReport.Kind)
    }

    private mutating func randomStep() {
        var options: [(weight: Double, event: Event)] = []
        for (index, terminal) in terminals.enumerated() where terminal.current != nil {
            options.append((3, .sale(index)))
            if terminal.nonce != nil { options.append((3, .commit(index))) }
            if !seenNonces.isEmpty { options.append((0.2, .stolenCommit(index))) }
            if terminal.sent > 0 {
                options.append((0.8, .abort(index)))
                options.append((1, .result(index)))
            }
            if !terminal.listening.isEmpty { options.append((0.5, .timeout(index))) }
            if terminal.connected { options.append((0.3, .disconnect(index))) }
        }
        if exchange != nil {
            options.append((12, .device(.ok)))
            if faults {
                options += [(0.3, .device(.lostBefore)), (0.3, .device(.lostAfter)), (0.3, .device(.garbled))]
                options += [(0.3, .device(.slow)), (0.3, .device(.powerBefore)), (0.3, .device(.powerAfter))]
            }
        }
        if write != nil {
            options.append((10, .writeOK))
            if faults { options.append((0.6, .writeFails)) }
        }
        if read != nil {
            options.append((10, .readOK))
            if faults { options.append((0.3, .readFails)) }
        }
        if !lookups.isEmpty { options.append((5, .lookup)) }
        if core.nextDeadline() != nil { options.append((1.5, .deadline)) }
        options.append((1, .time))
        if faults {
            options.append((0.05, .deviceFull))
            if !stopping { options += [(0.04, .crash), (0.03, .powerLoss), (0.04, .shutdown)] }
        }
        if stopping && drained { options.append((5, .restart)) }
        // The operator's reports in three seeds of four (by the seed, no draw: every fourth seed,
        // the pinned ones among them, replays the schedule it had before reports existed).
        if seed % 4 != 0 && !stopping && reportOwed.count < 2 {
            options.append((0.35, .report(rng.chance(0.7) ? .z : .x)))
        }
        let total = options.reduce(0) { $0 + $1.weight }
        var roll = Double.random(in: 0..<total, using: &rng)
        var choice = options[options.count - 1].event
        for option in options {
            if roll < option.weight {
                choice = option.event
                break
            }
            roll -= option.weight
        }
        perform(choice)
    }

    private mutating func perform(_ event: Event) {
        switch event {
        case .sale(let index): sendSale(index)
        case .commit(let index): sendCommit(index, nonce: terminals[index].nonce)
        case .stolenCommit(let index): sendCommit(index, nonce: rng.pick(seenNonces))
        case .abort(let index): send(index, .abort(terminals[index].current!.requestID))
        case .result(let index): send(index, .result(terminals[index].current!.requestID))
        case .timeout(let index):
            note("terminal \(index) stops waiting")
            terminals[index].listening = [:]
        case .disconnect(let index):
            terminals[index].connected = false
            apply(core.disconnected(terminals[index].id, now: now), "terminal \(index) disconnects")
        case .device(let outcome): answerExchange(outcome)
        case .writeOK: finishWrite(ok: true)
        case .writeFails: finishWrite(ok: false)
        case .readOK: finishRead(ok: true)
        case .readFails: finishRead(ok: false)
        case .lookup: answerLookup()
        case .deadline:
            if let deadline = core.nextDeadline() { now = max(now, deadline) }
            apply(core.tick(now: now), "deadline")
        case .time:
            now = now.advanced(by: rng.millis(1...300))
            apply(core.tick(now: now), "time passes")
        case .deviceFull:
            device.full.toggle()
            let full = device.full
            note("device full: \(full)")
        case .crash: restart(powerLoss: false)
        case .powerLoss: restart(powerLoss: true)
        case .shutdown:
            stopping = true
            drained = false
            apply(core.shutdown(now: now), "shutdown")
        case .restart: restart(powerLoss: false)
        case .report(let kind):
            let ticket = Core.Ticket(nextTicket)
            nextTicket += 1
            reportOwed[ticket] = kind
            apply(core.requestReport(kind, ticket: ticket, now: now), "operator RPT|\(kind.rawValue) \(ticket)")
        }
    }

    private mutating func sendSale(_ index: Int) {
        guard let sale = terminals[index].current else { return }
        send(index, .sale(sale.requestID))
    }

    private mutating func sendCommit(_ index: Int, nonce: Nonce?) {
        guard let sale = terminals[index].current, let nonce else { return }
        send(index, .commit(sale.requestID), nonce: nonce)
    }

    /// A terminal sends a message. While the mediator stops, it is never read.
    private mutating func send(_ index: Int, _ message: Message, nonce: Nonce? = nil) {
        let terminal = terminals[index]
        guard let sale = terminal.current else { return }
        terminals[index].sent += 1
        if stopping {
            note("terminal \(index) sends \(message): not read (stopping)")
            return
        }
        if !terminal.connected {
            terminals[index].connected = true
            apply(core.returned(terminal.id, now: now), "terminal \(index) reconnects")
        }
        let ticket = Core.Ticket(nextTicket)
        nextTicket += 1
        owed[ticket] = (index, message)
        terminals[index].listening[ticket] = message
        let key = RequestKey(terminal.id, sale.requestID)
        switch message {
        case .sale:
            let record = RequestRecord(
                terminalID: terminal.id,
                requestID: sale.requestID,
                payloadDigest: sale.digest,
                payload: SimDevice.payload(terminal: terminal.id, digest: sale.digest),
                outletID: "OUTLET",
                cashierID: "CASH-01",
                laneNumber: nil,
                mode: sale.mode
            )
            apply(core.admit(record, ticket: ticket, now: now), "terminal \(index) \(sale.mode) \(key) \(ticket)")
        case .commit:
            apply(
                core.commit(key, nonce: nonce!, ticket: ticket, now: now),
                "terminal \(index) COMMIT \(key) \(nonce!)"
            )
        case .abort:
            apply(core.abort(key, ticket: ticket, now: now), "terminal \(index) ABORT \(key) \(ticket)")
        case .result:
            apply(core.result(key, ticket: ticket, now: now), "terminal \(index) RESULT \(key) \(ticket)")
        }
    }

    enum DeviceOutcome { case ok, lostBefore, lostAfter, garbled, slow, powerBefore, powerAfter }

    private mutating func answerExchange(_ outcome: DeviceOutcome) {
        guard let exchange else { return }
        self.exchange = nil
        let timeout = FiscalError(.deviceTimeout, "no reply")
        var result: Core.DeviceResult
        switch outcome {
        case .ok:
            now = now.advanced(by: rng.millis(1...30))
            result = atDevice(exchange.command)
        case .slow:
            now = now.advanced(by: rng.millis(900...1500))
            result = atDevice(exchange.command)
        case .lostBefore:
            now = now.advanced(by: rng.millis(300...2000))
            result = .lost(timeout)
        case .lostAfter, .garbled:
            now = now.advanced(by: rng.millis(1...30))
            _ = atDevice(exchange.command)
            if outcome == .lostAfter { now = now.advanced(by: rng.millis(300...2000)) }
            result = .lost(outcome == .garbled ? FiscalError(.replyInvalid, "garbled") : timeout)
        case .powerBefore, .powerAfter:
            now = now.advanced(by: rng.millis(1...30))
            if outcome == .powerAfter, case .commit = exchange.command {
                _ = atDevice(exchange.command)
            }
            device.pending = nil
            now = now.advanced(by: rng.millis(300...2000))
            result = .lost(timeout)
        }
        // The mediator is told of the PREPARE the DEF now holds.
        if case .prepared = result { device.pending?.known = true }
        apply(
            core.exchangeReturned(exchange.token, result, now: now),
            "device \(outcome) #\(exchange.token): \(result.kind)"
        )
    }

    private mutating func finishWrite(ok: Bool) {
        guard let batch = write else { return }
        write = nil
        now = now.advanced(by: rng.millis(0...5))
        if ok {
            let results = store.apply(batch)
            apply(core.written(batch.id, results, now: now), "write \(batch.id) (\(batch.writes.count)) ok")
        } else {
            apply(
                core.writeFailed(batch.id, FiscalError(.storeUnavailable, "disk full"), now: now),
                "write \(batch.id) fails"
            )
        }
    }

    private mutating func finishRead(ok: Bool) {
        guard let read else { return }
        self.read = nil
        guard ok else {
            apply(core.readFailed(FiscalError(.storeUnavailable, "I/O error"), now: now), "read fails")
            return
        }
        switch read {
        case .unfinished: apply(core.loaded(store.unfinished(), pendingZ: store.pendingZ, now: now), "read unfinished")
        case .missing(let last): apply(core.found(missing: store.missing(upTo: last), now: now), "read missing")
        }
    }

    private mutating func answerLookup() {
        guard !lookups.isEmpty else { return }
        let lookup = lookups.removeFirst()
        guard let (terminal, message) = owed.removeValue(forKey: lookup.ticket) else { return }
        let (record, sealed) = store.lookUp(lookup.key)
        note("lookup \(lookup.kind) \(lookup.key)")
        deliver(Core.answer(lookup.kind, record: record, sealed: sealed), for: lookup.ticket, to: terminal, message)
    }

    /// The mediator process ends (killed, power lost, or drained after a shutdown) and starts again.
    private mutating func restart(powerLoss: Bool) {
        visited.formUnion(core.visited)
        let cause = powerLoss ? "POWER LOSS" : (stopping ? "restart after shutdown" : "mediator KILLED")
        note(cause)
        if let exchange {
            // A command on the wire may still reach the device as the mediator dies.
            if rng.chance(0.5) { _ = atDevice(exchange.command) }
            self.exchange = nil
        }
        // The new mediator knows nothing of a PREPARE the DEF still holds.
        device.pending?.known = false
        reportOwed = [:]
        if let batch = write {
            if rng.chance(0.5) { _ = store.apply(batch) }
            write = nil
        }
        if powerLoss {
            device.pending = nil
            store.powerLoss()
        }
        read = nil
        lookups = []
        owed = [:]
        for index in terminals.indices {
            terminals[index].listening = [:]
            terminals[index].connected = true
        }
        stopping = false
        drained = false
        now = now.advanced(by: rng.millis(10...500))
        core = Core(configuration: configuration, nonceSeed: Array("sim \(seed) \(step)".utf8))
        apply(core.start(now: now), "start")
    }

    // MARK: Settling

    /// Faults stop; every terminal follows the retry rule until each sale is sealed (or, for a
    /// bad invoice, refused); then the end state is checked.
    private mutating func settle() throws(Failure) {
        faults = false
        device.full = false
        for round in 0..<4000 {
            step += 1
            if !settleStep() {
                try check()
                try checkSettled()
                return
            }
            try check()
            if round == 3999 { throw fail("the run did not settle") }
        }
    }

    private mutating func settleStep() -> Bool {
        if exchange != nil {
            answerExchange(.ok)
            return true
        }
        if write != nil {
            finishWrite(ok: true)
            return true
        }
        if read != nil {
            finishRead(ok: true)
            return true
        }
        if !lookups.isEmpty {
            answerLookup()
            return true
        }
        if stopping {
            if drained { restart(powerLoss: false) } else { perform(.deadline) }
            return true
        }
        let waiting = terminals.indices.filter { terminals[$0].current != nil }
        guard !waiting.isEmpty else {
            // Nobody waits, but the core may still have work of its own (recovery, a journal
            // check, a store write it retries): its deadlines drive it, so time must pass.
            guard coreHasWork, let deadline = core.nextDeadline() else { return false }
            now = max(now, deadline)
            apply(core.tick(now: now), "settle: deadline")
            return true
        }
        for index in waiting where terminals[index].listening.isEmpty {
            if terminals[index].nonce != nil {
                sendCommit(index, nonce: terminals[index].nonce)
            } else {
                sendSale(index)
            }
        }
        now = now.advanced(by: .milliseconds(100))
        apply(core.tick(now: now), "settle: time passes")
        return true
    }

    /// Whether the core has work of its own left: it is not running yet, or a store write or a
    /// journal check is unfinished, or a request is still live. (A failed batch of admissions
    /// only leaves nothing to write: the failure stays raised until the next write succeeds.)
    private var coreHasWork: Bool {
        guard case .running = core.lifecycle else { return true }
        return !core.line.pending.isEmpty || core.line.inFlight != nil || core.journal != .none
            || !core.requests.isEmpty || core.unresolvedZ != nil || !core.reports.isEmpty
    }

    // MARK: Invariants

    /// After every step.
    private mutating func check() throws(Failure) {
        if device.overlapping > 0 { throw fail("two exchanges at the device at once") }
        if overlappingWrites > 0 { throw fail("two store writes (or reads) at once") }
        if unknownReplies > 0 { throw fail("a reply for a message nobody is owed (answered twice?)") }
        if preparesAfterShutdown > 0 { throw fail("a PREPARE went to the device after shutdown began") }
        if let forged = forgedReplies.first { throw fail("security elements not from a COMMIT: \(forged)") }
        if let double = doubleNumbers.first { throw fail("a sale acknowledged with two numbers: \(double)") }
        if device.reportsInsidePrepare > 0 {
            throw fail("a report reached the device inside a sale's PREPARE → COMMIT")
        }
        if let problem = reportProblems.first { throw fail(problem) }
        if let refusal = store.refusals.first { throw fail("the store would refuse: \(refusal)") }
        for (number, stored) in store.current.zReports {
            guard number >= 1, number <= UInt64(device.zReports.count),
                device.zReports[Int(number) - 1].reportHash == stored.reportHash
            else { throw fail("the store holds Z \(number), which is not the device's") }
        }
        for report in device.zReports {
            // Every Z the device made had its intent on disk first, and it was not dropped.
            guard
                store.current.intents.contains(where: { $0.zCountBefore == report.zNumber - 1 && $0.state != .dropped })
            else { throw fail("the device made Z \(report.zNumber) with no intent stored before it") }
        }
        var digests: Set<String> = []
        for entry in device.journal where !digests.insert(entry.payloadDigest).inserted {
            throw fail("sale \(entry.payloadDigest) fiscalized twice (fiscal number \(entry.seq))")
        }
        for (seq, entry) in store.current.sealed {
            guard seq >= 1, seq <= UInt64(device.journal.count), device.journal[Int(seq) - 1] == entry else {
                throw fail("the store holds fiscal number \(seq), which is not the journal's")
            }
        }
        for (key, row) in store.current.requests where row.state == .sealed {
            guard let seq = row.invoiceSeq, let entry = store.current.sealed[seq],
                entry.payloadDigest == row.payloadDigest
            else { throw fail("request \(key) is sealed without its invoice") }
        }
        try checkCore()
    }

    /// The core's own consistency, and "no request waits without a waiter behind it".
    private mutating func checkCore() throws(Failure) {
        if case .holder(let holder) = core.slot {
            guard let live = core.requests[holder.key], case .holding = live.stage else {
                throw fail("the lock holder \(holder.key) is not a holding request")
            }
        }
        var queued = Set<RequestKey>()
        for (_, key, _) in core.queue.positions() { queued.insert(key) }
        for (key, live) in core.requests {
            switch live.stage {
            case .holding:
                guard core.holderKey == key else { throw fail("\(key) is holding but does not hold the lock") }
            case .queued:
                guard queued.contains(key) else { throw fail("\(key) is queued but not in the queue") }
                // A device-free hold queues at its COMMIT: the COMMIT waits for it.
                let waiting: DeviceCore.Waiter.Kind = live.committedNonce == nil ? .sale : .commit
                guard live.waiters.contains(where: { $0.kind == waiting }) else {
                    throw fail("\(key) is queued with nobody waiting for it")
                }
            case .reserved(let nonce, let leaseUntil):
                guard core.reservations[key] == leaseUntil else { throw fail("\(key) is reserved but not tracked") }
                guard !queued.contains(key) else { throw fail("\(key) is reserved and queued at once") }
                guard core.nonces.holder(of: nonce) == key else { throw fail("\(key)'s hold has no live nonce") }
            case .admitting:
                guard live.waiters.contains(where: { $0.kind == .sale }) else {
                    throw fail("\(key) is admitted with nobody waiting for it")
                }
            case .settling, .sealing, .finishing:
                break
            }
            for waiter in live.waiters
            where owed[waiter.ticket] == nil && !lookups.contains(where: { $0.ticket == waiter.ticket }) {
                throw fail("\(key) keeps a waiter \(waiter.ticket) that was already answered")
            }
        }
        for key in queued where core.requests[key] == nil { throw fail("\(key) is queued but not live") }
        // Once running, every unfinished request in the store is one the core works on.
        if case .running = core.lifecycle {
            let mentioned = Set((core.line.pending + (core.line.inFlight?.writes ?? [])).compactMap(Self.key(of:)))
            for key in store.current.order {
                guard let row = store.current.requests[key], row.state.isActive else { continue }
                if core.requests[key] == nil && !mentioned.contains(key) {
                    throw fail("\(key) is \(row.state.rawValue) in the store, and nothing will ever finish it")
                }
            }
        }
    }

    static func key(of write: StoreWrite) -> RequestKey? {
        switch write {
        case .admit(let record): record.key
        case .progress(let key, _, _, _), .outcome(let key, _, _), .seal(let key, _): key
        case .adopt, .zIntent, .zReport, .zIntentClosed: nil
        }
    }

    /// Once everything settled: everyone answered, every sale sealed once, device = store.
    private mutating func checkSettled() throws(Failure) {
        visited.formUnion(core.visited)
        if !owed.isEmpty { throw fail("\(owed.count) messages were never answered") }
        if !reportOwed.isEmpty { throw fail("\(reportOwed.count) report requests were never answered") }
        if let pending = store.pendingZ { throw fail("a Z intent (z_count \(pending.zCountBefore)) is left pending") }
        for report in device.zReports where store.current.zReports[report.zNumber] == nil {
            // Only a DEF that cannot read a Z back leaves one unstored, and the intent says so.
            let owned = store.current.intents.contains {
                $0.state == .unrecoverable && $0.zCountBefore < report.zNumber && ($0.zCountSeen ?? 0) >= report.zNumber
            }
            guard !device.readsZBack, owned else { throw fail("the device's Z \(report.zNumber) was never stored") }
        }
        for terminal in terminals {
            for sale in terminal.sales where !sale.bad {
                guard let entry = terminal.acked[sale.requestID] else {
                    throw fail("\(terminal.id)/\(sale.requestID) was never acknowledged")
                }
                guard device.journal.filter({ $0.payloadDigest == sale.digest }) == [entry] else {
                    throw fail("\(terminal.id)/\(sale.requestID) is not exactly one journal entry")
                }
            }
        }
        guard store.current.sealed.count == device.journal.count else {
            throw fail(
                "the device counter (\(device.journal.count)) is not the sealed requests (\(store.current.sealed.count))"
            )
        }
        for row in store.current.requests.values where row.state.isActive {
            throw fail("\(row.key) is left \(row.state.rawValue)")
        }
    }
}
