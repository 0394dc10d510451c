import ArgumentParser
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation

/// `fiscal-mediator device-emulator --pty --state DIR`: a software DEF on a pseudo-terminal.
struct DeviceEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device-emulator",
        abstract: "Run a software fiscal device (DEF) on a pseudo-terminal.",
        discussion: """
            The first line of output is the pseudo-terminal's path: open it as you would open
            /dev/ttyACM0 (e.g. --device serial:/dev/pts/4). The fiscal memory lives in --state
            and survives restarts. Stops on SIGINT or SIGTERM.
            """
    )

    @Flag(help: "Serve on a pseudo-terminal (the only transport a separate process offers).")
    var pty = false

    @Option(help: "The directory holding the device's fiscal memory.")
    var state: String

    @Option(help: "Modelled device speed, e.g. prepare=5ms,commit=10ms,other=1ms.")
    var latency: String?

    @Option(help: "How long a PREPARE's nonce stays valid, e.g. 30s or 500ms.")
    var nonceTTL = "30s"

    @Option(
        parsing: .singleValue,
        help: """
            Arm a fault: power-loss-before-commit, power-loss-after-commit, garbled-reply, \
            truncated-reply or no-reply, optionally @N for the N-th COMMIT or command. Repeatable.
            """
    )
    var fault: [String] = []

    @Option(help: "Journal capacity in entries (STORAGE_FULL beyond it).")
    var capacity: UInt64?

    @Flag(help: "Fill the fiscal memory now: every later PREPARE answers STORAGE_FULL.")
    var storageFull = false

    @Flag(help: "Revoke the device (persists): every PREPARE/COMMIT answers DEVICE_REVOKED.")
    var revoke = false

    @Option(help: "Move the device clock back by this much at start, e.g. 3600s.")
    var clockBack: String?

    @Flag(help: "Run CFG|INIT first if the device has no identity yet.")
    var initIfNeeded = false

    @Option(help: "The device id to give at --init-if-needed.")
    var deviceID: String?

    @Option(help: "The ADM|RESET authorization token to set at --init-if-needed.")
    var resetToken = "change-me-dgi-token"

    @Flag(help: "Print a line for each state change.")
    var verbose = false

    func run() async throws {
        guard pty else {
            throw ValidationError(
                "only --pty is available from the command line; tests and the mediator embed the emulator in-process"
            )
        }
        var configuration = FiscalDeviceEmulator.Configuration(
            stateDirectory: URL(fileURLWithPath: state, isDirectory: true)
        )
        // At most a day: hosts refuse a PREPARE reply whose ttl_ms is longer (DEVICE_PROTOCOL.md).
        guard let ttl = EmulatorLatency.parseDuration(nonceTTL), ttl > .zero, ttl <= .seconds(86_400) else {
            throw ValidationError("--nonce-ttl: '\(nonceTTL)' is not a duration up to a day such as 30s or 500ms")
        }
        configuration.nonceTTL = ttl
        if let latency {
            guard let parsed = EmulatorLatency.parse(latency) else {
                throw ValidationError("--latency: '\(latency)' is not of the form prepare=5ms,commit=10ms,other=1ms")
            }
            configuration.latency = parsed
        }
        let armed = try fault.map { text in
            guard let parsed = EmulatorFault.parse(text) else {
                throw ValidationError("--fault: '\(text)' is not a known fault (see --help)")
            }
            return parsed
        }
        let emulator = try FiscalDeviceEmulator(configuration: configuration)
        let client = FiscalDeviceClient(link: InProcessDeviceLink(handler: emulator))
        if initIfNeeded, try await !client.status().initialized {
            _ = try await client.initialize(deviceID: deviceID.map { DeviceID($0) }, resetToken: resetToken)
        }
        if let capacity { try await emulator.setCapacity(capacity) }
        if storageFull { try await emulator.fillStorage() }
        if revoke { try await emulator.revoke() }
        if let clockBack {
            guard let duration = EmulatorLatency.parseDuration(clockBack) else {
                throw ValidationError("--clock-back: '\(clockBack)' is not a duration such as 3600s")
            }
            try await emulator.jumpClockBack(by: duration)
        }
        for (fault, occurrence) in armed { emulator.arm(fault, at: occurrence) }

        let server = try PTYDeviceServer(emulator: emulator)
        printLine(server.path)
        let status = try await client.status()
        if verbose {
            printLine(
                "emulated DEF \(status.deviceID.map { PeerText.escaped($0.rawValue) } ?? "(not initialized)") ready on \(server.path): "
                    + "next fiscal number \(status.nextInvoiceSeq), \(status.journalEntries) journal entries, state in \(state)"
            )
            printLine("try: swift run fiscal-mediator device status --device serial:\(server.path)")
            printLine(
                "     swift run fiscal-mediator device fiscalize docs/examples/invoice.json --device serial:\(server.path)"
            )
        }
        await SignalWaiter.waitForTermination()
        server.stop()
        emulator.shutdown()
        if verbose { printLine("emulator stopped; state kept in \(state)") }
    }
}
