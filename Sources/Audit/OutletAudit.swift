public import FiscalCore
public import FiscalDevice
public import MediatorStore

import struct Foundation.Data
import class Foundation.JSONDecoder

/// The outlet-wide cross-check as a value: evidence goes in (journal entries, the cloud's
/// records, each store's rows), findings come out. No I/O: ``OutletAuditor`` reads the sources
/// and feeds it, so any source (files, a device, a running mediator) gives the same checks.
///
/// Feed it in this order: the journal (``journalBegan(_:)``, ``journalEntries(_:)``,
/// ``journalEnded(head:)`` or ``journalFailed(_:)``), then the cloud (``cloudRecords(_:)`` or
/// ``cloudFailed(_:)``, when there is one), then each store (``storeBegan(_:)``,
/// ``prunedThrough(_:)``, ``sealedRows(_:)``, ``requestRows(_:)``, ``outboxRows(_:)``,
/// ``storeEnded()``, or ``storeFailed(_:)`` at any point), then ``report()``.
///
/// It fails closed: evidence that cannot be read is a finding, and a check that had no
/// evidence to look at says so (skipped) instead of passing.
public struct OutletAudit: Sendable {
    /// The device key registered with the tax authority, when known: the journal must be
    /// signed with it.
    public var pinnedKey: Ed25519.PublicKey?
    /// Findings kept per check (the count goes on).
    public var findingsPerCheck = 50

    public init(pinnedKey: Ed25519.PublicKey? = nil) { self.pinnedKey = pinnedKey }

    // MARK: State

    /// What the audit keeps of one journal entry to compare the rest with.
    struct JournalMark: Sendable {
        var entryHash: String
        var terminal: String
        var payloadDigest: String
    }

    /// What the audit keeps of one sealed invoice of a store.
    struct SealedMark: Sendable {
        var requestKey: String
        var requestID: String
        var terminal: String
        var payloadDigest: String
        var entryHash: String
        var inOutbox = false
        var requestConfirmed = false
    }

    /// What the audit keeps of one request.
    struct RequestMark: Sendable {
        var state: String
        var seq: UInt64?
    }

    struct StoreState: Sendable {
        var name: String
        var prunedThrough: UInt64 = 0
        var sealed: [UInt64: SealedMark] = [:]
        var seqByRequest: [String: UInt64] = [:]
        var requests: [String: RequestMark] = [:]
        var counts = AuditReport.StoreEvidence()
        var lastOutboxSeq: UInt64 = 0
        var firstNotUploaded: UInt64?
        var failed = false
    }

    private var findings: [AuditFinding] = []
    private var findingCounts: [AuditCheck: Int] = [:]
    private var skipped: [AuditCheck: String] = [:]
    private var incomplete: [AuditCheck: String] = [:]

    private var journalSource = ""
    private var identity: DumpLogExport.Identity?
    private var walk: JournalVerifier.Walk?
    private var journal: [UInt64: JournalMark] = [:]
    private var journalEntryCount = 0
    private var journalHead: UInt64?
    /// The highest fiscal number the journal was read up to (all of it when `journalComplete`).
    private var journalReadThrough: UInt64 = 0
    private var journalComplete = false
    private var journalError: String?

    private var cloudSource: String?
    private var cloud: [UInt64: CloudRecord]?
    private var cloudCount = 0

    private var stores: [StoreState] = []
    /// Which store holds each fiscal number.
    private var holder: [UInt64: Int] = [:]
    /// The sales sealed so far: terminal and invoice digest → fiscal number and request id.
    private var sales: [String: (seq: UInt64, requestID: String)] = [:]
    private var notices: [String] = []

    // MARK: Findings

    private mutating func find(_ check: AuditCheck, _ record: AuditRecord, _ message: String, store: Bool = false) {
        findingCounts[check, default: 0] += 1
        guard findingCounts[check, default: 0] <= findingsPerCheck else { return }
        let name = store && stores.count > 1 ? stores.last?.name : nil
        findings.append(AuditFinding(check, record, store: name, message))
    }

    // MARK: The journal

    /// Names the journal's source, for the report.
    public mutating func journalSource(_ name: String) { journalSource = name }

    /// The journal's device and key, before any entry.
    public mutating func journalBegan(_ identity: DumpLogExport.Identity) {
        self.identity = identity
        var key = Ed25519.PublicKey(hex: identity.publicKey)
        if let pinnedKey {
            if key != pinnedKey {
                find(.journalKey, .journalHead, "the journal's key \(identity.publicKey) is not the registered key")
            }
            key = pinnedKey
        }
        guard let key else {
            find(.journalRead, .journalHead, "the journal's public key is not 32 bytes of hex")
            return
        }
        walk = JournalVerifier(publicKey: key, deviceID: identity.deviceID).walk()
    }

    /// The next entries of the journal, in order.
    public mutating func journalEntries(_ entries: [JournalEntry]) {
        guard !entries.isEmpty else { return }
        if var current = walk {
            do {
                try current.check(entries)
                walk = current
            } catch {
                find(AuditCheck(error.kind), error.kind == .head ? .journalHead : .journal(error.seq), error.reason)
                walk = nil
            }
        }
        for entry in entries {
            let seq = entry.seq.rawValue
            journalEntryCount += 1
            journalReadThrough = max(journalReadThrough, seq)
            if journal[seq] == nil {
                journal[seq] = JournalMark(
                    entryHash: entry.entryHash,
                    terminal: entry.posTerminalID,
                    payloadDigest: entry.payloadDigest
                )
            }
        }
    }

    /// The device's signed head: the journal was read to its end.
    public mutating func journalEnded(head: DumpLogExport.Head) {
        journalHead = head.seq
        journalComplete = true
        guard let identity else {
            find(.journalRead, .journalSource, "the journal source gave a head but no device identity")
            return
        }
        if let key = pinnedKey ?? Ed25519.PublicKey(hex: identity.publicKey),
            !DeviceReply.DumpLog.isSignedHead(
                deviceID: identity.deviceID,
                seq: head.seq,
                hash: head.hash,
                signature: head.signature,
                key: key
            )
        {
            find(.journalHead, .journalHead, "the head (\(head.seq)) is not signed by the device's key")
        }
        if let walk {
            do {
                try walk.finish(head: .init(lastSeq: head.seq, lastHash: head.hash))
            } catch {
                find(AuditCheck(error.kind), .journal(error.seq), error.reason)
            }
        }
    }

    /// The journal could not be read on from where it stopped: fail closed.
    public mutating func journalFailed(_ reason: String) {
        journalError = reason
        let next = (walk?.expectedSeq) ?? journalReadThrough + 1
        find(.journalRead, identity == nil ? .journalSource : .journal(next), "the journal is unreadable: \(reason)")
        for check in AuditCheck.journalChecks where check != .journalRead {
            incomplete[check] = "the journal was read through \(journalReadThrough) only"
        }
    }

    // MARK: The cloud

    /// Names the cloud's source, for the report.
    public mutating func cloudSource(_ name: String) { cloudSource = name }

    /// Every record the cloud holds for the outlet.
    public mutating func cloudRecords(_ records: [CloudRecord]) {
        var byNumber: [UInt64: CloudRecord] = [:]
        let device = identity?.deviceID.rawValue
        var ofOtherDevices = 0
        for record in records {
            guard device == nil || record.deviceID == device else {
                ofOtherDevices += 1
                continue
            }
            cloudCount += 1
            if byNumber[record.seq] != nil {
                find(.cloudMatchesJournal, .cloud(record.seq), "the cloud holds fiscal number \(record.seq) twice")
            }
            byNumber[record.seq] = record
        }
        if ofOtherDevices > 0 { notices.append("the cloud holds \(ofOtherDevices) invoices of other devices") }
        cloud = byNumber
        // Each record is the journal's entry; the numbers are 1, 2, 3, … (arrival order).
        var expected: UInt64 = 1
        for seq in byNumber.keys.sorted() {
            if let mark = journal[seq] {
                if mark.entryHash != byNumber[seq]?.entryHash {
                    find(.cloudMatchesJournal, .cloud(seq), "the cloud's entry \(seq) is not the journal's")
                }
            } else if journalComplete || seq <= journalReadThrough {
                find(
                    .cloudMatchesJournal,
                    .cloud(seq),
                    "the cloud holds fiscal number \(seq), which the journal does not"
                )
            }
            if seq != expected {
                find(
                    .cloudMatchesJournal,
                    .cloud(seq),
                    "the cloud holds \(seq) but lacks \(expected): not in arrival order"
                )
            }
            expected = seq &+ 1
        }
    }

    /// The cloud's records could not be read: fail closed.
    public mutating func cloudFailed(_ reason: String) {
        find(.cloudRead, .cloudRecords, "the cloud's records are unreadable: \(reason)")
    }

    // MARK: A store

    /// A new store begins.
    public mutating func storeBegan(_ name: String) {
        stores.append(StoreState(name: name))
    }

    /// The store's `pruned_through` as stored (nil: nothing pruned).
    public mutating func prunedThrough(_ value: String?) {
        guard let value else { return }
        guard let pruned = UInt64(value) else {
            find(.storeRead, .store, "pruned_through is '\(value.prefix(40))', not a fiscal number", store: true)
            return
        }
        stores[stores.count - 1].prunedThrough = pruned
        stores[stores.count - 1].counts.prunedThrough = pruned
        if journalComplete, let head = journalHead, pruned > head {
            find(
                .prunedPrefix,
                .pruned(head + 1),
                "pruned through \(pruned), but the device sealed \(head) only",
                store: true
            )
        }
    }

    /// The next `sealed_invoice` rows, in rowid order.
    public mutating func sealedRows(_ rows: [StoreAuditReader.SealedRow]) {
        let decoder = JSONDecoder()
        for row in rows {
            stores[stores.count - 1].counts.sealedInvoices += 1
            guard let seq = row.invoiceSeq.seq else {
                find(.storeRead, .sealedInvoiceRow(row.rowid), "invoice_seq is \(row.invoiceSeq)", store: true)
                continue
            }
            let record = AuditRecord.sealedInvoice(seq)
            guard let text = row.entry, let terminal = row.terminalID, let requestID = row.requestID else {
                find(.storeRead, record, "entry, terminal_id or request_id is missing", store: true)
                continue
            }
            let entry: JournalEntry
            do {
                entry = try decoder.decode(JournalEntry.self, from: Data(text.utf8))
            } catch {
                find(
                    .storeRead,
                    record,
                    "the stored entry is not a journal entry: \(DecodingError.describe(error))",
                    store: true
                )
                continue
            }
            let index = stores.count - 1
            if let other = holder[seq] {
                let place = other == index ? "twice in this store" : "also in \(stores[other].name)"
                find(.storesDisjoint, record, "fiscal number \(seq) is stored \(place)", store: true)
            } else {
                holder[seq] = index
            }
            if seq <= stores[index].prunedThrough {
                find(
                    .prunedPrefix,
                    record,
                    "fiscal number \(seq) is still stored though the store says it pruned through \(stores[index].prunedThrough)",
                    store: true
                )
            }
            compare(row, entry, seq: seq, terminal: terminal)
            let requestKey = terminal + "/" + requestID
            if let earlier = stores[index].seqByRequest[requestKey] {
                find(
                    .requestOneNumber,
                    .request(terminal: terminal, id: requestID),
                    "the request has two fiscal numbers: \(earlier) and \(seq)",
                    store: true
                )
            } else {
                stores[index].seqByRequest[requestKey] = seq
            }
            stores[index].sealed[seq] = SealedMark(
                requestKey: requestKey,
                requestID: requestID,
                terminal: terminal,
                payloadDigest: entry.payloadDigest,
                entryHash: entry.entryHash
            )
            noteSale(seq: seq, terminal: terminal, digest: entry.payloadDigest, requestID: requestID)
        }
    }

    /// A sealed invoice against its journal entry and its own columns.
    private mutating func compare(
        _ row: StoreAuditReader.SealedRow,
        _ entry: JournalEntry,
        seq: UInt64,
        terminal: String
    ) {
        let record = AuditRecord.sealedInvoice(seq)
        if let mark = journal[seq] {
            if mark.entryHash != entry.entryHash {
                find(.sealedMatchesJournal, record, "the stored entry is not the journal's entry \(seq)", store: true)
                return
            }
        } else if journalComplete || seq <= journalReadThrough {
            let sealedUpTo = journalHead.map { "the device sealed up to \($0)" } ?? "the journal lacks it"
            find(.sealedInJournal, record, "fiscal number \(seq) is not in the journal (\(sealedUpTo))", store: true)
            return
        }
        var wrong: [String] = []
        if entry.seq.rawValue != seq { wrong.append("the entry's seq is \(entry.seq)") }
        if entry.computedEntryHash != entry.entryHash { wrong.append("the entry's hash does not match its content") }
        if let device = identity?.deviceID, entry.deviceID != device {
            wrong.append("the entry is device \(entry.deviceID)'s, the journal is \(device)'s")
        }
        if row.deviceID != entry.deviceID.rawValue { wrong.append("device_id") }
        if terminal != entry.posTerminalID { wrong.append("terminal_id") }
        if row.cashierID != entry.cashierID { wrong.append("cashier_id") }
        if row.payloadDigest != entry.payloadDigest { wrong.append("payload_digest") }
        if !wrong.isEmpty {
            find(
                .sealedMatchesJournal,
                record,
                "disagrees with its journal entry: " + wrong.joined(separator: ", "),
                store: true
            )
        }
    }

    /// A sale (terminal + invoice digest) sealed under a second number is one fiscalization too
    /// many when recovery had to store one of them under `journal-<seq>`: no request claimed
    /// it, because the request had been sealed again.
    private mutating func noteSale(seq: UInt64, terminal: String, digest: String, requestID: String) {
        let key = terminal + "|" + digest
        guard let earlier = sales[key] else {
            sales[key] = (seq, requestID)
            return
        }
        let adopted = [(seq, requestID), (earlier.seq, earlier.requestID)].first { $0.1 == "journal-\($0.0)" }
        if let adopted {
            let other = adopted.0 == seq ? earlier.seq : seq
            find(
                .saleSealedOnce,
                .sealedInvoice(adopted.0),
                "the sale sealed as \(other) was sealed again as \(adopted.0) (recovered without its request)",
                store: true
            )
        }
    }

    /// The next `request` rows, in rowid order.
    public mutating func requestRows(_ rows: [StoreAuditReader.RequestRow]) {
        let index = stores.count - 1
        for row in rows {
            stores[index].counts.requests += 1
            guard let terminal = row.terminalID, let requestID = row.requestID else {
                find(.storeRead, .requestRow(row.rowid), "terminal_id or request_id is missing", store: true)
                continue
            }
            let record = AuditRecord.request(terminal: terminal, id: requestID)
            let key = terminal + "/" + requestID
            guard let state = row.state, RequestRecord.State(rawValue: state) != nil else {
                find(.storeRead, record, "state '\(row.state ?? "NULL")' is not a request state", store: true)
                continue
            }
            if stores[index].requests[key] != nil {
                find(.requestOneNumber, record, "the request is in the ledger twice", store: true)
            }
            let seq = row.invoiceSeq.seq
            stores[index].requests[key] = RequestMark(state: state, seq: seq)
            guard state == RequestRecord.State.sealed.rawValue else {
                if row.invoiceSeq != .null {
                    find(
                        .requestOneNumber,
                        record,
                        "the request is \(state) but names fiscal number \(row.invoiceSeq)",
                        store: true
                    )
                }
                continue
            }
            guard let seq else {
                find(
                    .requestOneNumber,
                    record,
                    "the request is sealed but its fiscal number is \(row.invoiceSeq)",
                    store: true
                )
                continue
            }
            if let mark = stores[index].sealed[seq] {
                guard mark.requestKey == key else {
                    find(
                        .requestOneNumber,
                        record,
                        "the request names fiscal number \(seq), which is request \(mark.requestKey)'s",
                        store: true
                    )
                    continue
                }
                stores[index].sealed[seq]?.requestConfirmed = true
            } else if seq > stores[index].prunedThrough {
                find(
                    .requestOneNumber,
                    record,
                    "the request names fiscal number \(seq), which this store does not hold",
                    store: true
                )
                continue
            }
            checkPayload(row, record: record, seq: seq, mark: stores[index].sealed[seq])
        }
    }

    /// The request's canonical invoice is the one the device sealed: SHA-256 of its bytes is
    /// the signed entry's payload digest.
    private mutating func checkPayload(
        _ row: StoreAuditReader.RequestRow,
        record: AuditRecord,
        seq: UInt64,
        mark: SealedMark?
    ) {
        guard let digest = journal[seq]?.payloadDigest ?? mark?.payloadDigest else { return }
        if row.payloadDigest != digest {
            find(.requestPayload, record, "payload_digest is not the digest the device sealed as \(seq)", store: true)
            return
        }
        guard let payload = row.payload, !payload.isEmpty else {
            if row.requestID == "journal-\(seq)" {
                stores[stores.count - 1].counts.recoveredWithoutPayload += 1
            } else {
                find(.requestPayload, record, "the request's canonical invoice is missing", store: true)
            }
            return
        }
        if SHA256.hex(payload) != digest {
            find(
                .requestPayload,
                record,
                "the canonical invoice no longer hashes to the digest the device sealed as \(seq)",
                store: true
            )
        }
    }

    /// The next `outbox` rows, in rowid (fiscal-number) order.
    public mutating func outboxRows(_ rows: [StoreAuditReader.OutboxRow]) {
        let index = stores.count - 1
        for row in rows {
            stores[index].counts.outboxRows += 1
            guard let seq = row.invoiceSeq.seq else {
                find(.storeRead, .outboxRow(row.rowid), "invoice_seq is \(row.invoiceSeq)", store: true)
                continue
            }
            let record = AuditRecord.outbox(seq)
            guard let state = row.state, let parsed = OutboxItem.State(rawValue: state) else {
                find(.storeRead, record, "state '\(row.state ?? "NULL")' is not an upload state", store: true)
                continue
            }
            guard let mark = stores[index].sealed[seq] else {
                find(
                    .outboxCoversSealed,
                    record,
                    "the upload line holds \(seq), which this store has not sealed",
                    store: true
                )
                continue
            }
            stores[index].sealed[seq]?.inOutbox = true
            if parsed == .uploaded {
                stores[index].counts.uploaded += 1
                if let gap = stores[index].firstNotUploaded {
                    find(.outboxOrder, record, "uploaded, but \(gap) before it is not", store: true)
                }
                confirmUploaded(seq, mark: mark, receipt: row.receipt, record: record)
            } else if stores[index].firstNotUploaded == nil {
                stores[index].firstNotUploaded = seq
            }
        }
    }

    private mutating func confirmUploaded(_ seq: UInt64, mark: SealedMark, receipt: String?, record: AuditRecord) {
        guard let cloud else { return }
        guard let acknowledged = cloud[seq] else {
            find(.cloudConfirmsUploaded, record, "marked uploaded, but the cloud does not hold \(seq)", store: true)
            return
        }
        if acknowledged.entryHash != mark.entryHash {
            find(
                .cloudConfirmsUploaded,
                record,
                "marked uploaded, but the cloud's \(seq) is another entry",
                store: true
            )
        } else if let receipt, let given = acknowledged.receipt, receipt != given {
            find(
                .cloudConfirmsUploaded,
                record,
                "the receipt \(receipt) is not the one the cloud gave (\(given))",
                store: true
            )
        }
    }

    /// The store was read to its end: the checks that need all of it.
    public mutating func storeEnded() {
        let index = stores.count - 1
        let store = stores[index]
        for seq in store.sealed.keys.sorted() {
            guard let mark = store.sealed[seq] else { continue }
            if !mark.inOutbox && !store.failed {
                find(
                    .outboxCoversSealed,
                    .sealedInvoice(seq),
                    "not in the upload line: it would never be uploaded",
                    store: true
                )
            }
            if !mark.requestConfirmed && !store.failed {
                let request = store.requests[mark.requestKey]
                let why =
                    switch request {
                    case nil: "its request \(mark.requestKey) is not in the ledger"
                    case let request? where request.state != RequestRecord.State.sealed.rawValue:
                        "its request \(mark.requestKey) is \(request.state)"
                    case let request?:
                        "its request \(mark.requestKey) names \(request.seq.map(String.init) ?? "no number")"
                    }
                find(.requestForSealed, .sealedInvoice(seq), why, store: true)
            }
        }
        // Nothing pruned before the cloud confirmed it.
        if let cloud, store.prunedThrough > 0 {
            let last = min(store.prunedThrough, journalHead ?? journalReadThrough)
            for seq in stride(from: UInt64(1), through: last, by: 1) {
                guard let acknowledged = cloud[seq] else {
                    find(.cloudConfirmsPruned, .pruned(seq), "pruned, but the cloud does not hold \(seq)", store: true)
                    continue
                }
                if let mark = journal[seq], mark.entryHash != acknowledged.entryHash {
                    find(
                        .cloudConfirmsPruned,
                        .pruned(seq),
                        "pruned, but the cloud's \(seq) is not the journal's",
                        store: true
                    )
                }
            }
        }
    }

    /// The store could not be read on: fail closed.
    public mutating func storeFailed(_ reason: String) {
        if stores.isEmpty { stores.append(StoreState(name: "store")) }
        stores[stores.count - 1].failed = true
        find(.storeRead, .store, "the store is unreadable: \(reason)", store: true)
    }

    // MARK: The report

    /// The checks that need every source, and the report.
    public mutating func report() -> AuditReport {
        if stores.isEmpty {
            for check in AuditCheck.storeChecks { skipped[check] = "no store given" }
        } else {
            // Every fiscal number the device sealed is stored somewhere, or pruned.
            let pruned = stores.map(\.prunedThrough).max() ?? 0
            let anyStoreFailed = stores.contains(where: \.failed)
            if !anyStoreFailed {
                for seq in journal.keys.sorted() where seq > pruned && holder[seq] == nil {
                    find(.journalInStore, .sealedInvoice(seq), "the device sealed \(seq), no store holds it")
                }
            } else {
                incomplete[.journalInStore] = "a store could not be read"
            }
        }
        if cloud == nil {
            let reason = cloudSource == nil ? "no cloud given (--cloud)" : "the cloud could not be read"
            for check in [AuditCheck.cloudConfirmsUploaded, .cloudConfirmsPruned, .cloudMatchesJournal] {
                skipped[check] = reason
            }
            if cloudSource == nil {
                skipped[.cloudRead] = reason
                let pruned = stores.map(\.prunedThrough).max() ?? 0
                if pruned > 0 { notices.append("pruned 1…\(pruned): their confirmation by the cloud was not checked") }
            }
        }
        if identity == nil && journalError == nil {
            find(.journalRead, .journalSource, "the journal source gave no journal")
        }
        if pinnedKey == nil { skipped[.journalKey] = "no registered key given (--public-key)" }
        for check in [AuditCheck.zTerminal, .zDevice] { skipped[check] = "Z reports do not exist yet" }

        let ordered = findings.enumerated().sorted { lhs, rhs in
            lhs.element.check != rhs.element.check
                ? lhs.element.check < rhs.element.check : lhs.offset < rhs.offset
        }.map(\.element)
        let results = AuditCheck.allCases.map { check -> AuditReport.CheckResult in
            let count = findingCounts[check, default: 0]
            let status: AuditReport.Status =
                count > 0
                ? .failed : skipped[check] != nil ? .skipped : incomplete[check] != nil ? .incomplete : .passed
            return AuditReport.CheckResult(
                check: check,
                status: status,
                findings: count,
                detail: skipped[check] ?? incomplete[check]
            )
        }
        return AuditReport(
            evidence: AuditReport.Evidence(
                journal: journalSource,
                deviceID: identity?.deviceID.rawValue,
                journalEntries: journalEntryCount,
                journalHead: journalHead,
                journalRead: journalComplete && journalError == nil && identity != nil,
                journalError: journalError,
                stores: stores.map { store in
                    var counts = store.counts
                    counts.name = store.name
                    return counts
                },
                cloud: cloudSource,
                cloudRecords: cloud == nil ? nil : cloudCount,
                notices: notices
            ),
            checks: results,
            findings: ordered,
            findingsTotal: findingCounts.values.reduce(0, +)
        )
    }
}

extension AuditCheck {
    static let journalChecks: [AuditCheck] = [
        .journalRead, .journalSequence, .journalDevice, .journalChain, .journalHash, .journalSignature, .journalClock,
        .journalHead, .journalKey,
    ]
    static let storeChecks: [AuditCheck] = [
        .storeRead, .sealedMatchesJournal, .sealedInJournal, .journalInStore, .storesDisjoint, .requestOneNumber,
        .requestForSealed, .requestPayload, .saleSealedOnce, .outboxCoversSealed, .outboxOrder, .prunedPrefix,
        .cloudConfirmsUploaded, .cloudConfirmsPruned,
    ]
}
