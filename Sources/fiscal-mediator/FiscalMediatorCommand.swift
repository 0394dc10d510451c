import ArgumentParser
import Foundation
import LogFormat
import Logging
import Synchronization

@main
struct FiscalMediatorCommand: AsyncParsableCommand {
    /// The release, as `--version` prints it (and `/health` and `doctor` show it).
    static let version = "0.5.0"

    static let configuration = CommandConfiguration(
        commandName: "fiscal-mediator",
        abstract: "The fiscal mediator of a shop outlet and its tools.",
        version: FiscalMediatorCommand.version,
        subcommands: [
            ServeCommand.self,
            ConfigCommand.self,
            DoctorCommand.self,
            BackupCommand.self,
            RestoreCommand.self,
            TerminalCommand.self,
            TerminalsCommand.self,
            StaffCommand.self,
            PeriodCommand.self,
            ReportCommand.self,
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
        // `serve` may learn the format from its configuration file; its loggers are made after.
        LogChoice.json.store(json, ordering: .relaxed)
        LoggingSystem.bootstrap { label in
            EscapingLogHandler(label: label, format: LogChoice.json.load(ordering: .relaxed) ? .json : .logfmt)
        }
        // `--version` anywhere (`fiscal-mediator serve --version`), not only after the root.
        if arguments.dropFirst().contains("--version") {
            print(version)
            return
        }
        var command: any ParsableCommand
        do { command = try parseAsRoot() } catch { exit(withError: error) }
        do {
            if var asynchronous = command as? any AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let error as StartupError {
            // Not a usage error: the message, with no usage text after it.
            FileHandle.standardError.write(Data("Error: \(error.message)\n".utf8))
            Foundation.exit(StartupError.exitStatus)
        } catch let error as ValidationError {
            // Thrown by a command once its arguments parsed: its own message, no usage text.
            FileHandle.standardError.write(Data("Error: \(error.message)\n".utf8))
            Foundation.exit(64)
        } catch {
            exit(withError: error)
        }
    }
}
