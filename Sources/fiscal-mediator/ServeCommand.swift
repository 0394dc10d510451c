import ArgumentParser
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation
import Logging
import Mediator
import MediatorStore
import ServiceLifecycle
import UnixSignals
import ZeroMQ

/// `fiscal-mediator serve`: the mediator daemon.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the fiscal mediator: terminals over ZeroMQ, one fiscal device, state in SQLite.",
        discussion: """
            With no options it runs on embedded defaults: an emulated device whose fiscal memory is in
            var/emulator (initialized on first start), the store in var/mediator.sqlite, and terminals on
            tcp://127.0.0.1:5555. Stops gracefully on SIGTERM or SIGINT.
            """
    )

    @Option(name: .customLong("endpoint"), help: "A ZeroMQ endpoint to bind; repeatable.")
    var endpoints: [String] = []

    @Option(help: "The device: emulator:DIR (embedded software device) or serial:/dev/ttyACM0[?baud=N].")
    var device = "emulator:var/emulator"

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

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    func run() async throws {
        var logger = Logger(label: "fiscal-mediator")
        guard let level = Logger.Level(rawValue: logLevel) else {
            throw ValidationError("--log-level: '\(logLevel)' is not a level")
        }
        logger.logLevel = level
        var configuration = MediatorService.Configuration()
        configuration.outletID = outletID
        if !endpoints.isEmpty { configuration.gateway.endpoints = endpoints }
        guard let leaseDuration = EmulatorLatency.parseDuration(lease), leaseDuration > .zero else {
            throw ValidationError("--lease: '\(lease)' is not a duration such as 15s")
        }
        configuration.device.lease = leaseDuration
        if let rules { configuration.rules = try FiscalRules.load(from: URL(fileURLWithPath: rules)) }

        let endpoint = try DeviceEndpoint(parsing: device)
        guard let ttl = EmulatorLatency.parseDuration(emulatorNonceTTL), ttl > .zero else {
            throw ValidationError("--emulator-nonce-ttl: '\(emulatorNonceTTL)' is not a duration")
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
        let client = FiscalDeviceClient(link: link)
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
        let context = ZMQContext()
        let service = try MediatorService(
            configuration: configuration,
            context: context,
            client: client,
            store: store,
            logger: logger
        )
        let group = ServiceGroup(
            configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
        await link.close()
        emulator?.shutdown()
    }
}
