import DeviceEmulator
import FiscalCore
import FiscalTestSupport
import Foundation
import Mediator
import MediatorStore
import Synchronization
import TerminalClient
import Testing

/// A waiter's tablet in its own network namespace, joined to the mediator's host by a veth
/// pair: cutting the link is a tablet walking out of Wi-Fi range. Unlike closing a socket, no
/// FIN and no RST reach the mediator; its TCP connection to the tablet stays open, half-open,
/// and only the ZMTP heartbeats can tell that nobody is there any more.
///
/// Needs root (or password-less sudo) for `ip netns` and `ip link`, as `make test` has on CI.
@Suite("Half-open roaming (network namespace)", .serialized, .timeLimit(.minutes(2)))
struct HalfOpenRoamingTests {
    @Test(
        "a tablet whose link is cut holding the device: heartbeats notice, the lane goes on, the tablet finishes its sale once"
    )
    func cutLinkWhileHolding() async throws {
        let network = try TabletNetwork()
        defer { network.remove() }
        let mediator = try await MediatorHarness(
            // The DEF keeps the tablet's PREPARE this long (no abort): the lane's wait ends there.
            configureEmulator: { $0.nonceTTL = .seconds(6) },
            configure: {
                $0.gateway.endpoints = ["tcp://\(network.hostAddress):*"]
                $0.device.roamingGrace = .milliseconds(500)
            }
        )
        defer { Task { await mediator.close() } }
        // The tablet: `terminal prepare-commit` inside the namespace, holding the device 8 s,
        // a CURVE client with its key file (pinned here as pairing would) and the server key.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("half-open-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let keyFile = folder.appendingPathComponent("MOB-001.key").path
        mediator.use(try TerminalKeys.loadOrCreate(file: keyFile).keys, for: "MOB-001")
        try await mediator.register("MOB-001")
        let serverKey = try #require(mediator.service.gateway.serverKey?.publicKey)
        let lane = try await mediator.client("REG-001")

        let invoiceFile = folder.appendingPathComponent("table-5.json")
        try Data(invoice("MOB-001", sale: 5).canonicalJSON()).write(to: invoiceFile)
        let tablet = try TabletProcess(
            network: network,
            arguments: [
                "terminal", "prepare-commit", invoiceFile.path, "--connect", mediator.endpoint,
                "--terminal-id", "MOB-001", "--request-id", "table-5", "--hold", "8s", "--timeout", "3",
                "--key-file", keyFile, "--server-key", serverKey,
            ]
        )
        defer { tablet.stop() }
        try await tablet.waitFor(#""prepared""#, within: .seconds(20))
        #expect(await mediator.service.deviceActor.snapshot().holder?.terminalID == "MOB-001")

        // Out of range: no FIN, no RST.
        try network.cut()
        let cut = ContinuousClock.now
        let laneSale = try await lane.fiscalize(requestID: "lane-1", invoice: invoice("REG-001", sale: 1))
        let waited = ContinuousClock.now - cut
        #expect(laneSale.invoiceSeq == InvoiceSeq(1))
        // The mediator gave the tablet's sale up because the connection died (heartbeats, then
        // the grace), not because its lease ran out; the lane then waited for the DEF's TTL.
        let given = try #require(try mediator.store.request(TerminalID("MOB-001"), "table-5"))
        #expect(given.state == .aborted)
        #expect(given.errorMessage?.contains("disconnected") == true, "\(given.errorMessage ?? "")")
        #expect(waited > .seconds(2) && waited < .seconds(10), "\(waited)")
        #expect(tablet.isRunning, "the tablet process is alive: its side of the connection is half-open")

        // Back in range: the tablet's COMMIT fails (its nonce was given up), it asks RESULT and
        // prepares the same request again: one fiscal number for the table.
        try network.restore()
        let output = try await tablet.waitForExit(within: .seconds(60))
        #expect(tablet.exitCode == 0, "\(output)")
        #expect(output.contains(#""invoice_seq" : 2"#) || output.contains(#""invoice_seq":2"#), "\(output)")
        let journal = try await mediator.journal()
        #expect(journal.map(\.posTerminalID) == ["REG-001", "MOB-001"])
        #expect(try mediator.store.request(TerminalID("MOB-001"), "table-5")?.state == .sealed)
    }
}

/// A network namespace for the tablet and a veth pair to the host, on a /30 of its own.
struct TabletNetwork {
    let name: String
    let hostInterface: String
    let hostAddress: String
    let tabletAddress: String

    init() throws {
        let id = Int(getpid()) % 10_000 * 10 + Int.random(in: 0..<10)
        name = "fm-tablet-\(id)"
        hostInterface = "fmh\(id)"
        let tabletInterface = "fmt\(id)"
        let subnet = "10.\(200 + id % 50).\(id / 50 % 250)"
        hostAddress = "\(subnet).1"
        tabletAddress = "\(subnet).2"
        try Self.run("ip netns add \(name)")
        do {
            try Self.run("ip link add \(hostInterface) type veth peer name \(tabletInterface)")
            try Self.run("ip link set \(tabletInterface) netns \(name)")
            try Self.run("ip addr add \(hostAddress)/30 dev \(hostInterface)")
            try Self.run("ip link set \(hostInterface) up")
            try Self.run("ip -n \(name) addr add \(tabletAddress)/30 dev \(tabletInterface)")
            try Self.run("ip -n \(name) link set \(tabletInterface) up")
            try Self.run("ip -n \(name) link set lo up")
        } catch {
            remove()
            throw error
        }
    }

    /// The tablet walks out of range: the link goes down, packets stop, nobody is told.
    func cut() throws { try Self.run("ip link set \(hostInterface) down") }

    func restore() throws { try Self.run("ip link set \(hostInterface) up") }

    func remove() {
        _ = try? Self.run("ip link del \(hostInterface)")
        _ = try? Self.run("ip netns del \(name)")
    }

    /// `ip` needs root: run as is when we are, else through password-less sudo.
    static let privileged = geteuid() == 0 ? "" : "sudo -n "

    @discardableResult
    static func run(_ command: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", privileged + command + " 2>&1"]
        let output = Pipe()
        process.standardOutput = output
        try ChildProcess.run(process)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw FiscalError(.configInvalid, "`\(command)` failed (root or sudo -n is needed): \(text)")
        }
        return text
    }
}

/// `fiscal-mediator ARGUMENTS` run inside the tablet's namespace, its output collected.
final class TabletProcess: Sendable {
    let process: Process
    private let output = Mutex("")

    init(network: TabletNetwork, arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        let command = ["ip", "netns", "exec", network.name, CrashTests.executable.path] + arguments
        process.arguments = [
            "-c", "exec " + TabletNetwork.privileged + command.map { "'\($0)'" }.joined(separator: " ") + " 2>&1",
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try ChildProcess.run(process)
        self.process = process
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { break }
                output.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
    }

    var isRunning: Bool { process.isRunning }
    var exitCode: Int32 { process.terminationStatus }
    var text: String { output.withLock { $0 } }

    func waitFor(_ token: String, within limit: Duration) async throws {
        let end = ContinuousClock.now + limit
        while !text.contains(token) {
            guard ContinuousClock.now < end, process.isRunning else {
                throw FiscalError(.mediatorTimeout, "the tablet never printed \(token): \(text)")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func waitForExit(within limit: Duration) async throws -> String {
        let end = ContinuousClock.now + limit
        while process.isRunning {
            guard ContinuousClock.now < end else {
                throw FiscalError(.mediatorTimeout, "the tablet did not finish: \(text)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .milliseconds(100))  // the reader's last chunk
        return text
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
