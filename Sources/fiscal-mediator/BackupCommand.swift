import ArgumentParser
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation
import MediatorStore
import Topology

/// Where the maintenance commands find the store and the device: a flag, else the
/// environment or the configuration file, else serve's default.
struct StoreTarget: ParsableArguments {
    @Option(help: "The mediator's store (default: mediator.store from the configuration, else var/mediator.sqlite).")
    var db: String?

    @Option(
        help: "The device, serial:PATH or emulator:DIR (default: from the configuration, else emulator:var/emulator)."
    )
    var device: String?

    @Option(
        help: "The configuration file (default: $FISCAL_CONFIG, else /etc/fiscal-mediator/mediator.yaml if it exists)."
    )
    var config: String?

    func resolve() async throws -> (db: String, device: String, settings: MediatorSettings) {
        let settings = try await ServeCommand.settings(config: config, topology: nil)
        let db = ServeCommand.pick(db, "mediator.store", settings).text ?? "var/mediator.sqlite"
        let device = device ?? ServeCommand.device(settings) ?? "emulator:var/emulator"
        return (db, device, settings)
    }
}

/// `fiscal-mediator backup --to DIR`: a consistent copy of the live store.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the store into DIR while serve runs (SQLite's online backup), and check the copy.",
        discussion: """
            The copy is a snapshot taken inside one read transaction: in WAL mode sales go on while it runs. \
            It is checked with PRAGMA integrity_check; --keep N removes the oldest copies beyond N. \
            deploy/fiscal-mediator-backup.timer runs it daily (docs/OPERATIONS.md).
            """
    )

    @OptionGroup var target: StoreTarget

    @Option(help: "The directory the copy goes in (created if needed).")
    var to: String

    @Option(help: "How many copies to keep in DIR (the oldest beyond it are removed); 0 keeps all.")
    var keep = 0

    func run() async throws {
        let (db, _, _) = try await target.resolve()
        guard FileManager.default.fileExists(atPath: db) else {
            throw StartupError("--db \(db): no such store; name it with --db or --config")
        }
        if let problem = StartupChecks.makeDirectory(to) { throw StartupError("--to \(to): \(problem)") }
        let stamp = ISO8601DateFormatter.string(
            from: Date(),
            timeZone: TimeZone(identifier: "UTC")!,
            formatOptions: [.withYear, .withMonth, .withDay, .withTime, .withTimeZone]
        ).replacingOccurrences(of: ":", with: "")
        let destination = URL(fileURLWithPath: to).appendingPathComponent("mediator-\(stamp).sqlite").path
        let partial = destination + ".partial"
        try? FileManager.default.removeItem(atPath: partial)
        let started = ContinuousClock.now
        do { try MediatorDatabase.backup(from: db, to: partial) } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw StartupError("backup of \(db) failed: \(error)")
        }
        let copy = try MediatorDatabase.inspect(path: partial, full: true)
        guard copy.quickCheck == "ok" else {
            throw StartupError(
                "the copy \(partial) fails PRAGMA integrity_check: \(copy.quickCheck); it is kept for a look"
            )
        }
        try FileManager.default.moveItem(atPath: partial, toPath: destination)
        let elapsed = ContinuousClock.now - started
        print(
            "backup: \(destination): \(copy.sealedCount) sealed invoices, last #\(copy.lastSealed.map { "\($0.entry.seq.rawValue)" } ?? "none"), \(copy.sizeBytes) bytes, integrity ok, \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds], width: .narrow)))"
        )
        if keep > 0 {
            let copies = try FileManager.default.contentsOfDirectory(atPath: to)
                .filter { $0.hasPrefix("mediator-") && $0.hasSuffix(".sqlite") }.sorted()
            for old in copies.dropLast(keep) {
                try FileManager.default.removeItem(atPath: URL(fileURLWithPath: to).appendingPathComponent(old).path)
                print("removed the old copy \(old)")
            }
        }
    }
}

/// `fiscal-mediator restore FILE`: puts a backup in the store's place, when serve is stopped
/// and the backup agrees with the device's journal.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put a backup in the store's place: refused while serve runs, checked against the device first.",
        discussion: """
            The backup must pass PRAGMA integrity_check, come from this device (its device id), and its last \
            sealed invoice must be in the device's journal with the same entry hash. What the device sealed \
            after the backup was taken is adopted from the journal by serve's recovery at its next start. \
            The store it replaces is kept beside it as FILE.before-restore-TIME.
            """
    )

    @OptionGroup var target: StoreTarget

    @Argument(help: "The backup file (from fiscal-mediator backup).")
    var backup: String

    func run() async throws {
        let (db, deviceText, _) = try await target.resolve()
        // One mediator per store: the lock serve holds. Held here until the copy is in place.
        let lock: ProcessLock
        do { lock = try ProcessLock(path: db + ".lock", guarding: "the mediator store \(db)") } catch {
            throw StartupError(
                "restore refused: \(error.message) (systemctl stop fiscal-mediator), then run restore again"
            )
        }
        defer { lock.release() }
        guard FileManager.default.fileExists(atPath: backup) else { throw StartupError("\(backup): no such file") }
        let copy: StoreInspection
        do { copy = try MediatorDatabase.inspect(path: backup, full: true) } catch {
            throw StartupError("\(backup): not a mediator store: \(error)")
        }
        guard copy.quickCheck == "ok" else {
            throw StartupError("\(backup): fails PRAGMA integrity_check: \(copy.quickCheck); choose another backup")
        }
        // The device's journal: the backup must be this device's, and its last seal must be there.
        let endpoint: DeviceEndpoint
        do { endpoint = try DeviceEndpoint(parsing: deviceText) } catch {
            throw StartupError("--device: \(error.message)")
        }
        let (link, emulator) = try endpoint.open()
        defer { emulator?.shutdown() }
        let client = FiscalDeviceClient(link: link)
        do {
            let status = try await client.status()
            if let last = copy.lastSealed {
                guard status.deviceID == last.entry.deviceID else {
                    throw StartupError(
                        "\(backup): its invoices were sealed by device \(last.entry.deviceID.rawValue), but \(deviceText) is \(status.deviceID?.rawValue ?? "not initialized"); restore refused"
                    )
                }
                let journal = try await client.log(last.entry.seq)
                guard journal.entry.entryHash == last.entry.entryHash else {
                    throw StartupError(
                        "\(backup): invoice #\(last.entry.seq.rawValue) differs from the device's journal (entry hash); restore refused"
                    )
                }
                guard last.entry.seq.rawValue < status.nextInvoiceSeq.rawValue else {
                    throw StartupError(
                        "\(backup): holds invoice #\(last.entry.seq.rawValue), which the device has not sealed yet; restore refused"
                    )
                }
                let behind = status.nextInvoiceSeq.rawValue - 1 - last.entry.seq.rawValue
                print(
                    "the backup agrees with the device's journal; \(behind) later invoice(s) will be adopted from it at the next start"
                )
            } else {
                let sealed = status.nextInvoiceSeq.rawValue > 0 ? status.nextInvoiceSeq.rawValue - 1 : 0
                print("the backup holds no sealed invoice; the device's \(sealed) will be adopted at the next start")
            }
            await link.close()
        } catch let error as FiscalError {
            await link.close()
            throw StartupError(
                "\(deviceText): \(error.message); the backup cannot be checked against the device, restore refused"
            )
        }
        // The current store (and its WAL) aside, the backup in its place.
        let stamp = Int(Date().timeIntervalSince1970)
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: db + suffix) {
            try FileManager.default.moveItem(atPath: db + suffix, toPath: "\(db).before-restore-\(stamp)\(suffix)")
        }
        try FileManager.default.copyItem(atPath: backup, toPath: db)
        print("restored \(backup) to \(db); the previous store is \(db).before-restore-\(stamp)")
    }
}
