public import AsyncHTTPClient
public import FiscalCore
public import Foundation
public import Logging
public import MediatorStore
public import Metrics
import NIOCore
import NIOHTTP1
public import ServiceLifecycle

/// Uploads sealed invoices to the cloud, in fiscal-number order, each exactly once as far as
/// the cloud can tell (docs/CLOUD_API.md); and, in the same loop after the invoices, the
/// reports in the reports' outbox, each chain in order (``reportStep()``).
///
/// Owns: the upload line. It reads the head of the store's outbox, sends it in batches, and
/// marks an item uploaded only when the cloud acknowledged it (accepted, or a duplicate of
/// what it already has). The head is always the last confirmed number + 1: only a contiguous
/// run from there is sent. A number the store lacks halts the line (`SYNC_GAP`) and is handed
/// to recovery through ``gaps``; the line resumes by itself once the store holds it. The
/// decisions are ``StateMachine``'s; the actor runs its actions. Network errors, timeouts, 5xx and 429 back off exponentially with
/// jitter (honouring Retry-After) and try the same items again. A rejected item is put in
/// quarantine and **stops the line** there, with an alert, until an operator retries it
/// (`fiscal-mediator sync retry`). A batch refused as a whole (another 4xx) is retried item
/// by item, so the one to blame is found and quarantined. 401/403, malformed answers and
/// acknowledgements for items not sent raise alerts and change nothing in the outbox.
///
/// Everything it knows lives in the store, so it resumes after a restart or days offline
/// where it stopped; the cloud deduplicates what was in flight when it stopped. With
/// `Configuration.waitForRecovery` it sends nothing until ``recoveryFinished()``.
///
/// Across an `await` (a store read or write, an HTTP exchange) the store may change under it
/// (a gap filled, `sync retry`): every step reads the line again; only the machine's own state
/// (batch in flight, failures, gap hand-over time, recovery phase) carries over.
public actor SyncUploader: Service {
    public struct Configuration: Sendable {
        /// The cloud's base URL, e.g. `https://ingest.bonopay.cd`.
        public var baseURL: String
        public var outletID: String
        /// The outlet's bearer token. Never logged.
        public var token: Secret
        /// Items per request.
        public var batchSize = 100
        public var requestTimeout: Duration = .seconds(30)
        /// How long connecting may take (connection attempts are retried within it).
        public var connectTimeout: Duration = .seconds(5)
        /// First and largest pause between failed attempts (before jitter).
        public var backoff: (first: Duration, max: Duration) = (.milliseconds(500), .seconds(60))
        /// How often an empty or stopped line is looked at again.
        public var idlePoll: Duration = .milliseconds(200)
        /// How long confirmed invoices are kept locally (nil: forever).
        public var retention: Duration? = .seconds(90 * 86_400)
        /// A backlog whose oldest item waits longer than this raises SYNC_LATE.
        public var lateAfter: Duration = .seconds(86_400)
        /// Consecutive failed attempts before SYNC_FAILING is raised.
        public var failuresBeforeAlert = 3
        /// How often confirmed invoices older than `retention` are pruned.
        public var pruneEvery: Duration = .seconds(60)
        /// How often a gap that is still there is handed to ``SyncUploader/gaps`` again.
        public var gapSignalEvery: Duration = .seconds(5)
        /// Send nothing until ``SyncUploader/recoveryFinished()`` is called (the service calls
        /// it once start-up recovery has stored every journal entry the store lacked).
        public var waitForRecovery = false

        public init(baseURL: String, outletID: String, token: Secret) {
            self.baseURL = baseURL
            self.outletID = outletID
            self.token = token
        }

        /// What is wrong with these settings, if anything (each names its key).
        public func problems() -> [String] {
            var found: [String] = []
            if let url = URL(string: baseURL), ["http", "https"].contains(url.scheme ?? ""), url.host != nil {
            } else {
                found.append("sync.url must be an http(s) URL with a host, not '\(baseURL)'")
            }
            if outletID.isEmpty || outletID.utf8.count > 64
                || !outletID.utf8.allSatisfy({
                    $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || (0x30...0x39).contains($0)
                        || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
                })
            {
                found.append("sync.outlet_id must be 1 to 64 of A-Z a-z 0-9 - _")
            }
            if token.isEmpty { found.append("sync.token must not be empty") }
            if !(1...1000).contains(batchSize) { found.append("sync.batch_size must be 1 to 1000") }
            return found
        }
    }

    /// An open alert.
    public struct Alert: Sendable, Hashable {
        /// Its code in the catalog (docs/ERRORS.md, "Alerts"): SYNC_QUARANTINED, SYNC_GAP, ...
        public var kind: ErrorCode
        public var since: Date
        public var message: String
    }

    /// What the uploader is doing, for `/health`.
    public struct Status: Sendable {
        public var state: String
        /// The reports' line: `idle`, `uploading`, `backing_off`, `refused` (a chain waits on a
        /// report the cloud refused).
        public var reportState: String
        public var lastSuccessAt: Date?
        public var lastError: String?
        public var consecutiveFailures: Int
        public var uploadedSinceStart: Int
    }

    public let configuration: Configuration
    let store: MediatorDatabase
    let client: HTTPClient
    private let ownsClient: Bool
    let logger: Logger
    private let endpoint: String
    /// `POST` reports here (docs/CLOUD_API.md, "Reports").
    let reportEndpoint: String
    private var alertsByKind: [ErrorCode: Alert] = [:]
    /// The reports' line's own alerts (a refused report is SYNC_QUARANTINED here), so the
    /// invoice line clearing its alerts never clears the reports' and the other way round.
    var reportAlerts: [ErrorCode: Alert] = [:]
    /// The reports' line: failures in a row, items per request, chains waiting out a refusal.
    var reportLine = ReportLine()
    var reportState = "idle"
    /// When each line is next looked at (``round()``).
    private var invoicesDue = ContinuousClock.now
    private var reportsDue = ContinuousClock.now
    private var state = "starting"
    private var lastSuccessAt: Date?
    private var lastError: String?
    private var uploadedSinceStart = 0
    private var machine: StateMachine
    private let started = ContinuousClock.now
    private var lastPrune = ContinuousClock.now
    private let gapContinuation: AsyncStream<InvoiceSeq>.Continuation
    /// Fiscal numbers the line found missing from the store, for the recovery that adopts them
    /// from the device journal (QRY|LOG). One consumer (the service); only the newest number is
    /// buffered, and a gap still there is handed over again every `gapSignalEvery`.
    public nonisolated let gaps: AsyncStream<InvoiceSeq>
    private let uploaded: Counter
    private let backlogGauge: Meter
    private let oldestGauge: Meter
    private let quarantinedGauge: Meter
    private let failures: [StateMachine.FailureKind: Counter]
    private let rejectedCounter: Counter

    public init(
        configuration: Configuration,
        store: MediatorDatabase,
        client: HTTPClient? = nil,
        metrics: any MetricsFactory = NOOPMetricsHandler.instance,
        logger: Logger
    ) throws(FiscalError) {
        if let problem = configuration.problems().first { throw FiscalError(.configInvalid, problem) }
        self.configuration = configuration
        self.store = store
        if let client {
            self.client = client
            ownsClient = false
        } else {
            var http = HTTPClient.Configuration()
            http.timeout = .init(connect: .nanoseconds(Int64(configuration.connectTimeout.wholeNanoseconds)))
            self.client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: http)
            ownsClient = true
        }
        self.logger = logger
        machine = StateMachine(
            configuration: .init(
                batchSize: configuration.batchSize,
                failuresBeforeAlert: configuration.failuresBeforeAlert,
                gapSignalEvery: configuration.gapSignalEvery,
                waitForRecovery: configuration.waitForRecovery
            )
        )
        (gaps, gapContinuation) = AsyncStream.makeStream(of: InvoiceSeq.self, bufferingPolicy: .bufferingNewest(1))
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        endpoint = "\(base)/v1/outlets/\(configuration.outletID)/invoices"
        reportEndpoint = "\(base)/v1/outlets/\(configuration.outletID)/reports"
        uploaded = Counter(label: "fiscal_sync_uploaded_total", factory: metrics)
        let failure = { (kind: String) in
            Counter(label: "fiscal_sync_failures_total", dimensions: [("kind", kind)], factory: metrics)
        }
        failures = [
            .network: failure("network"), .server: failure("server"), .protocolError: failure("protocol"),
            .auth: failure("auth"), .store: failure("store"),
        ]
        rejectedCounter = failure("rejected")
        backlogGauge = Meter(label: "fiscal_sync_backlog", factory: metrics)
        oldestGauge = Meter(label: "fiscal_sync_oldest_pending_seconds", factory: metrics)
        quarantinedGauge = Meter(label: "fiscal_sync_quarantined", factory: metrics)
    }

    /// Brings the backlog gauges up to date (before a scrape).
    public func refreshGauges() {
        let summary: OutboxSummary
        do { summary = try store.outboxSummary() } catch {
            logger.error("sync cannot read the outbox summary", metadata: ["error": "\(error)"])
            return
        }
        backlogGauge.set(summary.pending + summary.quarantined.count)
        quarantinedGauge.set(summary.quarantined.count)
        let age = summary.oldestPendingAt.flatMap(DeviceTimestamp.parse).map { Date().timeIntervalSince($0) } ?? 0
        oldestGauge.set(max(0, age))
    }

    // MARK: Service

    public func run() async throws {
        logger.info("sync uploader started", metadata: ["url": "\(endpoint)", "batch": "\(configuration.batchSize)"])
        await cancelWhenGracefulShutdown {
            await self.uploadLoop()
        }
        gapContinuation.finish()
        await shutdown()
        logger.info("sync uploader stopped")
    }

    // MARK: Recovery

    /// Recovery (adopting journal entries the store lacks) has started: nothing is sent until
    /// ``recoveryFinished()``. The service calls it around every recovery, at start and for a
    /// gap handed over by ``gaps``.
    public func recoveryStarted() { machine.recoveryStarted() }

    /// Recovery has finished: the line reads the store again (contiguity is checked on every
    /// read) and sends from the last confirmed number + 1.
    public func recoveryFinished() { machine.recoveryFinished() }

    /// Closes the HTTP client the uploader made (once it no longer runs).
    public func shutdown() async {
        if ownsClient { try? await client.shutdown() }
    }

    /// Open alerts of both lines, oldest first.
    public func alerts() -> [Alert] {
        (Array(alertsByKind.values) + Array(reportAlerts.values)).sorted { $0.since < $1.since }
    }

    public func status() -> Status {
        Status(
            state: state,
            reportState: reportState,
            lastSuccessAt: lastSuccessAt,
            lastError: lastError,
            consecutiveFailures: machine.consecutiveFailures,
            uploadedSinceStart: uploadedSinceStart
        )
    }

    // MARK: The line

    private func uploadLoop() async {
        while !Task.isCancelled {
            let pause = await round()
            if let pause {
                do { try await Task.sleep(for: pause) } catch { return }
            }
        }
    }

    /// One round of both lines: the invoices' step first, then the reports', each only when
    /// it is due (a line backing off is not looked at before its pause is over, whatever the
    /// other does). Returns how long until a line is due again (`nil`: at once). `run()` loops
    /// on it; a test can drive it by hand.
    public func round() async -> Duration? {
        if ContinuousClock.now >= invoicesDue {
            let pause = await step()
            invoicesDue = ContinuousClock.now + (pause ?? .zero)
        }
        if ContinuousClock.now >= reportsDue {
            let pause = await reportStep()
            reportsDue = ContinuousClock.now + (pause ?? .zero)
        }
        let wait = min(invoicesDue, reportsDue) - ContinuousClock.now
        return wait > .zero ? wait : nil
    }

    /// One attempt at the head of the line; returns how long to wait before the next one
    /// (`nil`: go on at once). `run()` loops on it; a test or a tool can drive it by hand.
    public func step() async -> Duration? {
        let line: UploadLine
        do {
            line = try await store.uploadLine(limit: machine.batchLimit)
        } catch {
            logger.error("sync cannot read the outbox", metadata: ["error": "\(error)"])
            lastError = "cannot read the outbox: \(error)"
            return configuration.backoff.max
        }
        checkLate(line.head.first)
        await pruneIfDue()
        let view = StateMachine.Line(
            confirmedThrough: line.confirmedThrough,
            lastStored: line.lastStored,
            head: line.head.map { .init(seq: $0.seq, quarantined: $0.state == .quarantined) }
        )
        switch machine.lineRead(view, now: ContinuousClock.now - started) {
        case .waitForRecovery:
            state = "recovering"
            return configuration.idlePoll
        case .idle:
            state = "idle"
            clear(.syncQuarantined)
            clear(.syncGap)
            return configuration.idlePoll
        case .gap(let missing, let signal):
            state = "gap"
            clear(.syncQuarantined)
            raise(
                .syncGap,
                "invoice \(missing) is missing from the store; the upload line waits until recovery stores it from the device journal"
            )
            if signal {
                logger.warning("upload line halted on a gap", metadata: ["device.seq": "\(missing)"])
                gapContinuation.yield(InvoiceSeq(missing))
            }
            return configuration.idlePoll
        case .quarantined(let seq):
            state = "stopped"
            clear(.syncGap)
            let reason = line.head.first?.lastError ?? "no reason"
            raise(
                .syncQuarantined,
                "invoice \(seq) was rejected by the cloud (\(reason)); the upload line waits for `fiscal-mediator sync retry`"
            )
            return configuration.idlePoll
        case .send(let range):
            clear(.syncQuarantined)
            clear(.syncGap)
            state = "uploading"
            let batch = line.head.filter { range.contains($0.seq) }
            return await settle(await send(batch), for: batch)
        }
    }

    /// Runs what the machine decides on the cloud's answer.
    private func settle(_ answer: StateMachine.Answer, for batch: [OutboxItem]) async -> Duration? {
        switch machine.answered(answer) {
        case .backOff(let failure):
            return await failed(failure, head: batch.first?.seq)
        case .retryItemByItem(let reason):
            logger.warning("the cloud refused a batch; retrying item by item", metadata: ["reason": "\(reason)"])
            return nil
        case .record(let confirmed, let rejected):
            let outcome: StateMachine.Recorded
            do {
                if !confirmed.isEmpty { try await store.markUploaded(confirmed.map { ($0.seq, $0.receipt) }) }
                outcome = try await quarantine(rejected)
            } catch {
                outcome = .markFailed("\(error)")
            }
            switch machine.recorded(outcome, confirmed: confirmed.count, rejected: rejected?.seq) {
            case .proceed(let count, let quarantined):
                if count > 0 {
                    uploaded.increment(by: count)
                    uploadedSinceStart += count
                    lastSuccessAt = Date()
                    clear(.syncFailing)
                    clear(.syncUnauthorized)
                    clear(.syncProtocol)
                }
                if let quarantined, let rejected {
                    state = "stopped"
                    raise(
                        .syncQuarantined,
                        "invoice \(quarantined) was rejected by the cloud (\(rejected.reason)); the upload line waits for `fiscal-mediator sync retry`"
                    )
                }
                return nil
            case .backOff(let failure):
                if let rejected {
                    // Rejected, even if not yet recorded as such: say so.
                    raise(
                        .syncQuarantined,
                        "invoice \(rejected.seq) was rejected by the cloud (\(rejected.reason)) and cannot be quarantined; retrying"
                    )
                }
                return await failed(failure, head: batch.first?.seq)
            }
        }
    }

    /// Writes a rejection: the item leaves the line until `sync retry`.
    private func quarantine(_ rejected: StateMachine.Rejection?) async throws -> StateMachine.Recorded {
        guard let rejected else { return .done }
        rejectedCounter.increment()
        lastError = "invoice \(rejected.seq) rejected: \(rejected.reason)"
        do {
            try await store.quarantine(rejected.seq, reason: rejected.reason)
            return .done
        } catch {
            logger.error(
                "sync cannot quarantine an item",
                metadata: ["device.seq": "\(rejected.seq)", "error": "\(error)"]
            )
            return .quarantineFailed(seq: rejected.seq, "\(error)")
        }
    }

    /// Sends a batch and says what came back.
    private func send(_ batch: [OutboxItem]) async -> StateMachine.Answer {
        let body: Data
        do {
            body = try Self.encoder.encode(
                CloudProtocol.Batch(outletID: configuration.outletID, items: batch.map(\.item))
            )
        } catch {
            return .unencodable("\(error)")
        }
        let status: Int
        let answer: ByteBuffer
        let retryAfter: Duration?
        do {
            (status, answer, retryAfter) = try await post(body, to: endpoint, key: batch[0].item.idempotencyKey)
        } catch {
            return .unreachable(Self.describe(error))
        }
        guard (200...299).contains(status) else {
            return .status(status, detail: Self.detail(answer), retryAfter: retryAfter)
        }
        return Self.acknowledgements(Data(answer.readableBytesView), for: batch.map(\.item.idempotencyKey))
    }

    /// One POST to the cloud with the outlet's token and the request timeout: the status, the
    /// body (up to 8 MiB) and Retry-After. Throws on no answer (refused, reset, timed out).
    func post(_ body: Data, to url: String, key: String) async throws -> (Int, ByteBuffer, Duration?) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.token.value)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: key)
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(
            request,
            timeout: .nanoseconds(Int64(configuration.requestTimeout.wholeNanoseconds))
        )
        let retryAfter = response.headers.first(name: "Retry-After").flatMap { Self.retryAfter($0, now: Date()) }
        return (Int(response.status.code), try await response.body.collect(upTo: 8 << 20), retryAfter)
    }

    /// A 2xx answer's body as acknowledgements: every result must answer the item at its
    /// position (docs/CLOUD_API.md).
    public static func acknowledgements(_ body: Data, for keys: [String]) -> StateMachine.Answer {
        guard let response = try? JSONDecoder().decode(CloudProtocol.Response.self, from: body) else {
            return .malformed(bytes: body.count)
        }
        guard !response.results.isEmpty, response.results.count <= keys.count,
            zip(response.results, keys).allSatisfy({ $0.idempotencyKey == $1 })
        else {
            let sent = response.results.prefix(3).map(\.idempotencyKey).joined(separator: ", ")
            return .misaligned("the cloud acknowledged items that were not sent, or out of order (\(sent))")
        }
        return .acknowledged(
            response.results.map { result in
                switch result.status {
                case .accepted, .duplicate: .confirmed(receipt: result.receipt)
                case .rejected: .rejected(reason: "\(result.code ?? "REJECTED"): \(result.reason ?? "no reason given")")
                case .skipped: .skipped
                }
            }
        )
    }

    /// `Retry-After` as a pause: delay-seconds, or an HTTP date (RFC 9110 §10.2.3; IMF-fixdate,
    /// and the obsolete RFC 850 and asctime forms). A date in the past means at once.
    public static func retryAfter(_ value: String, now: Date) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            guard text.utf8.count <= 9, let seconds = Int(text) else { return .seconds(3600 * 24) }
            return .seconds(seconds)
        }
        for format in ["EEE, dd MMM yyyy HH:mm:ss 'GMT'", "EEEE, dd-MMM-yy HH:mm:ss 'GMT'", "EEE MMM d HH:mm:ss yyyy"] {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = format
            if let date = formatter.date(from: text) {
                return .milliseconds(Int64(min(max(0, date.timeIntervalSince(now)), 86_400) * 1000))
            }
        }
        return nil
    }

    /// Counts a failed attempt, raises its alert when the machine says so, notes it in the
    /// store, and returns the pause before the next attempt.
    private func failed(_ failure: StateMachine.Failure, head: UInt64?) async -> Duration {
        failures[failure.kind]?.increment()
        lastError = failure.message
        do { try await store.noteSyncFailure(head, failure.message) } catch {
            logger.error("sync cannot note a failure", metadata: ["error": "\(error)"])
        }
        if failure.raiseAlert {
            raise(failure.alert, failure.message)
        } else {
            logger.notice(
                "sync attempt failed",
                metadata: ["error": "\(failure.message)", "failures": "\(failure.attempt)"]
            )
        }
        var pause = Self.backoff(
            attempt: failure.attempt,
            first: configuration.backoff.first,
            max: configuration.backoff.max
        )
        if let atLeast = failure.atLeast { pause = max(pause, atLeast) }
        if failure.kind == .auth { pause = max(pause, configuration.backoff.max / 2) }
        state = "backing_off"
        return pause
    }

    /// Exponential backoff with "equal jitter": half the step fixed, half random.
    static func backoff(attempt: Int, first: Duration, max: Duration) -> Duration {
        let step = min(first * (1 << min(attempt - 1, 20)), max)
        return step / 2 + step / 2 * Double.random(in: 0...1)
    }

    // MARK: Alerts and housekeeping

    private func raise(_ kind: ErrorCode, _ message: String) {
        if alertsByKind[kind]?.message == message { return }
        let since = alertsByKind[kind]?.since ?? Date()
        alertsByKind[kind] = Alert(kind: kind, since: since, message: message)
        logger.warning("alert", metadata: ["alert": "\(kind.rawValue)", "message": "\(message)"])
    }

    private func clear(_ kind: ErrorCode) {
        guard alertsByKind.removeValue(forKey: kind) != nil else { return }
        logger.notice("alert cleared", metadata: ["alert": "\(kind.rawValue)"])
    }

    private func checkLate(_ head: OutboxItem?) {
        guard let head, let sealed = DeviceTimestamp.parse(head.enqueuedAt) else { return clear(.syncLate) }
        let age = Date().timeIntervalSince(sealed)
        if age > configuration.lateAfter.inSeconds {
            raise(
                .syncLate,
                "invoice \(head.seq) has waited \(Int(age / 3600)) h for upload (more than \(Int(configuration.lateAfter.inSeconds / 3600)) h)"
            )
        } else {
            clear(.syncLate)
        }
    }

    /// Prunes what the cloud confirmed longer than `retention` ago (an unbroken run only; see
    /// ``MediatorDatabase/prune(uploadedBefore:)``). A failure is logged; the line goes on.
    private func pruneIfDue() async {
        guard let retention = configuration.retention, ContinuousClock.now - lastPrune >= configuration.pruneEvery
        else { return }
        lastPrune = .now
        do {
            let pruned = try await store.prune(uploadedBefore: Date().addingTimeInterval(-retention.inSeconds))
            if pruned > 0 { logger.info("pruned confirmed invoices", metadata: ["count": "\(pruned)"]) }
        } catch {
            logger.error("sync cannot prune", metadata: ["error": "\(error)"])
        }
    }

    /// A transport failure as an operator reads it: NIO's `IOError` prints its internal
    /// reason around the system's ("connection reset (error set): Connection refused) (errno:
    /// 111)"); the system's words and the errno say it plainly.
    package static func describe(_ error: any Error) -> String {
        if let error = error as? IOError {
            return "\(String(cString: strerror(error.errnoCode)).lowercased()) (errno \(error.errnoCode))"
        }
        return "\(error)"
    }

    static func detail(_ body: ByteBuffer) -> String {
        guard let error = try? JSONDecoder().decode(CloudProtocol.ErrorBody.self, from: Data(body.readableBytesView))
        else { return "" }
        return ": \(error.code) \(error.message)"
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
}
