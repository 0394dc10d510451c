import ArgumentParser
import AsyncHTTPClient
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation
import MediatorStore
import NIOCore
import NIOHTTP1
import NIOSSL
import OpsHTTP
import Topology

#if canImport(Glibc)
import Glibc
#endif

/// `fiscal-mediator doctor`: what a support call asks about, one line each, with the fix.
///
/// When a mediator holds the store (its lock), the device and the live state are its: doctor
/// asks the running daemon's ops API (`/health`) for them, and reads the store through a
/// read-only connection of its own. When none runs, it opens the device itself. The first line
/// says which path it took.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the configuration, device, serial permissions, ports, store, disk, backlog and terminals.",
        discussion: "Exit 0 when nothing fails (warnings allowed), 1 when a check fails. --json for support tools."
    )

    @OptionGroup var target: StoreTarget

    @Flag(help: "One JSON document instead of lines.")
    var json = false

    @Option(help: "A terminal not heard of for this long is reported, e.g. 24h.")
    var terminalQuiet = "24h"

    /// One check's outcome.
    struct Finding: Codable, Sendable {
        enum Level: String, Codable, Sendable { case ok, warn, fail }
        var check: String
        var level: Level
        var detail: String
        var fix: String?
    }

    struct Report: Codable, Sendable {
        var version: String
        /// `daemon` (a running mediator answered for the device) or `files` (none runs).
        var path: String
        var findings: [Finding]
    }

    func run() async throws {
        var findings: [Finding] = []
        func add(_ check: String, _ level: Finding.Level, _ detail: String, fix: String? = nil) {
            findings.append(Finding(check: check, level: level, detail: detail, fix: fix))
        }
        let quiet = try StartupChecks.duration(
            "--terminal-quiet",
            terminalQuiet,
            in: .seconds(60)...(.seconds(86_400 * 365))
        )

        // The configuration, as serve would check it.
        let file = ServeCommand.configPath(target.config, environment: ProcessInfo.processInfo.environment)
        var settings = MediatorSettings()
        do {
            let serve = try ServeCommand.parse(file.map { ["--config", $0] } ?? [])
            try await serve.start(checkOnly: true)
            settings = try await ServeCommand.settings(config: target.config, topology: nil)
            add("config", .ok, file.map { "\($0) is valid" } ?? "no configuration file: serve's defaults")
        } catch let error as StartupError {
            add(
                "config",
                .fail,
                error.message,
                fix: "edit the file, then fiscal-mediator config check \(file ?? "FILE")"
            )
        }
        let db = target.db ?? ServeCommand.pick(nil, "mediator.store", settings).text ?? "var/mediator.sqlite"
        let device = target.device ?? ServeCommand.device(settings) ?? "emulator:var/emulator"
        let ops = ServeCommand.pick(nil, "mediator.ops_http", settings).text ?? "127.0.0.1:8080"
        let endpoints = (ServeCommand.pick(nil, "mediator.endpoint", settings).text ?? "tcp://127.0.0.1:5555")
            .split(separator: ",").map(String.init)
        // A bad value is the config check's finding; the disk check then has no threshold.
        let diskLow: Int64? =
            (try? ServeCommand.bytes(
                "disk_low",
                ServeCommand.pick(nil, "mediator.disk_low", settings).text ?? "256MB"
            )).flatMap { $0 }

        // Is a mediator running on this store? Its lock says.
        var daemon: Int?
        do {
            let lock = try ProcessLock(path: db + ".lock", guarding: "the mediator store \(db)")
            lock.release()
        } catch {
            daemon = Self.pid(in: error.message) ?? -1
        }
        let path = daemon == nil ? "files" : "daemon"
        if let daemon {
            add("mediator", .ok, "running (pid \(daemon)) on \(db): the device and live state come from its ops API")
            await checkThroughDaemon(ops: ops, db: db, add: add)
        } else {
            add(
                "mediator",
                .warn,
                "not running on \(db): doctor opens the files and the device itself",
                fix: "systemctl start fiscal-mediator"
            )
            await checkDevice(device, add: add)
            checkPorts(endpoints: endpoints, ops: ops, add: add)
        }
        checkSerialPermissions(device, add: add)
        checkStore(db, diskLow: diskLow, quiet: quiet, add: add)
        checkSecretFiles(settings: settings, config: file, add: add)
        let certificate = ServeCommand.certificatePath(db: db)
        if let pem = try? String(contentsOfFile: certificate, encoding: .utf8) {
            add(
                "ops TLS certificate",
                .ok,
                "\(certificate): \(SelfSignedCertificate.fingerprint(ofPEM: pem) ?? "not a certificate")",
                fix: "clients of the ops API pin this fingerprint"
            )
        }

        let report = Report(version: FiscalMediatorCommand.version, path: path, findings: findings)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("doctor \(FiscalMediatorCommand.version): path \(path)")
            for finding in findings {
                let level = finding.level.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)
                print("\(level) \(finding.check): \(finding.detail)\(finding.fix.map { " — fix: \($0)" } ?? "")")
            }
        }
        if findings.contains(where: { $0.level == .fail }) { throw ExitCode(1) }
    }

    /// `… (pid 1234) …` in a lock error.
    static func pid(in message: String) -> Int? {
        guard let range = message.range(of: #"pid [0-9]+"#, options: .regularExpression) else { return nil }
        return Int(message[range].dropFirst(4))
    }

    /// The device, the alerts and the upload line as the running mediator's `/health` shows them.
    func checkThroughDaemon(ops: String, db: String, add: (String, Finding.Level, String, String?) -> Void) async {
        guard ops != "off", let colon = ops.lastIndex(of: ":") else {
            add(
                "device",
                .warn,
                "the mediator's ops API is off: its device state cannot be read",
                "set mediator.ops_http"
            )
            return
        }
        // Off loopback the API is HTTPS with serve's own certificate (pinned here) and a read
        // token; both are beside the store.
        let host = String(ops[..<colon])
        let lan = !OpsServer.Configuration.isLoopback(host)
        let reachable = (host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host) + ops[colon...]
        let url = "\(lan ? "https" : "http")://\(reachable)/health"
        let health: [String: Any]
        var pinned: HTTPClient?
        do {
            var request = HTTPClientRequest(url: url)
            if lan {
                let pem = try String(contentsOfFile: ServeCommand.certificatePath(db: db), encoding: .utf8)
                var tls = TLSConfiguration.makeClientConfiguration()
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
                tls.certificateVerification = .noHostnameVerification
                pinned = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
                let token = try String(contentsOfFile: ServeCommand.readTokenPath(db: db), encoding: .utf8)
                request.headers.add(
                    name: "Authorization",
                    value: "Bearer \(token.trimmingCharacters(in: .whitespacesAndNewlines))"
                )
            }
            let response = try await (pinned ?? HTTPClient.shared).execute(request, timeout: .seconds(5))
            let body = try await response.body.collect(upTo: 1 << 20)
            guard let value = try JSONSerialization.jsonObject(with: Data(String(buffer: body).utf8)) as? [String: Any]
            else { throw FiscalError(.replyInvalid, "not a JSON object") }
            try await pinned?.shutdown()
            health = value
        } catch {
            try? await pinned?.shutdown()
            add(
                "device",
                .fail,
                "the mediator's ops API at \(url) does not answer: \(error)",
                "check mediator.ops_http and the mediator's log (journalctl -u fiscal-mediator)"
            )
            return
        }
        let device = health["device"] as? [String: Any] ?? [:]
        let state = device["state"] as? String ?? "?"
        let id = device["id"] as? String ?? "?"
        let codes = (health["alert_codes"] as? [String]) ?? []
        switch state {
        case "ready": add("device", .ok, "\(id) seals (through the mediator)", nil)
        case "store_failing":
            add(
                "device",
                .fail,
                "STORE_FAILING: the store refuses writes, new sales are refused",
                "free disk space on the store's file system; the sealed invoices are kept and written then"
            )
        case "unavailable":
            add(
                "device",
                .fail,
                "DEVICE_UNREACHABLE: the device does not answer",
                "check the USB cable and power; ls -l /dev/fiscal-def"
            )
        default: add("device", .fail, "\(id) is \(state); alerts: \(codes.joined(separator: ", "))", "see /alerts")
        }
        if !codes.isEmpty { add("alerts", .warn, codes.joined(separator: ", "), "curl http://\(ops)/alerts") }
    }

    /// The device opened directly (no mediator holds it): its id, clock drift and capacity left.
    func checkDevice(_ text: String, add: (String, Finding.Level, String, String?) -> Void) async {
        let endpoint: DeviceEndpoint
        do { endpoint = try DeviceEndpoint(parsing: text) } catch {
            add("device", .fail, error.message, "set device.kind and device.path")
            return
        }
        if case .serial(let path, _) = endpoint, !FileManager.default.fileExists(atPath: path) {
            add(
                "device",
                .fail,
                "\(path) does not exist: the device is unplugged or udev did not name it",
                "plug it in; install deploy/99-fiscal-device.rules; ls /dev/ttyACM*"
            )
            return
        }
        let opened: (link: any FiscalDeviceLink, emulator: FiscalDeviceEmulator?)
        do { opened = try endpoint.open() } catch {
            add(
                "device",
                .fail,
                "\(text): \((error as? FiscalError)?.message ?? "\(error)")",
                "see docs/OPERATIONS.md, serial permissions"
            )
            return
        }
        defer { opened.emulator?.shutdown() }
        let client = FiscalDeviceClient(link: opened.link)
        do {
            let status = try await client.status()
            await opened.link.close()
            guard status.initialized, let id = status.deviceID else {
                add("device", .fail, "\(text) answers but is not initialized", "fiscal-mediator device init")
                return
            }
            add(
                "device",
                status.revoked ? .fail : .ok,
                "\(id.rawValue) answers\(status.emulated ? " (EMULATED)" : "")\(status.revoked ? ", REVOKED" : "")",
                status.revoked ? "call the tax authority" : nil
            )
            if let deviceTime = DeviceTimestamp.parse(status.deviceTime) {
                let drift = Int(deviceTime.timeIntervalSinceNow.rounded())
                let level: Finding.Level = abs(drift) <= 60 ? .ok : (abs(drift) <= 600 ? .warn : .fail)
                add(
                    "device clock",
                    level,
                    "\(drift) s from the host's",
                    level == .ok ? nil : "fiscal-mediator device time (sets it from the host, which should run NTP)"
                )
            }
            let left = status.capacity > status.journalEntries ? status.capacity - status.journalEntries : 0
            let share = status.capacity > 0 ? Double(left) / Double(status.capacity) : 0
            add(
                "device capacity",
                share < 0.05 ? .warn : .ok,
                "\(left) of \(status.capacity) journal entries left",
                share < 0.05 ? "have the device serviced before it is full (STORAGE_FULL)" : nil
            )
        } catch {
            await opened.link.close()
            add("device", .fail, "\(text) does not answer: \(error.message)", "check the USB cable and power")
        }
    }

    func checkSerialPermissions(_ text: String, add: (String, Finding.Level, String, String?) -> Void) {
        guard case .serial(let path, _)? = try? DeviceEndpoint(parsing: text) else {
            add("serial permissions", .ok, "not a serial device (\(text))", nil)
            return
        }
        do {
            if try StartupChecks.serialPath("device.path", shown: text, path) {
                add("serial permissions", .ok, "\(path) is a character device this user may read and write", nil)
            } else {
                add(
                    "serial permissions",
                    .warn,
                    "\(path) does not exist",
                    "plug the device in; see deploy/99-fiscal-device.rules"
                )
            }
        } catch {
            add(
                "serial permissions",
                .fail,
                error.message,
                "usermod -aG dialout fiscal-mediator, or deploy/99-fiscal-device.rules"
            )
        }
    }

    func checkPorts(endpoints: [String], ops: String, add: (String, Finding.Level, String, String?) -> Void) {
        var addresses: [(String, String)] = endpoints.compactMap { text in
            guard text.hasPrefix("tcp://") else { return nil }
            return ("mediator.endpoint", String(text.dropFirst(6)))
        }
        if ops != "off" { addresses.append(("mediator.ops_http", ops)) }
        for (key, address) in addresses {
            guard let colon = address.lastIndex(of: ":") else { continue }
            do {
                try StartupChecks.probe(
                    key,
                    shown: address,
                    host: String(address[..<colon]),
                    port: String(address[address.index(after: colon)...])
                )
                add("port \(address)", .ok, "free for serve", nil)
            } catch {
                add("port \(address)", .fail, error.message, "stop what holds it, or change \(key)")
            }
        }
    }

    func checkStore(
        _ db: String,
        diskLow: Int64?,
        quiet: Duration,
        add: (String, Finding.Level, String, String?) -> Void
    ) {
        guard FileManager.default.fileExists(atPath: db) else {
            add("store", .warn, "\(db) does not exist yet (serve creates it)", nil)
            return
        }
        do {
            let store = try MediatorDatabase.inspect(path: db)
            add(
                "store",
                store.quickCheck == "ok" ? .ok : .fail,
                "\(db): quick_check \(store.quickCheck), \(store.sizeBytes >> 10) KiB, \(store.sealedCount) sealed invoices",
                store.quickCheck == "ok" ? nil : "stop serve, fiscal-mediator restore BACKUP (docs/OPERATIONS.md)"
            )
            var age = ""
            var level = Finding.Level.ok
            if let oldest = store.oldestPendingAt, let date = DeviceTimestamp.parse(oldest) {
                let hours = Int(-date.timeIntervalSinceNow / 3600)
                age = ", the oldest waiting \(hours) h"
                if hours >= 24 { level = .warn }
            }
            add(
                "backlog",
                level,
                "\(store.backlog) sealed invoices not confirmed by the cloud\(age)",
                level == .ok ? nil : "fiscal-mediator sync status; check sync.url and the network"
            )
            let cutoff = Date().addingTimeInterval(-quiet.inSeconds)
            let silent = store.terminalsLastSeen.filter { row in
                row.at.flatMap(DeviceTimestamp.parse).map { $0 < cutoff } ?? true
            }
            add(
                "terminals",
                silent.isEmpty ? .ok : .warn,
                silent.isEmpty
                    ? "\(store.terminalsLastSeen.count) active, all heard of recently"
                    : "not heard of within \(terminalQuiet): \(silent.map(\.code).joined(separator: ", "))",
                silent.isEmpty
                    ? nil
                    : "check those terminals, or deactivate the ones retired (fiscal-mediator terminals deactivate CODE)"
            )
        } catch {
            add(
                "store",
                .fail,
                "\(db): cannot be read: \(error)",
                "stop serve, fiscal-mediator restore BACKUP (docs/OPERATIONS.md)"
            )
        }
        var info = statvfs()
        let directory = URL(fileURLWithPath: db).deletingLastPathComponent().path
        if statvfs(directory, &info) == 0 {
            let free = Int64(clamping: info.f_bavail) * Int64(clamping: info.f_frsize)
            let low = diskLow.map { free < $0 } ?? false
            add(
                "disk",
                low ? .warn : .ok,
                "\(free >> 20) MiB free for the store (\(directory))\(diskLow.map { ", DISK_LOW below \($0 >> 20) MiB" } ?? "")",
                low ? "free space: old backups, logs (journalctl --vacuum-size)" : nil
            )
        }
    }

    /// Files holding secrets must not be readable by others; the configuration not writable by them.
    func checkSecretFiles(
        settings: MediatorSettings,
        config: String?,
        add: (String, Finding.Level, String, String?) -> Void
    ) {
        var files: [(String, String, mode_t)] = []
        if let token = settings["sync.token_file"]?.text { files.append(("cloud token file", token, 0o077)) }
        if let config { files.append(("configuration file", config, settings["sync.token"] != nil ? 0o007 : 0o002)) }
        for (name, path, forbidden) in files {
            guard
                let permissions = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions]
                    as? NSNumber
            else {
                add(name, .fail, "\(path): cannot be read", "create it (0600, owned by the service's user)")
                continue
            }
            let mode = mode_t(permissions.uint16Value) & 0o777
            let bad = mode & forbidden != 0
            add(
                name,
                bad ? .fail : .ok,
                "\(path) has mode \(String(mode, radix: 8))",
                bad ? "chmod \(String(0o777 & ~forbidden & 0o640, radix: 8)) \(path)" : nil
            )
        }
    }
}
