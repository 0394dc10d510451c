import FiscalCore
import FiscalTestSupport
import Foundation
import Testing

/// The mediator's configuration file, `config check` and `config show`, from a child process.
@Suite("Configuration file", .serialized, .timeLimit(.minutes(3)))
struct ConfigFileTests {
    static let root = SystemdTests.root

    @Test("config check accepts every shipped topology and the example configuration")
    func shipped() async throws {
        let files =
            TopologyTests.files(Self.root.appendingPathComponent("topology"))
            + [Self.root.appendingPathComponent("deploy/mediator.yaml").path]
        #expect(files.count >= 4)
        for file in files {
            let outcome = try await ServeProcess.run(["config", "check", file])
            #expect(outcome.status == 0, "\(file): \(outcome.errors)")
            #expect(outcome.output.hasPrefix("\(file): ok ("))
        }
    }

    @Test("config check refuses every file in topology/invalid with a message naming the key")
    func invalid() async throws {
        for file in TopologyTests.files(Self.root.appendingPathComponent("topology/invalid")) {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            let expected = try #require(text.split(separator: "\n").first?.split(separator: "expect: ").last)
            let outcome = try await ServeProcess.run(["config", "check", file])
            #expect(outcome.status == 78, "\(file)")
            #expect(outcome.errors.contains(String(expected)), "\(file): \(outcome.errors)")
            #expect(!outcome.errors.contains("USAGE"))
        }
    }

    @Test("a typo in a mediator configuration: the key, the file and a 'did you mean'")
    func typo() async throws {
        let directory = TemporaryDirectory("config-typo")
        defer { directory.remove() }
        let file = directory.appending("mediator.yaml").path
        try "mediator:\n  store: x.sqlite\n  leese: 15s\n".write(toFile: file, atomically: true, encoding: .utf8)
        let outcome = try await ServeProcess.run(["config", "check", file])
        #expect(outcome.status == 78)
        #expect(outcome.errors == "Error: \(file): unknown key 'mediator.leese'; did you mean 'mediator.lease'?\n")
        // serve refuses it the same way, before anything starts.
        let serve = try await ServeProcess.run(["serve", "--config", file])
        #expect(serve.errors == outcome.errors && serve.status == 78)
        // A load: section belongs in a topology.
        try "mediator:\n  lease: 15s\nload:\n  duration: 1s\nterminals:\n  codes: [REG-001]\n".write(
            toFile: file,
            atomically: true,
            encoding: .utf8
        )
        let topologyLike = try await ServeProcess.run(["serve", "--config", file])
        #expect(topologyLike.status == 78)
        #expect(topologyLike.errors.contains("belongs in a topology (serve --topology)"))
    }

    @Test("precedence: a flag over the environment over the file over the default; each error names its source")
    func precedence() async throws {
        let directory = TemporaryDirectory("config-precedence")
        defer { directory.remove() }
        let file = directory.appending("mediator.yaml").path
        try "mediator:\n  lease: 0s\n".write(toFile: file, atomically: true, encoding: .utf8)
        let range = "is out of range: allowed from 100ms to 10m"
        let fromFile = try await ServeProcess.run(["serve", "--config", file])
        #expect(fromFile.errors == "Error: mediator.lease in \(file): '0s' \(range)\n")
        let fromEnvironment = try await ServeProcess.run(
            ["serve", "--config", file],
            environment: ["FISCAL_MEDIATOR_LEASE": "0ms"]
        )
        #expect(fromEnvironment.errors == "Error: $FISCAL_MEDIATOR_LEASE: '0ms' \(range)\n")
        let fromFlag = try await ServeProcess.run(
            ["serve", "--config", file, "--lease", "0us"],
            environment: ["FISCAL_MEDIATOR_LEASE": "0ms"]
        )
        #expect(fromFlag.errors == "Error: --lease: '0us' \(range)\n")

        try "mediator:\n  lease: 20s\n  heartbeat: default=30s\nsync:\n  token: hunter2\n".write(
            toFile: file,
            atomically: true,
            encoding: .utf8
        )
        let shown = try await ServeProcess.run(
            ["config", "show", "--config", file],
            environment: ["FISCAL_MEDIATOR_HEARTBEAT": "default=45s"]
        )
        #expect(shown.status == 0)
        let lines = shown.output.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("mediator.lease: 20s  # mediator.lease in \(file);") })
        #expect(lines.contains { $0.hasPrefix("mediator.heartbeat: default=45s  # $FISCAL_MEDIATOR_HEARTBEAT;") })
        #expect(lines.contains { $0.hasPrefix("mediator.store: var/mediator.sqlite  # default;") })
        #expect(lines.contains { $0.hasPrefix("sync.token: \"<redacted>\"") })
        #expect(!shown.output.contains("hunter2"))
    }
}
