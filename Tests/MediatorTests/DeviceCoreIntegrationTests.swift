import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import GRDB
import Logging
import Mediator
import MediatorStore
import SampleData
import TerminalClient
import Testing
import ZeroMQ

/// The device core's races and failures over real ZeroMQ, a real SQLite store and the emulator:
/// each of the orders that once cost a second fiscal number, a stuck request or a silent lane.
@Suite("Device core over ZeroMQ", .timeLimit(.minutes(2)))
struct DeviceCoreIntegrationTests {
    /// The state RESULT reports for `request`.
    static func state(_ client: MediatorClient, _ request: String) async throws -> RequestState? {
        do {
            return try await client.send(
                TerminalRequest(type: .result, requestID: RequestID(request)),
                timeout: .seconds(5)
            ).state
        } catch  where error.code == .notFound {
            return nil  // not arrived yet
        }
    }

    @Test("ABORT while the COMMIT is at the device, then FISCALIZE again under the same id: one fiscal number")
    func abortDuringCommit() async throws {
        var counting: CountingLink?
        let mediator = try await MediatorHarness(
            configureEmulator: { $0.latency = EmulatorLatency(prepare: .milliseconds(20), commit: .milliseconds(600)) },
            wrapLink: { link in
                let wrapped = CountingLink(link)
                counting = wrapped
                return wrapped
            }
        )
        defer { Task { await mediator.close() } }
        let client = try await mediator.client("REG-001")
        let sale = invoice("REG-001", sale: 1)
        async let first = client.fiscalize(requestID: "s1", invoice: sale)
        try await eventually("the COMMIT is at the device") { try await Self.state(client, "s1") == .committing }
        let abort = try await client.send(TerminalRequest(type: .abort, requestID: "s1"))
        #expect(abort.state == .committing)
        let again = await refusal {
            try await client.send(TerminalRequest(type: .fiscalize, requestID: "s1", invoice: sale))
        }
        #expect(again?.code == .inProgress)
        let sealed = try await first
        let retried = try await client.fiscalizeReliably(requestID: "s1", invoice: sale)
        #expect(retried == sealed && sealed.invoiceSeq == InvoiceSeq(1))
        #expect(try await mediator.journal().count == 1)
        #expect(try mediator.store.sealedInvoices().count == 1)
        #expect(counting?.mostAtOnce == 1)
    }

    @Test("ABORT while a slow PREPARE is at the device: 'aborted' once it returns, and a re-PREPARE is admitted")
    func abortDuringPrepare() async throws {
        let mediator = try await MediatorHarness(configureEmulator: {
            $0.latency = EmulatorLatency(prepare: .milliseconds(600))
            $0.nonceTTL = .seconds(1)
        })
        defer { Task { await mediator.close() } }
        let tablet = try await mediator.client("MOB-001")
        let watcher = try await mediator.client("ADMIN-W1")
        let sale = invoice("MOB-001", sale: 1)
        async let prepared = refusal {
            try await tablet.send(TerminalRequest(type: .prepare, requestID: "t1", invoice: sale))
        }
        try await eventually("the PREPARE is at the device") {
            try await watcher.status().lockHolder?.requestID == "t1"
        }
        let abort = try await tablet.send(TerminalRequest(type: .abort, requestID: "t1"))
        #expect(abort.state == .aborted)
        #expect(await prepared?.code == .aborted)
        #expect(try await Self.state(tablet, "t1") == .aborted)
        let (nonce, _) = try await tablet.prepare(requestID: "t1", invoice: sale)
        #expect(try await tablet.commit(requestID: "t1", nonce: nonce).invoiceSeq == InvoiceSeq(1))
        #expect(try await mediator.journal().count == 1)
    }

    @Test("a tablet dropping out with no roaming grace while its PREPARE is at the device: aborted, then re-prepared")
    func dropDuringPrepare() async throws {
        let mediator = try await MediatorHarness(
            configureEmulator: {
                $0.latency = EmulatorLatency(prepare: .milliseconds(600))
                $0.nonceTTL = .seconds(1)
            },
            configure: { $0.device.roamingGrace = .zero }
        )
        defer { Task { await mediator.close() } }
        let watcher = try await mediator.client("ADMIN-W2")
        let sale = invoice("MOB-002", sale: 1)
        let gone = try await mediator.client("MOB-002")
        let lost = Task {
            await refusal { try await gone.send(TerminalRequest(type: .prepare, requestID: "t2", invoice: sale)) }
        }
        try await eventually("the PREPARE is at the device") {
            try await watcher.status().lockHolder?.requestID == "t2"
        }
        gone.close()
        try await eventually("the device is free again") { try await watcher.status().lockHolder == nil }
        lost.cancel()
        let back = try await mediator.client("MOB-002")
        #expect(try await Self.state(back, "t2") == .aborted)
        let (nonce, _) = try await back.prepare(requestID: "t2", invoice: sale)
        #expect(try await back.commit(requestID: "t2", nonce: nonce).invoiceSeq == InvoiceSeq(1))
        #expect(try await mediator.journal().count == 1)
    }

    @Test("a burst of 8 from one lane: 3 refused QUEUE_FULL, not stored, and sealed when sent again after retry_after")
    func burst() async throws {
        // A device slow enough that the whole burst arrives while the first sale is at it, even
        // on a loaded machine with eight CURVE requests to encrypt (400 ms was not, once).
        let mediator = try await MediatorHarness(configureEmulator: {
            $0.latency = EmulatorLatency(commit: .seconds(1))
        })
        defer { Task { await mediator.close() } }
        let lane = try await mediator.client("REG-001")
        let replies = await withTaskGroup(of: (Int, TerminalReply?, FiscalError?).self) { group in
            for sale in 0..<8 {
                group.addTask {
                    let request = TerminalRequest(
                        type: .fiscalize,
                        requestID: "b\(sale)",
                        invoice: invoice("REG-001", sale: sale)
                    )
                    do {
                        return (sale, try await lane.send(request, timeout: .seconds(10)), nil)
                    } catch {
                        return (sale, nil, error as? FiscalError)
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let refused = replies.filter { $0.2?.code == .queueFull }.map(\.0)
        #expect(refused.count == 3)
        for sale in refused {
            #expect(try mediator.store.request(TerminalID("REG-001"), RequestID("b\(sale)")) == nil)
            let again = try await lane.fiscalizeReliably(requestID: "b\(sale)", invoice: invoice("REG-001", sale: sale))
            #expect(again.invoiceSeq.rawValue >= 6)
        }
        #expect(try await mediator.journal().count == 8)
        #expect(try mediator.store.sealedInvoices().count == 8)
    }

    @Test(
        "SIGTERM-like shutdown while the device holds a PREPARE: no PREPARE goes out after it, the queued sale is told"
    )
    func shutdownSendsNoPrepare() async throws {
        var counting: CountingLink?
        let mediator = try await MediatorHarness(
            configureEmulator: { $0.nonceTTL = .seconds(5) },
            wrapLink: { link in
                let wrapped = CountingLink(link)
                counting = wrapped
                return wrapped
            }
        )
        let tablet = try await mediator.client("MOB-003")
        let lane = try await mediator.client("REG-003")
        _ = try await tablet.prepare(requestID: "held", invoice: invoice("MOB-003", sale: 1))
        async let queued = refusal {
            try await lane.send(TerminalRequest(type: .fiscalize, requestID: "q", invoice: invoice("REG-003", sale: 2)))
        }
        try await eventually("the lane's sale waits") { try await lane.status().queueDepth == 1 }
        let preparesBefore = counting?.commands.filter { $0 == .prepare }.count
        await mediator.shutDown()
        #expect(await queued?.code == .shuttingDown)
        #expect(counting?.commands.filter { $0 == .prepare }.count == preparesBefore)
        #expect(try mediator.store.request(TerminalID("MOB-003"), "held")?.state == .aborted)
        #expect(try mediator.store.request(TerminalID("REG-003"), "q")?.state == .failed)
        await mediator.close()
    }

    @Test(
        "a seal the store cannot write: sales refused STORE_UNAVAILABLE, in_doubt, then sealed once it can, no restart"
    )
    func storeLockedWhileSealing() async throws {
        let mediator = try await MediatorHarness(
            configureEmulator: { $0.latency = EmulatorLatency(commit: .milliseconds(300)) },
            storeBusyTimeout: .milliseconds(200)
        )
        defer { Task { await mediator.close() } }
        let lane = try await mediator.client("REG-001")
        let other = try await mediator.client("REG-002")
        async let first = lane.fiscalize(requestID: "s1", invoice: invoice("REG-001", sale: 1))
        try await eventually("the COMMIT is at the device") { try await Self.state(lane, "s1") == .committing }
        // Another connection takes the store's write lock while the device seals.
        var unsafe = Configuration()
        unsafe.allowsUnsafeTransactions = true  // it holds the lock across accesses on purpose
        let intruder = try DatabaseQueue(path: mediator.store.path, configuration: unsafe)
        try await intruder.writeWithoutTransaction { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        try await eventually("the store's refusal is seen") {
            await mediator.service.deviceActor.snapshot().alerts.contains { $0.code == .storeFailing }
        }
        let refused = await refusal {
            try await other.send(
                TerminalRequest(type: .fiscalize, requestID: "x", invoice: invoice("REG-002", sale: 2))
            )
        }
        #expect(refused?.code == .storeUnavailable)
        #expect(try await Self.state(lane, "s1") == .inDoubt)
        try await intruder.writeWithoutTransaction { db in try db.execute(sql: "ROLLBACK") }
        #expect(try await first.invoiceSeq == InvoiceSeq(1))
        #expect(try await Self.state(lane, "s1") == .sealed)
        let later = try await other.fiscalizeReliably(requestID: "x", invoice: invoice("REG-002", sale: 2))
        #expect(later.invoiceSeq == InvoiceSeq(2))
        #expect(try mediator.store.sealedInvoices().map(\.entry.seq) == [InvoiceSeq(1), InvoiceSeq(2)])
        // The upload line (issue 13's scenario end to end): the cloud gets 1 then 2 over HTTP, no
        // quarantine and no manual retry.
        let cloud = try await CloudSyncTests.Cloud()
        defer { Task { await cloud.close() } }
        let sync = CloudSyncTests()
        let uploader = try sync.uploader(mediator.store, cloud.url)
        try await sync.drive(uploader) { try mediator.store.outboxSummary().pending == 0 }
        #expect(try cloud.seqs() == [1, 2])
        #expect(try mediator.store.outboxSummary().quarantined.isEmpty)
    }

    @Test("an unplugged device raises DEVICE_UNREACHABLE within the probe interval; plugged back, it clears")
    func unpluggedDevice() async throws {
        let directory = TemporaryDirectory("unplug")
        defer { directory.remove() }
        var emulatorConfiguration = FiscalDeviceEmulator.Configuration(stateDirectory: directory.appending("def"))
        emulatorConfiguration.nonceTTL = .seconds(5)
        let emulator = try FiscalDeviceEmulator(configuration: emulatorConfiguration)
        defer { emulator.shutdown() }
        var server = try PTYDeviceServer(emulator: emulator, quietPeriodMilliseconds: 50)
        // A stable name for the device, as udev gives one (/dev/fiscal-def): the pty behind it changes.
        let stable = directory.appending("fiscal-def").path
        try FileManager.default.createSymbolicLink(atPath: stable, withDestinationPath: server.path)
        var clientConfiguration = FiscalDeviceClient.Configuration()
        clientConfiguration.queryTimeout = .milliseconds(300)
        let link = try SerialDeviceLink(path: stable)
        let setup = FiscalDeviceClient(link: link, configuration: clientConfiguration)
        _ = try await setup.initialize(deviceID: DeviceID("DEF-UNPLUG"), resetToken: EmulatorHarness.resetToken)
        let store = try MediatorDatabase(path: directory.appending("mediator.sqlite").path)
        _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-001")))
        _ = try await store.openPeriod(at: TerminalID("REG-001"), openedBy: "ADMIN", openingFloat: CurrencyAmounts())
        _ = try store.logIn(SampleInvoices.cashier, at: TerminalID("REG-001"))
        let keys = try TerminalKeys.generate()
        try store.pinKey(keys.publicKey, to: TerminalID("REG-001"))
        var configuration = MediatorService.Configuration()
        configuration.gateway.endpoints = ["tcp://127.0.0.1:*"]
        configuration.device.probeInterval = .milliseconds(300)
        configuration.device.unreachableProbeInterval = .milliseconds(200)
        let context = ZMQContext()
        let service = try MediatorService(
            configuration: configuration,
            context: context,
            client: setup,
            store: store,
            logger: Logger(label: "unplug")
        )
        let running = Task { try await service.run() }
        defer { running.cancel() }
        await service.deviceActor.waitUntilReady()
        var terminal = MediatorClient.Configuration(
            endpoint: service.gateway.endpoints[0],
            terminalID: TerminalID("REG-001")
        )
        terminal.requestTimeout = .seconds(5)
        terminal.curve = CurveSettings(keys: keys, serverKey: try #require(service.gateway.serverKey?.publicKey))
        let client = try MediatorClient(context: context, configuration: terminal)
        Task { await client.run() }
        defer { client.close() }
        var events = client.events.makeAsyncIterator()
        _ = try await client.send(TerminalRequest(type: .ping))

        let unplugged = ContinuousClock.now
        server.stop()
        try FileManager.default.removeItem(atPath: stable)
        let alert = await events.next()
        #expect(alert?.event == .deviceAlert && alert?.code == .deviceUnreachable)
        #expect(unplugged.duration(to: .now) < .seconds(3))
        let refused = await refusal {
            try await client.send(
                TerminalRequest(type: .fiscalize, requestID: "s1", invoice: invoice("REG-001", sale: 1))
            )
        }
        #expect(refused?.code == .deviceUnavailable)

        server = try PTYDeviceServer(emulator: emulator, quietPeriodMilliseconds: 50)
        defer { server.stop() }
        try FileManager.default.createSymbolicLink(atPath: stable, withDestinationPath: server.path)
        let recovered = await events.next()
        #expect(recovered?.event == .deviceRecovered)
        #expect(
            try await client.fiscalizeReliably(requestID: "s1", invoice: invoice("REG-001", sale: 1)).invoiceSeq
                == InvoiceSeq(1)
        )
    }

    @Test("a second serve on the same store, or on the same device, is refused at once, naming the holder")
    func secondServe() async throws {
        let directory = TemporaryDirectory("second-serve")
        defer { directory.remove() }
        let database = directory.appending("mediator.sqlite").path
        let device = "emulator:\(directory.appending("emulator").path)"
        let first = try await CrashTests.Child(device: device, database: database)
        defer { first.stop() }
        let pid = first.process.processIdentifier
        for (store, emulator) in [
            (database, directory.appending("other").path),
            (directory.appending("b.sqlite").path, directory.appending("emulator").path),
        ] {
            let second = Process()
            second.executableURL = CrashTests.executable
            second.arguments = [
                "serve", "--endpoint", "tcp://127.0.0.1:*", "--device", "emulator:\(emulator)", "--db", store,
                "--ops-http", "off", "--pairing-endpoint", "tcp://127.0.0.1:*",
            ]
            let errors = Pipe()
            second.standardError = errors
            second.standardOutput = FileHandle.nullDevice
            try ChildProcess.run(second)
            let output = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            second.waitUntilExit()
            #expect(second.terminationStatus != 0)
            #expect(output.contains("IN_USE") && output.contains("pid \(pid)"), "\(output)")
        }
        #expect(first.process.isRunning)
    }
}
