import FiscalCore
import Foundation
import Synchronization
import Topology

/// The log format `serve` chose from its flags, environment or file; read by the log handler
/// factory when a logger is made (the logging system is bootstrapped before any of them is known).
enum LogChoice {
    static let json = Atomic<Bool>(false)
}

/// Where `serve`'s settings come from: a flag, else the environment, else the configuration
/// file, else the default; and the label an error names for each.
extension ServeCommand {
    /// The configuration file and the environment. A topology replaces the file (it carries the
    /// same keys); naming both is an error.
    static func settings(
        config: String?,
        topology: String?,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(StartupError) -> MediatorSettings {
        let file = configPath(config, environment: environment)
        if topology != nil, config != nil {
            throw StartupError("--config and --topology: name one (a topology carries the mediator's settings)")
        }
        do {
            return try await MediatorSettings.load(file: topology == nil ? file : nil, environment: environment)
        } catch {
            throw StartupError(error.message)
        }
    }

    /// The ops API's admin token file (0600, made at first start), beside the store.
    static func adminTokenPath(db: String) -> String {
        URL(fileURLWithPath: db).deletingLastPathComponent().appendingPathComponent("ops-admin.token").path
    }

    /// The read-scope token file, made at first start when the ops API serves other hosts.
    static func readTokenPath(db: String) -> String {
        URL(fileURLWithPath: db).deletingLastPathComponent().appendingPathComponent("ops-read.token").path
    }

    /// The ops API's TLS certificate (its key beside it, `.key`, 0600).
    static func certificatePath(db: String) -> String {
        URL(fileURLWithPath: db).deletingLastPathComponent().appendingPathComponent("ops-tls.crt").path
    }

    /// The ops API's certificate and key: read, or made at first start (self-signed, P-256,
    /// ten years; the key written 0600 before the certificate, so a crash between leaves no
    /// certificate without its key).
    static func opsCertificate(db: String) throws -> SelfSignedCertificate {
        let certificatePath = certificatePath(db: db)
        let keyPath = certificatePath.replacingOccurrences(of: ".crt", with: ".key")
        if FileManager.default.fileExists(atPath: certificatePath) {
            return SelfSignedCertificate(
                certificatePEM: try String(contentsOfFile: certificatePath, encoding: .utf8),
                privateKeyPEM: Secret(try String(contentsOfFile: keyPath, encoding: .utf8))
            )
        }
        let made = try SelfSignedCertificate.make(commonName: "fiscal-mediator \(ProcessInfo.processInfo.hostName)")
        try? FileManager.default.removeItem(atPath: keyPath)
        guard
            FileManager.default.createFile(
                atPath: keyPath,
                contents: Data(made.privateKeyPEM.value.utf8),
                attributes: [.posixPermissions: 0o600]
            )
        else { throw FiscalError(.configInvalid, "\(keyPath): cannot write the ops API's TLS key") }
        guard
            FileManager.default.createFile(
                atPath: certificatePath,
                contents: Data(made.certificatePEM.utf8),
                attributes: [.posixPermissions: 0o644]
            )
        else { throw FiscalError(.configInvalid, "\(certificatePath): cannot write the ops API's TLS certificate") }
        return made
    }

    /// `--config`, else `$FISCAL_CONFIG`, else the default path when that file exists.
    static func configPath(_ config: String?, environment: [String: String]) -> String? {
        if let config { return config }
        if let named = environment["FISCAL_CONFIG"], !named.isEmpty { return named }
        return FileManager.default.fileExists(atPath: MediatorSettings.defaultPath) ? MediatorSettings.defaultPath : nil
    }

    /// A flag's value if given, else the environment's or the file's; with the label an error
    /// names (`--lease`, `$FISCAL_MEDIATOR_LEASE`, `mediator.lease in FILE`).
    static func pick(_ flag: String?, _ key: String, _ settings: MediatorSettings) -> (text: String?, label: String) {
        let flagName = ConfigSchema.keys.first { $0.key == key }?.flag ?? key
        if let flag { return (flag, flagName) }
        if let found = settings[key] { return (found.text, found.origin) }
        return (nil, flagName)
    }

    /// `device.kind` with `device.path` or `device.state`, as `serial:PATH` or `emulator:DIR`.
    static func device(_ settings: MediatorSettings) -> String? {
        guard let kind = settings["device.kind"]?.text else {
            if let path = settings["device.path"]?.text { return "serial:\(path)" }
            return settings["device.state"].map { "emulator:\($0.text)" }
        }
        let place = kind == "serial" ? settings["device.path"]?.text : settings["device.state"]?.text
        return "\(kind):\(place ?? "")"
    }

    /// A yes/no setting: the flag, else `true`/`false` from the environment or the file.
    static func flag(_ flag: Bool?, _ key: String, _ settings: MediatorSettings) throws(StartupError) -> Bool? {
        if let flag { return flag }
        guard let found = settings[key] else { return nil }
        return try StartupChecks.oneOf(found.origin, found.text, [("true", true), ("false", false)])
    }
}
