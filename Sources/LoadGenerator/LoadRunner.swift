public import FiscalCore
import Foundation
public import SampleData
import Synchronization
public import TerminalClient
public import Topology

/// Runs a topology's terminals as real ZeroMQ clients against a mediator at `endpoint`: each
/// rings up sales at its TPS (Poisson or paced arrivals, basket sizes and payments from the profile),
/// by FISCALIZE or by PREPARE/COMMIT, heartbeats at its profile's interval, and, if it roams,
/// drops out of range now and then, sometimes between PREPARE and COMMIT. Every sale is
/// settled the way docs/PROTOCOL.md says a terminal must (RESULT, then the same request id
/// again), so each sale ends with exactly one acknowledgement or a counted error.
public final class LoadRunner: Sendable {
    public struct Progress: Sendable {
        public var elapsed: Duration
        public var ok: Int
        public var lastSecondOK: Int
        public var p99: Duration?
        public var errors: Int
        public var roamingEvents: Int
    }

    /// What the run produced, before the audit.
    public struct Outcome: Sendable {
        public var elapsed: Duration
        public var latencies: [Duration]
        public var laneMaxLatency: Duration
        /// When (since the start) the sale that waited longest began, and at which lane.
        public var laneMaxAt: (elapsed: Duration, terminal: String)?
        public var errorsByCode: [String: Int]
        public var acknowledgements: [LoadAudit.Acknowledgement]
        public var roamingEvents: Int
        public var fiscalizeSales: Int
        public var twoPhaseSales: Int
    }

    let topology: Topology
    let endpoint: String
    let duration: Duration
    let seed: UInt64
    let context: ClientContext
    /// Each terminal's CURVE settings (its paired key and the server key); a terminal without
    /// one connects in plaintext (a mediator run with `--insecure-plaintext`).
    let curve: [TerminalID: CurveSettings]
    let runID = String(UUID().uuidString.prefix(8))
    private let stats = Mutex(Stats())

    struct Stats {
        var latencies: [Duration] = []
        var laneMax: Duration = .zero
        var laneMaxAt: (elapsed: Duration, terminal: String)?
        var errors: [String: Int] = [:]
        var acks: [LoadAudit.Acknowledgement] = []
        var roaming = 0
        var fiscalize = 0
        var twoPhase = 0
        var okAtLastTick = 0
    }

    public init(
        topology: Topology,
        endpoint: String,
        duration: Duration? = nil,
        seed: UInt64 = 2026,
        context: ClientContext,
        curve: [TerminalID: CurveSettings] = [:]
    ) {
        self.curve = curve
        self.topology = topology
        self.endpoint = endpoint
        self.duration = duration ?? topology.load.duration
        self.seed = seed
        self.context = context
    }

    /// Runs every terminal until the duration is over (and their last sales are settled);
    /// `progress` is called about once a second.
    public func run(progress: @escaping @Sendable (Progress) -> Void = { _ in }) async -> Outcome {
        let clock = ContinuousClock()
        let start = clock.now
        let end = start + duration
        await withTaskGroup(of: Void.self) { group in
            for (index, terminal) in topology.terminals.enumerated() {
                group.addTask { await self.drive(terminal, index: index, start: start, end: end) }
            }
            group.addTask {
                while clock.now < end {
                    try? await Task.sleep(for: .seconds(1))
                    progress(self.progress(since: start))
                }
            }
            await group.waitForAll()
        }
        return stats.withLock {
            Outcome(
                elapsed: clock.now - start,
                latencies: $0.latencies.sorted(),
                laneMaxLatency: $0.laneMax,
                laneMaxAt: $0.laneMaxAt,
                errorsByCode: $0.errors,
                acknowledgements: $0.acks,
                roamingEvents: $0.roaming,
                fiscalizeSales: $0.fiscalize,
                twoPhaseSales: $0.twoPhase
            )
        }
    }

    private func progress(since start: ContinuousClock.Instant) -> Progress {
        stats.withLock { stats in
            let ok = stats.latencies.count
            let recent = stats.latencies.suffix(2000).sorted()
            defer { stats.okAtLastTick = ok }
            return Progress(
                elapsed: .now - start,
                ok: ok,
                lastSecondOK: ok - stats.okAtLastTick,
                p99: recent.isEmpty ? nil : recent[recent.count * 99 / 100],
                errors: stats.errors.values.reduce(0, +),
                roamingEvents: stats.roaming
            )
        }
    }

    // MARK: One terminal

    /// The terminal's current connection; replaced when it roams.
    final class Connection: Sendable {
        let current: Mutex<MediatorClient>
        init(_ client: MediatorClient) { current = Mutex(client) }
        var client: MediatorClient { current.withLock { $0 } }
    }

    private func connect(_ terminal: Topology.Terminal) async -> MediatorClient? {
        var configuration = MediatorClient.Configuration(endpoint: endpoint, terminalID: terminal.code)
        configuration.cashierID = terminal.cashier
        configuration.machineID = "load-\(terminal.code)"
        configuration.appVersion = "fiscal-mediator load"
        configuration.requestTimeout = .seconds(15)
        configuration.curve = curve[terminal.code]
        let client: MediatorClient
        do {
            client = try MediatorClient(context: context, configuration: configuration)
        } catch {
            // A socket libzmq would not make or connect: the terminal cannot reach the mediator.
            count(error: (error as? FiscalError)?.code.rawValue ?? ErrorCode.linkDown.rawValue)
            return nil
        }
        Task { await client.run() }
        // The mediator may still be starting: HELLO is tried for about five seconds, and what
        // refused it last is counted under its own code.
        var last: FiscalError?
        for _ in 0..<50 {
            do {
                let hello = try await client.hello()
                // A load run opens each terminal's work period, as a POS does at the start of a shift.
                do {
                    try await client.ensurePeriod(after: hello, openedBy: terminal.cashier)
                } catch {
                    count(error: error.code.rawValue)
                }
                return client
            } catch {
                last = error
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        count(error: last?.code.rawValue ?? ErrorCode.mediatorTimeout.rawValue)
        return client
    }

    private func drive(
        _ terminal: Topology.Terminal,
        index: Int,
        start: ContinuousClock.Instant,
        end: ContinuousClock.Instant
    ) async {
        var random = SeededRandom(seed: seed &+ UInt64(index + 1) &* 0x9E37_79B9)
        guard let first = await connect(terminal) else { return count(error: "CONNECT_FAILED") }
        let connection = Connection(first)
        let profile = topology.load
        let heartbeat = Task {
            let interval = Self.heartbeatInterval(terminal.kind, self.topology.mediator.heartbeat)
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                let health = TerminalHealth(
                    printerAvailable: true,
                    drawerAvailable: true,
                    workPeriodOpen: true,
                    ipAddress: "127.0.0.1"
                )
                _ = try? await connection.client.heartbeat(health, cashierID: terminal.cashier)
            }
        }
        let schedule = ArrivalSchedule(profile.arrivals, tps: profile.tpsPerTerminal)
        var nextStart = ContinuousClock.now + schedule.firstDelay(&random)
        var nextOutage = profile.roaming.flatMap {
            terminal.roams ? ContinuousClock.now + Self.exponential($0.meanInterval, &random) : nil
        }
        var sale = 0
        while nextStart < end {
            if nextStart > .now { try? await Task.sleep(until: nextStart) }
            var outageWhileHolding: Duration?
            if let due = nextOutage, let roaming = profile.roaming, ContinuousClock.now >= due {
                let outage = Self.uniform(roaming.outage, &random)
                if random.unit() < roaming.whileHoldingShare {
                    outageWhileHolding = outage
                } else {
                    await roam(terminal, connection, for: outage)
                }
                nextOutage = .now + Self.exponential(roaming.meanInterval, &random)
            }
            sale += 1
            let lines = profile.basketLines.lowerBound + Int(random.next() % UInt64(profile.basketLines.count))
            let invoice = SampleInvoices.sale(
                lines: lines,
                terminal: terminal.code.rawValue,
                cashier: terminal.cashier,
                lane: terminal.lane,
                seed: index * 1_000_000 + sale,
                payment: Self.pick(profile.paymentMix, &random),
                outlet: topology.outletID
            )
            let requestID = "\(runID)-\(terminal.code)-\(sale)"
            let twoPhase = outageWhileHolding != nil || random.unit() < profile.twoPhaseShare
            let began = ContinuousClock.now
            do {
                let elements =
                    twoPhase
                    ? try await twoPhaseSale(terminal, connection, requestID, invoice, dropFor: outageWhileHolding)
                    : try await connection.client.fiscalizeReliably(
                        requestID: requestID,
                        invoice: invoice,
                        deadline: .seconds(60)
                    )
                let latency = ContinuousClock.now - began
                stats.withLock {
                    $0.latencies.append(latency)
                    if !terminal.roams, latency > $0.laneMax {
                        $0.laneMax = latency
                        $0.laneMaxAt = (began - start, terminal.code.rawValue)
                    }
                    $0.acks.append(.init(terminal: terminal.code.rawValue, requestID: requestID, elements: elements))
                    if twoPhase { $0.twoPhase += 1 } else { $0.fiscalize += 1 }
                }
            } catch {
                count(error: error.code.rawValue)
            }
            nextStart = max(nextStart + schedule.nextGap(&random), .now)
        }
        heartbeat.cancel()
        connection.client.close()
    }

    /// PREPARE, optionally drop out of range for `dropFor` while holding the device, COMMIT;
    /// whatever fails is settled by RESULT and a new PREPARE under the same request id.
    private func twoPhaseSale(
        _ terminal: Topology.Terminal,
        _ connection: Connection,
        _ requestID: String,
        _ invoice: Invoice,
        dropFor outage: Duration?
    ) async throws(FiscalError) -> SecurityElements {
        var outage = outage
        return try await MediatorClient.twoPhaseReliably(
            requestID: requestID,
            invoice: invoice,
            deadline: .seconds(60),
            client: { connection.client },
            afterPrepare: { _, _ in
                guard let away = outage else { return }
                outage = nil
                await roam(terminal, connection, for: away)
            }
        )
    }

    /// Out of range for `outage`: the connection closes, and a new one says HELLO afterwards.
    private func roam(_ terminal: Topology.Terminal, _ connection: Connection, for outage: Duration) async {
        connection.client.close()
        stats.withLock { $0.roaming += 1 }
        try? await Task.sleep(for: outage)
        if let client = await connect(terminal) { connection.current.withLock { $0 = client } }
    }

    private func count(error code: String) { stats.withLock { $0.errors[code, default: 0] += 1 } }

    // MARK: Randomness

    static func exponential(_ mean: Duration, _ random: inout SeededRandom) -> Duration {
        mean * -log(max(1e-9, 1 - random.unit()))
    }

    static func uniform(_ range: ClosedRange<Duration>, _ random: inout SeededRandom) -> Duration {
        range.lowerBound + (range.upperBound - range.lowerBound) * random.unit()
    }

    static func pick(
        _ mix: [(method: Invoice.Payment.Method, weight: Int)],
        _ random: inout SeededRandom
    ) -> Invoice.Payment.Method {
        let total = mix.reduce(0) { $0 + $1.weight }
        var ticket = Int(random.next() % UInt64(max(total, 1)))
        for (method, weight) in mix {
            if ticket < weight { return method }
            ticket -= weight
        }
        return mix.last?.method ?? .cash
    }

    /// The heartbeat interval of a terminal's default profile, from `default=60s,lane=15s,tablet=5s`.
    static func heartbeatInterval(_ kind: TerminalKind, _ profiles: String) -> Duration {
        var table: [String: Duration] = [:]
        for pair in profiles.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = Duration.parsing(String(parts[1])) { table[String(parts[0])] = value }
        }
        return table[kind.defaultHeartbeatProfile] ?? table["default"] ?? .seconds(60)
    }
}

extension SeededRandom {
    /// A uniform Double in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// When one terminal's sales are due: the first `firstDelay` after it starts, each next one
/// `nextGap` after the previous one was due (or at once, if that sale took longer).
public struct ArrivalSchedule: Sendable {
    public let arrivals: Topology.Arrivals
    /// 1/TPS.
    public let meanGap: Duration

    public init(_ arrivals: Topology.Arrivals, tps: Double) {
        self.arrivals = arrivals
        meanGap = .seconds(1) / tps
    }

    /// Poisson: at once. Paced: a random point of the first interval, so lanes do not ring in step.
    public func firstDelay(_ random: inout SeededRandom) -> Duration {
        arrivals == .paced ? meanGap * random.unit() : .zero
    }

    /// Poisson: exponential with mean 1/TPS. Paced: exactly 1/TPS.
    public func nextGap(_ random: inout SeededRandom) -> Duration {
        arrivals == .paced ? meanGap : LoadRunner.exponential(meanGap, &random)
    }
}
