import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import Logging
import Mediator
import MediatorStore
import Synchronization
import TerminalClient
import ZeroMQ

/// A mediator on loopback TCP with a real SQLite store and an emulator (in-process or on a
/// pty), and real terminal clients.
final class MediatorHarness: Sendable {
    let directory = TemporaryDirectory("mediator")
    let device: EmulatorHarness
    let store: MediatorDatabase
    let context = ZMQContext()
    let service: MediatorService
    let running: Task<Void, any Error>
    /// Every client made here, closed by `close()`. A client left open keeps redialling its
    /// dead port; when the port is reused by another test's mediator it would connect there and,
    /// by routing-id handover, take that test's terminal id over.
    private let clients = Mutex<[MediatorClient]>([])

    init(
        transport: EmulatorHarness.Transport = .inProcess,
        deviceTimeout: Duration = .seconds(3),
        configureEmulator: (inout FiscalDeviceEmulator.Configuration) -> Void = { _ in },
        configure: (inout MediatorService.Configuration) -> Void = { _ in },
        beforeStart: (EmulatorHarness, MediatorDatabase) async throws -> Void = { _, _ in }
    ) async throws {
        device = try await EmulatorHarness(
            transport: transport,
            realClock: true,
            timeout: deviceTimeout,
            configure: configureEmulator
        )
        store = try MediatorDatabase(path: directory.appending("mediator.sqlite").path)
        try await beforeStart(device, store)
        var configuration = MediatorService.Configuration()
        configuration.gateway.endpoints = ["tcp://127.0.0.1:*"]
        configuration.device.retryBackoff = (.milliseconds(5), .milliseconds(100))
        configure(&configuration)
        var logger = Logger(label: "test-mediator")
        logger.logLevel = .warning
        service = try MediatorService(
            configuration: configuration,
            context: context,
            client: device.client,
            store: store,
            logger: logger
        )
        let service = self.service
        running = Task { try await service.run() }
        // The service reads no message before recovery is done: one PING answered means ready.
        let probe = try client("PROBE")
        _ = try await probe.send(TerminalRequest(type: .ping))
        probe.close()
    }

    var endpoint: String { service.gateway.endpoints[0] }

    func client(_ terminal: String, timeout: Duration = .seconds(10)) throws -> MediatorClient {
        var configuration = MediatorClient.Configuration(endpoint: endpoint, terminalID: TerminalID(terminal))
        configuration.requestTimeout = timeout
        let client = try MediatorClient(context: context, configuration: configuration)
        Task { await client.run() }
        clients.withLock { $0.append(client) }
        return client
    }

    /// The device's whole journal.
    func journal() async throws -> [JournalEntry] { try await device.client.dumpEntireLog().entries }

    func close() async {
        for client in clients.withLock({ $0 }) { client.close() }
        running.cancel()
        _ = try? await running.value
        await device.close()
        directory.remove()
    }
}

/// An invoice from `terminal` whose content is unique to `sale`.
func invoice(_ terminal: String, sale: Int, lines: Int = 2) -> Invoice {
    SampleInvoices.sale(lines: lines, terminal: terminal, lane: nil, seed: sale)
}
