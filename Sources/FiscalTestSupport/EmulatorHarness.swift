public import DeviceEmulator
public import FiscalCore
public import FiscalDevice
public import Foundation

/// A fresh emulator in a temporary directory, reached in-process or over a real
/// pseudo-terminal through the serial transport, with a manual clock.
public final class EmulatorHarness: Sendable {
    public enum Transport: String, Sendable, CaseIterable {
        case inProcess
        case pty
    }

    public let directory: TemporaryDirectory
    public let clock: ManualEmulatorClock
    public let emulator: FiscalDeviceEmulator
    public let server: PTYDeviceServer?
    public let link: any FiscalDeviceLink
    public let client: FiscalDeviceClient

    /// - Parameters:
    ///   - initialize: run CFG|INIT with `resetToken` first.
    ///   - realClock: use the system clocks instead of `clock` (nonces then expire by themselves).
    ///   - configure: adjust the emulator's configuration.
    public init(
        transport: Transport = .pty,
        initialize: Bool = true,
        directory: TemporaryDirectory = TemporaryDirectory("emulator"),
        clock: ManualEmulatorClock = ManualEmulatorClock(wall: Date()),
        realClock: Bool = false,
        timeout: Duration = .seconds(3),
        configure: (inout FiscalDeviceEmulator.Configuration) -> Void = { _ in }
    ) async throws {
        self.directory = directory
        self.clock = clock
        var configuration = FiscalDeviceEmulator.Configuration(stateDirectory: directory.url)
        configuration.nonceTTL = .seconds(5)
        configure(&configuration)
        emulator = try FiscalDeviceEmulator(
            configuration: configuration,
            clock: realClock ? SystemEmulatorClock() as any EmulatorClock : clock
        )
        switch transport {
        case .inProcess:
            server = nil
            link = InProcessDeviceLink(handler: emulator)
        case .pty:
            let server = try PTYDeviceServer(emulator: emulator, quietPeriodMilliseconds: 100)
            self.server = server
            // Not exclusive: a mediator under test opens the same device as the test's own reader.
            link = try SerialDeviceLink(path: server.path, exclusive: false)
        }
        var clientConfiguration = FiscalDeviceClient.Configuration()
        clientConfiguration.prepareTimeout = timeout
        clientConfiguration.commitTimeout = timeout
        clientConfiguration.queryTimeout = timeout
        client = FiscalDeviceClient(link: link, configuration: clientConfiguration)
        if initialize {
            _ = try await client.initialize(deviceID: DeviceID("DEF-TEST-0001"), resetToken: Self.resetToken)
        }
    }

    public static let resetToken = "dgi-authorization-token"

    /// PREPARE then COMMIT.
    public func fiscalize(_ invoice: Invoice) async throws -> DeviceReply.Sealed {
        try await client.commit(try await client.prepare(invoice).nonce)
    }

    /// Stops the device and removes its files (unless `keepFiles`).
    public func close(keepFiles: Bool = false) async {
        await link.close()
        server?.stop()
        emulator.shutdown()
        if !keepFiles { directory.remove() }
    }
}
