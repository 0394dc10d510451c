import ArgumentParser
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation
import SampleData

/// `fiscal-mediator device-bench`: PREPARE+COMMIT pairs per second against the emulator.
struct DeviceBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device-bench",
        abstract: "Measure PREPARE+COMMIT pairs per second against a fresh emulator (durable).",
        discussion: "The figures in docs/PERFORMANCE.md come from this command."
    )

    @Option(help: "inproc or pty.") var transport = "inproc"
    @Option(help: "Pairs to run.") var count = 5000
    @Option(help: "Where to put the emulator's state (a fresh temporary directory by default).") var state: String?

    func run() async throws {
        let directory =
            state.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("device-bench-\(UUID().uuidString)")
        let emulator = try FiscalDeviceEmulator(configuration: .init(stateDirectory: directory))
        var server: PTYDeviceServer?
        let link: any FiscalDeviceLink
        switch transport {
        case "inproc": link = InProcessDeviceLink(handler: emulator)
        case "pty":
            server = try PTYDeviceServer(emulator: emulator)
            link = try SerialDeviceLink(path: server!.path)
        default: throw ValidationError("--transport must be inproc or pty")
        }
        let client = FiscalDeviceClient(link: link)
        if try await !client.status().initialized {
            _ = try await client.initialize(deviceID: nil, resetToken: "bench-token")
        }
        let invoices = (0..<64).map { SampleInvoices.sale(lines: 1 + $0 % 5, terminal: "REG-00\($0 % 10)") }
        // Warm-up.
        for invoice in invoices.prefix(20) { _ = try await client.commit(try await client.prepare(invoice).nonce) }
        let clock = ContinuousClock()
        var latencies: [Duration] = []
        latencies.reserveCapacity(count)
        let start = clock.now
        for index in 0..<count {
            let began = clock.now
            let prepared = try await client.prepare(invoices[index % invoices.count])
            _ = try await client.commit(prepared.nonce)
            latencies.append(clock.now - began)
        }
        let elapsed = clock.now - start
        latencies.sort()
        func ms(_ d: Duration) -> String {
            String(format: "%.3f", d.inSeconds * 1000)
        }
        let seconds = elapsed.inSeconds
        print(
            "transport=\(transport) pairs=\(count) seconds=\(String(format: "%.2f", seconds)) "
                + "pairs_per_second=\(String(format: "%.0f", Double(count) / seconds)) "
                + "p50_ms=\(ms(latencies[count / 2])) p99_ms=\(ms(latencies[count * 99 / 100])) max_ms=\(ms(latencies[count - 1]))"
        )
        await link.close()
        server?.stop()
        emulator.shutdown()
        if state == nil { try? FileManager.default.removeItem(at: directory) }
    }
}
