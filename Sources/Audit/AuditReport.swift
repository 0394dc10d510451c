public import Foundation

/// What an audit found, with what it looked at: printed for people or as JSON.
public struct AuditReport: Sendable {
    public enum Status: String, Sendable, Codable {
        case passed
        case failed
        /// Not run: its evidence was not given, or it does not exist yet.
        case skipped
        /// Run on part of its evidence only (the rest could not be read: that is a finding).
        case incomplete
    }

    public struct CheckResult: Sendable {
        public var check: AuditCheck
        public var status: Status
        public var findings: Int
        public var detail: String?
    }

    /// What one store held.
    public struct StoreEvidence: Sendable, Hashable {
        public var name = ""
        public var sealedInvoices = 0
        public var requests = 0
        public var outboxRows = 0
        public var uploaded = 0
        public var prunedThrough: UInt64 = 0
        /// Requests recovery stored from the journal alone (`journal-<seq>`), without their invoice.
        public var recoveredWithoutPayload = 0
    }

    public struct Evidence: Sendable {
        public var journal: String
        public var deviceID: String?
        public var journalEntries: Int
        public var journalHead: UInt64?
        /// Whether the whole journal was read, to the device's signed head.
        public var journalRead: Bool
        public var journalError: String?
        public var stores: [StoreEvidence]
        public var cloud: String?
        public var cloudRecords: Int?
        public var notices: [String]
    }

    public var evidence: Evidence
    public var checks: [CheckResult]
    /// In check order, then in the order found: the first names the first bad record.
    public var findings: [AuditFinding]
    /// Every finding, including those not listed (a check lists at most 50).
    public var findingsTotal: Int

    /// No finding: every check that ran passed (and the journal was read whole).
    public var clean: Bool { findingsTotal == 0 }

    /// `clean`, `failed`, or `incomplete` when evidence could not be read.
    public var result: String {
        if clean { return "clean" }
        let unreadable = findings.contains { [.journalRead, .storeRead, .cloudRead].contains($0.check) }
        return unreadable ? "incomplete" : "failed"
    }

    /// The report for people.
    public var human: String {
        var lines: [String] = []
        let device = evidence.deviceID.map { "device \($0), " } ?? ""
        let head = evidence.journalHead.map { ", head \($0)" } ?? ""
        lines.append("journal  \(evidence.journal): \(device)\(evidence.journalEntries) entries\(head)")
        for store in evidence.stores {
            lines.append(
                "store    \(store.name): \(store.sealedInvoices) sealed invoices, \(store.requests) requests, "
                    + "\(store.outboxRows) in the upload line (\(store.uploaded) uploaded), pruned through \(store.prunedThrough)"
            )
        }
        if let cloud = evidence.cloud {
            lines.append("cloud    \(cloud): \(evidence.cloudRecords.map { "\($0) invoices" } ?? "unreadable")")
        }
        lines.append("")
        let width = AuditCheck.allCases.map(\.rawValue.count).max() ?? 0
        for result in checks {
            let status =
                switch result.status {
                case .passed: "ok     "
                case .failed: "FAILED "
                case .skipped: "skipped"
                case .incomplete: "partial"
                }
            let id = result.check.rawValue.padding(toLength: width, withPad: " ", startingAt: 0)
            let detail =
                result.status == .failed
                ? " (\(result.findings) finding\(result.findings == 1 ? "" : "s"))"
                : result.detail.map { ": \($0)" } ?? ""
            lines.append("\(id)  \(status)  \(result.check.title)\(detail)")
        }
        for notice in evidence.notices { lines.append("note: \(notice)") }
        if !findings.isEmpty {
            lines.append("")
            lines.append(
                "findings (\(findingsTotal)\(findingsTotal > findings.count ? ", first \(findings.count) listed" : "")):"
            )
            for finding in findings { lines.append("  \(finding)") }
        }
        lines.append("")
        lines.append(summary)
        return lines.joined(separator: "\n")
    }

    /// The last line: the verdict.
    public var summary: String {
        if clean {
            return "audit: clean (\(evidence.journalEntries) journal entries, "
                + "\(evidence.stores.map(\.sealedInvoices).reduce(0, +)) sealed invoices)"
        }
        let first = findings.first.map { " (first: \($0.record))" } ?? ""
        if let error = evidence.journalError { return "audit: incomplete (journal unreadable: \(error))" }
        let plural = findingsTotal == 1 ? "" : "s"
        return result == "incomplete"
            ? "audit: incomplete, \(findingsTotal) finding\(plural)\(first)"
            : "audit: FAILED, \(findingsTotal) finding\(plural)\(first)"
    }

    /// The report as JSON (`--json`).
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(JSONReport(self))
    }

    private struct JSONReport: Encodable {
        struct Check: Encodable {
            var id: String
            var title: String
            var status: String
            var findings: Int
            var detail: String?
        }
        struct Finding: Encodable {
            var check: String
            var record: String
            var seq: UInt64?
            var store: String?
            var message: String
        }
        struct Store: Encodable {
            var path: String
            var sealedInvoices: Int
            var requests: Int
            var outboxRows: Int
            var uploaded: Int
            var prunedThrough: UInt64
            var recoveredWithoutPayload: Int

            enum CodingKeys: String, CodingKey {
                case path
                case sealedInvoices = "sealed_invoices"
                case requests
                case outboxRows = "outbox_rows"
                case uploaded
                case prunedThrough = "pruned_through"
                case recoveredWithoutPayload = "recovered_without_payload"
            }
        }

        var result: String
        var summary: String
        var journal: String
        var deviceID: String?
        var journalRead: Bool
        var journalError: String?
        var journalEntries: Int
        var journalHead: UInt64?
        var stores: [Store]
        var cloud: String?
        var cloudRecords: Int?
        var notices: [String]
        var checks: [Check]
        var findingsTotal: Int
        var findings: [Finding]

        enum CodingKeys: String, CodingKey {
            case result, summary, journal
            case deviceID = "device_id"
            case journalRead = "journal_read"
            case journalError = "journal_error"
            case journalEntries = "journal_entries"
            case journalHead = "journal_head"
            case stores, cloud
            case cloudRecords = "cloud_records"
            case notices, checks
            case findingsTotal = "findings_total"
            case findings
        }

        init(_ report: AuditReport) {
            result = report.result
            summary = report.summary
            journal = report.evidence.journal
            deviceID = report.evidence.deviceID
            journalRead = report.evidence.journalRead
            journalError = report.evidence.journalError
            journalEntries = report.evidence.journalEntries
            journalHead = report.evidence.journalHead
            stores = report.evidence.stores.map {
                Store(
                    path: $0.name,
                    sealedInvoices: $0.sealedInvoices,
                    requests: $0.requests,
                    outboxRows: $0.outboxRows,
                    uploaded: $0.uploaded,
                    prunedThrough: $0.prunedThrough,
                    recoveredWithoutPayload: $0.recoveredWithoutPayload
                )
            }
            cloud = report.evidence.cloud
            cloudRecords = report.evidence.cloudRecords
            notices = report.evidence.notices
            checks = report.checks.map {
                Check(
                    id: $0.check.rawValue,
                    title: $0.check.title,
                    status: $0.status.rawValue,
                    findings: $0.findings,
                    detail: $0.detail
                )
            }
            findingsTotal = report.findingsTotal
            findings = report.findings.map {
                Finding(
                    check: $0.check.rawValue,
                    record: $0.record.description,
                    seq: $0.record.seq,
                    store: $0.store,
                    message: $0.message
                )
            }
        }
    }
}
