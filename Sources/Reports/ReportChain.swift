import FiscalCore

/// A report as the store holds it: the columns, and the body that was hashed.
public struct StoredReport: Hashable, Sendable {
    public var number: String
    public var kind: ReportKind
    public var terminal: String?
    public var sequence: Int64
    public var body: String
    public var hash: String

    public init(number: String, kind: ReportKind, terminal: String?, sequence: Int64, body: String, hash: String) {
        self.number = number
        self.kind = kind
        self.terminal = terminal
        self.sequence = sequence
        self.body = body
        self.hash = hash
    }
}

/// One thing `report verify` found wrong, naming the report.
public struct ReportFinding: Hashable, Sendable, Codable, CustomStringConvertible {
    public var number: String
    public var problem: Problem
    public var detail: String

    public enum Problem: String, Hashable, Sendable, Codable {
        /// The body is not what was hashed: edited behind the mediator's back.
        case hashMismatch = "hash_mismatch"
        /// The columns disagree with the hashed body (number, kind, terminal, sequence).
        case columnsMismatch = "columns_mismatch"
        /// The body does not decode.
        case undecodable
        /// `previous_hash` is not the hash of the report before it: one removed, swapped or replaced.
        case chainBroken = "chain_broken"
        /// A number is missing before this one.
        case gap
        /// The counter says more were issued than are stored: the last ones were removed.
        case missingTail = "missing_tail"
        /// A closed work period has no Z, or more than one.
        case periodUnreported = "period_unreported"
        /// A combined Z's stored reconciliation does not follow from what it compares.
        case reconciliationMismatch = "reconciliation_mismatch"
    }

    public init(_ number: String, _ problem: Problem, _ detail: String) {
        self.number = number
        self.problem = problem
        self.detail = detail
    }

    public var description: String { "\(number): \(problem.rawValue): \(detail)" }
}

/// Rechecks reports as values: each body against its hash and its columns, each chain (one per
/// kind and terminal) for gaps and breaks. Findings come in chain order, so the first one names
/// the first bad record.
public enum ReportChain {
    public static func verify(_ reports: [StoredReport]) -> [ReportFinding] {
        let chains = Dictionary(grouping: reports) { ChainKey(kind: $0.kind, terminal: $0.terminal) }
        var findings: [ReportFinding] = []
        for key in chains.keys.sorted() {
            var previous: (number: String, hash: String, sequence: Int64)?
            for report in chains[key]!.sorted(by: { $0.sequence < $1.sequence }) {
                findings.append(contentsOf: check(report, after: previous))
                previous = (report.number, report.hash, report.sequence)
            }
        }
        return findings
    }

    static func check(
        _ report: StoredReport,
        after previous: (number: String, hash: String, sequence: Int64)?
    )
        -> [ReportFinding]
    {
        var found: [ReportFinding] = []
        let expectedSequence = (previous?.sequence ?? 0) &+ 1
        if report.sequence > expectedSequence {
            // Named as a range: a tampered sequence of 2^63 must not build a list of that size.
            let missing =
                report.sequence - expectedSequence <= 10
                ? (expectedSequence..<report.sequence).map(String.init).joined(separator: ", ")
                : "\(expectedSequence) to \(report.sequence &- 1)"
            found.append(ReportFinding(report.number, .gap, "sequence \(missing) missing before it"))
        } else if report.sequence < expectedSequence {
            found.append(ReportFinding(report.number, .gap, "sequence \(report.sequence) is stored twice"))
        }
        let actual = ReportRecord.hash(of: report.body)
        if actual != report.hash {
            found.append(
                ReportFinding(
                    report.number,
                    .hashMismatch,
                    "its body hashes to \(actual.prefix(16))…, not the stored \(report.hash.prefix(16))…"
                )
            )
        }
        let record: ReportRecord
        do {
            record = try ReportRecord.decode(body: report.body)
        } catch {
            found.append(ReportFinding(report.number, .undecodable, error.message))
            return found
        }
        var differing: [String] = []
        if record.number != report.number { differing.append("number \(record.number)") }
        if record.kind != report.kind { differing.append("kind \(record.kind.rawValue)") }
        if record.terminal != report.terminal { differing.append("terminal \(record.terminal ?? "none")") }
        if record.sequence != report.sequence { differing.append("sequence \(record.sequence)") }
        if !differing.isEmpty {
            found.append(
                ReportFinding(report.number, .columnsMismatch, "its body says \(differing.joined(separator: ", "))")
            )
        }
        let wantHash = previous?.hash ?? JournalEntry.genesisHash
        if record.previousHash != wantHash || record.previousNumber != previous?.number {
            found.append(
                ReportFinding(
                    report.number,
                    .chainBroken,
                    "it follows \(record.previousNumber ?? "nothing") (\(record.previousHash.prefix(16))…), but the report before it is \(previous?.number ?? "nothing") (\(wantHash.prefix(16))…)"
                )
            )
        }
        return found
    }

    struct ChainKey: Hashable, Comparable {
        var kind: ReportKind
        var terminal: String?
        static func < (a: ChainKey, b: ChainKey) -> Bool {
            (a.terminal ?? "", a.kind.rawValue) < (b.terminal ?? "", b.kind.rawValue)
        }
    }
}
