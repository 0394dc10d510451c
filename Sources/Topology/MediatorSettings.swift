import Configuration
public import FiscalCore
import Foundation
import SystemPackage

/// The mediator's settings as its configuration file and the environment give them, before
/// `serve`'s flags: each value with where it came from, so an error names the key and the
/// file (or the variable), and `config show` can say which source won.
///
/// Precedence, highest first: a `serve` flag, then the environment (`FISCAL_MEDIATOR_LEASE`),
/// then the file, then the default (``ConfigSchema/keys``).
public struct MediatorSettings: Sendable {
    /// The file's default path; `serve --config FILE` or `$FISCAL_CONFIG` name another.
    public static let defaultPath = "/etc/fiscal-mediator/mediator.yaml"

    /// A value and its source.
    public struct Value: Sendable, Hashable {
        public var text: String
        /// `mediator.lease in /etc/fiscal-mediator/mediator.yaml`, or `$FISCAL_MEDIATOR_LEASE`.
        public var origin: String
    }

    /// The file read, if any.
    public var file: String?
    /// Values by key (``ConfigSchema/Key/key``).
    public var values: [String: Value]

    public init(file: String? = nil, values: [String: Value] = [:]) {
        self.file = file
        self.values = values
    }

    public subscript(_ key: String) -> Value? { values[key] }

    /// Reads `file` (if given) and the environment. A file with a key the schema does not know,
    /// a `load:` or `terminals:` section, or a value of the wrong shape is an error naming the
    /// key and the file.
    public static func load(
        file: String?,
        environment: [String: String]
    ) async throws(FiscalError)
        -> MediatorSettings
    {
        var settings = MediatorSettings(file: file)
        if let file {
            guard FileManager.default.fileExists(atPath: file) else {
                throw FiscalError(.configInvalid, "\(file): no such file")
            }
            let keys = try ConfigSchema.keys(inFile: file)
            if let section = keys.first(where: { $0.hasPrefix("load.") || $0.hasPrefix("terminals.") }) {
                throw FiscalError(
                    .configInvalid,
                    "\(file): '\(section)' belongs in a topology (serve --topology), not in the mediator's configuration"
                )
            }
            try ConfigSchema.checkKeys(inFile: file, known: ConfigSchema.keys.map(\.key) + ["name"])
            let reader: ConfigReader
            do {
                reader = ConfigReader(provider: try await FileProvider<YAMLSnapshot>(filePath: FilePath(file)))
            } catch {
                throw FiscalError(.configInvalid, "\(file): not a YAML mapping: \(error)")
            }
            for key in ConfigSchema.keys where keys.contains(key.key) {
                guard let text = Self.scalar(reader, key.key) else {
                    throw FiscalError(
                        .configInvalid,
                        "\(file): \(key.key): not a single value (text, number or true/false)"
                    )
                }
                settings.values[key.key] = Value(text: text, origin: "\(key.key) in \(file)")
            }
        }
        for key in ConfigSchema.keys {
            if let text = environment[key.environment], !text.isEmpty {
                settings.values[key.key] = Value(text: text, origin: "$\(key.environment)")
            }
        }
        return settings
    }

    /// A key's value as text, whatever its YAML type; a list of text is joined with commas.
    static func scalar(_ reader: ConfigReader, _ key: String) -> String? {
        let configKey = ConfigKey(key)
        if let value = reader.string(forKey: configKey) { return value }
        if let value = reader.bool(forKey: configKey) { return value ? "true" : "false" }
        if let value = reader.int(forKey: configKey) { return "\(value)" }
        if let value = reader.double(forKey: configKey) { return "\(value)" }
        if let value = reader.stringArray(forKey: configKey) { return value.joined(separator: ",") }
        return nil
    }
}
