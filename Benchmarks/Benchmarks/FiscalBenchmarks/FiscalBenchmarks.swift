import Benchmark
import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import Logging
import Mediator
import MediatorStore
import Reports
import SampleData
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

    // The shop's day's cost per sale (issue 18: under 5 % of the sealing transaction): the same
    // intake read and sealing transaction, without and with the day read, the attribution and
    // the sale context. The difference between the two is what the shop's day adds.
    for shopDay in [false, true] {
        Benchmark(
            shopDay
                ? "intake read + sealing transaction, with the shop's day (day read, period, session, context)"
                : "intake read + sealing transaction, before the shop's day (registry read, admit, seal)",
            configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(5))
        ) { benchmark in
            try await sealWithIntakeRead(benchmark, shopDay: shopDay)
        }
    }

    // Issue 19: a Z over a shift of 20,000 sealed invoices, under 100 ms. Each iteration takes
    // the Z of a fresh copy of the same bulk-written store (the copy is made off the clock), so
    // every Z reads, computes, numbers, chains and closes exactly the same shift.
    Benchmark(
        "Z report of a 20,000-invoice shift (read, figures, count, number, chain, close)",
        configuration: .init(metrics: [.wallClock], maxDuration: .seconds(20), maxIterations: 10)
    ) { benchmark in
        let directory = TemporaryDirectory("bench-z")
        defer { directory.remove() }
        let template = directory.appending("template.sqlite").path
        do {
            let store = try MediatorDatabase(path: template)
            _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-001")))
            _ = try await store.openPeriod(at: TerminalID("REG-001"), openedBy: "SUP", openingFloat: CurrencyAmounts())
            _ = try store.logIn(SampleInvoices.cashier, at: TerminalID("REG-001"))
        }
        try ShiftBulkWriter.append(20_000, to: template)
        let request = ZRequest(
            terminal: TerminalID("REG-001"),
            closedBy: "SUP",
            count: CashCount(["CDF": ["500": 0], "USD": ["1": 0]]),
            explanation: "benchmark"
        )
        for iteration in benchmark.scaledIterations {
            let copy = directory.appending("z-\(iteration).sqlite").path
            try FileManager.default.copyItem(atPath: template, toPath: copy)
            let store = try MediatorDatabase(path: copy)
            benchmark.startMeasurement()
            blackHole(try await store.takeZ(request, settings: ReportSettings(), currencies: ["CDF", "USD"]))
            benchmark.stopMeasurement()
        }
    }

    // Issue 20: the combined Z over 10 terminals of 20,000 sealed invoices each, reconciliation
    // included, under 500 ms. Measured: the mediator's part, from the Zs and the device's Z to
    // the stored record (reading the 10 Zs, merging, the 200,000 fiscal numbers, the comparison,
    // the record); the device's own RPT|Z is the device's time, not the mediator's.
    Benchmark(
        "combined Z over 10 terminals x 20,000 invoices (reconciliation and record)",
        configuration: .init(metrics: [.wallClock], maxDuration: .seconds(30), maxIterations: 5)
    ) { benchmark in
        let directory = TemporaryDirectory("bench-cz")
        defer { directory.remove() }
        let template = directory.appending("template.sqlite").path
        let terminals = (1...10).map { String(format: "REG-%03d", $0) }
        do {
            let store = try MediatorDatabase(path: template)
            for code in terminals {
                _ = try store.addTerminal(TerminalRecord(code: TerminalID(code)))
                _ = try await store.openPeriod(at: TerminalID(code), openedBy: "SUP", openingFloat: CurrencyAmounts())
                _ = try store.logIn(SampleInvoices.cashier, at: TerminalID(code))
            }
        }
        for code in terminals { try ShiftBulkWriter.append(20_000, to: template, terminal: code) }
        var zs: [ReportFigures] = []
        do {
            let store = try MediatorDatabase(path: template)
            for code in terminals {
                let z = try await store.takeZ(
                    ZRequest(
                        terminal: TerminalID(code),
                        closedBy: "SUP",
                        count: CashCount(["CDF": ["500": 0], "USD": ["1": 0]]),
                        explanation: "benchmark"
                    ),
                    settings: ReportSettings(),
                    currencies: ["CDF", "USD"]
                )
                zs.append(z.figures!)
            }
        }
        // The device's Z as the registers' Zs say it should be: the verdict is a match.
        let side = DayReconciliation.compare(zs: zs, seqs: [], device: DeviceDay(
            zNumber: 1, deviceID: "DEF-BENCH", firstSeq: nil, lastSeq: nil, invoiceCount: 0,
            generatedAt: "2026-12-02T20:00:00.000Z", types: [], taxGroups: [], reportHash: nil
        )) { _ in "" }.registers
        let device = DeviceDay(
            zNumber: 1,
            deviceID: "DEF-BENCH",
            firstSeq: 1,
            lastSeq: 200_000,
            invoiceCount: 200_000,
            generatedAt: "2026-12-02T20:00:00.000Z",
            types: side.types,
            taxGroups: side.taxGroups,
            reportHash: String(repeating: "0", count: 64)
        )
        for iteration in benchmark.scaledIterations {
            let copy = directory.appending("cz-\(iteration).sqlite").path
            try FileManager.default.copyItem(atPath: template, toPath: copy)
            let store = try MediatorDatabase(path: copy)
            benchmark.startMeasurement()
            let record = try await store.recordCombinedZ(device: device, takenBy: "MGR", settings: ReportSettings())
            benchmark.stopMeasurement()
            precondition(record.dayReconciliation?.verdict == .match, "the benchmark's day must reconcile")
        }
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
            let hello = try await client.hello()
            try await client.ensurePeriod(after: hello, openedBy: SampleInvoices.cashier)
            benchmark.startMeasurement()
            for (index, sale) in sales.enumerated() {
                blackHole(try await client.fiscalize(requestID: "bench-\(index)", invoice: sale))
            }
            benchmark.stopMeasurement()
        }
    }
}

/// Admits and seals real journal entries, each after the intake's read of its terminal: the
/// registry entry alone, or (`shopDay`) with the terminal's day, attributed by the state
/// machine and stored with its period, session and a two-currency sale context.
private func sealWithIntakeRead(_ benchmark: Benchmark, shopDay: Bool) async throws {
    let directory = TemporaryDirectory("bench-store-day")
    defer { directory.remove() }
    let store = try MediatorDatabase(path: directory.appending("mediator.sqlite").path)
    let terminal = TerminalID("REG-001")
    _ = try store.addTerminal(TerminalRecord(code: terminal))
    _ = try await store.openPeriod(at: terminal, openedBy: "SUP-01", openingFloat: CurrencyAmounts())
    _ = try store.logIn(SampleInvoices.cashier, at: terminal)
    let emulator = try FiscalDeviceEmulator(configuration: .init(stateDirectory: directory.appending("emulator")))
    defer { emulator.shutdown() }
    let client = FiscalDeviceClient(link: InProcessDeviceLink(handler: emulator))
    _ = try await client.initialize(deviceID: nil, resetToken: "bench-token")
    var sealed: [(RequestRecord, JournalEntry, SaleContext)] = []
    for index in 0..<benchmark.scaledIterations.count {
        let sale = SampleInvoices.sale(lines: 3, seed: index)
        let record = RequestRecord(invoice: sale, terminal: terminal, requestID: "r\(index)", mode: .fiscalize)
        let context = SaleContext(
            discounts: [.init(item: 0, amount: Money(units: 100))],
            tendered: [
                .init(
                    method: .cash,
                    currency: "USD",
                    amount: Money(units: 2000),
                    rate: ExchangeRate(units: 2_850_000_000)
                )
            ],
            change: [.init(currency: "CDF", amount: Money(units: 5_700_000 - sale.totals.total.units))]
        )
        sealed.append((record, try await client.commit(try await client.prepare(sale).nonce).entry, context))
    }
    benchmark.startMeasurement()
    for (record, entry, context) in sealed {
        let (_, day) = try await store.terminalRecord(terminal, withDay: shopDay)
        var attributed = record
        if shopDay {
            var machine = day ?? TerminalDay.StateMachine()
            guard
                case .attribute(let period, let session) = try machine.handle(
                    .sell(cashier: record.cashierID, .init(period: true, session: true))
                )
            else { fatalError("the bench terminal has a period and a session") }
            attributed.periodID = period
            attributed.sessionID = session
            attributed.saleContext = context.storedJSON()
        }
        _ = try store.admit(attributed)
        try store.seal(SealedInvoice(entry: entry, for: attributed, sealedAt: entry.deviceTimestamp), for: attributed)
    }
    benchmark.stopMeasurement()
}
