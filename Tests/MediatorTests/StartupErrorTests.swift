import FiscalCore
import FiscalTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `serve`'s startup errors, each with its exact message, from a child process: what is wrong,
/// where (flag and value), how to fix it; exit status 78 and no usage text after it; and the
/// ports checked before the store or the device is touched.
@Suite("Startup errors", .serialized, .timeLimit(.minutes(3)))
struct StartupErrorTests {
    /// `serve` with a fresh store and emulator directory, plus `arguments`, run until it exits.
    static func serve(
        _ arguments: [String],
        in directory: TemporaryDirectory
    ) async throws -> ServeProcess.Outcome {
        try await ServeProcess.run(
            [
                "serve", "--db", directory.appending("store/mediator.sqlite").path,
                "--device", "emulator:\(directory.appending("def").path)", "--endpoint", "tcp://127.0.0.1:*",
                "--ops-http", "127.0.0.1:0",
            ] + arguments
        )
    }

    /// Checks `outcome` failed with exactly `message` and nothing else.
    static func expectFailure(_ outcome: ServeProcess.Outcome, _ message: String) {
        #expect(outcome.status == 78)
        #expect(outcome.errors == "Error: \(message)\n")
        #expect(!outcome.errors.contains("USAGE"))
    }

    @Test(
        "flag values: an endpoint without a scheme, durations out of range, enumerations",
        arguments: [
            (
                ["--endpoint", "127.0.0.1:5567"],
                "--endpoint: '127.0.0.1:5567' has no scheme: write tcp://127.0.0.1:5567"
            ),
            (["--lease", "0s"], "--lease: '0s' is out of range: allowed from 100ms to 10m"),
            (
                ["--lease", "15"],
                "--lease: '15' is not a duration: write a whole number and a unit (us, ms, s, m, h, d), such as 15s"
            ),
            // 0s is a meaningful roaming grace: the error is the next flag's.
            (
                ["--roaming-grace", "0s", "--probe-interval", "0s"],
                "--probe-interval: '0s' is out of range: allowed from 100ms to 10m"
            ),
            (["--roaming-grace", "15s"], "--roaming-grace: '15s' is out of range: allowed from 0s to 14999ms"),
            (
                ["--log-level", "verbose"],
                "--log-level: 'verbose' is not one of trace, debug, info, notice, warning, error, critical"
            ),
            (["--log-format", "xml"], "--log-format: 'xml' is not one of logfmt, json"),
            (["--device-timeout", "fetch=1s"], "--device-timeout: 'fetch' is not one of prepare, commit, query"),
            (["--ops-http", "8080"], "--ops-http: '8080' is not HOST:PORT (such as 127.0.0.1:8080) or 'off'"),

            (
                ["--disk-low", "lots"],
                "--disk-low: 'lots' is not a size: write a whole number from 1 to 1048576 and KB, MB, GB or TB (such as 256MB), or 0 for off"
            ),
        ]
    )
    func values(arguments: [String], message: String) async throws {
        let directory = TemporaryDirectory("startup-values")
        defer { directory.remove() }
        Self.expectFailure(try await Self.serve(arguments, in: directory), message)
        // Nothing was created: the checks come before the store and the device.
        #expect(!FileManager.default.fileExists(atPath: directory.appending("store").path))
        #expect(!FileManager.default.fileExists(atPath: directory.appending("def").path))
    }

    @Test("a ZeroMQ port in use: the flag, the address and the holder, before the store or the device is touched")
    func zeromqPortInUse() async throws {
        let directory = TemporaryDirectory("startup-port")
        defer { directory.remove() }
        let held = try HeldPort()
        let outcome = try await Self.serve(["--endpoint", "tcp://127.0.0.1:\(held.port)"], in: directory)
        Self.expectFailure(
            outcome,
            "--endpoint: tcp://127.0.0.1:\(held.port): the address is already in use (by pid \(getpid()) \(HeldPort.processName)); stop that process or choose another port"
        )
        #expect(!FileManager.default.fileExists(atPath: directory.appending("store/mediator.sqlite").path))
        #expect(!FileManager.default.fileExists(atPath: directory.appending("def").path))
    }

    @Test("the ops HTTP port in use: named before the device is initialized, not after 'mediator ready'")
    func opsPortInUse() async throws {
        let directory = TemporaryDirectory("startup-ops")
        defer { directory.remove() }
        let held = try HeldPort()
        let outcome = try await Self.serve(["--ops-http", "127.0.0.1:\(held.port)"], in: directory)
        Self.expectFailure(
            outcome,
            "--ops-http: 127.0.0.1:\(held.port): the address is already in use (by pid \(getpid()) \(HeldPort.processName)); stop that process or choose another port"
        )
        #expect(!FileManager.default.fileExists(atPath: directory.appending("def").path))
    }

    @Test("store and device paths: the path and the reason")
    func paths() async throws {
        let directory = TemporaryDirectory("startup-paths")
        defer { directory.remove() }
        let file = directory.appending("plain-file").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: file))
        let folder = directory.appending("a-folder").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)

        Self.expectFailure(
            try await Self.serve(["--db", "\(file)/mediator.sqlite"], in: directory),
            "--db \(file)/mediator.sqlite: \(file) exists and is not a directory; choose another path or fix it"
        )
        Self.expectFailure(
            try await Self.serve(["--db", folder], in: directory),
            "--db \(folder): is a directory; name a file in it, such as \(folder)/mediator.sqlite"
        )
        Self.expectFailure(
            try await Self.serve(["--device", "emulator:\(file)/def"], in: directory),
            "--device emulator:\(file)/def: \(file) exists and is not a directory; choose another directory"
        )
        Self.expectFailure(
            try await Self.serve(["--device", "serial:\(file)"], in: directory),
            "--device serial:\(file): \(file) is not a character device (a serial port such as /dev/ttyACM0)"
        )
        Self.expectFailure(
            try await Self.serve(["--device", "usb:/dev/ttyACM0"], in: directory),
            "--device: 'usb:/dev/ttyACM0' is neither serial:PATH nor emulator:DIR"
        )
        // A file that is not a store: the path, SQLite's reason, and what to do.
        let garbage = directory.appending("garbage.sqlite").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: garbage))
        let outcome = try await Self.serve(["--db", garbage], in: directory)
        #expect(outcome.status == 78)
        #expect(outcome.errors.hasPrefix("Error: --db \(garbage): cannot open the store: "))
        #expect(outcome.errors.contains("file is not a database"))
        #expect(outcome.errors.hasSuffix("; move the file aside or restore a backup\n"))
    }

    @Test("--version answers at the root and after a subcommand")
    func version() async throws {
        for arguments in [["--version"], ["serve", "--version"], ["doctor", "--version"]] {
            let outcome = try await ServeProcess.run(arguments)
            #expect(outcome.status == 0)
            #expect(outcome.output == "0.5.0\n")
        }
    }
}
