import FiscalCore

/// Every check the outlet audit makes, in the order the report lists them (docs/AUDIT.md says
/// what each proves). A report's first finding therefore names the first bad record of the
/// first check that failed: the journal before the store, the store before the upload line.
public enum AuditCheck: String, CaseIterable, Sendable, Codable, Comparable {
    // The device journal.
    case journalRead = "JOURNAL_READ"
    case journalSequence = "JOURNAL_SEQUENCE"
    case journalDevice = "JOURNAL_DEVICE"
    case journalChain = "JOURNAL_CHAIN"
    case journalHash = "JOURNAL_HASH"
    case journalSignature = "JOURNAL_SIGNATURE"
    case journalClock = "JOURNAL_CLOCK"
    case journalHead = "JOURNAL_HEAD"
    case journalKey = "JOURNAL_KEY"
    // The mediator's sealed invoices against the journal.
    case storeRead = "STORE_READ"
    case sealedMatchesJournal = "SEALED_MATCHES_JOURNAL"
    case sealedInJournal = "SEALED_IN_JOURNAL"
    case journalInStore = "JOURNAL_IN_STORE"
    case storesDisjoint = "STORES_DISJOINT"
    // The requests ledger.
    case requestOneNumber = "REQUEST_ONE_NUMBER"
    case requestForSealed = "REQUEST_FOR_SEALED"
    case requestPayload = "REQUEST_PAYLOAD"
    case saleSealedOnce = "SALE_SEALED_ONCE"
    // The upload line and the cloud.
    case outboxCoversSealed = "OUTBOX_COVERS_SEALED"
    case outboxOrder = "OUTBOX_ORDER"
    case prunedPrefix = "PRUNED_PREFIX"
    case cloudRead = "CLOUD_READ"
    case cloudConfirmsUploaded = "CLOUD_CONFIRMS_UPLOADED"
    case cloudConfirmsPruned = "CLOUD_CONFIRMS_PRUNED"
    case cloudMatchesJournal = "CLOUD_MATCHES_JOURNAL"
    // Z reports: the checks exist once the reports do (docs/AUDIT.md, "Z reports").
    case zTerminal = "Z_TERMINAL"
    case zDevice = "Z_DEVICE"

    /// What the check looks at, in a few words (the report's left column).
    public var title: String {
        switch self {
        case .journalRead: "the journal was read to its signed head"
        case .journalSequence: "journal numbers from 1, no gap, repeat or reorder"
        case .journalDevice: "every entry names the journal's device"
        case .journalChain: "every previous_hash links to the entry before"
        case .journalHash: "every entry_hash is SHA-256 of its entry"
        case .journalSignature: "every auth_code is the device's signature"
        case .journalClock: "device times well-formed, never going back"
        case .journalHead: "the device's signed head ends the journal"
        case .journalKey: "the device key is the registered one"
        case .storeRead: "every store and row could be read"
        case .sealedMatchesJournal: "each sealed invoice equals its journal entry"
        case .sealedInJournal: "each sealed invoice's number is in the journal"
        case .journalInStore: "each journal entry is stored (or pruned)"
        case .storesDisjoint: "no fiscal number in two stores"
        case .requestOneNumber: "no request with two numbers or another's"
        case .requestForSealed: "each sealed invoice has its sealed request"
        case .requestPayload: "each request's invoice hashes to the entry's digest"
        case .saleSealedOnce: "no sale sealed twice (recovered entries)"
        case .outboxCoversSealed: "each sealed invoice is in the upload line"
        case .outboxOrder: "uploads in fiscal-number order"
        case .prunedPrefix: "pruning removed a confirmed prefix only"
        case .cloudRead: "the cloud's records were read"
        case .cloudConfirmsUploaded: "each uploaded invoice is in the cloud"
        case .cloudConfirmsPruned: "each pruned invoice is in the cloud"
        case .cloudMatchesJournal: "the cloud holds journal entries, in order"
        case .zTerminal: "each terminal Z holds its period's invoices"
        case .zDevice: "device Zs cover the journal without gap or overlap"
        }
    }

    public static func < (lhs: AuditCheck, rhs: AuditCheck) -> Bool { lhs.order < rhs.order }

    private var order: Int { Self.allCases.firstIndex(of: self) ?? 0 }

    /// The check a journal verifier failure belongs to.
    init(_ kind: JournalVerifier.Failure.Kind) {
        switch kind {
        case .sequence: self = .journalSequence
        case .device: self = .journalDevice
        case .chain: self = .journalChain
        case .hash: self = .journalHash
        case .signature: self = .journalSignature
        case .clock: self = .journalClock
        case .head: self = .journalHead
        case .unreadable: self = .journalRead
        }
    }
}
