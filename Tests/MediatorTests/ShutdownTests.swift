import FiscalCore
import FiscalTestSupport
import Foundation
import MediatorStore
import TerminalClient
import Testing
import ZeroMQ

/// `serve` stopped with SIGTERM while the device works on a COMMIT.
@Suite("Graceful shutdown", .timeLimit(.minutes(1)))
struct ShutdownTests {
    @Test("SIGTERM during a COMMIT: the exchange finishes, the terminal is answered, the process exits 0")
    func sigtermMidExchange() async throws {
        let directory = TemporaryDirectory("shutdown")
        defer { directory.remove() }
        let database = directory.appending("mediator.sqlite").path
        try CrashTests.register(["REG-001", "ADMIN-OPS1"], cashier: SampleInvoices.cashier, in: database)
        let child = try await CrashTests.Child(
            device: "emulator:\(directory.appending("emulator").path)",
            database: database,
            extraArguments: ["--emulator-latency", "commit=600ms"]
        )
        defer { child.stop() }
        var configuration = MediatorClient.Configuration(endpoint: child.endpoint, terminalID: TerminalID("REG-001"))
        configuration.requestTimeout = .seconds(10)
        let sale = invoice("REG-001", sale: 1)
        let context = ZMQContext()
        var watcher = MediatorClient.Configuration(endpoint: child.endpoint, terminalID: TerminalID("ADMIN-OPS1"))
        watcher.requestTimeout = .seconds(5)
        let elements = try await MediatorClient.withClient(context: context, configuration: configuration) { client in
            async let sealed = client.fiscalize(requestID: "late", invoice: sale)
            // Wait until the request holds the device (its COMMIT takes 600 ms), then stop.
            try await MediatorClient.withClient(context: context, configuration: watcher) { ops in
                let deadline = ContinuousClock.now + .seconds(10)
                while try await ops.status().lockHolder?.requestID != "late" {
                    try #require(ContinuousClock.now < deadline, "the request never reached the device")
                    try await Task.sleep(for: .milliseconds(20))
                }
            }
            kill(child.process.processIdentifier, SIGTERM)
            return try await sealed
        }
        #expect(elements.invoiceSeq == InvoiceSeq(1))
        child.process.waitUntilExit()
        #expect(child.process.terminationStatus == 0)
        let store = try MediatorDatabase(path: database)
        #expect(try store.request(TerminalID("REG-001"), "late")?.state == .sealed)
        #expect(try store.sealedInvoice(1)?.entry.payloadDigest == sale.payloadDigest())
    }
}
