import ArgumentParser
import LogFormat
import Logging

@main
struct FiscalMediatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fiscal-mediator",
        abstract: "The fiscal mediator of a shop outlet and its tools.",
        subcommands: [
            ServeCommand.self,
            TerminalCommand.self,
            TerminalsCommand.self,
            StaffCommand.self,
            PeriodCommand.self,
            SyncCommand.self,
            CloudEmulatorCommand.self,
            DeviceEmulatorCommand.self,
            DeviceCommand.self,
            InvoiceCommand.self,
            LoadCommand.self,
            ErrorsCommand.self,
            VerifyJournalCommand.self,
            AuditCommand.self,
            DeviceBenchCommand.self,
            BenchMediatorCommand.self,
            BenchSyncCommand.self,
        ]
    )

    /// Every log line, in every command, goes out escaped (logfmt, or JSON with
    /// `--log-format json`), before any logger exists.
    static func main() async {
        let arguments = CommandLine.arguments
        let json =
            arguments.contains("--log-format=json")
            || zip(arguments, arguments.dropFirst()).contains { $0 == "--log-format" && $1 == "json" }
        LoggingSystem.bootstrap { label in EscapingLogHandler(label: label, format: json ? .json : .logfmt) }
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
