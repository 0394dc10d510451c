import FiscalCore
import Foundation
import Logging
import MediatorStore
import NIOCore

/// The reports' line (docs/CLOUD_API.md, "Reports"): the reports in `report_outbox` (every Z
/// enters it in the transaction that stores it) go to `POST /v1/outlets/{outlet}/reports`, in
/// order per chain (kind and terminal): a chain's next report is never sent before the one
/// before it is confirmed, or goes in the same batch right after it. Chains are independent: a
/// report the cloud refuses stays pending with its `last_error`, raises SYNC_QUARANTINED (on
/// this line's own alerts) and holds its chain only; it is sent again after a backoff, and the
/// alert is cleared once the cloud takes it. Failures of the exchange itself (network, 5xx,
/// token, a malformed answer) back the whole line off, with the invoice line's backoff and
/// alert rules. It runs after the invoices' step in each ``SyncUploader/round()``.
extension SyncUploader {
    /// The reports' line's state between steps.
    struct ReportLine: Sendable {
        struct Refusal: Sendable {
            var number: String
            var reason: String
            var until: ContinuousClock.Instant
        }
        var consecutiveFailures = 0
        /// Reports per request now: the configured size, or 1 after a batch refused as a whole.
        var batchLimit: Int?
        /// Chains (`kind/terminal`) whose head the cloud refused, until when they wait.
        var refused: [String: Refusal] = [:]
        /// Stalled chains already logged (chain → the sequence it waits for).
        var stalledLogged: [String: Int64] = [:]
    }

    /// The cloud's answer to a batch of reports.
    enum ReportAnswer {
        /// Per-report results answering what was sent, in order (maybe fewer: the rest skipped).
        case acknowledged([CloudProtocol.ReportResult])
        /// A 4xx other than the token's and "later"s: the batch as a whole is refused.
        case refusedBatch(String)
        /// Nothing to record: back the line off.
        case failed(StateMachine.FailureKind, String, atLeast: Duration?)
    }

    /// One attempt at the reports' line: sends what may go now (``MediatorDatabase/reportUploadLine(limit:excluding:)``)
    /// and records the answers. Returns how long to wait before the next attempt (`nil`: at once).
    public func reportStep() async -> Duration? {
        let now = ContinuousClock.now
        let waiting = Set(reportLine.refused.filter { $0.value.until > now }.keys)
        let limit = reportLine.batchLimit ?? configuration.batchSize
        let line: ReportUploadLine
        do {
            line = try await store.reportUploadLine(limit: limit, excluding: waiting)
        } catch {
            logger.error("sync cannot read the reports' outbox", metadata: ["error": "\(error)"])
            return reportFailed(.store, "cannot read the reports' outbox: \(error)", head: nil, atLeast: nil)
        }
        noteStalled(line.stalled)
        // A chain whose wait is over and whose head is now another report: its refusal is settled.
        for item in line.ready where reportLine.refused[item.chain].map({ $0.number != item.number }) == true {
            reportLine.refused[item.chain] = nil
        }
        guard !line.ready.isEmpty else {
            if waiting.isEmpty { reportLine.refused = [:] }
            updateRefusalAlert()
            reportState = reportLine.refused.isEmpty ? "idle" : "refused"
            return configuration.idlePoll
        }
        reportState = "uploading"
        let batch = line.ready
        let answer = await sendReports(batch)
        return await settleReports(answer, batch)
    }

    private func settleReports(_ answer: ReportAnswer, _ batch: [ReportOutboxItem]) async -> Duration? {
        switch answer {
        case .failed(let kind, let message, let atLeast):
            return await noteReportFailure(kind, message, head: batch.first, atLeast: atLeast)
        case .refusedBatch(let reason) where batch.count > 1:
            logger.warning(
                "the cloud refused a batch of reports; retrying one by one",
                metadata: ["reason": "\(reason)"]
            )
            reportLine.batchLimit = 1
            return nil
        case .refusedBatch(let reason):
            return await recordReports(confirmed: [], refused: [(batch[0], reason)])
        case .acknowledged(let results):
            // Per chain, only the run confirmed from its first report in the batch counts: after a
            // report not confirmed, its chain's later results are not believed.
            var confirmed: [ReportOutboxItem] = []
            var refused: [(ReportOutboxItem, String)] = []
            var halted: Set<String> = []
            for (result, item) in zip(results, batch) where !halted.contains(item.chain) {
                switch result.status {
                case .accepted, .duplicate:
                    confirmed.append(item)
                case .rejected:
                    refused.append((item, "\(result.code ?? "REJECTED"): \(result.reason ?? "no reason given")"))
                    halted.insert(item.chain)
                case .skipped:
                    halted.insert(item.chain)
                }
            }
            if confirmed.isEmpty, refused.isEmpty {
                return await noteReportFailure(
                    .protocolError,
                    "the cloud skipped every report without refusing one",
                    head: batch.first,
                    atLeast: nil
                )
            }
            return await recordReports(confirmed: confirmed, refused: refused)
        }
    }

    /// Writes what the cloud said: confirmed reports uploaded, refused ones failed (still
    /// pending), their chains waiting out a backoff.
    private func recordReports(
        confirmed: [ReportOutboxItem],
        refused: [(ReportOutboxItem, String)]
    ) async
        -> Duration?
    {
        for (item, reason) in refused {
            let pause = Self.backoff(
                attempt: item.attempts + 1,
                first: configuration.backoff.first,
                max: configuration.backoff.max
            )
            reportLine.refused[item.chain] = .init(number: item.number, reason: reason, until: .now + pause)
            logger.warning(
                "the cloud refused a report; it stays pending and its chain waits",
                metadata: ["report": "\(item.number)", "reason": "\(reason)"]
            )
        }
        updateRefusalAlert()
        do {
            if !confirmed.isEmpty { try await store.markReportsUploaded(confirmed.map(\.number)) }
            for (item, reason) in refused { try await store.markReportFailed(item.number, error: reason) }
        } catch {
            return await noteReportFailure(
                .store,
                "cannot record the cloud's answer on reports: \(error)",
                head: nil,
                atLeast: nil
            )
        }
        for item in confirmed where reportLine.refused[item.chain]?.number == item.number {
            reportLine.refused[item.chain] = nil
        }
        if !confirmed.isEmpty {
            reportLine.consecutiveFailures = 0
            reportLine.batchLimit = nil
            for kind in [ErrorCode.syncFailing, .syncUnauthorized, .syncProtocol] { clearReportAlert(kind) }
        }
        updateRefusalAlert()
        reportState = reportLine.refused.isEmpty ? "uploading" : "refused"
        return nil
    }

    /// SYNC_QUARANTINED on the reports' line, naming every chain that waits on a refusal.
    private func updateRefusalAlert() {
        guard !reportLine.refused.isEmpty else { return clearReportAlert(.syncQuarantined) }
        let named = reportLine.refused.sorted { $0.key < $1.key }.map { chain, refusal in
            "report \(refusal.number) was refused by the cloud (\(refusal.reason)); it stays pending and is sent again after a pause, and the later reports of \(chain) wait"
        }
        raiseReportAlert(.syncQuarantined, named.joined(separator: "; "))
    }

    /// A failed exchange: counts it, notes it on the batch's first report, raises the alert
    /// when due (as the invoice line does), and returns the pause before the next attempt.
    private func noteReportFailure(
        _ kind: StateMachine.FailureKind,
        _ message: String,
        head: ReportOutboxItem?,
        atLeast: Duration?
    ) async -> Duration {
        if let head {
            do { try await store.markReportFailed(head.number, error: message) } catch {
                logger.error("sync cannot note a failure on a report", metadata: ["error": "\(error)"])
            }
        }
        return reportFailed(kind, message, head: head?.number, atLeast: atLeast)
    }

    private func reportFailed(
        _ kind: StateMachine.FailureKind,
        _ message: String,
        head: String?,
        atLeast: Duration?
    ) -> Duration {
        reportLine.consecutiveFailures += 1
        let attempt = reportLine.consecutiveFailures
        let alert: ErrorCode =
            switch kind {
            case .auth: .syncUnauthorized
            case .protocolError: .syncProtocol
            case .network, .server, .store: .syncFailing
            }
        let text = "reports: \(message)"
        if kind == .auth || kind == .protocolError || attempt >= configuration.failuresBeforeAlert {
            raiseReportAlert(alert, text)
        } else {
            logger.notice(
                "report upload failed",
                metadata: ["error": "\(message)", "failures": "\(attempt)", "report": "\(head ?? "-")"]
            )
        }
        var pause = Self.backoff(attempt: attempt, first: configuration.backoff.first, max: configuration.backoff.max)
        if let atLeast { pause = max(pause, min(atLeast, .seconds(3600))) }
        if kind == .auth { pause = max(pause, configuration.backoff.max / 2) }
        reportState = "backing_off"
        return pause
    }

    /// Logs a chain that cannot go on (the report before its first pending one is neither
    /// confirmed nor pending: missing from the outbox), once per chain and sequence.
    private func noteStalled(_ stalled: [(chain: String, waitingFor: Int64)]) {
        for (chain, sequence) in stalled where reportLine.stalledLogged[chain] != sequence {
            reportLine.stalledLogged[chain] = sequence
            logger.error(
                "a report chain cannot be uploaded: the report before its first pending one is not in the outbox",
                metadata: ["chain": "\(chain)", "sequence": "\(sequence)"]
            )
        }
    }

    /// Sends a batch of reports and says what came back.
    private func sendReports(_ batch: [ReportOutboxItem]) async -> ReportAnswer {
        let body: Data
        do {
            body = try Self.encoder.encode(
                batch.map { CloudProtocol.ReportItem(number: $0.number, hash: $0.hash, body: $0.body) }
            )
        } catch {
            return .failed(.protocolError, "cannot encode the reports: \(error)", atLeast: nil)
        }
        let status: Int
        let answer: ByteBuffer
        let retryAfter: Duration?
        do {
            (status, answer, retryAfter) = try await post(body, to: reportEndpoint, key: batch[0].number)
        } catch {
            return .failed(.network, "the cloud is unreachable: \(Self.describe(error))", atLeast: nil)
        }
        let said = "HTTP \(status)\(Self.detail(answer))"
        switch status {
        case 200...299:
            return Self.reportAcknowledgements(Data(answer.readableBytesView), for: batch.map(\.number))
        case 401, 403:
            return .failed(.auth, "the cloud refused the outlet's token (\(said)); check the token", atLeast: nil)
        case 408, 409, 425, 429, 500...599:
            return .failed(.server, "the cloud answered \(said)", atLeast: retryAfter)
        case 400...499:
            return .refusedBatch(said)
        default:
            return .failed(.protocolError, "the cloud answered \(said), which is not a batch answer", atLeast: nil)
        }
    }

    /// A 2xx answer's body as per-report results: every result must answer the report at its
    /// position, by number.
    static func reportAcknowledgements(_ body: Data, for numbers: [String]) -> ReportAnswer {
        let response: CloudProtocol.ReportResponse
        do {
            response = try JSONDecoder().decode(CloudProtocol.ReportResponse.self, from: body)
        } catch {
            return .failed(
                .protocolError,
                "the cloud's answer is not a reports response (\(body.count) bytes)",
                atLeast: nil
            )
        }
        guard !response.results.isEmpty, response.results.count <= numbers.count,
            zip(response.results, numbers).allSatisfy({ $0.number == $1 })
        else {
            let sent = response.results.prefix(3).map(\.number).joined(separator: ", ")
            return .failed(
                .protocolError,
                "the cloud acknowledged reports that were not sent, or out of order (\(sent))",
                atLeast: nil
            )
        }
        return .acknowledged(response.results)
    }

    private func raiseReportAlert(_ kind: ErrorCode, _ message: String) {
        if reportAlerts[kind]?.message == message { return }
        let since = reportAlerts[kind]?.since ?? Date()
        reportAlerts[kind] = Alert(kind: kind, since: since, message: message)
        logger.warning("alert", metadata: ["alert": "\(kind.rawValue)", "line": "reports", "message": "\(message)"])
    }

    private func clearReportAlert(_ kind: ErrorCode) {
        guard reportAlerts.removeValue(forKey: kind) != nil else { return }
        logger.notice("alert cleared", metadata: ["alert": "\(kind.rawValue)", "line": "reports"])
    }
}
