/// A stable error code a terminal, an operator or a device peer can see.
///
/// Codes are part of the protocol: they never change meaning and are never reused. Every code,
/// error or alert, is written once, in ErrorCatalog.json beside this file: the static members
/// (`.queueFull`, ...) and ``ErrorCode/catalog`` are generated from it into
/// ErrorCode+Catalog.swift, and docs/ERRORS.md from them, by `make errors`; tests fail when
/// either differs from the table.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// Where a code comes from.
    public enum Origin: String, Sendable, CaseIterable {
        /// Answered by the fiscal device (the DEF or the emulator).
        case device
        /// Raised on the host side of the device link.
        case link
        /// One violation inside a `SCHEMA_INVALID` answer.
        case validation
        /// Answered by the mediator to a terminal.
        case mediator
        /// Configuration and command-line input.
        case config
        /// Raised by the mediator for the operator (`/alerts`) and, when checkouts must stop, pushed
        /// to every terminal as a DEVICE_ALERT event.
        case alert
    }

    /// One catalog entry.
    public struct Entry: Sendable {
        public var code: ErrorCode
        public var origin: Origin
        /// Whether the same request may succeed if simply sent again later.
        public var retryable: Bool
        public var summary: String
    }

    /// The catalog entry of this code, if it has one.
    public var entry: Entry? { Self.entries[self] }

    private static let entries = Dictionary(uniqueKeysWithValues: catalog.map { ($0.code, $0) })

    /// The catalog as docs/ERRORS.md shows it: a table per origin (`fiscal-mediator errors`).
    public static func markdown() -> String {
        var lines: [String] = []
        for origin in Origin.allCases {
            lines += ["", "## \(origin.title)", "", "| code | retry? | meaning |", "| --- | --- | --- |"]
            for entry in catalog where entry.origin == origin {
                let summary = entry.summary.split(separator: "|", omittingEmptySubsequences: false)
                    .joined(separator: "\\|")
                lines.append("| `\(entry.code.rawValue)` | \(entry.retryable ? "yes" : "no") | \(summary) |")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension ErrorCode.Origin {
    /// The heading of its section in docs/ERRORS.md.
    public var title: String {
        switch self {
        case .device: "Device answers (`status: \"ERR\"`)"
        case .link: "Host side of the device link"
        case .mediator: "Mediator answers to terminals (docs/PROTOCOL.md)"
        case .validation: "Validation violations (inside `SCHEMA_INVALID`)"
        case .config: "Configuration"
        case .alert: "Alerts (`/alerts`, DEVICE_ALERT events)"
        }
    }
}
