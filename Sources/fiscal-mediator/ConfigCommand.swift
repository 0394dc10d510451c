import ArgumentParser
import FiscalCore
import Foundation
import Topology

/// `fiscal-mediator config check FILE` and `config show`.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check a configuration file or topology, or show the settings serve would use.",
        subcommands: [Check.self, Show.self]
    )

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Validate a mediator configuration file or a topology without starting anything.",
            discussion: """
                A file with a load: section is read as a topology (serve --topology), any other as the \
                mediator's configuration (serve --config). Every value is checked as serve checks it; \
                exit 0 when it is valid, 78 with the key, the file and the fix when it is not.
                """
        )

        @Argument(help: "The file.")
        var file: String

        func run() async throws {
            let keys: [String]
            do { keys = try ConfigSchema.keys(inFile: file) } catch { throw StartupError(error.message) }
            let isTopology = keys.contains { $0.hasPrefix("load.") }
            let serve: ServeCommand
            do { serve = try ServeCommand.parse(isTopology ? ["--topology", file] : ["--config", file]) } catch {
                throw StartupError("\(file): \(error)")
            }
            try await serve.start(checkOnly: true)
            print("\(file): ok (\(isTopology ? "a topology" : "a mediator configuration"))")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Print the settings serve would use, and where each comes from; secrets redacted.",
            discussion: """
                Precedence, highest first: a serve flag, the environment (FISCAL_ and the key in capitals, \
                such as FISCAL_MEDIATOR_LEASE), the file, the default.
                """
        )

        @Option(help: "The configuration file (default: $FISCAL_CONFIG, else /etc/fiscal-mediator/mediator.yaml).")
        var config: String?

        func run() async throws {
            let settings = try await ServeCommand.settings(config: config, topology: nil)
            print("# file: \(settings.file ?? "none")")
            for key in ConfigSchema.keys {
                let found = settings[key.key]
                let shown: String
                if let found {
                    shown = key.secret ? "<redacted>" : found.text
                } else {
                    shown = key.defaultValue ?? "(unset)"
                }
                let origin = found?.origin ?? "default"
                print("\(key.key): \(Self.quoted(shown))  # \(origin); flag \(key.flag), env \(key.environment)")
            }
        }

        /// YAML-safe text: quoted when it holds anything YAML reads specially.
        static func quoted(_ text: String) -> String {
            let plain = text.allSatisfy { $0.isLetter || $0.isNumber || "-_./=,@".contains($0) }
            return plain && !text.isEmpty ? text : "\"\(text.replacingOccurrences(of: "\"", with: "\\\""))\""
        }
    }
}
