import ArgumentParser
import CloudEmulator
import DeviceEmulator
import FiscalCore
import Foundation
import Hummingbird
import Logging
import Synchronization

/// `fiscal-mediator cloud-emulator`: a local stand-in for the cloud's ingest API.
struct CloudEmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloud-emulator",
        abstract: "Run a local cloud ingest API (docs/CLOUD_API.md) with fault modes, for tests and demos.",
        discussion: """
            It stores what it receives in its own SQLite file, answers duplicates with the original \
            receipt, and checks order, hash chain and payload digests per outlet and device. Point \
            `serve --cloud-url http://127.0.0.1:8090` at it.
            """
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0: any; the bound port is printed).") var port = 8090
    @Option(help: "Its SQLite store.") var db = "var/cloud.sqlite"
    @Option(help: "A file holding the bearer token to require (default: $FISCAL_CLOUD_TOKEN; none: no check).")
    var tokenFile: String?
    @Option(help: "Latency added to every batch, e.g. 50ms.") var latency: String?
    @Option(help: "Share of batches answered 5xx, 0 to 1.") var errorRate = 0.0
    @Option(help: "Share of batches stored and then left unanswered (connection dropped), 0 to 1.") var dropRate = 0.0
    @Option(help: "Go down (503) this long after start, e.g. 10s.") var downAfter: String?
    @Option(help: "Stay down this long, e.g. 30s.") var downFor = "30s"
    @Option(help: "Reject this fiscal number (repeatable).") var rejectSeq: [UInt64] = []
    @Option(help: "Reject this report number, e.g. Z-2026-REG001-0002 (repeatable).") var rejectReport: [String] = []
    @Flag(help: "Accept any order (no ORDER_GAP, no CHAIN_BROKEN), as a careless real cloud might.")
    var noOrderCheck = false

    func run() async throws {
        var logger = Logger(label: "cloud-emulator")
        logger.logLevel = .info
        guard (0...1).contains(errorRate), (0...1).contains(dropRate) else {
            throw ValidationError("--error-rate and --drop-rate are shares from 0 to 1")
        }
        let token = try readToken(tokenFile)
        let emulator = try CloudEmulator(path: db, token: token, logger: logger)
        var faults = CloudEmulator.Faults()
        if let latency {
            guard let value = EmulatorLatency.parseDuration(latency) else {
                throw ValidationError("--latency: '\(latency)' is not a duration such as 50ms")
            }
            faults.latency = value
        }
        faults.errorRate = errorRate
        faults.dropRate = dropRate
        faults.rejectSeqs = Set(rejectSeq)
        faults.rejectReports = Set(rejectReport)
        faults.noOrderCheck = noOrderCheck
        emulator.faults.withLock { $0 = faults }
        if let downAfter {
            guard let after = EmulatorLatency.parseDuration(downAfter),
                let length = EmulatorLatency.parseDuration(downFor)
            else { throw ValidationError("--down-after/--down-for: durations such as 10s") }
            Task {
                try? await Task.sleep(for: after)
                emulator.faults.withLock { $0.downUntil = .now + length }
                logger.notice("down", metadata: ["for": "\(length)"])
            }
        }
        let app = emulator.application(host: host, port: port) { bound in
            printLine("cloud-emulator listening on http://\(host):\(bound)")
        }
        try await app.runService()
    }
}

/// The cloud bearer token from a file, else $FISCAL_CLOUD_TOKEN, else none.
func readToken(_ file: String?) throws -> Secret? {
    if let file {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
            throw ValidationError("--token-file: cannot read \(file)")
        }
        let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw ValidationError("--token-file: \(file) is empty") }
        return Secret(token)
    }
    return ProcessInfo.processInfo.environment["FISCAL_CLOUD_TOKEN"].flatMap { $0.isEmpty ? nil : Secret($0) }
}
