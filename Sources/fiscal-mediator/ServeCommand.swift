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
import Reports
import ServiceLifecycle
import Synchronization
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

    @Option(help: "The mediator's SQLite store (default: var/mediator.sqlite).")
    var db: String?

    @Option(help: "Refuse invoices for any other outlet_id.")
    var outletID: String?

    @Option(help: "The longest a terminal may hold the device between PREPARE and COMMIT (default: 15s).")
    var lease: String?

    @Option(help: "Modelled device speed for the embedded emulator, e.g. prepare=5ms,commit=10ms.")
    var emulatorLatency: String?

    @Option(help: "Nonce TTL of the embedded emulator (default: 30s).")
    var emulatorNonceTTL: String?

    @Option(
        help: """
            The ADM|RESET authorization token given to the embedded emulator when it is first initialized \
            (default: $FISCAL_EMULATOR_RESET_TOKEN, else a fixed demo token). Never logged.
            """
    )
    var emulatorResetToken: String?

    @Option(help: "A fiscal rules file (tax groups, currencies, limits).")
    var rules: String?

    @Option(help: "A report settings file (business name, denominations, variance thresholds, blind count).")
    var reports: String?

    @Option(
        help: """
            The ops HTTP API (health, terminals, alerts, metrics) as HOST:PORT, or 'off'. Loopback by \
            default; bind a LAN address only on a trusted network.
            """
    )
    var opsHTTP: String?

    @Flag(
        inversion: .prefixedNo,
        help:
            "Let an unknown terminal with a well-formed code register itself at HELLO (trusted LANs only; default: no)."
    )
    var selfRegister: Bool?

    @Flag(
        inversion: .prefixedNo,
        help: "Require a logged-in cashier for every sale, whose id the invoice must carry (default: yes)."
    )
    var cashierLogin: Bool?

    @Flag(
        inversion: .prefixedNo,
        help: "Require an open work period (OPEN_PERIOD) at a terminal for its sales (docs/SHOP_DAY.md)."
    )
    var workPeriods: Bool?

    @Option(
        help: """
            How long a tablet that dropped out keeps the device lock before its sale is aborted, e.g. 5s \
            (default: 5s, or a third of --lease if that is shorter). Must be shorter than --lease.
            """
    )
    var roamingGrace: String?

    @Option(
        help: """
            Where a terminal's PREPARE holds its sale until COMMIT: mediator (the device is not held \
            while a person decides; its PREPARE and COMMIT run back to back at COMMIT) or device (the \
            device prepares at once, and the reply says the fiscal number). Default: mediator, or \
            the topology's device.holds.
            """
    )
    var holds: String?

    @Option(help: "Heartbeat intervals by profile (default: default=60s,lane=15s,tablet=5s).")
    var heartbeat: String?

    @Option(help: "Upload sealed invoices to this cloud ingest API (docs/CLOUD_API.md); needs --outlet-id.")
    var cloudURL: String?

    @Option(help: "A file holding the outlet's cloud bearer token (default: $FISCAL_CLOUD_TOKEN). Never logged.")
    var cloudTokenFile: String?

    @Option(help: "Invoices per upload request (default: 100).")
    var syncBatch: String?

    @Option(help: "How long confirmed invoices stay in the local store (default: 90d; 'forever' keeps them).")
    var syncRetention: String?

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
    var deviceTimeout: String?

    @Option(help: "How long the device may stay idle before it is asked QRY|STATUS (liveness; default: 3s).")
    var probeInterval: String?

    @Option(help: "Log lines as logfmt (key=value, the default) or json, one per line, every value escaped.")
    var logFormat: String?

    @Option(help: "Log level: trace, debug, info (the default), notice, warning, error, critical.")
    var logLevel: String?

    @Option(
        help: """
            Raise DISK_LOW when the store's file system has less free space than this, e.g. 256MB, 2GB \
            ('0' turns the warning off; default: 256MB).
            """
    )
    var diskLow: String?

    @Option(
        help: """
            The configuration file (default: $FISCAL_CONFIG, else \(MediatorSettings.defaultPath) if it exists). \
            Flags override the environment ($FISCAL_MEDIATOR_LEASE, ...), which overrides the file.
            """
    )
    var config: String?

    /// The ranges a duration flag accepts; zero only where it means something (no grace,
    /// delete at once).
    enum Ranges {
        static let lease = Duration.milliseconds(100)...Duration.seconds(600)
        static let probe = Duration.milliseconds(100)...Duration.seconds(600)
        static let nonceTTL = Duration.milliseconds(1)...Duration.seconds(86_400)
        static let exchange = Duration.milliseconds(10)...Duration.seconds(60)
        static let heartbeat = Duration.milliseconds(100)...Duration.seconds(3600)
        static let retention = Duration.zero...Duration.seconds(3650 * 86_400)
    }

    func run() async throws {
        try await start(checkOnly: false)
    }

    /// Checks every setting, then (unless `checkOnly`, for `config check`) the host, and runs.
    func start(checkOnly: Bool) async throws {
        // 0. The configuration file and the environment, under the flags.
        let settings = try await Self.settings(config: config, topology: topology)
        let value = { (flag: String?, key: String) in Self.pick(flag, key, settings) }
        let logFormat = value(self.logFormat, "log.format")
        let format = try StartupChecks.oneOf(
            logFormat.label,
            logFormat.text ?? "logfmt",
            EscapingLogHandler.Format.allCases.map { ($0.rawValue, $0) }
        )
        LogChoice.json.store(format == .json, ordering: .relaxed)

        // 1. Every setting, checked as a value: nothing is opened yet.
        var logger = Logger(label: "fiscal-mediator")
        let logLevel = value(self.logLevel, "log.level")
        logger.logLevel = try StartupChecks.oneOf(
            logLevel.label,
            logLevel.text ?? "info",
            Logger.Level.allCases.map { ($0.rawValue, $0) }
        )
        // A topology replaces the device, store, endpoint and terminal settings.
        var device = self.device ?? Self.device(settings) ?? "emulator:var/emulator"
        var deviceLabel = self.device != nil ? "--device" : (settings["device.kind"]?.origin ?? "--device")
        let dbValue = value(self.db, "mediator.store")
        var db = dbValue.text ?? "var/mediator.sqlite"
        var dbLabel = dbValue.label
        let opsValue = value(self.opsHTTP, "mediator.ops_http")
        var opsHTTP = opsValue.text ?? "127.0.0.1:8080"
        var opsLabel = opsValue.label
        var outletID = value(self.outletID, "outlet.id").text
        var emulatorLatency = value(self.emulatorLatency, "device.latency").text
        let nonceValue = value(self.emulatorNonceTTL, "device.nonce_ttl")
        var emulatorNonceTTL = nonceValue.text ?? "30s"
        var plan: Topology?
        if let path = topology {
            let topology: Topology
            do { topology = try await Topology.load(path: path) } catch {
                throw StartupError("--topology \(error.message)")
            }
            plan = topology
            device = self.device ?? "\(topology.device.kind.rawValue):\(topology.device.path)"
            deviceLabel = self.device != nil ? "--device" : "--topology \(path) device"
            db = topology.mediator.store
            dbLabel = "--topology \(path) mediator.store"
            opsHTTP = topology.mediator.opsHTTP
            opsLabel = "--topology \(path) mediator.ops_http"
            outletID = topology.outletID
            emulatorLatency = topology.device.latency
            emulatorNonceTTL = "\(topology.device.nonceTTL.wholeMilliseconds)ms"
        }
        var configuration: MediatorService.Configuration
        do { configuration = try plan.map(mediatorConfiguration) ?? MediatorService.Configuration() } catch {
            throw StartupError("--topology \(topology ?? ""): \(error)")
        }
        configuration.outletID = outletID
        var endpointLabel = "--topology \(topology ?? "") mediator.endpoint"
        if plan == nil {
            let endpointValue = value(endpoints.isEmpty ? nil : endpoints.joined(separator: ","), "mediator.endpoint")
            endpointLabel = endpointValue.label
            if let text = endpointValue.text {
                configuration.gateway.endpoints = text.split(separator: ",").map(String.init)
            }
            let lease = value(self.lease, "mediator.lease")
            let leaseDuration = try StartupChecks.duration(lease.label, lease.text ?? "15s", in: Ranges.lease)
            configuration.device.lease = leaseDuration
            let grace = value(roamingGrace, "mediator.roaming_grace")
            if let text = grace.text {
                // 0s is meaningful: a tablet that drops out loses the device at once.
                configuration.device.roamingGrace = try StartupChecks.duration(
                    grace.label,
                    text,
                    in: .zero...(leaseDuration - .milliseconds(1))
                )
            } else {
                configuration.device.roamingGrace = min(.seconds(5), leaseDuration / 3)
            }
            let heartbeat = value(self.heartbeat, "mediator.heartbeat")
            configuration.heartbeat.profiles = try Self.profiles(
                heartbeat.text ?? "default=60s,lane=15s,tablet=5s",
                label: heartbeat.label
            )
            configuration.selfRegister = try Self.flag(selfRegister, "mediator.self_register", settings) ?? false
        }
        if pairingEndpoints == ["off"] {
            configuration.gateway.pairingEndpoints = []
        } else {
            configuration.gateway.pairingEndpoints =
                pairingEndpoints.isEmpty ? ["tcp://127.0.0.1:5556"] : pairingEndpoints
        }
        for endpoint in configuration.gateway.pairingEndpoints {
            try StartupChecks.endpoint("--pairing-endpoint", endpoint)
            if configuration.gateway.endpoints.contains(endpoint), !endpoint.hasSuffix(":*") {
                throw StartupError(
                    "--pairing-endpoint \(endpoint): the terminals' endpoint too; pairing needs a port of its own"
                )
            }
        }
        for endpoint in configuration.gateway.endpoints {
            try StartupChecks.endpoint(endpointLabel, endpoint)
        }
        // A flag, the environment or the file; else what the topology said (else the default).
        configuration.requireCashierLogin =
            try Self.flag(cashierLogin, "mediator.cashier_login", settings) ?? configuration.requireCashierLogin
        configuration.requireWorkPeriod =
            try Self.flag(workPeriods, "mediator.work_periods", settings) ?? configuration.requireWorkPeriod
        let holdsValue = value(self.holds, "device.holds")
        if let text = holdsValue.text {
            configuration.device.holds = try StartupChecks.oneOf(
                holdsValue.label,
                text,
                DeviceConfiguration.Holds.allCases.map { ($0.rawValue, $0) }
            )
        }
        let probe = value(probeInterval, "device.probe_interval")
        configuration.device.probeInterval = try StartupChecks.duration(
            probe.label,
            probe.text ?? "3s",
            in: Ranges.probe
        )
        let diskLow = value(self.diskLow, "mediator.disk_low")
        configuration.diskLowBytes = try Self.bytes(diskLow.label, diskLow.text ?? "256MB")
        var ops = try Self.opsAddress(opsHTTP, label: opsLabel)
        let metricsRegistry = PrometheusCollectorRegistry()
        configuration.metrics = PrometheusMetricsFactory(registry: metricsRegistry)
        if let problem = configuration.problems().first { throw StartupError(problem) }
        if let rules = value(rules, "mediator.rules").text {
            do { configuration.rules = try FiscalRules.load(from: URL(fileURLWithPath: rules)) } catch {
                throw StartupError("--rules \(rules): \(error)")
            }
        }
        if let reports = value(reports, "mediator.reports").text {
            do { configuration.reports = try ReportSettings.load(from: URL(fileURLWithPath: reports)) } catch {
                throw StartupError("--reports \(reports): \(error.message)")
            }
        }
        let endpoint: DeviceEndpoint
        do { endpoint = try DeviceEndpoint(parsing: device) } catch {
            throw StartupError("\(deviceLabel): \(error.message.replacingOccurrences(of: "device: ", with: ""))")
        }
        let ttl = try StartupChecks.duration(
            plan == nil ? nonceValue.label : "--topology \(topology ?? "") device.nonce_ttl",
            emulatorNonceTTL,
            in: Ranges.nonceTTL
        )
        let latency = try emulatorLatency.map { text throws(StartupError) in
            guard let parsed = EmulatorLatency.parse(text) else {
                throw StartupError(
                    "--emulator-latency: '\(text)' is not prepare=DURATION,commit=DURATION such as prepare=5ms,commit=10ms"
                )
            }
            return parsed
        }
        let timeouts = value(deviceTimeout, "device.timeout")
        let deviceTimeouts = try Self.deviceTimeouts(
            timeouts.text ?? "prepare=2s,commit=3s,query=1s",
            label: timeouts.label
        )
        var sync: SyncUploader.Configuration?
        if let cloudURL = value(cloudURL, "sync.url").text {
            guard let outletID else {
                throw StartupError("--cloud-url needs --outlet-id (the cloud orders invoices per outlet)")
            }
            let token: Secret?
            let tokenFile = value(cloudTokenFile, "sync.token_file")
            do {
                token = try readToken(tokenFile.text) ?? settings["sync.token"].map { Secret($0.text) }
            } catch {
                throw StartupError("\(tokenFile.label): \(error)")
            }
            guard let token else {
                throw StartupError("--cloud-url needs a token: --cloud-token-file FILE or $FISCAL_CLOUD_TOKEN")
            }
            var upload = SyncUploader.Configuration(baseURL: cloudURL, outletID: outletID, token: token)
            let batch = value(syncBatch, "sync.batch")
            guard let size = Int(batch.text ?? "100"), (1...1000).contains(size) else {
                throw StartupError("\(batch.label): '\(batch.text ?? "")' is not a whole number from 1 to 1000")
            }
            upload.batchSize = size
            upload.waitForRecovery = true
            let retention = value(syncRetention, "sync.retention")
            upload.retention =
                retention.text == "forever"
                ? nil : try StartupChecks.duration(retention.label, retention.text ?? "90d", in: Ranges.retention)
            if let problem = upload.problems().first { throw StartupError("--cloud-url: \(problem)") }
            sync = upload
        }

        if checkOnly { return }

        // 2. The host: the store's path, every port, the device's path. Still nothing opened.
        try StartupChecks.storePath(dbLabel, db)
        for text in configuration.gateway.endpoints where text.hasPrefix("tcp://") {
            let address = text.dropFirst("tcp://".count)
            guard let colon = address.lastIndex(of: ":") else { continue }
            try StartupChecks.probe(
                endpointLabel,
                shown: text,
                host: String(address[..<colon]),
                port: String(address[address.index(after: colon)...])
            )
        }
        if !insecurePlaintext {
            for text in configuration.gateway.pairingEndpoints where text.hasPrefix("tcp://") {
                let address = text.dropFirst("tcp://".count)
                guard let colon = address.lastIndex(of: ":") else { continue }
                try StartupChecks.probe(
                    "--pairing-endpoint",
                    shown: text,
                    host: String(address[..<colon]),
                    port: String(address[address.index(after: colon)...])
                )
            }
        }
        if let ops {
            try StartupChecks.probe(opsLabel, shown: opsHTTP, host: ops.host, port: String(ops.port))
        }
        switch endpoint {
        case .serial(let path, _):
            if try !StartupChecks.serialPath(deviceLabel, shown: device, path) {
                logger.warning(
                    "the device path does not exist yet: DEVICE_UNREACHABLE until it appears",
                    metadata: ["device": "\(endpoint)"]
                )
            }
        case .emulator(let directory):
            if let problem = StartupChecks.makeDirectory(directory) {
                throw StartupError("\(deviceLabel) \(device): \(problem); choose another directory")
            }
        }

        // 3. The store (one mediator per store), then the ports, then the device.
        let notifier = SystemdNotifier()
        notifier.status("opening the store \(db)")
        let storeLock: ProcessLock
        do { storeLock = try ProcessLock(path: db + ".lock", guarding: "the mediator store \(db)") } catch {
            throw StartupError("\(dbLabel) \(db): \(error.code.rawValue): \(error.message)")
        }
        defer { storeLock.release() }
        if let address = ops {
            // The admin routes need the admin token; the CLI on this host reads it from here.
            // Another host reaches the API only over TLS, with a token for every route.
            let lan = !OpsServer.Configuration.isLoopback(address.host)
            do {
                var tokens = [
                    OpsAuth.Token(secret: try OpsAuth.tokenFile(at: Self.adminTokenPath(db: db)), scope: .admin)
                ]
                if lan {
                    tokens.append(
                        OpsAuth.Token(secret: try OpsAuth.tokenFile(at: Self.readTokenPath(db: db)), scope: .read)
                    )
                    let certificate = try Self.opsCertificate(db: db)
                    ops?.tls = certificate
                    let fingerprint = SelfSignedCertificate.fingerprint(ofPEM: certificate.certificatePEM) ?? "?"
                    logger.notice(
                        "ops API over TLS: pin this certificate fingerprint in clients",
                        metadata: ["fingerprint": "\(fingerprint)", "file": "\(Self.certificatePath(db: db))"]
                    )
                }
                ops?.auth = OpsAuth(tokens: tokens, requireForRead: lan)
            } catch {
                throw StartupError("\(dbLabel) \(db): \((error as? FiscalError)?.message ?? "\(error)")")
            }
        }
        let store: MediatorDatabase
        do { store = try MediatorDatabase(path: db) } catch {
            throw StartupError(
                "\(dbLabel) \(db): cannot open the store: \(error); move the file aside or restore a backup"
            )
        }
        // The mediator's long-term CURVE key pair (the secret in a 0600 file beside the store).
        if insecurePlaintext {
            configuration.gateway.security = .insecurePlaintext
            logger.warning(
                "--insecure-plaintext: no CURVE; any host on the LAN can claim to be any terminal",
                metadata: ["endpoints": "\(configuration.gateway.endpoints.joined(separator: ","))"]
            )
        } else {
            let serverKeyPath = serverKeyFile ?? ServerKeys.defaultPath(store: db)
            do {
                let (keys, created) = try ServerKeys.loadOrCreate(file: serverKeyPath)
                configuration.gateway.security = .curve(keys)
                logger.info(
                    created ? "made the server key pair" : "server key",
                    metadata: ["key.public": "\(keys.publicKey)", "key.file": "\(serverKeyPath)"]
                )
            } catch {
                throw StartupError("--server-key-file \(serverKeyPath): \(error)")
            }
        }
        if let plan {
            try registerTerminals(plan, in: store)
            if !insecurePlaintext {
                // A load run is one command: the topology's terminals get keys in the state
                // directory, pinned here; `load --connect` reads them from there.
                _ = try pairTopologyTerminals(plan, store: store, directory: terminalKeyDirectory(store: db))
            }
            logger.info("topology", metadata: ["name": "\(plan.name)", "terminals": "\(plan.terminals.count)"])
        }
        let rulesForDevice = configuration.rules
        let link: any FiscalDeviceLink
        let emulator: FiscalDeviceEmulator?
        do {
            (link, emulator) = try endpoint.open { directory in
                var emulatorConfiguration = FiscalDeviceEmulator.Configuration(stateDirectory: directory)
                emulatorConfiguration.nonceTTL = ttl
                emulatorConfiguration.rules = rulesForDevice
                if let latency { emulatorConfiguration.latency = latency }
                return emulatorConfiguration
            }
        } catch {
            throw StartupError(
                "\(deviceLabel) \(device): \((error as? FiscalError).map { "\($0.code.rawValue): \($0.message)" } ?? "\(error)")"
            )
        }
        let client = FiscalDeviceClient(link: link, configuration: deviceTimeouts)
        if let emulator { configuration.deviceBusyTime = { emulator.busyTime } }
        // Binds every ZeroMQ endpoint now, before the device is asked anything.
        let service: MediatorService
        do {
            service = try MediatorService(configuration: configuration, client: client, store: store, logger: logger)
        } catch {
            throw StartupError(
                "\(endpointLabel) \(configuration.gateway.endpoints.joined(separator: ",")): cannot bind: \(error)"
            )
        }
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
        var services: [any Service] = [service]
        var uploader: SyncUploader?
        if let sync {
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
                throw StartupError("--cloud-url \(sync.baseURL): \(error.message)")
            }
        }
        let (opsBound, opsBoundContinuation) = AsyncStream<Int>.makeStream()
        if let ops {
            let logger = logger
            logger.info("ops API admin token", metadata: ["file": "\(Self.adminTokenPath(db: db))"])
            let scheme = ops.tls == nil ? "http" : "https"
            services.append(
                try OpsServer.application(
                    service: service,
                    registry: metricsRegistry,
                    configuration: ops,
                    sync: uploader,
                    logger: logger
                ) { port in
                    logger.info("ops API listening", metadata: ["address": "\(scheme)://\(ops.host):\(port)"])
                    opsBoundContinuation.yield(port)
                }
            )
        } else {
            opsBoundContinuation.yield(0)
        }
        services.append(Readiness(service: service, notifier: notifier, opsBound: opsBound))
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        notifier.stopping()
        await service.finishSending()
        await link.close()
        emulator?.shutdown()
    }

    /// `256MB`, `2GB`, `512KB`, `0` (off) into bytes.
    static func bytes(_ flag: String, _ text: String) throws(StartupError) -> Int64? {
        if text == "0" { return nil }
        let units: [(String, Int64)] = [("KB", 1 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40)]
        for (suffix, size) in units where text.hasSuffix(suffix) {
            if let value = Int64(text.dropLast(suffix.count)), value > 0, value <= (1 << 20) {
                return value * size
            }
        }
        throw StartupError(
            "\(flag): '\(text)' is not a size: write a whole number from 1 to 1048576 and KB, MB, GB or TB (such as 256MB), or 0 for off"
        )
    }

    /// `prepare=2s,commit=3s,query=1s` into the device client's per-command timeouts.
    static func deviceTimeouts(
        _ text: String,
        label: String = "--device-timeout"
    ) throws(StartupError)
        -> FiscalDeviceClient.Configuration
    {
        var configuration = FiscalDeviceClient.Configuration()
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else {
                throw StartupError("\(label): '\(pair)' is not COMMAND=DURATION such as commit=3s")
            }
            let timeout = try StartupChecks.duration("\(label) \(parts[0])", String(parts[1]), in: Ranges.exchange)
            switch parts[0] {
            case "prepare": configuration.prepareTimeout = timeout
            case "commit": configuration.commitTimeout = timeout
            case "query": configuration.queryTimeout = timeout
            default:
                throw StartupError("\(label): '\(parts[0])' is not one of prepare, commit, query")
            }
        }
        return configuration
    }

    /// `default=60s,lane=15s` into durations by profile.
    static func profiles(_ text: String, label: String = "--heartbeat") throws(StartupError) -> [String: Duration] {
        var profiles: [String: Duration] = [:]
        for pair in text.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else {
                throw StartupError("\(label): '\(pair)' is not PROFILE=DURATION such as lane=15s")
            }
            profiles[String(parts[0])] = try StartupChecks.duration(
                "\(label) \(parts[0])",
                String(parts[1]),
                in: Ranges.heartbeat
            )
        }
        guard profiles["default"] != nil else {
            throw StartupError("\(label): name a 'default' profile, such as default=60s")
        }
        return profiles
    }

    /// `HOST:PORT` (or `off`) for the ops API.
    static func opsAddress(
        _ text: String,
        label: String = "--ops-http"
    ) throws(StartupError)
        -> OpsServer.Configuration?
    {
        if text == "off" { return nil }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
            (0...65535).contains(port), colon != text.startIndex
        else {
            throw StartupError("\(label): '\(text)' is not HOST:PORT (such as 127.0.0.1:8080) or 'off'")
        }
        var configuration = OpsServer.Configuration()
        configuration.host = String(text[..<colon])
        configuration.port = port
        return configuration
    }
}
