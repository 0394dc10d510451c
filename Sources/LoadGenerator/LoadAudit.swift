public import FiscalCore

/// What the device journal, the mediator's store and the terminals' own acknowledgements say
/// about a run, compared (pure logic: the inputs are values).
///
/// - `gaps`: fiscal numbers between 1 and the journal's last that no journal entry has, plus
///   journal entries the store lacks.
/// - `duplicates`: a sale (terminal + invoice digest) sealed more than once in the journal, a
///   fiscal number acknowledged to two requests, or a request acknowledged with two numbers.
/// - `missing`: acknowledgements the journal or the store does not back with the same entry.
/// - `signatures_ok`: the journal verifies (hash chain, Ed25519 auth codes, the device's signed
///   head); nil when the journal could not be read.
/// - `journal_read`, `store_read`: whether that evidence was read whole. An audit that could not
///   read its evidence is **incomplete**, never clean: it fails closed.
public struct LoadAudit: Sendable, Codable, Hashable {
    public var gaps: Int
    public var duplicates: Int
    public var missing: Int
    public var signaturesOK: Bool?
    public var journalRead: Bool
    /// Why the journal could not be read.
    public var journalError: String?
    public var storeRead: Bool
    /// Why the store could not be read.
    public var storeError: String?
    public var journalEntries: Int
    public var storeEntries: Int
    public var acknowledged: Int
    /// The first problems found, for the human report.
    public var findings: [String]

    enum CodingKeys: String, CodingKey {
        case gaps, duplicates, missing
        case signaturesOK = "signatures_ok"
        case journalRead = "journal_read"
        case journalError = "journal_error"
        case storeRead = "store_read"
        case storeError = "store_error"
        case journalEntries = "journal_entries"
        case storeEntries = "store_entries"
        case acknowledged, findings
    }

    /// One acknowledgement a terminal received: its request and the elements it printed.
    public struct Acknowledgement: Sendable, Hashable {
        public var terminal: String
        public var requestID: String
        public var elements: SecurityElements
        public init(terminal: String, requestID: String, elements: SecurityElements) {
            self.terminal = terminal
            self.requestID = requestID
            self.elements = elements
        }
    }

    /// Compares the three. `journal` is the whole device journal (nil if unreadable, with
    /// `journalError` saying why); `verified` whether it verified (`verificationFailure` the
    /// first bad entry if not); `store` maps fiscal numbers to entry hashes (`storeError`: why
    /// it could not be read).
    public static func compare(
        journal: [JournalEntry]?,
        verified: Bool?,
        verificationFailure: String? = nil,
        journalError: String? = nil,
        store: [UInt64: String],
        storeError: String? = nil,
        acknowledgements: [Acknowledgement]
    ) -> LoadAudit {
        var findings: [String] = []
        func note(_ text: String) { if findings.count < 20 { findings.append(text) } }
        let journalError = journal == nil ? journalError ?? "no journal was given" : journalError
        if let journalError { note("the journal is unreadable: \(journalError)") }
        if let storeError { note("the store is unreadable: \(storeError)") }
        if let verificationFailure { note("the journal does not verify: \(verificationFailure)") }
        var gaps = 0
        var duplicates = 0
        var missing = 0
        var bySeq: [UInt64: JournalEntry] = [:]
        if let journal {
            var sales: [String: UInt64] = [:]
            for entry in journal {
                if bySeq[entry.seq.rawValue] != nil {
                    duplicates += 1
                    note("fiscal number \(entry.seq) appears twice in the journal")
                }
                bySeq[entry.seq.rawValue] = entry
                let sale = entry.posTerminalID + "|" + entry.payloadDigest
                if let first = sales[sale] {
                    duplicates += 1
                    note("the sale sealed as \(first) was sealed again as \(entry.seq)")
                } else {
                    sales[sale] = entry.seq.rawValue
                }
            }
            let last = journal.map(\.seq.rawValue).max() ?? 0
            for seq in stride(from: UInt64(1), through: last, by: 1) where bySeq[seq] == nil {
                gaps += 1
                note("fiscal number \(seq) is not in the journal")
            }
            for (seq, entry) in bySeq.sorted(by: { $0.key < $1.key }) where store[seq] != entry.entryHash {
                gaps += 1
                note("journal entry \(seq) is \(store[seq] == nil ? "not in" : "different in") the mediator's store")
            }
        }
        var requestsBySeq: [UInt64: String] = [:]
        var seqByRequest: [String: UInt64] = [:]
        for ack in acknowledgements {
            let seq = ack.elements.invoiceSeq.rawValue
            let request = ack.terminal + "/" + ack.requestID
            if let other = requestsBySeq[seq], other != request {
                duplicates += 1
                note("fiscal number \(seq) was acknowledged to \(other) and \(request)")
            }
            requestsBySeq[seq] = request
            if let earlier = seqByRequest[request], earlier != seq {
                duplicates += 1
                note("request \(request) was acknowledged as \(earlier) and \(seq)")
            }
            seqByRequest[request] = seq
            if journal != nil, bySeq[seq]?.entryHash != ack.elements.entryHash {
                missing += 1
                note("acknowledged \(seq) (\(request)) is not the journal's entry \(seq)")
            } else if store[seq] != ack.elements.entryHash {
                missing += 1
                note("acknowledged \(seq) (\(request)) is not in the mediator's store")
            }
        }
        return LoadAudit(
            gaps: gaps,
            duplicates: duplicates,
            missing: missing,
            signaturesOK: verified,
            journalRead: journalError == nil,
            journalError: journalError,
            storeRead: storeError == nil,
            storeError: storeError,
            journalEntries: journal?.count ?? 0,
            storeEntries: store.count,
            acknowledged: Set(acknowledgements.map { $0.terminal + "/" + $0.requestID }).count,
            findings: findings
        )
    }

    /// Every piece of evidence was read and verified, and nothing is missing or doubled.
    public var clean: Bool {
        journalRead && storeRead && signaturesOK == true && gaps == 0 && duplicates == 0 && missing == 0
    }

    /// The verdict in one line: `audit: clean`, `audit: FAILED (…)`, or `audit: incomplete (journal
    /// unreadable: …)` when evidence could not be read.
    public var verdict: String {
        if let journalError { return "audit: incomplete (journal unreadable: \(journalError))" }
        if let storeError { return "audit: incomplete (store unreadable: \(storeError))" }
        if clean { return "audit: clean" }
        if signaturesOK == nil { return "audit: incomplete (the journal's signatures were not checked)" }
        return "audit: FAILED (gaps \(gaps), duplicates \(duplicates), missing \(missing), signatures "
            + (signaturesOK == true ? "ok" : "BAD") + ")"
    }
}
