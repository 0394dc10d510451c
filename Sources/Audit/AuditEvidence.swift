public import FiscalCore
public import FiscalDevice
public import MediatorStore

/// Where the device journal comes from: the device itself (through any link), an export file,
/// or (later) a running mediator's device actor. The audit takes the journal as values and
/// never asks how they were read.
public protocol JournalSource: Sendable {
    /// How the report names this evidence: `device serial:/dev/ttyACM0`, `export FILE`.
    var name: String { get }

    /// Reads the journal from its first entry to the device's signed head, in order: calls
    /// `identity` once before any entry, `entries` with the entries in batches, and returns the
    /// head. Throws when it cannot read on (the audit records where it stopped).
    func read(
        identity: (DumpLogExport.Identity) throws -> Void,
        entries: ([JournalEntry]) throws -> Void
    ) async throws -> DumpLogExport.Head
}

/// Where a mediator store's rows come from (its SQLite file, read-only; later a running
/// mediator's own store). Rows come as stored, in pages by rowid.
public protocol StoreSource: Sendable {
    /// How the report names this store (its path).
    var name: String { get }
    func prunedThrough() throws -> String?
    func sealedRows(after rowid: Int64, limit: Int) throws -> [StoreAuditReader.SealedRow]
    func requestRows(after rowid: Int64, limit: Int) throws -> [StoreAuditReader.RequestRow]
    func outboxRows(after rowid: Int64, limit: Int) throws -> [StoreAuditReader.OutboxRow]
}

extension StoreAuditReader: StoreSource {
    public var name: String { path }
}

/// One invoice the cloud holds for the outlet: its acknowledgement.
public struct CloudRecord: Hashable, Sendable, Codable {
    public var deviceID: String
    public var seq: UInt64
    public var entryHash: String
    public var receipt: String?

    public init(deviceID: String, seq: UInt64, entryHash: String, receipt: String?) {
        self.deviceID = deviceID
        self.seq = seq
        self.entryHash = entryHash
        self.receipt = receipt
    }

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id"
        case seq = "invoice_seq"
        case entryHash = "entry_hash"
        case receipt
    }
}

/// Where the cloud's acknowledgements come from (docs/CLOUD_API.md's read endpoint).
public protocol CloudSource: Sendable {
    /// How the report names it (its URL and outlet).
    var name: String { get }
    /// Every invoice the cloud holds for the outlet.
    func records() async throws -> [CloudRecord]
}
