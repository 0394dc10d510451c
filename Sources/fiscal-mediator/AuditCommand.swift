import ArgumentParser
import Audit
import DeviceEmulator
import FiscalCore
import FiscalDevice
import Foundation
import MediatorStore

/// `fiscal-mediator audit`: the outlet-wide cross-check, offline on the files.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Cross-check the device journal, the mediator's store and the cloud's records (docs/AUDIT.md).",
        discussion: """
            Reads the whole journal (from the device with ADM|DUMPLOG, or from an export), every sealed invoice, \
            request and upload-line row of each store (read-only), and, with --cloud, the cloud's records of the \
            outlet; then runs every check of docs/AUDIT.md. Evidence that cannot be read is a finding. Run it with \
            the mediator stopped (or on an export of the journal): an emulator state directory must not be open \
            twice. Exit status: 0 clean, 1 on any finding (unreadable evidence included), 64 on a usage error.
            """
    )

    @Option(help: "A mediator store (its SQLite file); repeat it for every store that ever served the outlet.")
    var db: [String] = []

    @Option(help: "The device: serial:PATH[?baud=N] or emulator:DIR.")
    var device: String?

    @Option(help: "A journal export (`device dump-log --out FILE`) instead of the device.")
    var journal: String?

    @Option(help: "The cloud's base URL; its records of the outlet are read from GET /v1/outlets/{outlet}/invoices.")
    var cloud: String?

    @Option(help: "The outlet the cloud knows (default: the outlet of the store's sealed invoices).")
    var outletID: String?

    @Option(help: "A file holding the outlet's cloud bearer token (default: $FISCAL_CLOUD_TOKEN, if set).")
    var cloudTokenFile: String?

    @Option(help: "The device's public key (hex) as registered with the tax authority.")
    var publicKey: String?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func validate() throws {
        guard (device == nil) != (journal == nil) else {
            throw ValidationError("give the journal's source: --device serial:PATH|emulator:DIR, or --journal EXPORT")
        }
        guard !db.isEmpty else { throw ValidationError("give the mediator's store: --db FILE") }
    }

    func run() async throws {
        let pinned = try publicKey.map { hex in
            guard let key = Ed25519.PublicKey(hex: hex) else {
                throw ValidationError("--public-key: not 32 bytes of hex")
            }
            return key
        }
        var stores: [any StoreSource] = []
        for path in db {
            do {
                stores.append(try StoreAuditReader(path: path))
            } catch {
                // Fail closed: a store that cannot be opened is audited as unreadable.
                stores.append(UnreadableStore(name: path, reason: "\(error)"))
            }
        }
        var emulator: FiscalDeviceEmulator?
        var link: (any FiscalDeviceLink)?
        defer { emulator?.shutdown() }
        let source: any JournalSource
        if let journal {
            source = ExportJournalSource(path: journal)
        } else {
            let endpoint: DeviceEndpoint
            do { endpoint = try DeviceEndpoint(parsing: device ?? "") } catch { throw ValidationError(error.message) }
            if case .emulator(let directory) = endpoint,
                !FileManager.default.fileExists(atPath: directory + "/device.sqlite")
            {
                throw ValidationError("--device: \(directory) holds no emulated device (no device.sqlite)")
            }
            do {
                let opened = try endpoint.open()
                emulator = opened.emulator
                link = opened.link
                source = DeviceJournalSource(client: FiscalDeviceClient(link: opened.link), name: "device \(endpoint)")
            } catch {
                // Fail closed: a device that cannot be reached is audited as an unreadable journal.
                source = UnreadableJournal(name: "device \(endpoint)", reason: "\(error)")
            }
        }
        var cloudSource: (any CloudSource)?
        if let cloud {
            cloudSource = CloudHTTPSource(
                baseURL: cloud,
                outletID: try outletID ?? outlet(of: stores),
                token: try readToken(cloudTokenFile)
            )
        }
        let report = await OutletAuditor(journal: source, stores: stores, cloud: cloudSource, pinnedKey: pinned).run()
        await link?.close()
        if json {
            FileHandle.standardOutput.write(try report.json())
            printLine("")
        } else {
            print(report.human)
        }
        if !report.clean { throw ExitCode(1) }
    }

    /// The outlet of the first store's sealed invoices.
    private func outlet(of stores: [any StoreSource]) throws -> String {
        for store in stores {
            let rows: [StoreAuditReader.SealedRow]
            do { rows = try store.sealedRows(after: 0, limit: 100) } catch { continue }  // the audit reports it
            if let outlet = rows.lazy.compactMap(\.outletID).first(where: { !$0.isEmpty }) { return outlet }
        }
        throw ValidationError("--cloud: the stores name no outlet; give --outlet-id")
    }
}

/// A journal whose device could not be reached: reading it says why, so the audit reports it.
private struct UnreadableJournal: JournalSource {
    var name: String
    var reason: String

    func read(
        identity: (DumpLogExport.Identity) throws -> Void,
        entries: ([JournalEntry]) throws -> Void
    ) async throws -> DumpLogExport.Head {
        throw FiscalError(.linkDown, reason)
    }
}

/// A store that could not be opened: every read says why, so the audit reports it.
private struct UnreadableStore: StoreSource {
    var name: String
    var reason: String

    func prunedThrough() throws -> String? { throw FiscalError(.configInvalid, reason) }
    func sealedRows(after rowid: Int64, limit: Int) throws -> [StoreAuditReader.SealedRow] {
        throw FiscalError(.configInvalid, reason)
    }
    func requestRows(after rowid: Int64, limit: Int) throws -> [StoreAuditReader.RequestRow] {
        throw FiscalError(.configInvalid, reason)
    }
    func outboxRows(after rowid: Int64, limit: Int) throws -> [StoreAuditReader.OutboxRow] {
        throw FiscalError(.configInvalid, reason)
    }
}
