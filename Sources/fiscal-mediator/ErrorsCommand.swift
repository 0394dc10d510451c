import ArgumentParser
import FiscalCore

/// `fiscal-mediator errors`: the error and alert catalog as Markdown (docs/ERRORS.md is its output).
struct ErrorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "errors",
        abstract: "Print every stable error and alert code as Markdown tables (the source of docs/ERRORS.md)."
    )

    func run() { print(ErrorCode.markdown(), terminator: "") }
}
