import ArgumentParser
import FiscalCore
import Foundation

/// `fiscal-mediator errors`: the error catalog as Markdown (docs/ERRORS.md is its output).
struct ErrorsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "errors",
        abstract: "Print every stable error code as a Markdown table (the source of docs/ERRORS.md)."
    )

    func run() {
        for origin in ErrorCode.Origin.allCases {
            let entries = ErrorCode.catalog.filter { $0.origin == origin }
            printLine("")
            printLine("## \(Self.title(origin))")
            printLine("")
            printLine("| code | retry? | meaning |")
            printLine("| --- | --- | --- |")
            for entry in entries {
                printLine(
                    "| `\(entry.code.rawValue)` | \(entry.retryable ? "yes" : "no") | \(entry.summary.replacingOccurrences(of: "|", with: "\\|")) |"
                )
            }
        }
    }

    static func title(_ origin: ErrorCode.Origin) -> String {
        switch origin {
        case .device: "Device answers (`status: \"ERR\"`)"
        case .link: "Host side of the device link"
        case .mediator: "Mediator answers to terminals (docs/PROTOCOL.md)"
        case .validation: "Validation violations (inside `SCHEMA_INVALID`)"
        case .config: "Configuration"
        case .alert: "Alerts (`/alerts`, DEVICE_ALERT events)"
        }
    }
}
