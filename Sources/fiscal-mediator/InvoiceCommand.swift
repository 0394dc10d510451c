import ArgumentParser
import FiscalCore
import Foundation

/// `fiscal-mediator invoice validate|canonical FILE`: what a POS vendor checks before sending.
struct InvoiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoice",
        abstract: "Validate an invoice file or print its canonical encoding and digest.",
        subcommands: [Validate.self, Canonical.self]
    )

    struct Input: ParsableArguments {
        @Argument(help: "An invoice JSON file.") var file: String
        @Option(help: "A fiscal rules file (tax groups, currencies, limits); default: the built-in DGI table.")
        var rules: String?

        func load() throws -> (Invoice, FiscalRules) {
            let rules =
                try rules.map { path throws(FiscalError) in try FiscalRules.load(from: URL(fileURLWithPath: path)) }
                ?? .default
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
                throw ValidationError("\(file): \(error.localizedDescription)")
            }
            return (try Invoice.decode(json: Array(data)), rules)
        }
    }

    struct Validate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every violation (exit 1 if any).")
        @OptionGroup var input: Input
        func run() throws {
            do {
                let (invoice, rules) = try input.load()
                let violations = InvoiceValidator(rules: rules).violations(in: invoice)
                guard !violations.isEmpty else {
                    printLine("valid")
                    return
                }
                for violation in violations { printLine(violation.description) }
                throw ExitCode(1)
            } catch let error as FiscalError {
                printLine("\(error.code): \(error.message)")
                for violation in error.violations { printLine(violation.description) }
                throw ExitCode(1)
            }
        }
    }

    struct Canonical: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the canonical JSON, then its SHA-256 on a second line."
        )
        @OptionGroup var input: Input
        func run() throws {
            let (invoice, _) = try input.load()
            printLine(String(decoding: invoice.canonicalJSON(), as: UTF8.self))
            printLine(invoice.payloadDigest())
        }
    }
}
