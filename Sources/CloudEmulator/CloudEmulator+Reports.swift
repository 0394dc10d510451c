public import FiscalCore
import Foundation
import GRDB
import Hummingbird
import NIOCore
import Synchronization

/// Reports (docs/CLOUD_API.md, "Reports"): `POST /v1/outlets/{outlet}/reports` takes a JSON
/// array of `{"number", "hash", "body"}`, the body being the stored report's JSON text. Each is
/// checked on its own, in the batch's order: the hash against SHA-256 of the body's bytes, the
/// number against the body's, then its place in its chain (kind and terminal): the next
/// sequence the cloud holds, and `previous_hash` the hash of the one before. An identical
/// report already held is a `duplicate`; another report under a held number is refused. After a
/// refusal, the later reports of the same chain in the batch are `skipped`; other chains go on.
extension CloudEmulator {
    /// What an outlet's reports chains hold, per chain (kind, terminal) and by sequence.
    public func receivedReports(outlet: String) throws -> [CloudProtocol.HeldReport] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT number, kind, terminal_id, sequence, hash, received_at FROM received_report
                    WHERE outlet_id = ? ORDER BY kind, COALESCE(terminal_id, ''), sequence
                    """,
                arguments: [outlet]
            ).map { row in
                CloudProtocol.HeldReport(
                    number: row["number"],
                    kind: row["kind"],
                    terminal: row["terminal_id"],
                    sequence: row["sequence"],
                    hash: row["hash"],
                    receivedAt: row["received_at"]
                )
            }
        }
    }

    func ingestReports(_ request: Request, context: CloudContext) async throws -> Response {
        reportBatchesSeen.add(1, ordering: .relaxed)
        let outlet = try context.parameters.require("outlet")
        let faults = self.faults.withLock { $0 }
        if let refused = try await gate(request, faults) { return refused }
        let body = try await request.body.collect(upTo: 64 << 20)
        let items: [CloudProtocol.ReportItem]
        do {
            items = try JSONDecoder().decode([CloudProtocol.ReportItem].self, from: Data(body.readableBytesView))
        } catch {
            return Self.error(
                .badRequest,
                CloudProtocol.Code.badRequest,
                "the body is not an array of reports: \(PeerText.escaped("\(error)", limit: 200))"
            )
        }
        let results = try storeReports(
            items,
            outlet: outlet,
            reject: faults.rejectReports,
            checkOrder: !faults.noOrderCheck
        )
        if faults.dropRate > 0, Double.random(in: 0..<1) < faults.dropRate {
            context.channel.close(promise: nil)
            throw HTTPError(.internalServerError)
        }
        return Self.json(CloudProtocol.ReportResponse(results: results))
    }

    func listReports(_ request: Request, context: CloudContext) throws -> Response {
        let outlet = try context.parameters.require("outlet")
        if let refused = unauthorized(request) { return refused }
        return Self.json(try receivedReports(outlet: outlet))
    }

    /// The fields of a report body the cloud checks (a real cloud reads the same keys).
    private struct Header: Decodable {
        var number: String
        var kind: String
        var terminal: String?
        var sequence: Int64
        var previousHash: String

        enum CodingKeys: String, CodingKey {
            case number, kind, terminal, sequence
            case previousHash = "previous_hash"
        }
    }

    /// Stores a batch in one transaction, report by report in order.
    private func storeReports(
        _ items: [CloudProtocol.ReportItem],
        outlet: String,
        reject: Set<String>,
        checkOrder: Bool
    ) throws -> [CloudProtocol.ReportResult] {
        let now = DeviceTimestamp.format(Date())
        return try pool.write { db in
            var results: [CloudProtocol.ReportResult] = []
            var brokenChains: Set<String> = []
            for item in items {
                // A body that is not a report is refused below, with why it could not be read.
                let header: Header?
                let unreadable: String?
                do {
                    header = try JSONDecoder().decode(Header.self, from: Data(item.body.utf8))
                    unreadable = nil
                } catch {
                    header = nil
                    unreadable = PeerText.escaped("\(error)", limit: 200)
                }
                let chain = header.map { "\($0.kind)/\($0.terminal ?? "")" }
                if let chain, brokenChains.contains(chain) {
                    results.append(.init(number: item.number, status: .skipped))
                    continue
                }
                switch try Self.reportRefusal(
                    db,
                    item,
                    header,
                    unreadable: unreadable,
                    outlet: outlet,
                    reject: reject,
                    checkOrder: checkOrder
                )
                {
                case .refused(let code, let reason):
                    results.append(.init(number: item.number, status: .rejected, code: code, reason: reason))
                    if let chain { brokenChains.insert(chain) }
                case .held:
                    results.append(.init(number: item.number, status: .duplicate))
                case .take(let header):
                    try db.execute(
                        sql: """
                            INSERT INTO received_report (outlet_id, number, kind, terminal_id, sequence, hash, body, received_at)
                            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                            """,
                        arguments: [
                            outlet, item.number, header.kind, header.terminal, header.sequence, item.hash, item.body,
                            now,
                        ]
                    )
                    results.append(.init(number: item.number, status: .accepted))
                }
            }
            return results
        }
    }

    private enum Verdict {
        case refused(String, String)
        case held
        case take(Header)
    }

    /// Whether `item` is refused, already held, or to be stored.
    private static func reportRefusal(
        _ db: Database,
        _ item: CloudProtocol.ReportItem,
        _ header: Header?,
        unreadable: String?,
        outlet: String,
        reject: Set<String>,
        checkOrder: Bool
    ) throws -> Verdict {
        guard SHA256.hex(Array(item.body.utf8)) == item.hash else {
            return .refused(CloudProtocol.Code.reportHashMismatch, "SHA-256 of the body is not the report's hash")
        }
        guard let header else {
            return .refused(CloudProtocol.Code.badRequest, "the body is not a report: \(unreadable ?? "unreadable")")
        }
        guard header.number == item.number else {
            return .refused(CloudProtocol.Code.badRequest, "the body is not a report numbered \(item.number)")
        }
        if let held = try String.fetchOne(
            db,
            sql: "SELECT hash FROM received_report WHERE outlet_id = ? AND number = ?",
            arguments: [outlet, item.number]
        ) {
            guard held == item.hash else {
                return .refused(
                    CloudProtocol.Code.reportConflict,
                    "another report numbered \(item.number) is held, with another hash"
                )
            }
            return .held
        }
        if reject.contains(item.number) {
            return .refused(CloudProtocol.Code.rejectedByRule, "report \(item.number) refused by the cloud's rules")
        }
        guard checkOrder else { return .take(header) }
        let last = try Row.fetchOne(
            db,
            sql: """
                SELECT number, sequence, hash FROM received_report
                WHERE outlet_id = ? AND kind = ? AND COALESCE(terminal_id, '') = ?
                ORDER BY sequence DESC LIMIT 1
                """,
            arguments: [outlet, header.kind, header.terminal ?? ""]
        )
        let lastSequence = (last?["sequence"] as Int64?) ?? 0
        let chain = "\(header.kind)\(header.terminal.map { " of \($0)" } ?? "")"
        guard header.sequence == lastSequence + 1 else {
            return .refused(
                CloudProtocol.Code.orderGap,
                "expected \(chain) report \(lastSequence + 1), got \(header.sequence)"
            )
        }
        let previous = (last?["hash"] as String?) ?? JournalEntry.genesisHash
        guard header.previousHash == previous else {
            let named = (last?["number"] as String?) ?? "the chain's start (64 zeros)"
            return .refused(CloudProtocol.Code.chainBroken, "previous_hash is not the hash of \(named)")
        }
        return .take(header)
    }
}
