import Foundation

// Generates FiscalCore's `ErrorCode` members and catalog from Sources/FiscalCore/ErrorCatalog.json,
// the one table of every error and alert code (run by ErrorCatalogPlugin at build time).
// Usage: ErrorCatalogGenerator INPUT.json OUTPUT.swift

struct Entry: Decodable {
    var name: String
    var code: String
    var origin: String
    var retryable: Bool
    var summary: String
}

let arguments = CommandLine.arguments
guard arguments.count == 3 else {
    FileHandle.standardError.write(Data("usage: ErrorCatalogGenerator INPUT.json OUTPUT.swift\n".utf8))
    exit(64)
}
let entries: [Entry]
do {
    entries = try JSONDecoder().decode([Entry].self, from: Data(contentsOf: URL(fileURLWithPath: arguments[1])))
} catch {
    FileHandle.standardError.write(Data("\(arguments[1]): \(error)\n".utf8))
    exit(65)
}
let origins: Set = ["device", "link", "validation", "mediator", "config", "alert"]
var seenNames: Set<String> = []
var seenCodes: Set<String> = []
for entry in entries {
    let problem: String? =
        if !seenNames.insert(entry.name).inserted {
            "the name \(entry.name) appears twice"
        } else if !seenCodes.insert(entry.code).inserted {
            "the code \(entry.code) appears twice"
        } else if !origins.contains(entry.origin) {
            "\(entry.code): origin \(entry.origin) is not one of \(origins.sorted())"
        } else if entry.code.contains(where: { !($0.isUppercase || $0 == "_") }) {
            "\(entry.code) is not UPPER_SNAKE"
        } else { nil }
    if let problem {
        FileHandle.standardError.write(Data("\(arguments[1]): \(problem)\n".utf8))
        exit(65)
    }
}

func literal(_ text: String) -> String {
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

var source = """
    // Generated from Sources/FiscalCore/ErrorCatalog.json by ErrorCatalogGenerator; do not edit.

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
do {
    try Data(source.utf8).write(to: URL(fileURLWithPath: arguments[2]), options: .atomic)
} catch {
    FileHandle.standardError.write(Data("\(arguments[2]): \(error)\n".utf8))
    exit(73)
}
