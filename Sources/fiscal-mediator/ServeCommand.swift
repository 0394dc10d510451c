import ArgumentParser
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation
import LogFormat
import Logging
import Mediator
import MediatorStore
import OpsHTTP
import Prometheus
import ServiceLifecycle
import Topology
import UnixSignals

/// `fiscal-mediator serve`: the mediator daemon.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the fiscal mediator: terminals over ZeroMQ, one fiscal device, state in SQLite.",
        discussion: """
            With no options it runs on embedded defaults: an emulated device whose fiscal memory is in
            var/emulator (initialized on first start), the store in var/mediator.sqlite, and terminals on
            tcp://127.0.0.1:5555. Stops gracefully on SIGTERM or SIGINT.

            Terminals speak CURVE (docs/PROTOCOL.md, version 2): only a terminal whose key was paired \
            (`fiscal-mediator terminals pair CODE`) gets anything through; its identity is its key. The \
            server key pair is made at first start in curve-server.key beside the store (0600). Terminals \
            pair on --pairing-endpoint (default tcp://127.0.0.1:5556).
            """
    )

    @Option(name: .customLong("endpoint"), help: "A ZeroMQ endpoint to bind; repeatable.")
    var endpoints: [String] = []

    @Option(name: .customLong("pairing-endpoint"), help: "Where terminals pair (CURVE); repeatable; 'off' for none.")
    var pairingEndpoints: [String] = []

    @Option(help: "The server's CURVE key pair file (default: curve-server.key beside the store).")
    var serverKeyFile: String?

    @Flag(
        help: """
            No CURVE: terminals are who their routing id says (protocol version 1), for clients that \
            cannot do CURVE yet. Anyone on the LAN can then act as any terminal. Warned at every start.
            """
    )
    var insecurePlaintext = false

    @Option(
        help: """
            The device: emulator:DIR (embedded software device) or serial:/dev/ttyACM0[?baud=N] \
            (default: emulator:var/emulator). Given with --topology, it replaces the topology's device.
            """
    )
    var device: String?

    @Option(help: "The mediator's SQLite store.")
    var db = "var/mediator.sqlite"

    @Option(help: "Refuse invoices for any other outlet_id.")
    var outletID: String?

    @Option(help: "The longest a terminal may hold the device between PREPARE and COMMIT, e.g. 15s.")
    var lease = "15s"

    @Option(help: "Modelled device speed for the embedded emulator, e.g. prepare=5ms,commit=10ms.")
    var emulatorLatency: String?

    @Option(help: "Nonce TTL of the embedded emulator, e.g. 30s.")
    var emulatorNonceTTL = "30s"

    @Option(
        help: """
            The ADM|RESET authorization token given to the embedded emulator when it is first initialized \
            (default: $FISCAL_EMULATOR_RESET_TOKEN, else a fixed demo token). Never logged.
            """
    )
    var emulatorResetToken: String?

    @Option(help: "A fiscal rules file (tax groups, currencies, limits).")
    var rules: String?

    @Option(
        help: """
            The ops HTTP API (health, terminals, alerts, metrics) as HOST:PORT, or 'off'. Loopback by             default; bind a LAN address only on a trusted network.
            """
    )
    var opsHTTP = "127.0.0.1:8080"

    @Flag(help: "Let an unknown terminal with a well-formed code register itself at HELLO (trusted LANs only).")
    var selfRegister = false

    @Flag(
        inversion: .prefixedNo,
        help: "Require a logged-in cashier for every sale, whose id the invoice must carry."
    )
    var cashierLogin = true

    @Option(
        help: """
            How long a tablet that dropped out keeps the device lock before its sale is aborted, e.g. 5s \
            (default: 5s, or a third of --lease if that is shorter). Must be shorter than --lease.
            """
    )
    var roamingGrace: String?

    @Option(help: "Heartbeat intervals by profile, e.g. default=60s,lane=15s,tablet=5s.")
    var heartbeat = "default=60s,lane=15s,tablet=5s"

    @Option(help: "Upload sealed invoices to this cloud ingest API (docs/CLOUD_API.md); needs --outlet-id.")
    var cloudURL: String?

    @Option(help: "A file holding the outlet's cloud bearer token (default: $FISCAL_CLOUD_TOKEN). Never logged.")
    var cloudTokenFile: String?

    @Option(help: "Invoices per upload request.")
    var syncBatch = 100

    @Option(help: "How long confirmed invoices stay in the local store, e.g. 90d ('forever' keeps them).")
    var syncRetention = "90d"

    @Option(
        help: """
            A topology file (topology/*.yaml): its outlet, device, endpoint, ops address, store, lease, \
            roaming grace and heartbeat profiles replace the options above, and its terminals are registered.
            """
    )
    var topology: String?

    @Option(
        help: """
            How long each device exchange may take before its outcome is looked up, e.g. \
            prepare=2s,commit=3s,query=1s (well inside a terminal's 10 s wait).
            """
    )
    var deviceTimeout = "prepare=2s,commit=3s,query=1s"

    @Option(help: "How long the device may stay idle before it is asked QRY|STATUS (liveness), e.g. 3s.")
    var probeInterval = "3s"

    @Option(help: "Log lines as logfmt (key=value) or json, one per line, every value escaped.")
    var logFormat: String = "logfmt"

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    func run() async throws {
        guard EscapingLogHandler.Format(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format: '\(logFormat)' is not one of logfmt, json")
        }
        var logger = Logger(label: "fiscal-mediator")
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level: '\(logLevel)' is not a level")
        }
        logger.logLevel = level
        // A topology replaces the device, store, endpoint and terminal settings.
        var device = self.device ?? "emulator:var/emulator"
        var db = self.db
        var opsHTTP = self.opsHTTP
        var outletID = self.outletID
        var emulatorLatency = self.emulatorLatency
        var emulatorNonceTTL = self.emulatorNonceTTL
        var plan: Topology?
        if let path = topology {
            let topology: Topology
            do { topology = try await Topology.load(path: path) } catch { throw ValidationError(error.message) }
            plan = topology
            device = self.device ?? "\(topology.device.kind.rawValue):\(topology.device.path)"
            db = topology.mediator.store
            opsHTTP = topology.mediator.opsHTTP
            outletID = topology.outletID
            emulatorLatency = topology.device.latency
            emulatorNonceTTL = "\(topology.device.nonceTTL.wholeMilliseconds)ms"
        }
        var configuration = try plan.map(mediatorConfiguration) ?? MediatorService.Configuration()
        configuration.outletID = outletID
        if plan == nil {
            if !endpoints.isEmpty { configuration.gateway.endpoints = endpoints }
            guard let leaseDuration = EmulatorLatency.parseDuration(lease), leaseDuration > .zero else {
                throw ValidationError("--lease: '\(lease)' is not a duration such as 15s")
            }
            configuration.device.lease = leaseDuration
            if let roamingGrace {
                guard let grace = EmulatorLatency.parseDuration(roamingGrace) else {
                    throw ValidationError("--roaming-grace: '\(roamingGrace)' is not a duration such as 5s")
                }
                configuration.device.roamingGrace = grace
            } else {
                configuration.device.roamingGrace = min(.seconds(5), leaseDuration / 3)
            }
            configuration.heartbeat.profiles = try Self.profiles(heartbeat)
            configuration.selfRegister = selfRegister
        }
        configuration.requireCashierLogin = cashierLogin
        if pairingEndpoints == ["off"] {
            configuration.gateway.pairingEndpoints = []
        } else {
            configuration.gateway.pairingEndpoints =
                pairingEndpoints.isEmpty ? ["tcp://127.0.0.1:5556"] : pairingEndpoints
        }
        let serverKeyPath = serverKeyFile ?? ServerKeys.defaultPath(store: db)
        if insecurePlaintext {
            configuration.gateway.security = .insecurePlaintext
        } else {
            let (keys, created) = try ServerKeys.loadOrCreate(file: serverKeyPath)
            configuration.gateway.security = .curve(keys)
            logger.info(
                created ? "made the server key pair" : "server key",
                metadata: ["key.public": "\(keys.publicKey)", "key.file": "\(serverKeyPath)"]
            )
        }
        guard let probe = Duration.parsing(probeInterval), probe > .zero else {
            throw ValidationError("--probe-interval: '\(probeInterval)' is not a positive duration such as 3s")
        }
        configuration.device.probeInterval = probe
        let ops = try Self.opsAddress(opsHTTP)
        let metricsRegistry = PrometheusCollectorRegistry()
        configuration.metrics = PrometheusMetricsFactory(registry: metricsRegistry)
        if let problem = configuration.problems().first { throw ValidationError(problem) }
        if let rules { configuration.rules = try FiscalRules.load(from: URL(fileURLWithPath: rules)) }

        // One mediator per store (and, through the device's own lock, per device).
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: db).deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        let storeLock = try ProcessLock(path: db + ".lock", guarding: "the mediator store \(db)")
        defer { storeLock.release() }
        let endpoint = try DeviceEndpoint(parsing: device)
        guard let ttl = EmulatorLatency.parseDuration(emulatorNonceTTL), ttl > .zero, ttl <= .seconds(86_400) else {
            throw ValidationError("--emulator-nonce-ttl: '\(emulatorNonceTTL)' is not a duration up to a day")
        }
        let latency = try emulatorLatency.map { text in
            guard let parsed = EmulatorLatency.parse(text) else {
                throw ValidationError("--emulator-latency: '\(text)' is not prepare=5ms,commit=10ms")
            }
            return parsed
        }
        let rulesForDevice = configuration.rules
        let (link, emulator) = try endpoint.open { directory in
            var emulatorConfiguration = FiscalDeviceEmulator.Configuration(stateDirectory: directory)
            emulatorConfiguration.nonceTTL = ttl
            emulatorConfiguration.rules = rulesForDevice
            if let latency { emulatorConfiguration.latency = latency }
            return emulatorConfiguration
        }
        let client = FiscalDeviceClient(link: link, configuration: try Self.deviceTimeouts(deviceTimeout))
        if let emulator { configuration.deviceBusyTime = { emulator.busyTime } }
        if emulator != nil {
            logger.notice(
                "using an EMULATED fiscal device: not valid for real fiscalization",
                metadata: ["device": "\(endpoint)"]
            )
            if try await !client.status().initialized {
                let token =
                    emulatorResetToken ?? ProcessInfo.processInfo.environment["FISCAL_EMULATOR_RESET_TOKEN"]
                    ?? "change-me-dgi-token"
                let identity = try await client.initialize(deviceID: nil, resetToken: token)
                logger.notice("initialized the emulated device", metadata: ["device.id": "\(identity.deviceID)"])
            }
        }
        let store = try MediatorDatabase(path: db)
        if let plan {
            try registerTerminals(plan, in: store)
            if !insecurePlaintext {
                // A load run is one command: the topology's terminals get keys in the state
                // directory, pinned here; `load --connect` reads them from there.
                _ = try pairTopologyTerminals(plan, store: store, directory: terminalKeyDirectory(store: db))
            }
            logger.info("topology", metadata: ["name": "\(plan.name)", "terminals": "\(plan.terminals.count)"])
        }
        let service = try MediatorService(
            configuration: configuration,
            client: client,
            store: store,
            logger: logger
        )
        var services: [any Service] = [service]
        var uploader: SyncUploader?
        if let cloudURL {
            guard let outletID else {
                throw ValidationError("--cloud-url needs --outlet-id (the cloud orders per outlet)")
            }
            guard let token = try readToken(cloudTokenFile) else {
                throw ValidationError("--cloud-url needs a token: --cloud-token-file FILE or $FISCAL_CLOUD_TOKEN")
            }
            var sync = SyncUploader.Configuration(baseURL: cloudURL, outletID: outletID, token: token)
            sync.batchSize = syncBatch
            sync.waitForRecovery = true
            if syncRetention == "forever" {
                sync.retention = nil
            } else {
                guard let retention = EmulatorLatency.parseDuration(syncRetention) else {
                    throw ValidationError("--sync-retention: '\(syncRetention)' is not a duration such as 90d")
                }
                sync.retention = retention
            }
            do {
                let made = try SyncUploader(
                    configuration: sync,
                    store: store,
                    metrics: configuration.metrics,
                    logger: logger
                )
                uploader = made
                services.append(made)
                services.append(UploadLineLink(device: service.deviceActor, uploader: made))
            } catch {
                throw ValidationError(error.message)
            }
        }
        if let ops {
            let logger = logger
            services.append(
                OpsServer.application(
                    service: service,
                    registry: metricsRegistry,
                    configuration: ops,
                    sync: uploader,
                    logger: logger
                ) { port in
                    logger.info("ops API listening", metadata: ["address": "http://\(ops.host):\(port)"])
                }
            )
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        await link.close()
        emulator?.shutdown()
    }

    /// `prepare=2s,commit=3s,query=1s` into the device client's per-command timeouts.
    static func deviceTimeouts(_ text: String) throws -> FiscalDeviceClient.Configuration {
        var configuration = FiscalDeviceClient.Configuration()
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let timeout = Duration.parsing(String(parts[1])), timeout > .zero else {
                throw ValidationError("--device-timeout: '\(pair)' is not COMMAND=DURATION such as commit=3s")
            }
            switch parts[0] {
            case "prepare": configuration.prepareTimeout = timeout
            case "commit": configuration.commitTimeout = timeout
            case "query": configuration.queryTimeout = timeout
            default:
                throw ValidationError("--device-timeout: '\(parts[0])' is not one of prepare, commit, query")
            }
        }
        return configuration
    }

    /// `default=60s,lane=15s` into durations by profile.
    static func profiles(_ text: String) throws -> [String: Duration] {
        var profiles: [String: Duration] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let interval = EmulatorLatency.parseDuration(String(parts[1])), interval > .zero
            else {
                throw ValidationError("--heartbeat: '\(pair)' is not PROFILE=DURATION such as lane=15s")
            }
            profiles[String(parts[0])] = interval
        }
        guard profiles["default"] != nil else { throw ValidationError("--heartbeat: name a 'default' profile") }
        return profiles
    }

    /// `HOST:PORT` (or `off`) for the ops API.
    static func opsAddress(_ text: String) throws -> OpsServer.Configuration? {
        if text == "off" { return nil }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port), colon != text.startIndex
        else {
            throw ValidationError("--ops-http: '\(text)' is not HOST:PORT (127.0.0.1:8080) or 'off'")
        }
        var configuration = OpsServer.Configuration()
        configuration.host = String(text[..<colon])
        configuration.port = port
        return configuration
    }
}
