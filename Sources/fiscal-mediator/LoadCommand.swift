import ArgumentParser
import AsyncHTTPClient
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation
import LoadGenerator
import Logging
import Mediator
import MediatorStore
import NIOCore
import TerminalClient
import Topology

/// `fiscal-mediator load --topology FILE`: replays a deployment's load profile with real
/// ZeroMQ terminals, then audits the device journal against the store and the acknowledgements.
struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Run a topology's terminals against a mediator and audit the result.",
        discussion: """
            Without --connect it starts the mediator itself, in this process, with a fresh emulated device \
            and store (in --state, default a new temporary directory) configured as the topology says. With \
            --connect it drives a running `serve --topology FILE` and audits that mediator's store and, for \
            an emulated device, its journal on disk (same machine). Exits 1 when the audit finds a gap, a \
            duplicate or a missing invoice, or cannot read the journal or the store (it fails closed).
            """
    )

    @Option(help: "The topology file (topology/*.yaml).") var topology: String
    @Option(help: "How long to run, e.g. 60s (default: the topology's load.duration).") var duration: String?
    @Option(help: "A running mediator's endpoint (default: start one in this process).") var connect: String?
    @Flag(help: "With --connect: the mediator runs --insecure-plaintext (no CURVE).") var insecurePlaintext = false
    @Option(help: "Write the report as JSON here.") var reportJSON: String?
    @Option(help: "Where the in-process mediator keeps its device and store.") var state: String?
    @Option(help: "Seed of the load's randomness (arrivals, baskets, payments, outages).") var seed: UInt64 = 2026
    @Option(help: "poisson or paced (default: the topology's load.arrivals).") var arrivals: String?

    func run() async throws {
        var topology: Topology
        do { topology = try await Topology.load(path: self.topology) } catch {
            throw ValidationError(error.message)
        }
        if let arrivals {
            guard let parsed = Topology.Arrivals(rawValue: arrivals) else {
                throw ValidationError("--arrivals: '\(arrivals)' is not poisson or paced")
            }
            topology.load.arrivals = parsed
        }
        let runFor = try duration.map { text in
            guard let value = Duration.parsing(text), value > .zero else {
                throw ValidationError("--duration: '\(text)' is not a duration such as 60s")
            }
            return value
        }
        let context = ClientContext()
        let target: Target
        if let connect {
            target = try Target.remote(connect, topology, insecure: insecurePlaintext)
        } else {
            target = try await Target.local(topology, state)
        }
        defer { target.stop() }

        let runner = LoadRunner(
            topology: topology,
            endpoint: target.endpoint,
            duration: runFor,
            seed: seed,
            context: context,
            curve: target.curve
        )
        let busyBefore = await target.busyTime()
        let started = ContinuousClock.now
        let outcome = await runner.run { progress in
            Task {
                let depth = await target.queueDepth().map(String.init) ?? "?"
                let p99 = progress.p99.map { String(format: "%.1f", $0.inSeconds * 1000) } ?? "-"
                // On a terminal the line redraws itself; into a file, one line a second.
                let start = isatty(2) == 1 ? "\r" : ""
                let end = isatty(2) == 1 ? "" : "\n"
                FileHandle.standardError.write(
                    Data(
                        "\(start)[\(Int(progress.elapsed.inSeconds))s] ok \(progress.ok)  \(progress.lastSecondOK)/s  p99 \(p99) ms  errors \(progress.errors)  queue \(depth)  roaming \(progress.roamingEvents)   \(end)"
                            .utf8
                    )
                )
            }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        let wall = ContinuousClock.now - started
        let busyAfter = await target.busyTime()
        let utilization: Double? =
            if let busyBefore, let busyAfter { (busyAfter - busyBefore).inSeconds / wall.inSeconds } else { nil }
        // Let the last background writes land, then audit.
        try? await Task.sleep(for: .milliseconds(300))
        let audit = await target.audit(outcome.acknowledgements)
        let report = LoadReport(
            topology: topology.name,
            terminals: topology.terminals.count,
            offeredTPS: topology.load.tpsPerTerminal * Double(topology.terminals.count),
            arrivals: topology.load.arrivals.rawValue,
            outcome: outcome,
            deviceUtilization: utilization,
            inDoubt: await target.inDoubt(),
            audit: audit
        )
        print(report.table)
        if let reportJSON {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: reportJSON))
        }
        if !audit.clean { throw ExitCode(1) }
    }
}

/// The mediator a load runs against: one started here, or one running elsewhere.
final class Target: Sendable {
    let endpoint: String
    /// The terminals' CURVE settings (empty: plaintext).
    let curve: [TerminalID: CurveSettings]
    private let service: MediatorService?
    private let emulator: FiscalDeviceEmulator?
    private let device: FiscalDeviceClient?
    private let store: MediatorDatabase?
    /// Why the store could not be opened.
    private let storeError: String?
    private let journalPath: String?
    private let running: Task<Void, any Error>?
    private let probe: MediatorClientProbe?

    private init(
        endpoint: String,
        service: MediatorService?,
        emulator: FiscalDeviceEmulator?,
        device: FiscalDeviceClient?,
        store: MediatorDatabase?,
        storeError: String? = nil,
        journalPath: String?,
        running: Task<Void, any Error>?,
        probe: MediatorClientProbe?,
        curve: [TerminalID: CurveSettings]
    ) {
        self.curve = curve
        self.endpoint = endpoint
        self.service = service
        self.emulator = emulator
        self.device = device
        self.store = store
        self.storeError = storeError
        self.journalPath = journalPath
        self.running = running
        self.probe = probe
    }

    /// A mediator in this process, set up as the topology says, on a fresh device and store.
    static func local(_ topology: Topology, _ state: String?) async throws -> Target {
        let directory = URL(
            fileURLWithPath: state
                ?? FileManager.default.temporaryDirectory.appendingPathComponent("load-\(UUID().uuidString)").path
        )
        var emulatorConfiguration = FiscalDeviceEmulator.Configuration(
            stateDirectory: directory.appendingPathComponent("emulator")
        )
        emulatorConfiguration.nonceTTL = topology.device.nonceTTL
        if let latency = topology.device.latency.flatMap(EmulatorLatency.parse) {
            emulatorConfiguration.latency = latency
        }
        let emulator = try FiscalDeviceEmulator(configuration: emulatorConfiguration)
        let client = FiscalDeviceClient(link: InProcessDeviceLink(handler: emulator))
        if try await !client.status().initialized {
            _ = try await client.initialize(deviceID: nil, resetToken: "load-token")
        }
        let store = try MediatorDatabase(path: directory.appendingPathComponent("mediator.sqlite").path)
        try registerTerminals(topology, in: store)
        let keys = try pairTopologyTerminals(
            topology,
            store: store,
            directory: directory.appendingPathComponent("terminal-keys").path
        )
        let serverKeys = try ServerKeys.ephemeral()
        var configuration = try mediatorConfiguration(topology)
        configuration.gateway.endpoints = ["tcp://127.0.0.1:*"]
        configuration.gateway.pairingEndpoints = []
        configuration.gateway.security = .curve(serverKeys)
        configuration.deviceBusyTime = { emulator.busyTime }
        var logger = Logger(label: "load-mediator")
        logger.logLevel = .warning
        let service = try MediatorService(
            configuration: configuration,
            client: client,
            store: store,
            logger: logger
        )
        let running = Task { try await service.run() }
        await service.deviceActor.waitUntilReady()
        return Target(
            endpoint: service.gateway.endpoints[0],
            service: service,
            emulator: emulator,
            device: client,
            store: store,
            journalPath: nil,
            running: running,
            probe: nil,
            curve: keys.compactMapValues { CurveSettings(keys: $0, serverKey: serverKeys.publicKey) }
        )
    }

    /// A running mediator (`serve --topology`), audited through its files on this machine.
    static func remote(_ endpoint: String, _ topology: Topology, insecure: Bool) throws -> Target {
        var store: MediatorDatabase?
        var storeError: String?
        do { store = try MediatorDatabase(path: topology.mediator.store) } catch { storeError = "\(error)" }
        // `serve --topology` made and pinned the terminals' keys beside its store; its server
        // key is in its key file there.
        var curve: [TerminalID: CurveSettings] = [:]
        if !insecure {
            let serverKey = try ServerKeys.loadOrCreate(file: ServerKeys.defaultPath(store: topology.mediator.store))
                .keys.publicKey
            let directory = terminalKeyDirectory(store: topology.mediator.store)
            for terminal in topology.terminals {
                let keys = try TerminalKeys.loadOrCreate(file: "\(directory)/\(terminal.code).key").keys
                curve[terminal.code] = CurveSettings(keys: keys, serverKey: serverKey)
            }
        }
        let probe = MediatorClientProbe(opsHTTP: topology.mediator.opsHTTP)
        return Target(
            endpoint: endpoint,
            service: nil,
            emulator: nil,
            device: nil,
            store: store,
            storeError: storeError,
            journalPath: topology.device.kind == .emulator ? topology.device.path : nil,
            running: nil,
            probe: probe,
            curve: curve
        )
    }

    func stop() {
        running?.cancel()
        emulator?.shutdown()
        probe?.close()
    }

    func busyTime() async -> Duration? {
        if let emulator { return emulator.busyTime }
        return await probe?.health()?.busyMs.map { .milliseconds($0) }
    }

    func queueDepth() async -> Int? {
        if let service { return await service.deviceActor.snapshot().queueDepth }
        return await probe?.health()?.queueDepth
    }

    func inDoubt() async -> Int {
        if let service { return await service.deviceActor.snapshot().inDoubt }
        return await probe?.health()?.inDoubt ?? 0
    }

    /// The device journal (ADM|DUMPLOG here; the emulator's file for a remote mediator), the
    /// store and the acknowledgements, compared. Evidence that cannot be read makes the audit
    /// incomplete (and the run fail), never clean.
    func audit(_ acknowledgements: [LoadAudit.Acknowledgement]) async -> LoadAudit {
        var journal: [JournalEntry]?
        var verified: Bool?
        var verificationFailure: String?
        var journalError: String?
        if let device {
            do {
                let dump = try await device.dumpEntireLog()
                journal = dump.entries
                do {
                    try dump.verify()
                    verified = true
                } catch {
                    verified = false
                    verificationFailure = "\(error)"
                }
            } catch {
                journalError = "\(error)"
            }
        } else if let journalPath {
            let url = URL(fileURLWithPath: journalPath)
            do {
                journal = try JournalAudit.load(path: url).entries
                do {
                    try JournalAudit.verify(path: url)
                    verified = true
                } catch let failure as JournalVerifier.Failure {
                    verified = false
                    verificationFailure = "\(failure)"
                }
            } catch {
                journal = nil
                journalError = "\(error)"
            }
        } else {
            journalError =
                "the mediator's device is not an emulator on this machine; export its journal "
                + "(`device dump-log`) and run `fiscal-mediator audit`"
        }
        var stored: [UInt64: String] = [:]
        var storeError = self.storeError
        if let store {
            do {
                var next: UInt64 = 1
                while true {
                    let page = try store.sealedInvoices(from: next, limit: 5000)
                    guard let last = page.last else { break }
                    for invoice in page { stored[invoice.entry.seq.rawValue] = invoice.entry.entryHash }
                    next = last.entry.seq.rawValue + 1
                }
            } catch {
                storeError = "\(error)"
            }
        }
        return LoadAudit.compare(
            journal: journal,
            verified: verified,
            verificationFailure: verificationFailure,
            journalError: journalError,
            store: stored,
            storeError: storeError,
            acknowledgements: acknowledgements
        )
    }
}

/// A running mediator's state, read from its ops API (`GET /health`): the load's terminals keep
/// their own identities to themselves.
final class MediatorClientProbe: Sendable {
    struct Health: Sendable {
        var queueDepth: Int?
        var inDoubt: Int?
        var busyMs: Int?
    }

    private let url: String?

    init(opsHTTP: String) {
        url = opsHTTP == "off" ? nil : "http://\(opsHTTP)/health"
    }

    func health() async -> Health? {
        guard let url,
            let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(2)),
            let body = try? await response.body.collect(upTo: 1 << 20),
            let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        else { return nil }
        return Health(
            queueDepth: (object["queue"] as? [String: Any])?["waiting"] as? Int,
            inDoubt: object["in_doubt"] as? Int,
            busyMs: (object["device"] as? [String: Any])?["busy_ms"] as? Int
        )
    }

    func close() {}
}

/// Registers the topology's terminals that the store does not know yet.
func registerTerminals(_ topology: Topology, in store: MediatorDatabase) throws {
    for terminal in topology.terminals where try store.terminal(terminal.code) == nil {
        _ = try store.addTerminal(TerminalRecord(code: terminal.code, laneNumber: terminal.lane))
    }
}

/// Where `serve --topology` keeps its terminals' key files: `terminal-keys/` beside the store
/// (the `terminal` command's default key file for a terminal id, with the default store).
func terminalKeyDirectory(store: String) -> String {
    URL(fileURLWithPath: store).deletingLastPathComponent().appendingPathComponent("terminal-keys").path
}

/// Gives each of the topology's terminals a key pair (a 0600 file in `directory`, made once)
/// and pins it in `store`: pairing done by the operator's own hand, for load runs.
func pairTopologyTerminals(
    _ topology: Topology,
    store: MediatorDatabase,
    directory: String
) throws -> [TerminalID: TerminalKeys] {
    var keys: [TerminalID: TerminalKeys] = [:]
    for terminal in topology.terminals {
        let pair = try TerminalKeys.loadOrCreate(file: "\(directory)/\(terminal.code).key").keys
        if try store.terminal(terminal.code)?.curveKey != pair.publicKey {
            try store.pinKey(pair.publicKey, to: terminal.code)
        }
        keys[terminal.code] = pair
    }
    return keys
}

/// The mediator settings a topology gives.
func mediatorConfiguration(_ topology: Topology) throws -> MediatorService.Configuration {
    var configuration = MediatorService.Configuration()
    configuration.outletID = topology.outletID
    configuration.gateway.endpoints = [topology.mediator.endpoint]
    configuration.device.lease = topology.mediator.lease
    configuration.device.roamingGrace = topology.mediator.roamingGrace
    configuration.device.holds = DeviceConfiguration.Holds(rawValue: topology.device.holds.rawValue) ?? .mediator
    configuration.device.queueLimit = 1000
    configuration.device.perTerminalQueueLimit = 16
    // The flood guard stays well above what the topology's load sends (its RESULT polls included).
    configuration.gateway.rateLimit = max(50, topology.load.tpsPerTerminal * 10)
    configuration.gateway.rateBurst = max(100, Int(topology.load.tpsPerTerminal * 20))
    configuration.heartbeat.profiles = try ServeCommand.profiles(topology.mediator.heartbeat)
    configuration.selfRegister = topology.mediator.selfRegister
    configuration.requireCashierLogin = topology.mediator.cashierLogin
    configuration.requireWorkPeriod = topology.mediator.workPeriods
    return configuration
}
