import ArgumentParser
import FiscalCore
import Foundation
import MediatorStore
import ReportText
import Reports

/// `fiscal-mediator report ...`: X and Z reports per terminal and cashier (docs/REPORTS.md),
/// read from and written to the store directly. The store is the point of truth, so a Z taken
/// here while `serve` runs is as safe as one taken over CLOSE_PERIOD: the same transaction.
struct ReportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Take, show, list and verify X and Z reports.",
        subcommands: [X.self, Z.self, CX.self, CZ.self, Show.self, List.self, Verify.self]
    )

    /// Where the reports' settings and the fiscal rules (accepted currencies) come from.
    struct SettingsOptions: ParsableArguments {
        @Option(help: "The report settings file (as `serve --reports`).") var reports: String?
        @Option(help: "The fiscal rules file (as `serve --rules`), for the accepted currencies.") var rules: String?

        func settings() throws -> ReportSettings {
            try reports.map { try ReportSettings.load(from: URL(fileURLWithPath: $0)) } ?? ReportSettings()
        }

        func currencies() throws -> [String] {
            try (rules.map { try FiscalRules.load(from: URL(fileURLWithPath: $0)) } ?? .default).currencies
        }
    }

    struct FormatOptions: ParsableArguments {
        @Option(help: "text (80 mm, 48 columns) or json.") var format = "text"

        func print(_ record: ReportRecord, hash: String? = nil) throws {
            switch format {
            case "json":
                Swift.print(try record.body())
            case "text":
                Swift.print(try ReportCommand.text(record, hash: hash), terminator: "")
            default:
                throw ValidationError("--format: '\(format)' is not text or json")
            }
        }
    }

    struct X: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The X report of a terminal's open period (or one cashier's): a preview, or a numbered one."
        )
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @OptionGroup var settings: SettingsOptions
        @OptionGroup var output: FormatOptions
        @Option(help: "The terminal code.") var terminal: String
        @Option(help: "Only this cashier's sessions.") var cashier: String?
        @Flag(help: "A free, unnumbered preview (the default unless --by is given).") var preview = false
        @Option(help: "Take a numbered X, by this staff id.") var by: String?

        func run() async throws {
            let database = try store.open()
            let record =
                if let by, !preview {
                    try await database.takeX(
                        at: TerminalID(terminal),
                        cashier: cashier,
                        by: by,
                        settings: try settings.settings()
                    )
                } else {
                    try await database.previewX(
                        at: TerminalID(terminal),
                        cashier: cashier,
                        settings: try settings.settings()
                    )
                }
            try output.print(record)
        }
    }

    struct Z: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The Z report: counts the drawer, closes the terminal's work period (--preview changes nothing)."
        )
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @OptionGroup var settings: SettingsOptions
        @OptionGroup var output: FormatOptions
        @Option(help: "The terminal code.") var terminal: String
        @Option(help: "Who closes: a supervisor's or manager's staff id.") var closedBy: String
        @Option(
            help: "The count of one currency: CUR:DENOMxPIECES,… (e.g. CDF:20000x5,500x12). Repeat per currency."
        )
        var count: [String] = []
        @Option(help: "Why the drawer is short or over (required above the threshold).") var explanation: String?
        @Flag(help: "Show the Z it would take; change nothing.") var preview = false

        func run() async throws {
            let database = try store.open()
            let request = ZRequest(
                terminal: TerminalID(terminal),
                closedBy: closedBy,
                count: count.isEmpty ? nil : try ReportCommand.parseCount(count),
                explanation: explanation
            )
            let settings = try settings.settings()
            let currencies = try self.settings.currencies()
            let record =
                preview
                ? try await database.previewZ(request, settings: settings, currencies: currencies)
                : try await database.takeZ(request, settings: settings, currencies: currencies)
            try output.print(record)
        }
    }

    struct CX: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "The combined X over terminals (all active by default): each terminal's Zs since the last combined Z and its open period now."
        )
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @OptionGroup var settings: SettingsOptions
        @OptionGroup var output: FormatOptions
        @Option(help: "Only these terminals (repeat).") var terminal: [String] = []
        @Option(help: "Take a numbered CX, by this staff id (supervisor or manager).") var by: String?

        func run() async throws {
            let record = try await store.open().combinedX(
                terminals: terminal.isEmpty ? nil : terminal.map { TerminalID($0) },
                takenBy: by,
                settings: try settings.settings()
            )
            try output.print(record)
        }
    }

    struct CZ: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The combined Z: closes the store's day and the device's (RPT|Z), through the running mediator.",
            discussion: """
                Every terminal that sold since the last combined Z must have taken its Z. The running \
                mediator runs RPT|Z at the device in turn with sales and records the combined Z with \
                both sides and the verdict (match, or mismatch with the differences named). Uses the \
                admin token kept beside the store.
                """
        )
        @Option(help: "Who closes the day: a manager's staff id.") var by: String
        @Option(help: "The running mediator's ops API, http://HOST:PORT (default: mediator.ops_http).")
        var mediator: String?
        @Option(help: "The mediator's store, to find its admin token beside it (default: from the configuration).")
        var db: String?
        @Option(help: "The configuration file (default: $FISCAL_CONFIG, else /etc/fiscal-mediator/mediator.yaml).")
        var config: String?
        @OptionGroup var output: FormatOptions

        func run() async throws {
            let settings = try await ServeCommand.settings(config: config, topology: nil)
            let ops = ServeCommand.pick(nil, "mediator.ops_http", settings).text ?? "127.0.0.1:8080"
            let base = mediator ?? "http://\(ops)"
            let store = db ?? ServeCommand.pick(nil, "mediator.store", settings).text ?? "var/mediator.sqlite"
            let encoded = by.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? by
            let body = try await AdminClient(base: base, tokenFile: ServeCommand.adminTokenPath(db: store))
                .post("/admin/reports/cz?taken_by=\(encoded)")
            try output.print(try ReportRecord.decode(body: body))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One stored report, by number.")
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @OptionGroup var output: FormatOptions
        @Argument(help: "The report number, e.g. Z-2026-REG001-0001.") var number: String

        func run() async throws {
            guard ReportNumber.isWellFormed(number) else {
                throw FiscalError(.reportNotFound, "'\(number)' is not a report number (like Z-2026-REG001-0001)")
            }
            // The hash printed is the stored one, not the re-encoded record's: a tampered record
            // shows a hash that does not match its chain.
            let (record, hash) = try await store.open().report(number)
            try output.print(record, hash: hash)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stored reports, oldest first.")
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Option(help: "x, z, cx or cz (repeat for several; all by default).") var kind: [String] = []
        @Option(help: "Only this terminal's.") var terminal: String?
        @Option(help: "From this day or UTC time (2026-12-02).") var from: String?
        @Option(help: "Up to this day or UTC time, inclusive.") var to: String?
        @Flag(help: "JSON lines instead of a table.") var json = false

        func run() async throws {
            let kinds = try kind.map { text in
                guard let kind = ReportKind(rawValue: text.uppercased()) else {
                    throw ValidationError("--kind: '\(text)' is not x, z, cx or cz")
                }
                return kind
            }
            let reports = try await store.open().reports(
                kinds: kinds.isEmpty ? ReportKind.allCases : kinds,
                terminal: terminal.map { TerminalID($0) },
                from: from,
                to: to
            )
            if json {
                for report in reports { print(try StaffCommand.List.json(report)) }
                return
            }
            var rows = [["NUMBER", "TERMINAL", "PERIOD", "CASHIER", "GENERATED", "BY"]]
            for report in reports {
                rows.append([
                    report.number, report.terminal ?? "-", report.periodID.map(String.init) ?? "-",
                    report.cashier ?? "-",
                    report.generatedAt, report.generatedBy,
                ])
            }
            printTable(rows)
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recheck every report's hash and chain; names the first bad record. Exit 1 on a finding."
        )
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Flag(help: "JSON instead of text.") var json = false

        func run() async throws {
            let (checked, findings) = try await store.open().verifyReports()
            if json {
                print(
                    try StaffCommand.List.json(
                        ["checked": "\(checked)", "verdict": findings.isEmpty ? "clean" : "tampered"]
                    )
                )
                for finding in findings { print(try StaffCommand.List.json(finding)) }
            } else if findings.isEmpty {
                print("\(checked) reports checked: every hash and chain holds")
            } else {
                print(
                    "\(checked) reports checked; \(findings.count) finding(s); the first bad record is \(findings[0].number)"
                )
                for finding in findings { print("  \(finding)") }
            }
            if !findings.isEmpty { throw ExitCode(1) }
        }
    }

    /// `CDF:20000x5,500x12` → {"CDF": {"20000": 5, "500": 12}}.
    static func parseCount(_ specs: [String]) throws -> CashCount {
        var pieces: [String: [String: Int64]] = [:]
        for spec in specs {
            let parts = spec.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ValidationError("--count: '\(spec)' is not CUR:DENOMxPIECES,…")
            }
            var lines: [String: Int64] = pieces[parts[0]] ?? [:]
            for item in parts[1].split(separator: ",") where !item.isEmpty {
                let pair = item.split(separator: "x", maxSplits: 1).map(String.init)
                guard pair.count == 2, let count = Int64(pair[1]) else {
                    throw ValidationError("--count: '\(item)' is not DENOMxPIECES (e.g. 500x12)")
                }
                lines[pair[0]] = count
            }
            pieces[parts[0]] = lines
        }
        return CashCount(pieces)
    }

    static func text(_ record: ReportRecord, hash stored: String? = nil) throws -> String {
        let hash = try record.isPreview ? nil : (stored ?? ReportRecord.hash(of: record.body()))
        return ReportText.render(record, terminalName: nil, hash: hash)
    }
}

/// `period force-close`: an admin's emergency Z.
struct PeriodForceClose: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "force-close",
        abstract: "An admin's emergency close: a Z flagged forced, with a reason and whatever count is given."
    )
    @OptionGroup var store: TerminalsCommand.StoreOptions
    @OptionGroup var settings: ReportCommand.SettingsOptions
    @OptionGroup var output: ReportCommand.FormatOptions
    @Option(help: "The terminal code.") var terminal: String
    @Option(help: "The admin's staff id.") var by: String
    @Option(help: "Why the period is closed this way.") var reason: String
    @Option(help: "A count, as for `report z` (optional).") var count: [String] = []
    @Option(help: "Why the drawer is short or over.") var explanation: String?

    func run() async throws {
        let trimmed = reason.trimmingCharacters(in: .whitespaces)
        guard (1...256).contains(trimmed.count) else { throw ValidationError("--reason: 1 to 256 characters") }
        let request = ZRequest(
            terminal: TerminalID(terminal),
            closedBy: by,
            count: count.isEmpty ? nil : try ReportCommand.parseCount(count),
            explanation: explanation,
            forceReason: trimmed
        )
        let record = try await store.open().takeZ(
            request,
            settings: try settings.settings(),
            currencies: try settings.currencies()
        )
        try output.print(record)
    }
}
