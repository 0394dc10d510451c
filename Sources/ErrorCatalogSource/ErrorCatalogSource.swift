public import Foundation

/// The Swift source of FiscalCore's `ErrorCode` members and catalog, from
/// Sources/FiscalCore/ErrorCatalog.json, the one table of every error and alert code.
/// `make errors` writes it to Sources/FiscalCore/ErrorCode+Catalog.swift (committed: a SwiftPM
/// build plugin cannot run in `make fuzz-build`, which builds host tools with
/// `-sanitize=fuzzer`), and a test fails when the committed file is not what this returns.
public enum ErrorCatalogSource {
    public struct Entry: Decodable, Sendable {
        public var name: String
        public var code: String
        public var origin: String
        public var retryable: Bool
        public var summary: String
    }

    public struct Invalid: Error, CustomStringConvertible {
        public var description: String
    }

    static let origins: Set = ["device", "link", "validation", "mediator", "config", "alert"]

    /// The entries of `json`, checked: names and codes unique, codes UPPER_SNAKE, known origins.
    public static func entries(_ json: Data) throws -> [Entry] {
        let entries = try JSONDecoder().decode([Entry].self, from: json)
        var seenNames: Set<String> = []
        var seenCodes: Set<String> = []
        for entry in entries {
            if !seenNames.insert(entry.name).inserted {
                throw Invalid(description: "the name \(entry.name) appears twice")
            } else if !seenCodes.insert(entry.code).inserted {
                throw Invalid(description: "the code \(entry.code) appears twice")
            } else if !origins.contains(entry.origin) {
                throw Invalid(description: "\(entry.code): origin \(entry.origin) is not one of \(origins.sorted())")
            } else if entry.code.contains(where: { !($0.isUppercase || $0 == "_") }) {
                throw Invalid(description: "\(entry.code) is not UPPER_SNAKE")
            }
        }
        return entries
    }

    /// The generated Swift file for `json`.
    public static func swift(_ json: Data) throws -> String {
        let entries = try entries(json)
        var source = """
            // swift-format-ignore-file
            // Generated from Sources/FiscalCore/ErrorCatalog.json by `make errors`; do not edit.

            extension ErrorCode {

            """
        for entry in entries {
            source += "    public static let \(entry.name) = ErrorCode(rawValue: \(literal(entry.code)))\n"
        }
        source += "\n    /// Every code, with where it comes from and what it means.\n"
        source += "    public static let catalog: [Entry] = [\n"
        for entry in entries {
            source +=
                "        Entry(code: .\(entry.name), origin: .\(entry.origin), retryable: \(entry.retryable), summary: \(literal(entry.summary))),\n"
        }
        source += "    ]\n}\n"
        return source
    }

    static func literal(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
