import FiscalCore
import FiscalTestSupport
import Foundation
import MediatorStore
import SampleData
import TerminalClient
import Testing
import ZeroMQ

/// `backup`, `restore` and `doctor` as an operator runs them, beside a `serve` child and after it.
@Suite("Backup, restore and doctor", .serialized, .timeLimit(.minutes(5)))
struct MaintenanceTests {
    /// `doctor --json`'s findings by check, and its path.
    static func doctor(
        _ arguments: [String],
        environment: [String: String] = [:]
    ) async throws -> (status: Int32, path: String, findings: [String: (String, String)]) {
        let outcome = try await ServeProcess.run(["doctor", "--json"] + arguments, environment: environment)
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(outcome.output.utf8)) as? [String: Any],
            "\(outcome.output) \(outcome.errors)"
        )
        var findings: [String: (String, String)] = [:]
        for finding in report["findings"] as? [[String: Any]] ?? [] {
            findings[finding["check"] as? String ?? ""] = (
                finding["level"] as? String ?? "", finding["detail"] as? String ?? ""
            )
        }
        return (outcome.status, report["path"] as? String ?? "", findings)
    }

    /// A mediator configuration that binds nothing fixed (so the port checks have nothing to probe).
    static func configuration(in directory: TemporaryDirectory, _ extra: String = "") throws -> String {
        let file = directory.appending("mediator.yaml").path
        try "mediator:\n  endpoint: tcp://127.0.0.1:*\n  ops_http: 127.0.0.1:0\n\(extra)".write(
            toFile: file,
            atomically: true,
            encoding: .utf8
        )
        return file
    }

    @Test(
        "a backup during sales is consistent; restore is refused while serve runs, then checked against the device and adopted"
    )
    func backupAndRestore() async throws {
        let directory = TemporaryDirectory("backup")
        defer { directory.remove() }
        let database = directory.appending("mediator.sqlite").path
        let device = "emulator:\(directory.appending("def").path)"
        try await CrashTests.register(["REG-001", "REG-002"], cashier: SampleInvoices.cashier, in: database)
        let config = try Self.configuration(in: directory)
        let child = try ServeProcess(["serve", "--config", config, "--db", database, "--device", device])
        defer { Task { await child.terminate() } }
        let endpoint = String(try await child.waitForLog(#"tcp://127\.0\.0\.1:[0-9]+ "#).dropLast())
        let ops = String(try await child.waitForLog(#"http://127\.0\.0\.1:[0-9]+"#).dropFirst("http://".count))
        let context = ZMQContext()
        // Two lanes sell while the backup runs.
        let selling = Task {
            await withTaskGroup(of: Void.self) { group in
                for terminal in ["REG-001", "REG-002"] {
                    group.addTask {
                        guard
                            let configuration = try? CrashTests.client(terminal, endpoint: endpoint, database: database)
                        else { return }
                        _ = try? await MediatorClient.withClient(context: context, configuration: configuration) {
                            client in
                            for sale in 0..<40 where !Task.isCancelled {
                                _ = try? await client.fiscalize(
                                    requestID: "\(terminal)-\(sale)",
                                    invoice: invoice(terminal, sale: sale)
                                )
                            }
                        }
                    }
                }
            }
        }
        try await eventually("some sales are sealed") {
            (try MediatorDatabase.inspect(path: database).sealedCount) >= 5
        }
        let backups = directory.appending("backups").path
        let backup = try await ServeProcess.run(["backup", "--db", database, "--to", backups, "--keep", "3"])
        #expect(backup.status == 0, "\(backup.errors)")
        #expect(backup.output.contains("integrity ok"))
        await selling.value
        let copies = try FileManager.default.contentsOfDirectory(atPath: backups).filter { $0.hasSuffix(".sqlite") }
        let copy = URL(fileURLWithPath: backups).appendingPathComponent(try #require(copies.first)).path
        let inspected = try MediatorDatabase.inspect(path: copy, full: true)
        #expect(inspected.quickCheck == "ok" && inspected.sealedCount >= 5)

        let refused = try await ServeProcess.run(["restore", copy, "--db", database, "--device", device])
        #expect(refused.status == 78)
        #expect(
            refused.errors
                == "Error: restore refused: the mediator store \(database) is in use by another process (pid \(child.process.processIdentifier)) holding \(database).lock; stop it first (systemctl stop fiscal-mediator), then run restore again\n"
        )

        // doctor goes through the running mediator.
        let running = try await Self.doctor(
            ["--config", config, "--db", database, "--device", device],
            environment: ["FISCAL_MEDIATOR_OPS_HTTP": ops]
        )
        #expect(running.path == "daemon")
        #expect(running.findings["mediator"]?.0 == "ok")
        #expect(running.findings["device"]?.0 == "ok")
        #expect(running.findings["device"]?.1.hasSuffix("seals (through the mediator)") == true)
        #expect(running.findings["store"]?.0 == "ok")
        await child.terminate()
        let sealed = try MediatorDatabase.inspect(path: database).sealedCount

        let restored = try await ServeProcess.run(["restore", copy, "--db", database, "--device", device])
        #expect(restored.status == 0, "\(restored.errors)")
        #expect(
            restored.output.contains(
                "the backup agrees with the device's journal; \(sealed - inspected.sealedCount) later invoice(s)"
            )
        )
        #expect(try MediatorDatabase.inspect(path: database).sealedCount == inspected.sealedCount)
        // The next start adopts what the device sealed after the backup.
        let again = try ServeProcess(["serve", "--config", config, "--db", database, "--device", device])
        defer { Task { await again.terminate() } }
        _ = try await again.waitForLog("mediator ready")
        try await eventually("the later invoices are adopted from the journal") {
            try MediatorDatabase.inspect(path: database).sealedCount == sealed
        }
        await again.terminate()

        // doctor on the files, with no mediator running: healthy.
        let healthy = try await Self.doctor(["--config", config, "--db", database, "--device", device])
        #expect(healthy.status == 0)
        #expect(healthy.path == "files")
        #expect(healthy.findings["config"]?.0 == "ok")
        #expect(healthy.findings["device"]?.0 == "ok")
        #expect(healthy.findings["device clock"]?.0 == "ok")
        #expect(healthy.findings["device capacity"]?.0 == "ok")
        #expect(healthy.findings["store"]?.1.hasPrefix("\(database): quick_check ok") == true)
        #expect(healthy.findings["backlog"]?.1.hasPrefix("\(sealed) sealed invoices not confirmed") == true)
        #expect(healthy.findings["disk"]?.0 == "ok")
    }

    @Test("doctor names each broken condition it checks, and fails")
    func doctorBroken() async throws {
        let directory = TemporaryDirectory("doctor-broken")
        defer { directory.remove() }
        let garbage = directory.appending("garbage.sqlite").path
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: garbage))
        let token = directory.appending("cloud-token").path
        try "secret".write(toFile: token, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: token)
        let held = try HeldPort()
        let config = try Self.configuration(in: directory, "sync:\n  token_file: \(token)\n")
        try "mediator:\n  endpoint: tcp://127.0.0.1:\(held.port)\n  ops_http: off\n  lese: 1s\n".write(
            toFile: directory.appending("typo.yaml").path,
            atomically: true,
            encoding: .utf8
        )
        let broken = try await Self.doctor([
            "--config", config, "--db", garbage, "--device", "serial:\(directory.appending("no-device").path)",
        ])
        #expect(broken.status == 1)
        #expect(broken.findings["store"]?.0 == "fail")
        #expect(broken.findings["device"]?.0 == "fail")
        #expect(broken.findings["device"]?.1.contains("does not exist") == true)
        #expect(broken.findings["serial permissions"]?.0 == "warn")
        #expect(broken.findings["cloud token file"]?.0 == "fail")
        #expect(broken.findings["cloud token file"]?.1 == "\(token) has mode 644")

        // Every doctor run names a device, so none opens the default emulator:var/emulator.
        let absent = "serial:\(directory.appending("no-device").path)"
        let typo = try await Self.doctor([
            "--config", directory.appending("typo.yaml").path, "--db", garbage, "--device", absent,
        ])
        #expect(typo.findings["config"]?.0 == "fail")
        #expect(typo.findings["config"]?.1.contains("did you mean 'mediator.lease'") == true)

        // A port in use (the configuration is broken, so give the port through the environment).
        let port = try await ServeProcess.run(
            ["doctor", "--json", "--db", garbage, "--device", absent],
            environment: [
                "FISCAL_MEDIATOR_ENDPOINT": "tcp://127.0.0.1:\(held.port)", "FISCAL_MEDIATOR_OPS_HTTP": "off",
            ]
        )
        #expect(port.output.contains("the address is already in use"))
    }
}
