import Foundation
import PackagePlugin

/// Generates `ErrorCode`'s members and catalog from the target's ErrorCatalog.json at build
/// time: the codes are written once, in that table.
@main
struct ErrorCatalogPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) async throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let input = target.directoryURL.appending(path: "ErrorCatalog.json")
        let output = context.pluginWorkDirectoryURL.appending(path: "ErrorCode+Catalog.swift")
        return [
            .buildCommand(
                displayName: "Generating the error and alert catalog",
                executable: try context.tool(named: "ErrorCatalogGenerator").url,
                arguments: [input.path, output.path],
                inputFiles: [input],
                outputFiles: [output]
            )
        ]
    }
}
