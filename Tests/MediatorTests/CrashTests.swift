import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import Mediator
import MediatorStore
import SampleData
import TerminalClient
import Testing
import ZeroMQ

/// The mediator as a child process, killed with SIGKILL at many points while terminals
/// fiscalize, then restarted. The device (an emulator on a pty in this process) outlives it.
@Suite("Mediator killed and restarted", .serialized, .timeLimit(.minutes(10)))
struct CrashTests {
    static let executable = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/fiscal-mediator")

    /// How many kills; `FISCAL_KILL_ROUNDS` overrides it (scripts/kill-sweep.sh).
    static let rounds = Int(ProcessInfo.processInfo.environment["FISCAL_KILL_ROUNDS"] ?? "") ?? 50

    /// Registers `terminals` in the store at `path` with `cashier` logged in at each, as an admin
    /// and the cashiers would have before the mediator starts.
    /// Each terminal also gets a key pair in a file beside the store, pinned (as pairing would).
    static func register(_ terminals: [String], cashier: String, in path: String) async throws {
        let store = try MediatorDatabase(path: path)
        for terminal in terminals {
            _ = try store.addTerminal(TerminalRecord(code: TerminalID(terminal)))
            _ = try await store.openPeriod(at: TerminalID(terminal), openedBy: cashier, openingFloat: CurrencyAmounts())
            _ = try store.logIn(cashier, at: TerminalID(terminal))
            let keys = try TerminalKeys.loadOrCreate(file: keyFile(terminal, store: path)).keys
            try store.pinKey(keys.publicKey, to: TerminalID(terminal))
        }
    }

    /// A CURVE client configuration for `terminal` (registered by ``register(_:cashier:in:)``)
    /// against a `serve` child on `database`: its key file and the child's server key.
    static func client(_ terminal: String, endpoint: String, database: String) throws -> MediatorClient.Configuration {
        var configuration = MediatorClient.Configuration(endpoint: endpoint, terminalID: TerminalID(terminal))
        let serverKey = try ServerKeys.load(file: ServerKeys.defaultPath(store: database)).publicKey
        let keys = try TerminalKeys.loadOrCreate(file: keyFile(terminal, store: database)).keys
        configuration.curve = CurveSettings(keys: keys, serverKey: serverKey)
        return configuration
    }

    static func keyFile(_ terminal: String, store: String) -> String {
        URL(fileURLWithPath: store).deletingLastPathComponent().appendingPathComponent("keys/\(terminal).key").path
    }

    /// A running `fiscal-mediator serve` child and the endpoint it bound.
    final class Child: Sendable {
        let process: Process
        let endpoint: String
        let database: String

        /// A client configuration for `terminal` (registered by ``register(_:cashier:in:)``): a
        /// CURVE client with its key file and the child's server key (made beside the store).
        func configuration(_ terminal: String) throws -> MediatorClient.Configuration {
            try CrashTests.client(terminal, endpoint: endpoint, database: database)
        }

        init(device: String, database: String, extraArguments: [String] = []) async throws {
            self.database = database
            let process = Process()
            process.executableURL = CrashTests.executable
            process.arguments =
                [
                    "serve", "--endpoint", "tcp://127.0.0.1:*", "--device", device, "--db", database, "--lease", "2s",
                    "--log-level", ProcessInfo.processInfo.environment["FISCAL_CHILD_LOGS"] == nil ? "info" : "debug",
                    "--ops-http", "off", "--pairing-endpoint", "tcp://127.0.0.1:*",
                ] + extraArguments
            let output = Pipe()
            process.standardError = output
            process.standardOutput = FileHandle.nullDevice
            try ChildProcess.run(process)
            self.process = process
            // One thread reads the child's log until it dies, so the pipe never fills; the
            // first "mediator ready" line gives the endpoint.
            let handle = output.fileHandleForReading
            let found: String? = await withCheckedContinuation { continuation in
                Thread.detachNewThread {
                    var resumed = false
                    var buffer = ""
                    while true {
                        let data = handle.availableData
                        if data.isEmpty { break }
                        buffer += String(decoding: data, as: UTF8.self)
                        if let logs = ProcessInfo.processInfo.environment["FISCAL_CHILD_LOGS"] {
                            let file = "\(logs)/child-\(process.processIdentifier).log"
                            if !FileManager.default.fileExists(atPath: file) {
                                _ = FileManager.default.createFile(atPath: file, contents: nil)
                            }
                            if let handle = FileHandle(forWritingAtPath: file) {
                                handle.seekToEndOfFile()
                                handle.write(data)
                                try? handle.close()
                            }
                        }
                        // The log arrives in arbitrary chunks: only a token followed by a space
                        // is whole (a chunk ending in "…:418" of "…:41873" must not match).
                        if !resumed,
                            let range = buffer.range(of: #"endpoints=tcp://[0-9.:]+ "#, options: .regularExpression)
                        {
                            resumed = true
                            let token = buffer[range].dropFirst("endpoints=".count).dropLast()
                            continuation.resume(returning: String(token))
                        }
                        if buffer.count > 100_000 { buffer = "" }
                    }
                    if !resumed { continuation.resume(returning: nil) }
                }
            }
            guard let found else { throw FiscalError(.linkDown, "the mediator child exited before it was ready") }
            endpoint = found
        }

        func kill() {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }

    /// The output of a shell command, for diagnostics.
    static func shell(_ command: String) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let output = Pipe()
        process.standardOutput = output
        try? ChildProcess.run(process)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test("SIGKILL at random points: every acknowledged invoice is stored once, and store and device journal agree")
    func killAndRestart() async throws {
        // A device of realistic speed, so that a round's work spans the kill window.
        let device = try await EmulatorHarness(transport: .pty, realClock: true) {
            $0.nonceTTL = .seconds(2)
            $0.latency = EmulatorLatency(prepare: .milliseconds(5), commit: .milliseconds(20))
        }
        defer { Task { await device.close() } }
        let devicePath = "serial:\(try #require(device.server?.path))"
        let database = device.directory.appending("mediator.sqlite").path
        // Ids no other test uses, so no other test's client can ever claim them.
        let run = UInt16.random(in: 1000...9999)
        let terminals = ["REG-\(run)A", "REG-\(run)B", "MOB-\(run)C"]
        try await Self.register(terminals + ["ADMIN-D\(run)"], cashier: SampleInvoices.cashier, in: database)
        var generator = SeededRandom(seed: 20_261_121)
        var acknowledged: [String: SecurityElements] = [:]
        var sales: [(terminal: String, requestID: String, invoice: Invoice)] = []
        let context = ZMQContext()

        for round in 0..<Self.rounds {
            let child = try await Child(device: devicePath, database: database)
            // Each terminal sends one new sale and retries one it has no answer for yet.
            var batch: [(String, String, Invoice)] = []
            for (index, terminal) in terminals.enumerated() {
                let sale = (terminal, "\(terminal)-\(round)", invoice(terminal, sale: round * 10 + index))
                sales.append(sale)
                batch.append(sale)
                if let pending = sales.first(where: {
                    $0.terminal == terminal && acknowledged[$0.requestID] == nil && $0.requestID != sale.1
                }) {
                    batch.append(pending)
                }
            }
            let killAfter = Duration.milliseconds(Int.random(in: 0...150, using: &generator))
            let configurations = try Dictionary(
                uniqueKeysWithValues: terminals.map { ($0, try child.configuration($0)) }
            )
            let replies = await withTaskGroup(of: [(String, SecurityElements)].self) { group in
                for terminal in terminals {
                    let mine = batch.filter { $0.0 == terminal }
                    group.addTask {
                        var configuration = configurations[terminal]!
                        configuration.requestTimeout = .milliseconds(400)
                        // One client per terminal, its requests in flight together.
                        return
                            (try? await MediatorClient.withClient(context: context, configuration: configuration) {
                                client in
                                await withTaskGroup(of: (String, SecurityElements)?.self) { requests in
                                    for (_, requestID, invoice) in mine {
                                        requests.addTask {
                                            (try? await client.fiscalize(requestID: requestID, invoice: invoice)).map {
                                                (requestID, $0)
                                            }
                                        }
                                    }
                                    return await requests.reduce(into: [(String, SecurityElements)]()) {
                                        if let reply = $1 { $0.append(reply) }
                                    }
                                }
                            }) ?? []
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: killAfter)
                    child.kill()
                    return []
                }
                return await group.reduce(into: [(String, SecurityElements)]()) { $0 += $1 }
            }
            for (requestID, elements) in replies {
                if let earlier = acknowledged[requestID] {
                    #expect(earlier == elements, "request \(requestID) was answered twice with different elements")
                }
                acknowledged[requestID] = elements
            }
            child.kill()
        }

        let answeredBeforeKills = acknowledged.count
        // A last, clean run settles every sale.
        let child = try await Child(device: devicePath, database: database)
        // Stop the child on every path, a failing one included.
        defer { child.stop() }
        for (terminal, requestID, invoice) in sales {
            var configuration = try child.configuration(terminal)
            configuration.requestTimeout = .seconds(5)
            let elements = try await MediatorClient.withClient(context: context, configuration: configuration) {
                client in
                do {
                    return try await client.fiscalizeReliably(
                        requestID: requestID,
                        invoice: invoice,
                        deadline: .seconds(90)
                    )
                } catch {
                    // Say where it is stuck before failing.
                    let result = try? await client.result(requestID: requestID)
                    let status = try? await client.status()
                    // Is the mediator unreachable, or is only this terminal id answered elsewhere?
                    var other = try child.configuration("ADMIN-D\(run)")
                    other.requestTimeout = .seconds(3)
                    let otherStatus = try? await MediatorClient.withClient(context: context, configuration: other) {
                        try await $0.status()
                    }
                    let sockets = Self.shell(
                        "ss -tnp | grep -F '\(child.endpoint.split(separator: ":").last ?? "")' || true"
                    )
                    Issue.record(
                        "STATUS as another terminal: \(String(describing: otherStatus)); sockets on the port:\n\(sockets)"
                    )
                    Issue.record(
                        "\(requestID) did not settle: RESULT \(String(describing: result)); STATUS \(String(describing: status))"
                    )
                    throw error
                }
            }
            if let earlier = acknowledged[requestID] {
                #expect(
                    earlier == elements,
                    "acknowledged \(requestID) as \(earlier.invoiceSeq), now \(elements.invoiceSeq)"
                )
            }
            acknowledged[requestID] = elements
        }
        child.stop()

        let journal = try await device.client.dumpEntireLog().entries
        print(
            "kill test: \(Self.rounds) kills, \(sales.count) sales, \(answeredBeforeKills) answered before a kill, \(journal.count) sealed"
        )
        // The kills must land among the work, not only after it.
        #expect(answeredBeforeKills > 0 && answeredBeforeKills < sales.count)
        let store = try MediatorDatabase(path: database)
        let stored = try store.sealedInvoices(from: 1, limit: 100_000)
        #expect(journal.count == sales.count, "every sale sealed exactly once")
        #expect(stored.map(\.entry) == journal, "store and journal agree entry for entry")
        #expect(Set(journal.map(\.payloadDigest)).count == journal.count, "no invoice twice")
        #expect(Set(acknowledged.values.map(\.invoiceSeq)).count == acknowledged.count)
        #expect(acknowledged.count == sales.count)
        #expect(journal.map(\.seq.rawValue) == Array(1...UInt64(journal.count)))
    }
}
