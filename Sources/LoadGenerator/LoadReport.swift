import FiscalCore
import Foundation

/// The result of `load --topology`, as `--report-json` writes it and the table shows it.
public struct LoadReport: Sendable, Codable {
    public struct Latency: Sendable, Codable, Hashable {
        public var p50: Double
        public var p95: Double
        public var p99: Double
        public var max: Double
    }

    public var topology: String
    public var terminals: Int
    public var durationS: Double
    public var offeredTPS: Double
    /// `poisson` or `paced`.
    public var arrivals: String
    public var invoicesOK: Int
    public var throughputTPS: Double
    public var latencyMs: Latency
    /// The longest a non-roaming terminal (a lane) waited for one sale.
    public var laneMaxLatencyMs: Double
    /// Which lane waited longest, and when that sale began (seconds into the run).
    public var laneMaxTerminal: String?
    public var laneMaxAtS: Double?
    public var errorsByCode: [String: Int]
    /// Share of wall time the device spent working (nil if it cannot say).
    public var deviceUtilization: Double?
    public var inDoubt: Int
    public var roamingEvents: Int
    public var fiscalizeSales: Int
    public var twoPhaseSales: Int
    public var audit: LoadAudit

    enum CodingKeys: String, CodingKey {
        case topology, terminals
        case durationS = "duration_s"
        case offeredTPS = "offered_tps"
        case arrivals
        case invoicesOK = "invoices_ok"
        case throughputTPS = "throughput_tps"
        case latencyMs = "latency_ms"
        case laneMaxLatencyMs = "lane_max_latency_ms"
        case laneMaxTerminal = "lane_max_terminal"
        case laneMaxAtS = "lane_max_at_s"
        case errorsByCode = "errors_by_code"
        case deviceUtilization = "device_utilization"
        case inDoubt = "in_doubt"
        case roamingEvents = "roaming_events"
        case fiscalizeSales = "fiscalize_sales"
        case twoPhaseSales = "two_phase_sales"
        case audit
    }

    public init(
        topology: String,
        terminals: Int,
        offeredTPS: Double,
        arrivals: String,
        outcome: LoadRunner.Outcome,
        deviceUtilization: Double?,
        inDoubt: Int,
        audit: LoadAudit
    ) {
        func ms(_ duration: Duration) -> Double { (duration.inSeconds * 1_000_000).rounded() / 1000 }
        let sorted = outcome.latencies
        func at(_ share: Double) -> Double {
            sorted.isEmpty ? 0 : ms(sorted[min(sorted.count - 1, Int(Double(sorted.count) * share))])
        }
        self.topology = topology
        self.terminals = terminals
        durationS = (outcome.elapsed.inSeconds * 100).rounded() / 100
        self.offeredTPS = offeredTPS
        self.arrivals = arrivals
        invoicesOK = sorted.count
        throughputTPS = (Double(sorted.count) / max(outcome.elapsed.inSeconds, 0.001) * 100).rounded() / 100
        latencyMs = Latency(p50: at(0.5), p95: at(0.95), p99: at(0.99), max: sorted.last.map(ms) ?? 0)
        laneMaxLatencyMs = ms(outcome.laneMaxLatency)
        laneMaxTerminal = outcome.laneMaxAt?.terminal
        laneMaxAtS = outcome.laneMaxAt.map { ($0.elapsed.inSeconds * 1000).rounded() / 1000 }
        errorsByCode = outcome.errorsByCode
        self.deviceUtilization = deviceUtilization.map { ($0 * 10_000).rounded() / 10_000 }
        self.inDoubt = inDoubt
        roamingEvents = outcome.roamingEvents
        fiscalizeSales = outcome.fiscalizeSales
        twoPhaseSales = outcome.twoPhaseSales
        self.audit = audit
    }

    /// The human table.
    public var table: String {
        var rows: [(String, String)] = [
            ("topology", "\(topology) (\(terminals) terminals, \(offeredTPS) TPS offered, \(arrivals) arrivals)"),
            ("duration", "\(durationS) s"),
            ("invoices ok", "\(invoicesOK) (\(fiscalizeSales) FISCALIZE, \(twoPhaseSales) PREPARE/COMMIT)"),
            ("throughput", "\(throughputTPS) invoices/s"),
            ("latency ms", "p50 \(latencyMs.p50)  p95 \(latencyMs.p95)  p99 \(latencyMs.p99)  max \(latencyMs.max)"),
            (
                "lanes' longest wait",
                "\(laneMaxLatencyMs) ms"
                    + (laneMaxTerminal.map { " (\($0), sale begun \(laneMaxAtS ?? 0) s into the run)" } ?? "")
            ),
            (
                "errors",
                errorsByCode.isEmpty
                    ? "none"
                    : errorsByCode.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            ),
            ("device utilization", deviceUtilization.map { String(format: "%.1f %%", $0 * 100) } ?? "unknown"),
            ("in doubt", "\(inDoubt)"),
            ("roaming events", "\(roamingEvents)"),
            (
                "audit",
                "gaps \(audit.gaps), duplicates \(audit.duplicates), missing \(audit.missing), signatures \(audit.signaturesOK.map { $0 ? "ok" : "BAD" } ?? "not checked") (journal \(audit.journalRead ? "\(audit.journalEntries)" : "UNREAD"), store \(audit.storeRead ? "\(audit.storeEntries)" : "UNREAD"), acknowledged \(audit.acknowledged))"
            ),
        ]
        rows += audit.findings.map { ("  finding", $0) }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(
            separator: "\n"
        ) + "\n" + audit.verdict
    }
}
