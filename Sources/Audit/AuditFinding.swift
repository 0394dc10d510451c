/// One record of the evidence, as a finding names it.
public enum AuditRecord: Hashable, Sendable, CustomStringConvertible {
    /// A journal entry (or where a missing one belongs).
    case journal(UInt64)
    /// The device's signed head.
    case journalHead
    /// The journal as a whole (it could not be opened).
    case journalSource
    /// A mediator store's sealed invoice with this fiscal number.
    case sealedInvoice(UInt64)
    /// A `sealed_invoice` row whose fiscal number cannot be read.
    case sealedInvoiceRow(Int64)
    /// A request of the ledger.
    case request(terminal: String, id: String)
    /// A `request` row whose key cannot be read.
    case requestRow(Int64)
    /// An upload line row.
    case outbox(UInt64)
    /// An `outbox` row whose fiscal number cannot be read.
    case outboxRow(Int64)
    /// A fiscal number a store pruned after (it says) the cloud confirmed it.
    case pruned(UInt64)
    /// A store as a whole.
    case store
    /// The cloud's record of this fiscal number.
    case cloud(UInt64)
    /// The cloud's records as a whole.
    case cloudRecords

    public var description: String {
        switch self {
        case .journal(let seq): "journal \(seq)"
        case .journalHead: "journal head"
        case .journalSource: "journal"
        case .sealedInvoice(let seq): "sealed_invoice \(seq)"
        case .sealedInvoiceRow(let rowid): "sealed_invoice row \(rowid)"
        case .request(let terminal, let id): "request \(terminal)/\(id)"
        case .requestRow(let rowid): "request row \(rowid)"
        case .outbox(let seq): "outbox \(seq)"
        case .outboxRow(let rowid): "outbox row \(rowid)"
        case .pruned(let seq): "pruned \(seq)"
        case .store: "store"
        case .cloud(let seq): "cloud \(seq)"
        case .cloudRecords: "cloud"
        }
    }

    /// The fiscal number the record is about, if it is about one.
    public var seq: UInt64? {
        switch self {
        case .journal(let seq), .sealedInvoice(let seq), .outbox(let seq), .pruned(let seq), .cloud(let seq): seq
        default: nil
        }
    }
}

/// Something the evidence shows that must not be: a failed check, the record it names, and why.
public struct AuditFinding: Hashable, Sendable, CustomStringConvertible {
    public var check: AuditCheck
    public var record: AuditRecord
    /// Which store, when the record is a store's and there are several.
    public var store: String?
    public var message: String

    public init(_ check: AuditCheck, _ record: AuditRecord, store: String? = nil, _ message: String) {
        self.check = check
        self.record = record
        self.store = store
        self.message = message
    }

    public var description: String {
        "\(check.rawValue) \(record)\(store.map { " (\($0))" } ?? ""): \(message)"
    }
}
