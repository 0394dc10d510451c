import ArgumentParser
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation
import Logging
import Mediator
import MediatorStore
import SampleData
import TerminalClient

/// `fiscal-mediator bench-mediator`: N terminals fiscalizing as fast as the mediator answers.
struct BenchMediatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-mediator",
        abstract: "Full-path throughput, latency and device utilization: N terminal clients over loopback TCP.",
        discussion: """
            Without --connect it runs a fresh mediator and emulator in this process (durable, in a temporary
            directory) and reports device utilization. With --connect it drives a running `serve`.
            The figures in docs/PERFORMANCE.md come from this command.

            --security both (the default) runs the same load twice, plaintext then CURVE, each on a \
            fresh mediator, and prints the throughput CURVE costs. With --connect the terminals' keys \
            are the files in terminal-keys/ beside --db, pinned in that store, and the server key is \
            curve-server.key there (as `serve` keeps them).
            """
    )

    @Option(help: "curve, plaintext, or both (one after the other, in one run).") var security = "both"
    @Option(help: "With --connect: the running mediator's store (for its keys).") var db = "var/mediator.sqlite"

    @Option(help: "Terminal clients.") var terminals = 10
    @Option(help: "Invoices per terminal.") var count = 200
    @Option(help: "fiscalize (FISCALIZE) or two-phase (PREPARE then COMMIT from the terminal).") var mode = "fiscalize"
    @Option(help: "Emulator speed, e.g. prepare=15ms,commit=15ms (in-process only).") var deviceLatency: String?
    @Option(help: "A running mediator's endpoint instead of an in-process one.") var connect: String?
    @Option(help: "two-phase: where PREPARE holds the sale, mediator or device (in-process only).")
    var holds = DeviceConfiguration.Holds.mediator.rawValue

    func run() async throws {
        guard mode == "fiscalize" || mode == "two-phase" else {
            throw ValidationError("--mode must be fiscalize or two-phase")
        }
        let modes: [Bool]
        switch security {
        case "curve": modes = [true]
        case "plaintext": modes = [false]
        case "both": modes = [false, true]
        default: throw ValidationError("--security must be curve, plaintext or both")
        }
        var rates: [Bool: Double] = [:]
        for curve in modes { rates[curve] = try await measure(curve: curve) }
        if let plain = rates[false], let curve = rates[true], plain > 0 {
            print("curve_throughput_loss=\(String(format: "%.1f%%", (plain - curve) / plain * 100))")
        }
    }

    /// One run; prints its line and returns its invoices per second.
    func measure(curve: Bool) async throws -> Double {
        let context = ClientContext()
        var emulator: FiscalDeviceEmulator?
        var service: MediatorService?
        var serviceTask: Task<Void, any Error>?
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "bench-mediator-\(UUID().uuidString)"
        )
        let endpoint: String
        var curveSettings: [TerminalID: CurveSettings] = [:]
        if let connect {
            endpoint = connect
            if curve {
                let store = try MediatorDatabase(path: db)
                let serverKey = try ServerKeys.load(file: ServerKeys.defaultPath(store: db)).publicKey
                for index in 1...terminals {
                    let code = TerminalID(String(format: "REG-%03d", index))
                    let keys = try TerminalKeys.loadOrCreate(file: "\(terminalKeyDirectory(store: db))/\(code).key")
                        .keys
                    if try store.terminal(code) == nil { _ = try store.addTerminal(TerminalRecord(code: code)) }
                    if try store.terminal(code)?.curveKey != keys.publicKey {
                        try store.pinKey(keys.publicKey, to: code)
                    }
                    curveSettings[code] = CurveSettings(keys: keys, serverKey: serverKey)
                }
            }
        } else {
            var deviceConfiguration = FiscalDeviceEmulator.Configuration(
                stateDirectory: directory.appendingPathComponent("emulator")
            )
            if let deviceLatency {
                guard let latency = EmulatorLatency.parse(deviceLatency) else {
                    throw ValidationError("--device-latency: not prepare=15ms,commit=15ms")
                }
                deviceConfiguration.latency = latency
            }
            let device = try FiscalDeviceEmulator(configuration: deviceConfiguration)
            emulator = device
            let client = FiscalDeviceClient(link: InProcessDeviceLink(handler: device))
            _ = try await client.initialize(deviceID: nil, resetToken: "bench-token")
            var configuration = MediatorService.Configuration()
            guard let kind = DeviceConfiguration.Holds(rawValue: holds) else {
                throw ValidationError("--holds: '\(holds)' is not one of device, mediator")
            }
            configuration.device.holds = kind
            configuration.gateway.endpoints = ["tcp://127.0.0.1:*"]
            configuration.gateway.pairingEndpoints = []
            configuration.gateway.security = curve ? .curve(nil) : .insecurePlaintext
            configuration.device.queueLimit = 1000
            configuration.device.perTerminalQueueLimit = 10
            // A benchmark measures the mediator, not its flood guard.
            configuration.gateway.rateLimit = 1_000_000
            configuration.gateway.rateBurst = 1_000_000
            // A bench LAN: its REG-NNN terminals register themselves at HELLO.
            configuration.selfRegister = true
            var logger = Logger(label: "bench")
            logger.logLevel = .warning
            let store = try MediatorDatabase(path: directory.appendingPathComponent("mediator.sqlite").path)
            let started = try MediatorService(
                configuration: configuration,
                client: client,
                store: store,
                logger: logger
            )
            if let serverKey = started.gateway.serverKey?.publicKey {
                // CURVE: a key pair per terminal, pinned here (the bench pairs its own terminals).
                for index in 1...terminals {
                    let code = TerminalID(String(format: "REG-%03d", index))
                    let keys = try TerminalKeys.generate()
                    _ = try store.addTerminal(TerminalRecord(code: code))
                    try store.pinKey(keys.publicKey, to: code)
                    curveSettings[code] = CurveSettings(keys: keys, serverKey: serverKey)
                }
            }
            service = started
            serviceTask = Task { try await started.run() }
            await started.deviceActor.waitUntilReady()
            endpoint = started.gateway.endpoints[0]
        }

        // Connect every terminal and let it say HELLO before the clock starts.
        var clients: [MediatorClient] = []
        for index in 1...terminals {
            var configuration = MediatorClient.Configuration(
                endpoint: endpoint,
                terminalID: TerminalID(String(format: "REG-%03d", index))
            )
            configuration.requestTimeout = .seconds(60)
            configuration.cashierID = SampleInvoices.cashier
            configuration.curve = curveSettings[configuration.terminalID]
            let client = try MediatorClient(context: context, configuration: configuration)
            Task { await client.run() }
            let hello = try await client.hello()
            try await client.ensurePeriod(after: hello, openedBy: SampleInvoices.cashier)
            clients.append(client)
        }
        let runID = UUID().uuidString.prefix(8)
        let twoPhase = mode == "two-phase"
        let count = self.count
        // Device busy time: read directly from an in-process emulator, or from STATUS
        // (busy_ms) when a separate `serve` runs the embedded emulator.
        func busyTime() async -> Duration? {
            if let emulator { return emulator.busyTime }
            guard let ms = try? await clients[0].status().device?.busyMs else { return nil }
            return .milliseconds(ms)
        }
        let busyBefore = await busyTime()
        let clock = ContinuousClock()
        let start = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for (index, client) in clients.enumerated() {
                let terminal = client.configuration.terminalID.rawValue
                group.addTask {
                    var measured: [Duration] = []
                    measured.reserveCapacity(count)
                    for sale in 0..<count {
                        let invoice = SampleInvoices.sale(
                            lines: 1 + sale % 4,
                            terminal: terminal,
                            lane: index + 1,
                            seed: sale
                        )
                        let requestID = "\(runID)-\(terminal)-\(sale)"
                        let began = clock.now
                        if twoPhase {
                            let (nonce, _) = try await client.prepare(requestID: requestID, invoice: invoice)
                            _ = try await client.commit(requestID: requestID, nonce: nonce)
                        } else {
                            _ = try await client.fiscalize(requestID: requestID, invoice: invoice)
                        }
                        measured.append(clock.now - began)
                    }
                    return measured
                }
            }
            return try await group.reduce(into: [Duration]()) { $0 += $1 }.sorted()
        }
        let elapsed = clock.now - start
        let seconds = Self.seconds(elapsed)
        func ms(_ quantile: Double) -> String {
            String(
                format: "%.2f",
                Self.seconds(latencies[min(latencies.count - 1, Int(Double(latencies.count) * quantile))]) * 1000
            )
        }
        var line =
            "security=\(curve ? "curve" : "plaintext") terminals=\(terminals) mode=\(mode) invoices=\(latencies.count) seconds=\(String(format: "%.2f", seconds)) "
        line += "invoices_per_second=\(String(format: "%.0f", Double(latencies.count) / seconds)) "
        line += "p50_ms=\(ms(0.5)) p99_ms=\(ms(0.99)) max_ms=\(ms(1.0))"
        if let before = busyBefore, let after = await busyTime() {
            line += " device_utilization=\(String(format: "%.1f%%", Self.seconds(after - before) / seconds * 100))"
        }
        print(line)
        for client in clients { client.close() }
        serviceTask?.cancel()
        _ = try? await serviceTask?.value
        _ = service
        emulator?.shutdown()
        try? FileManager.default.removeItem(at: directory)
        return Double(latencies.count) / seconds
    }

    static func seconds(_ duration: Duration) -> Double {
        duration.inSeconds
    }
}
