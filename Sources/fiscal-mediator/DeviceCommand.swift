import ArgumentParser
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation

/// `fiscal-mediator device ...`: talk to a fiscal device directly (installation, audit,
/// diagnostics). In a shop, terminals go through the mediator instead.
struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract: "Send DEF commands to a device (serial:PATH or emulator:DIR).",
        subcommands: [
            Status.self, Initialize.self, SetTime.self, Fiscalize.self, Log.self, Report.self, DumpLog.self, Reset.self,
        ]
    )

    struct Target: ParsableArguments {
        @Option(help: "The device: serial:/dev/ttyACM0[?baud=115200] or emulator:DIR.")
        var device = "emulator:var/emulator"

        /// Runs `body` with a client, then closes the link (and the in-process emulator).
        func withClient<T: Encodable>(_ body: (FiscalDeviceClient) async throws -> T) async throws {
            let endpoint = try DeviceEndpoint(parsing: device)
            let (link, emulator) = try endpoint.open()
            defer { emulator?.shutdown() }
            do {
                let result = try await body(FiscalDeviceClient(link: link))
                await link.close()
                try printJSON(result)
            } catch let error as FiscalError {
                await link.close()
                printError("error: \(error.code): \(error.message)")
                for violation in error.violations { printError("  \(violation)") }
                throw ExitCode(2)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "QRY|STATUS; while serve holds the device, what the running mediator knows of it.",
            discussion: """
                A device that a running mediator holds (IN_USE) is not opened: the command asks the mediator's \
                admin route GET /admin/device/status instead, with the admin token serve keeps beside its \
                store. stderr says which path it took.
                """
        )
        @OptionGroup var target: Target
        @Option(
            help:
                "The running mediator's ops API, http://HOST:PORT (default: mediator.ops_http from the configuration)."
        )
        var mediator: String?
        @Option(help: "The mediator's store, to find its admin token beside it (default: from the configuration).")
        var db: String?
        @Option(help: "The configuration file (default: $FISCAL_CONFIG, else /etc/fiscal-mediator/mediator.yaml).")
        var config: String?

        func run() async throws {
            do {
                let endpoint = try DeviceEndpoint(parsing: target.device)
                let (link, emulator) = try endpoint.open()
                await link.close()  // only to learn whether a mediator holds it
                emulator?.shutdown()
            } catch let error as FiscalError where error.code == .inUse {
                let settings = try await ServeCommand.settings(config: config, topology: nil)
                let ops = ServeCommand.pick(nil, "mediator.ops_http", settings).text ?? "127.0.0.1:8080"
                let base = mediator ?? "http://\(ops)"
                let store = db ?? ServeCommand.pick(nil, "mediator.store", settings).text ?? "var/mediator.sqlite"
                printError("via the running mediator at \(base) (\(error.message))")
                print(
                    try await AdminClient(base: base, tokenFile: ServeCommand.adminTokenPath(db: store)).get(
                        "/admin/device/status"
                    )
                )
                return
            }
            printError("direct: opened \(target.device) (no mediator holds it)")
            try await target.withClient { try await $0.status() }
        }
    }

    struct Initialize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "CFG|INIT: give the device its id and key pair."
        )
        @OptionGroup var target: Target
        @Option(help: "The device id (DEF NID); generated when absent.") var deviceID: String?
        @Option(help: "The authorization token ADM|RESET will demand (8+ characters).") var resetToken: String
        func run() async throws {
            try await target.withClient {
                try await $0.initialize(deviceID: deviceID.map { DeviceID($0) }, resetToken: resetToken)
            }
        }
    }

    struct SetTime: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "time",
            abstract: "CFG|TIME: set the device clock (default: now)."
        )
        @OptionGroup var target: Target
        @Argument(help: "ISO 8601 time with offset.") var time: String?
        func run() async throws {
            let date: Date
            if let time {
                guard let parsed = DeviceTimestamp.parse(time) else {
                    throw ValidationError("'\(time)' is not ISO 8601 with an offset")
                }
                date = parsed
            } else {
                date = Date()
            }
            try await target.withClient { try await $0.setTime(date) }
        }
    }

    struct Fiscalize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "TXN|PREPARE then TXN|COMMIT for one invoice file.")
        @OptionGroup var target: Target
        @Argument(help: "An invoice JSON file (see docs/examples/invoice.json).") var file: String
        func run() async throws {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw ValidationError("\(file): \(error.localizedDescription)")
            }
            try await target.withClient { client in
                let invoice = try Invoice.decode(json: Array(data))
                let prepared = try await client.prepare(invoice)
                return try await client.commit(prepared.nonce).securityElements
            }
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "QRY|LOG <seq>: one journal entry.")
        @OptionGroup var target: Target
        @Argument var seq: UInt64
        func run() async throws {
            guard let seq = InvoiceSeq(rawValue: seq) else {
                throw ValidationError("a fiscal number is 1 to \(InvoiceSeq.range.upperBound)")
            }
            try await target.withClient { try await $0.log(seq) }
        }
    }

    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "RPT|Z, RPT|X or RPT|A. Z closes the fiscal day.",
            discussion: """
                A device that a running mediator holds (IN_USE) is not opened: with --via-mediator, X and Z go \
                through the mediator's admin route POST /admin/device/report?kind=x|z (the admin token serve keeps \
                beside its store), where the report takes its turn between sales and a Z is stored before it is \
                printed. Without it, the command says how. stderr says which path it took.
                """
        )
        @OptionGroup var target: Target
        @Argument(help: "z, x or a") var kind: String
        @Flag(help: "When a running mediator holds the device, ask it for the report (X or Z) instead of failing.")
        var viaMediator = false
        @Option(
            help:
                "The running mediator's ops API, http://HOST:PORT (default: mediator.ops_http from the configuration)."
        )
        var mediator: String?
        @Option(help: "The mediator's store, to find its admin token beside it (default: from the configuration).")
        var db: String?
        @Option(help: "The configuration file (default: $FISCAL_CONFIG, else /etc/fiscal-mediator/mediator.yaml).")
        var config: String?

        func run() async throws {
            guard let kind = DeviceReport.Kind(rawValue: kind.uppercased()) else {
                throw ValidationError("kind must be z, x or a")
            }
            do {
                let endpoint = try DeviceEndpoint(parsing: target.device)
                let (link, emulator) = try endpoint.open()
                await link.close()  // only to learn whether a mediator holds it
                emulator?.shutdown()
            } catch let error as FiscalError where error.code == .inUse {
                let path = "/admin/device/report?kind=\(kind.rawValue.lowercased())"
                guard viaMediator, kind != .a else {
                    printError("error: \(error.code): \(error.message)")
                    printError(
                        kind == .a
                            ? "RPT|A is not offered through the running mediator; stop it to read the device directly"
                            : "the running mediator holds the device: run `fiscal-mediator device report \(kind.rawValue.lowercased()) --via-mediator` (or POST \(path) on its ops API with the admin token); the report then takes its turn between sales"
                    )
                    throw ExitCode(2)
                }
                let settings = try await ServeCommand.settings(config: config, topology: nil)
                let ops = ServeCommand.pick(nil, "mediator.ops_http", settings).text ?? "127.0.0.1:8080"
                let base = mediator ?? "http://\(ops)"
                let store = db ?? ServeCommand.pick(nil, "mediator.store", settings).text ?? "var/mediator.sqlite"
                printError("via the running mediator at \(base) (\(error.message))")
                print(try await AdminClient(base: base, tokenFile: ServeCommand.adminTokenPath(db: store)).post(path))
                return
            }
            printError("direct: opened \(target.device) (no mediator holds it)")
            try await target.withClient { try await $0.report(kind) }
        }
    }

    struct DumpLog: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "ADM|DUMPLOG: export the whole journal, page by page (for verify-journal and audit).",
            discussion: """
                Pages are sized to fit the device's frame limit and halved when one does not arrive whole; \
                the export is streamed to --out (written as FILE.partial, renamed once the signed head is \
                written), so memory stays flat whatever the journal's size.
                """
        )
        @OptionGroup var target: Target
        @Option(name: .shortAndLong, help: "Write the export here (default: standard output).") var out: String?

        func run() async throws {
            let endpoint = try DeviceEndpoint(parsing: target.device)
            let (link, emulator) = try endpoint.open()
            defer { emulator?.shutdown() }
            let client = FiscalDeviceClient(link: link)
            // Standard output has no place to rename from: write a temporary file, then copy it.
            let path =
                out
                ?? FileManager.default.temporaryDirectory.appendingPathComponent(
                    "journal-\(UUID().uuidString).json"
                ).path
            do {
                let writer = try DumpLogExport.Writer(path: path)
                let pager = try await client.forEachLogPage { try writer.append($0) }
                let summary = try writer.finish()
                await link.close()
                if out == nil {
                    defer { try? FileManager.default.removeItem(atPath: path) }
                    try copyToStandardOutput(path)
                }
                printError(
                    "exported \(summary.entries) entries of device \(summary.identity.deviceID), head \(summary.head.seq), "
                        + "\(summary.bytes) bytes in \(pager.pages) pages\(pager.halvings > 0 ? " (\(pager.halvings) halvings)" : "")"
                        + (out.map { " to \($0)" } ?? "")
                )
            } catch let error as FiscalError {
                await link.close()
                printError("error: \(error.code): \(error.message)")
                throw ExitCode(2)
            }
        }

        private func copyToStandardOutput(_ path: String) throws {
            guard let input = FileHandle(forReadingAtPath: path) else {
                throw FiscalError(.configInvalid, "\(path): cannot read the export back")
            }
            defer { try? input.close() }
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                FileHandle.standardOutput.write(chunk)
            }
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "ADM|RESET: erase the device, with the DGI authorization token."
        )
        @OptionGroup var target: Target
        @Option var token: String
        func run() async throws { try await target.withClient { try await $0.reset(token: token) } }
    }
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Writes a line to standard output at once (unbuffered, so a parent process reading a pipe
/// sees it immediately).
func printLine(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
