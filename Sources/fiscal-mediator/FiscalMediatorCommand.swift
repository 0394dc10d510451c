import ArgumentParser

@main
struct FiscalMediatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fiscal-mediator",
        abstract: "The fiscal mediator of a shop outlet and its tools.",
        subcommands: [
            DeviceEmulatorCommand.self,
            DeviceCommand.self,
            VerifyJournalCommand.self,
            DeviceBenchCommand.self,
        ]
    )
}
