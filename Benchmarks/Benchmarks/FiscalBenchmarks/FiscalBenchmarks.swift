import Benchmark
import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .mallocCountTotal], maxDuration: .seconds(3))

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

    Benchmark("PREPARE+COMMIT in-process, durable", configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(5))) {
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
}
