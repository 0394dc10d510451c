import ErrorCatalogSource
import Foundation

/// Writes FiscalCore's `ErrorCode` members and catalog from the one table of codes.
/// Usage: ErrorCatalogGenerator INPUT.json OUTPUT.swift (`make errors` runs it).
@main
enum ErrorCatalogGenerator {
    static func main() {
        let arguments = CommandLine.arguments
        guard arguments.count == 3 else {
            FileHandle.standardError.write(Data("usage: ErrorCatalogGenerator INPUT.json OUTPUT.swift\n".utf8))
            exit(64)
        }
        do {
            let source = try ErrorCatalogSource.swift(Data(contentsOf: URL(fileURLWithPath: arguments[1])))
            try Data(source.utf8).write(to: URL(fileURLWithPath: arguments[2]), options: .atomic)
        } catch {
            FileHandle.standardError.write(Data("\(arguments[1]): \(error)\n".utf8))
            exit(65)
        }
    }
}
