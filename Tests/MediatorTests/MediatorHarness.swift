import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import LogFormat
import Logging
import Mediator
import MediatorStore
import SampleData
import ServiceLifecycle
import Synchronization
import TerminalClient
import ZeroMQ

/// A mediator on loopback TCP with a real SQLite store and an emulator (in-process or on a
/// pty), and real terminal clients.
///
/// CURVE by default, as `serve` runs: each terminal id gets one key pair here (``keys(for:)``),
/// pinned in the store when the terminal is registered, so a client made twice for one id (a
/// reconnection) uses the same key. `configure { $0.gateway.security = .insecurePlaintext }`
/// runs version 1's routing-id identity instead.
final class MediatorHarness: Sendable {
    let directory = TemporaryDirectory("mediator")
    let device: EmulatorHarness
    let store: MediatorDatabase
    let context = ZMQContext()
    let service: MediatorService
    let running: Task<Void, any Error>
    /// The service's group: ``shutDown()`` stops it the way SIGTERM does.
    let group: ServiceGroup
    /// Every client made here, closed by `close()`. A client left open keeps redialling its
    /// dead port; when the port is reused by another test's mediator it would connect there and,
    /// by routing-id handover, take that test's terminal id over.
    private let clients = Mutex<[MediatorClient]>([])
    private let terminalKeys = Mutex<[String: TerminalKeys]>([:])

    init(
        transport: EmulatorHarness.Transport = .inProcess,
        deviceTimeout: Duration = .seconds(3),
        configureEmulator: (inout FiscalDeviceEmulator.Configuration) -> Void = { _ in },
        configure: (inout MediatorService.Configuration) -> Void = { _ in },
        storeBusyTimeout: Duration = .seconds(5),
        wrapLink: (any FiscalDeviceLink) -> any FiscalDeviceLink = { $0 },
        logSink: EscapingLogHandler.Sink? = nil,
        beforeStart: (EmulatorHarness, MediatorDatabase) async throws -> Void = { _, _ in }
    ) async throws {
        device = try await EmulatorHarness(
            transport: transport,
            realClock: true,
            timeout: deviceTimeout,
            configure: configureEmulator
        )
        store = try MediatorDatabase(path: directory.appending("mediator.sqlite").path, busyTimeout: storeBusyTimeout)
        try await beforeStart(device, store)
        var configuration = MediatorService.Configuration()
        configuration.gateway.endpoints = ["tcp://127.0.0.1:*"]
        configuration.gateway.pairingEndpoints = ["tcp://127.0.0.1:*"]
        configuration.device.retryBackoff = (.milliseconds(5), .milliseconds(100))
        // Holds at the device unless a test says otherwise: most roaming and lock tests are
        // about what the device does while a terminal holds it (DeviceFreeHoldTests: the other).
        configuration.device.holds = .device
        configure(&configuration)
        var logger =
            logSink.map { sink in Logger(label: "test-mediator") { EscapingLogHandler(label: $0, sink: sink) } }
            ?? Logger(label: "test-mediator")
        logger.logLevel = logSink == nil ? .warning : .info
        service = try MediatorService(
            configuration: configuration,
            context: context,
            client: FiscalDeviceClient(link: wrapLink(device.link), configuration: device.client.configuration),
            store: store,
            logger: logger
        )
        let group = ServiceGroup(services: [service], logger: logger)
        self.group = group
        running = Task { try await group.run() }
        // Ready once recovery is done and the gateway answers.
        await service.deviceActor.waitUntilReady()
        // Plaintext: a PING from anyone is answered once the gateway reads. (Under CURVE a
        // stranger's handshake is refused; the gateway is bound in `init` and its ZAP handler
        // answers handshakes as soon as `run` starts, so there is nothing to wait for.)
        if service.gateway.insecure {
            let probe = try await connect("PROBE", register: false)
            _ = try await probe.send(TerminalRequest(type: .ping))
            probe.close()
        }
    }

    var endpoint: String { service.gateway.endpoints[0] }
    var pairingEndpoint: String { service.gateway.pairingEndpoints[0] }
    var curve: Bool { !service.gateway.insecure }

    /// The key pair terminal `terminal` uses here, made on first use.
    func keys(for terminal: String) throws -> TerminalKeys {
        if let known = terminalKeys.withLock({ $0[terminal] }) { return known }
        let made = try TerminalKeys.generate()
        return terminalKeys.withLock { keys in
            if let known = keys[terminal] { return known }
            keys[terminal] = made
            return made
        }
    }

    /// Makes `keys` terminal `terminal`'s key pair here (before it is registered).
    func use(_ keys: TerminalKeys, for terminal: String) { terminalKeys.withLock { $0[terminal] = keys } }

    /// The CURVE settings of a client with `keys` (default: `terminal`'s).
    func curveSettings(_ terminal: String, keys: TerminalKeys? = nil) throws -> CurveSettings? {
        guard let serverKey = service.gateway.serverKey?.publicKey else { return nil }
        return CurveSettings(keys: try keys ?? self.keys(for: terminal), serverKey: serverKey)
    }

    /// A terminal client, ready to sell: registered (unless `register` is false) with its work
    /// period open (unless `openPeriod` is false), and logged in as `cashier` with HELLO
    /// (unless `cashier` is nil).
    func client(
        _ terminal: String,
        timeout: Duration = .seconds(10),
        register: Bool = true,
        openPeriod: Bool = true,
        cashier: String? = SampleInvoices.cashier,
        machineID: String? = nil
    ) async throws -> MediatorClient {
        let client = try await connect(
            terminal,
            timeout: timeout,
            register: register,
            openPeriod: openPeriod,
            machineID: machineID
        )
        if let cashier {
            let hello = TerminalRequest(type: .hello, terminalID: terminal, cashierID: cashier, machineID: machineID)
            _ = try await client.send(hello, timeout: .seconds(10))
        }
        return client
    }

    /// Registers `terminal`, opens its work period (unless `openPeriod` is false) and logs
    /// `cashier` in there, straight in the store.
    func register(_ terminal: String, openPeriod: Bool = true, cashier: String? = SampleInvoices.cashier) async throws {
        _ = try store.addTerminal(TerminalRecord(code: TerminalID(terminal)))
        if curve { try store.pinKey(try keys(for: terminal).publicKey, to: TerminalID(terminal)) }
        if openPeriod { try await self.openPeriod(terminal) }
        if let cashier { _ = try await store.beginSession(cashier, at: TerminalID(terminal)) }
    }

    /// Opens `terminal`'s work period straight in the store (by `openedBy`, with no float),
    /// unless one is open: what a POS does at the start of its shift.
    func openPeriod(_ terminal: String, openedBy: String = "HARNESS") async throws {
        guard try await store.openPeriod(at: TerminalID(terminal)) == nil else { return }
        _ = try await store.openPeriod(at: TerminalID(terminal), openedBy: openedBy, openingFloat: CurrencyAmounts())
    }

    /// A terminal client that has sent nothing yet; a terminal registered here also gets its
    /// work period opened (unless `openPeriod` is false).
    /// Under CURVE, `keys` (default: the terminal's own, ``keys(for:)``) is what it connects
    /// with; registering pins the terminal's own key, never `keys`.
    func connect(
        _ terminal: String,
        timeout: Duration = .seconds(10),
        register: Bool = true,
        openPeriod: Bool = true,
        machineID: String? = nil,
        keys: TerminalKeys? = nil
    ) async throws -> MediatorClient {
        if register, try store.terminal(TerminalID(terminal)) == nil {
            _ = try? store.addTerminal(TerminalRecord(code: TerminalID(terminal)))
        }
        if register, curve, try store.terminal(TerminalID(terminal))?.curveKey == nil {
            _ = try? store.pinKey(try self.keys(for: terminal).publicKey, to: TerminalID(terminal))
        }
        if register, openPeriod { try await self.openPeriod(terminal) }
        var configuration = MediatorClient.Configuration(endpoint: endpoint, terminalID: TerminalID(terminal))
        configuration.requestTimeout = timeout
        configuration.machineID = machineID
        configuration.curve = try curveSettings(terminal, keys: keys)
        let client = try MediatorClient(context: context, configuration: configuration)
        Task { await client.run() }
        clients.withLock { $0.append(client) }
        return client
    }

    /// The device's whole journal.
    func journal() async throws -> [JournalEntry] { try await device.client.dumpEntireLog().entries }

    /// A graceful shutdown, as SIGTERM starts one: returns once the service stopped.
    func shutDown() async {
        await group.triggerGracefulShutdown()
        _ = try? await running.value
    }

    func close() async {
        for client in clients.withLock({ $0 }) { client.close() }
        await shutDown()
        await device.close()
        directory.remove()
    }
}

/// A device link that counts exchanges: how many were at the device at once, at most, and which
/// commands went out (the invariant "one exchange at a time", observed from outside).
final class CountingLink: FiscalDeviceLink {
    private let inner: any FiscalDeviceLink
    private let state = Mutex<(inFlight: Int, most: Int, commands: [DeviceCommand])>((0, 0, []))

    init(_ inner: any FiscalDeviceLink) { self.inner = inner }

    var name: String { inner.name }
    var mostAtOnce: Int { state.withLock { $0.most } }
    var commands: [DeviceCommand] { state.withLock { $0.commands } }

    func exchange(_ request: DeviceRequest, timeout: Duration) async throws(FiscalError) -> [UInt8] {
        state.withLock {
            $0.inFlight += 1
            $0.most = max($0.most, $0.inFlight)
            $0.commands.append(request.command)
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        return try await inner.exchange(request, timeout: timeout)
    }

    func close() async { await inner.close() }
}

/// Polls `condition` until it holds (a condition a test can observe, not a guess at timing).
func eventually(
    within limit: Duration = .seconds(10),
    _ what: String,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw FiscalError(.mediatorTimeout, "never: \(what)") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// An invoice from `terminal` whose content is unique to `sale`.
func invoice(_ terminal: String, sale: Int, lines: Int = 2) -> Invoice {
    SampleInvoices.sale(lines: lines, terminal: terminal, lane: nil, seed: sale)
}

/// The error code `body` is refused with, or nil if it succeeds.
func refusal<T>(_ body: () async throws -> T) async -> FiscalError? {
    do {
        _ = try await body()
        return nil
    } catch { return error as? FiscalError ?? FiscalError(.messageInvalid, "\(error)") }
}
