import FiscalCore
import FiscalTestSupport
import Foundation
import MediatorStore
import SampleData
import TerminalClient
import Testing
import ZeroMQ

/// `serve` stopped with SIGTERM while the device works on a COMMIT.
@Suite("Graceful shutdown", .timeLimit(.minutes(1)))
struct ShutdownCrashTests {
    @Test("SIGTERM during a COMMIT: the exchange finishes, the terminal is answered, the process exits 0")
    func sigtermMidExchange() async throws {
        let directory = TemporaryDirectory("shutdown")
        defer { directory.remove() }
        let database = directory.appending("mediator.sqlite").path
        // Ids no other suite uses: a client another test left redialling cannot claim them.
        let run = UInt16.random(in: 1000...9999)
        let lane = "REG-S\(run)"
        let ops = "ADMIN-S\(run)"
        try await CrashTests.register([lane, ops], cashier: SampleInvoices.cashier, in: database)
        let child = try await CrashTests.Child(
            device: "emulator:\(directory.appending("emulator").path)",
            database: database,
            extraArguments: ["--emulator-latency", "commit=2s"]
        )
        defer { child.stop() }
        var configuration = try child.configuration(lane)
        configuration.requestTimeout = .seconds(10)
        let sale = invoice(lane, sale: 1)
        let context = ZMQContext()
        var watcher = try child.configuration(ops)
        watcher.requestTimeout = .seconds(5)
        let elements = try await MediatorClient.withClient(context: context, configuration: watcher) { ops in
            // The watcher is connected and answered before the sale goes out, so it cannot miss
            // the time the sale holds the device on a loaded machine.
            // And the device is ready: on a loaded machine the child may still be settling its
            // start, and a sale offered then is refused DEVICE_UNAVAILABLE (never reaching it).
            try await eventually(within: .seconds(20), "the child's device is ready") {
                try await ops.status().device?.state == .ready
            }
            return try await MediatorClient.withClient(context: context, configuration: configuration) { client in
                async let sealed = client.fiscalizeReliably(requestID: "late", invoice: sale, deadline: .seconds(20))
                // Wait until the request holds the device (its COMMIT takes 2 s, so a loaded machine's
                // slow round trip cannot miss it), then stop.
                let deadline = ContinuousClock.now + .seconds(10)
                while try await ops.status().lockHolder?.requestID != "late" {
                    try #require(ContinuousClock.now < deadline, "the request never reached the device")
                    try await Task.sleep(for: .milliseconds(20))
                }
                kill(child.process.processIdentifier, SIGTERM)
                return try await sealed
            }
        }
        #expect(elements.invoiceSeq == InvoiceSeq(1))
        child.process.waitUntilExit()
        #expect(child.process.terminationStatus == 0)
        let store = try MediatorDatabase(path: database)
        #expect(try store.request(TerminalID(lane), "late")?.state == .sealed)
        #expect(try store.sealedInvoice(1)?.entry.payloadDigest == sale.payloadDigest())
    }
}
