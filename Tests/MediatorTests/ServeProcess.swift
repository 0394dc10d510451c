import FiscalCore
import FiscalTestSupport
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `fiscal-mediator` as a child process: run to its exit (startup errors, `config check`), or
/// kept running with its log collected (the disk-full and notify tests).
final class ServeProcess: Sendable {
    static let executable = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent(".build/debug/fiscal-mediator")

    /// What a finished child printed, and how it ended.
    struct Outcome: Sendable {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs `arguments` to the end.
    static func run(_ arguments: [String], environment: [String: String] = [:]) async throws -> Outcome {
        let child = try ServeProcess(arguments, environment: environment)
        let status = await child.exit()
        return Outcome(status: status, output: child.output.withLock { $0 }, errors: child.errors.withLock { $0 })
    }

    /// Text a reader thread appends to while tests read it.
    final class Sink: Sendable {
        private let text = Mutex("")
        func withLock<T>(_ body: (inout String) -> T) -> T { text.withLock { body(&$0) } }
    }

    let process: Process
    let output = Sink()
    let errors = Sink()
    /// The exit status once known, and who waits for it.
    final class Exit: Sendable {
        let state = Mutex<(status: Int32?, waiter: CheckedContinuation<Int32, Never>?)>((nil, nil))
    }
    private let ended = Exit()
    private let readers = DispatchGroup()

    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = Self.executable
        // Suites run in parallel: a `serve` child binds its pairing socket on a free port, not
        // on the fixed default every other child would also take.
        process.arguments =
            arguments.first == "serve" && !arguments.contains("--pairing-endpoint")
            ? arguments + ["--pairing-endpoint", "tcp://127.0.0.1:*"] : arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        self.process = process
        // One thread per pipe reads until the child closes it, so a pipe never fills.
        for (pipe, sink) in [(out, output), (err, errors)] {
            let handle = pipe.fileHandleForReading
            readers.enter()
            Thread.detachNewThread { [readers] in
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    sink.withLock { $0 += String(decoding: data, as: UTF8.self) }
                }
                readers.leave()
            }
        }
        let readers = self.readers
        let ended = self.ended
        process.terminationHandler = { finished in
            // Everything it wrote is read before the exit is reported.
            readers.wait()
            let waiter = ended.state.withLock { state in
                state.status = finished.terminationStatus
                return state.waiter
            }
            waiter?.resume(returning: finished.terminationStatus)
        }
        try ChildProcess.run(process)
    }

    /// The exit status, once it has exited.
    func exit() async -> Int32 {
        await withCheckedContinuation { continuation in
            let done = ended.state.withLock { state -> Int32? in
                if let status = state.status { return status }
                state.waiter = continuation
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    var hasExited: Bool { ended.state.withLock { $0.status != nil } }

    /// The first match of `pattern` in its log (stderr), waiting for it; fails if the child exits first.
    func waitForLog(_ pattern: String, within limit: Duration = .seconds(30)) async throws -> String {
        var found: String?
        try await eventually(within: limit, "the log shows \(pattern)") {
            let log = errors.withLock { $0 }
            if let range = log.range(of: pattern, options: .regularExpression) {
                found = String(log[range])
                return true
            }
            if hasExited { throw FiscalError(.linkDown, "the child exited:\n\(log.suffix(3000))") }
            return false
        }
        return found ?? ""
    }

    func terminate() async {
        guard !hasExited else { return }
        process.terminate()
        _ = await exit()
    }
}

/// A TCP port held by this process (listening, close-on-exec so no child inherits it).
final class HeldPort: Sendable {
    let descriptor: Int32
    let port: UInt16

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.descriptor = descriptor
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(descriptor, pointer, length) == 0 && listen(descriptor, 1) == 0
                    && getsockname(descriptor, pointer, &length) == 0
            }
        }
        guard bound else { throw FiscalError(.linkDown, "cannot hold a port: \(String(cString: strerror(errno)))") }
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(descriptor) }

    /// How `/proc` names this process (`comm`).
    static var processName: String {
        ((try? String(contentsOfFile: "/proc/self/comm", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
