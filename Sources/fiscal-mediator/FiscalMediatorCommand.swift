import ArgumentParser

@main
struct FiscalMediatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fiscal-mediator",
        abstract: "The fiscal mediator of a shop outlet and its tools.",
        subcommands: [
            ServeCommand.self,
            TerminalCommand.self,
            TerminalsCommand.self,
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
}
