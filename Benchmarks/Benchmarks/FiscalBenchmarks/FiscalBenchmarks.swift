import Benchmark
import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import Logging
import Mediator
import MediatorStore
import TerminalClient
import ZeroMQ

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(3)
    )

    let invoice = SampleInvoices.sale(lines: 5)
    let json = invoice.canonicalJSON()

    Benchmark("canonical encoding + SHA-256 (5 lines)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(invoice.payloadDigest()) }
    }

    Benchmark("decode invoice JSON (5 lines)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(try Invoice.decode(json: json)) }
    }

    Benchmark("validate invoice (5 lines)") { benchmark in
        let validator = InvoiceValidator()
        for _ in benchmark.scaledIterations { blackHole(validator.violations(in: invoice)) }
    }

    Benchmark("device frame encode + decode") { benchmark in
        let frame = DeviceFrame(kind: .request, exchangeID: 1, payload: Array("TXN|PREPARE\n".utf8) + json)
        var decoder = DeviceFrameDecoder()
        for _ in benchmark.scaledIterations { blackHole(decoder.feed(frame.encoded())) }
    }

    Benchmark(
        "PREPARE+COMMIT in-process, durable",
        configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(5))
    ) {
        benchmark in
        let directory = TemporaryDirectory("bench")
        defer { directory.remove() }
        let emulator = try FiscalDeviceEmulator(configuration: .init(stateDirectory: directory.url))
        defer { emulator.shutdown() }
        let client = FiscalDeviceClient(link: InProcessDeviceLink(handler: emulator))
        _ = try await client.initialize(deviceID: nil, resetToken: "bench-token")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            blackHole(try await client.commit(try await client.prepare(invoice).nonce))
        }
        benchmark.stopMeasurement()
    }

    Benchmark(
        "sealing transaction: admit + seal (two fsyncs)",
        configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(5))
    ) { benchmark in
        let directory = TemporaryDirectory("bench-store")
        defer { directory.remove() }
        let store = try MediatorDatabase(path: directory.appending("mediator.sqlite").path)
        let emulator = try FiscalDeviceEmulator(configuration: .init(stateDirectory: directory.appending("emulator")))
        defer { emulator.shutdown() }
        let client = FiscalDeviceClient(link: InProcessDeviceLink(handler: emulator))
        _ = try await client.initialize(deviceID: nil, resetToken: "bench-token")
        // Real journal entries to seal, made before the clock starts.
        var sealed: [(RequestRecord, JournalEntry)] = []
        for index in 0..<benchmark.scaledIterations.count {
            let sale = SampleInvoices.sale(lines: 3, seed: index)
            let record = RequestRecord(
                invoice: sale,
                terminal: TerminalID("REG-001"),
                requestID: "r\(index)",
                mode: .fiscalize
            )
            sealed.append((record, try await client.commit(try await client.prepare(sale).nonce).entry))
        }
        benchmark.startMeasurement()
        for (record, entry) in sealed {
            _ = try store.admit(record)
            try store.seal(SealedInvoice(entry: entry, for: record, sealedAt: entry.deviceTimestamp), for: record)
        }
        benchmark.stopMeasurement()
    }

    Benchmark(
        "full path: FISCALIZE over loopback ZeroMQ, one terminal",
        configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(5))
    ) { benchmark in
        let directory = TemporaryDirectory("bench-full")
        defer { directory.remove() }
        let emulator = try FiscalDeviceEmulator(configuration: .init(stateDirectory: directory.appending("emulator")))
        defer { emulator.shutdown() }
        let device = FiscalDeviceClient(link: InProcessDeviceLink(handler: emulator))
        _ = try await device.initialize(deviceID: nil, resetToken: "bench-token")
        let store = try MediatorDatabase(path: directory.appending("mediator.sqlite").path)
        _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-001")))
        var configuration = MediatorService.Configuration()
        configuration.gateway.endpoints = ["tcp://127.0.0.1:*"]
        var logger = Logger(label: "bench")
        logger.logLevel = .error
        let context = ZMQContext()
        let service = try MediatorService(
            configuration: configuration,
            context: context,
            client: device,
            store: store,
            logger: logger
        )
        let running = Task { try await service.run() }
        defer { running.cancel() }
        var clientConfiguration = MediatorClient.Configuration(
            endpoint: service.gateway.endpoints[0],
            terminalID: TerminalID("REG-001")
        )
        clientConfiguration.cashierID = SampleInvoices.cashier
        let sales = (0..<benchmark.scaledIterations.count).map { SampleInvoices.sale(lines: 3, seed: $0) }
        try await MediatorClient.withClient(context: context, configuration: clientConfiguration) { client in
            _ = try await client.hello()
            benchmark.startMeasurement()
            for (index, sale) in sales.enumerated() {
                blackHole(try await client.fiscalize(requestID: "bench-\(index)", invoice: sale))
            }
            benchmark.stopMeasurement()
        }
    }
}
