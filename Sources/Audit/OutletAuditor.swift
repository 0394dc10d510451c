public import FiscalCore
import MediatorStore

/// Runs an outlet audit: reads each source in turn and feeds ``OutletAudit``. Whatever a
/// source cannot give becomes a finding (it fails closed); nothing is skipped silently.
public struct OutletAuditor: Sendable {
    public var journal: any JournalSource
    public var stores: [any StoreSource]
    public var cloud: (any CloudSource)?
    /// The device key registered with the tax authority, when known.
    public var pinnedKey: Ed25519.PublicKey?
    /// Rows read from a store at once.
    public var pageSize = 2000

    public init(
        journal: any JournalSource,
        stores: [any StoreSource],
        cloud: (any CloudSource)? = nil,
        pinnedKey: Ed25519.PublicKey? = nil
    ) {
        self.journal = journal
        self.stores = stores
        self.cloud = cloud
        self.pinnedKey = pinnedKey
    }

    public func run() async -> AuditReport {
        var audit = OutletAudit(pinnedKey: pinnedKey)
        audit.journalSource(journal.name)
        do {
            let head = try await journal.read(
                identity: { audit.journalBegan($0) },
                entries: { audit.journalEntries($0) }
            )
            audit.journalEnded(head: head)
        } catch {
            audit.journalFailed(Self.describe(error))
        }
        if let cloud {
            audit.cloudSource(cloud.name)
            do {
                audit.cloudRecords(try await cloud.records())
            } catch {
                audit.cloudFailed(Self.describe(error))
            }
        }
        for store in stores {
            audit.storeBegan(store.name)
            do {
                try read(store, into: &audit)
                audit.storeEnded()
            } catch {
                audit.storeFailed(Self.describe(error))
            }
        }
        return audit.report()
    }

    private func read(_ store: any StoreSource, into audit: inout OutletAudit) throws {
        audit.prunedThrough(try store.prunedThrough())
        var after: Int64 = 0
        while true {
            let rows = try store.sealedRows(after: after, limit: pageSize)
            guard let last = rows.last, last.rowid > after else { break }
            audit.sealedRows(rows)
            after = last.rowid
        }
        after = 0
        while true {
            let rows = try store.requestRows(after: after, limit: pageSize)
            guard let last = rows.last, last.rowid > after else { break }
            audit.requestRows(rows)
            after = last.rowid
        }
        after = 0
        while true {
            let rows = try store.outboxRows(after: after, limit: pageSize)
            guard let last = rows.last, last.rowid > after else { break }
            audit.outboxRows(rows)
            after = last.rowid
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? FiscalError { return "\(error.code): \(error.message)" }
        return DecodingError.describe(error)
    }
}
