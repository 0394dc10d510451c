import ArgumentParser
import FiscalCore
import Foundation
import TerminalClient
import ZeroMQ

/// `fiscal-mediator terminal ...`: a terminal from the command line, built on TerminalClient.
struct TerminalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminal",
        abstract: "Act as a POS terminal against a running mediator.",
        subcommands: [Fiscalize.self, Status.self, Result.self]
    )

    struct Connection: ParsableArguments {
        @Option(help: "The mediator's endpoint.") var connect = "tcp://127.0.0.1:5555"
        @Option(help: "This terminal's id (its ZeroMQ routing id).") var terminalID = "REG-001"
        @Option(help: "Seconds to wait for a reply.") var timeout = 30
        @Option(help: "This machine's identifier (bound to the terminal id at its first HELLO).") var machineID: String?

        func withClient<T: Encodable & Sendable>(_ body: (MediatorClient) async throws -> T) async throws {
            var configuration = MediatorClient.Configuration(endpoint: connect, terminalID: TerminalID(terminalID))
            configuration.requestTimeout = .seconds(timeout)
            configuration.machineID = machineID
            do {
                let result = try await MediatorClient.withClient(
                    context: ZMQContext(),
                    configuration: configuration,
                    body
                )
                try printJSON(result)
            } catch let error as FiscalError {
                printError("error: \(error.code): \(error.message)")
                for violation in error.violations { printError("  \(violation)") }
                throw ExitCode(2)
            }
        }
    }

    struct Fiscalize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fiscalize an invoice file (FISCALIZE, then RESULT on retry)."
        )
        @OptionGroup var connection: Connection
        @Argument(help: "An invoice JSON file; its pos_terminal_id must be --terminal-id.") var file: String
        @Option(help: "The request id (keep it to retry safely); default: a new UUID.") var requestID = UUID()
            .uuidString
        func run() async throws {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw ValidationError("\(file): \(error.localizedDescription)")
            }
            let requestID = self.requestID
            let invoice = try Invoice.decode(json: Array(data))
            try await connection.withClient { client in
                // The invoice's cashier logs in at this terminal first (HELLO opens the session).
                _ = try await client.hello(cashierID: invoice.cashierID)
                return try await client.fiscalizeReliably(requestID: requestID, invoice: invoice)
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "STATUS: lock holder, queue depth, last fiscal number, device state."
        )
        @OptionGroup var connection: Connection
        func run() async throws { try await connection.withClient { try await $0.status() } }
    }

    struct Result: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "RESULT: the stored outcome of a request id.")
        @OptionGroup var connection: Connection
        @Argument var requestID: String
        func run() async throws {
            let id = requestID
            try await connection.withClient { try await $0.result(requestID: id) }
        }
    }
}
