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
/// the cloud can tell (docs/CLOUD_API.md).
///
/// Owns: the upload line. It reads the head of the store's outbox, sends it in batches, and
/// marks an item uploaded only when the cloud acknowledged it (accepted, or a duplicate of
/// what it already has). Network errors, timeouts, 5xx and 429 back off exponentially with
/// jitter (honouring Retry-After) and try the same items again. A rejected item is put in
/// quarantine and **stops the line** there, with an alert, until an operator retries it
/// (`fiscal-mediator sync retry`). A batch refused as a whole (another 4xx) is retried item
/// by item, so the one to blame is found and quarantined. 401/403, malformed answers and
/// acknowledgements for items not sent raise alerts and change nothing in the outbox.
///
/// Everything it knows lives in the store, so it resumes after a restart or days offline
/// where it stopped; the cloud deduplicates what was in flight when it stopped.
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
        public enum Kind: String, Sendable, CaseIterable {
            /// An item was rejected and holds the line.
            case quarantined = "SYNC_QUARANTINED"
            /// The cloud refuses the token (401/403).
            case unauthorized = "SYNC_UNAUTHORIZED"
            /// Several attempts in a row failed (unreachable, timeouts, 5xx, 429).
            case failing = "SYNC_FAILING"
            /// The cloud answered something that is not a valid answer to what was sent.
            case protocolError = "SYNC_PROTOCOL"
            /// The oldest item waits longer than `lateAfter`.
            case late = "SYNC_LATE"
        }
        public var kind: Kind
        public var since: Date
        public var message: String
    }

    /// What the uploader is doing, for `/health`.
    public struct Status: Sendable {
        public var state: String
        public var lastSuccessAt: Date?
        public var lastError: String?
        public var consecutiveFailures: Int
        public var uploadedSinceStart: Int
    }

    public let configuration: Configuration
    private let store: MediatorDatabase
    private let client: HTTPClient
    private let ownsClient: Bool
    private let logger: Logger
    private let endpoint: String
    private var alertsByKind: [Alert.Kind: Alert] = [:]
    private var state = "starting"
    private var lastSuccessAt: Date?
    private var lastError: String?
    private var consecutiveFailures = 0
    private var uploadedSinceStart = 0
    private var batchLimit: Int
    private var lastPrune = ContinuousClock.now
    private let uploaded: Counter
    private let backlogGauge: Meter
    private let oldestGauge: Meter
    private let quarantinedGauge: Meter
    private let failures: (network: Counter, server: Counter, rejected: Counter, protocolError: Counter, auth: Counter)

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
        batchLimit = configuration.batchSize
        var base = configuration.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        endpoint = "\(base)/v1/outlets/\(configuration.outletID)/invoices"
        uploaded = Counter(label: "fiscal_sync_uploaded_total", factory: metrics)
        let failure = { (kind: String) in
            Counter(label: "fiscal_sync_failures_total", dimensions: [("kind", kind)], factory: metrics)
        }
        failures = (failure("network"), failure("server"), failure("rejected"), failure("protocol"), failure("auth"))
        backlogGauge = Meter(label: "fiscal_sync_backlog", factory: metrics)
        oldestGauge = Meter(label: "fiscal_sync_oldest_pending_seconds", factory: metrics)
        quarantinedGauge = Meter(label: "fiscal_sync_quarantined", factory: metrics)
    }

    /// Brings the backlog gauges up to date (before a scrape).
    public func refreshGauges() {
        guard let summary = try? store.outboxSummary() else { return }
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
        await shutdown()
        logger.info("sync uploader stopped")
    }

    /// Closes the HTTP client the uploader made (once it no longer runs).
    public func shutdown() async {
        if ownsClient { try? await client.shutdown() }
    }

    /// Open alerts, oldest first.
    public func alerts() -> [Alert] { alertsByKind.values.sorted { $0.since < $1.since } }

    public func status() -> Status {
        Status(
            state: state,
            lastSuccessAt: lastSuccessAt,
            lastError: lastError,
            consecutiveFailures: consecutiveFailures,
            uploadedSinceStart: uploadedSinceStart
        )
    }

    // MARK: The line

    private func uploadLoop() async {
        while !Task.isCancelled {
            let pause = await step()
            if let pause { try? await Task.sleep(for: pause) }
        }
    }

    /// One attempt at the head of the line; returns how long to wait before the next one
    /// (`nil`: go on at once). `run()` loops on it; a test or a tool can drive it by hand.
    public func step() async -> Duration? {
        let head: [OutboxItem]
        do {
            head = try store.outboxHead(limit: batchLimit)
            checkLate(head.first)
            pruneIfDue()
        } catch {
            logger.error("sync cannot read the outbox", metadata: ["error": "\(error)"])
            return configuration.backoff.max
        }
        guard let first = head.first else {
            state = "idle"
            clear(.quarantined)
            return configuration.idlePoll
        }
        guard first.state == .pending else {
            state = "stopped"
            raise(
                .quarantined,
                "invoice \(first.seq) was rejected by the cloud (\(first.lastError ?? "no reason")); the upload line waits for `fiscal-mediator sync retry`"
            )
            return configuration.idlePoll
        }
        clear(.quarantined)
        state = "uploading"
        let batch = Array(head.prefix { $0.state == .pending })
        switch await send(batch) {
        case .progress:
            return nil
        case .wait(let pause):
            state = "backing_off"
            return pause
        }
    }

    private enum Next {
        case progress
        case wait(Duration)
    }

    private func send(_ batch: [OutboxItem]) async -> Next {
        let body: Data
        do {
            body = try Self.encoder.encode(
                CloudProtocol.Batch(outletID: configuration.outletID, items: batch.map(\.item))
            )
        } catch {
            return failed(
                batch,
                "cannot encode the batch: \(error)",
                counter: failures.protocolError,
                alert: .protocolError
            )
        }
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.token.value)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: batch[0].item.idempotencyKey)
        request.body = .bytes(ByteBuffer(bytes: body))
        let status: Int
        let answer: ByteBuffer
        let retryAfter: Duration?
        do {
            let response = try await client.execute(
                request,
                timeout: .nanoseconds(Int64(configuration.requestTimeout.wholeNanoseconds))
            )
            status = Int(response.status.code)
            retryAfter = response.headers.first(name: "Retry-After").flatMap(Int.init).map { .seconds($0) }
            answer = try await response.body.collect(upTo: 8 << 20)
        } catch {
            return failed(batch, "the cloud is unreachable: \(error)", counter: failures.network, alert: .failing)
        }
        switch status {
        case 200:
            return handle(Data(answer.readableBytesView), for: batch)
        case 401, 403:
            return failed(
                batch,
                "the cloud refused the outlet's token (HTTP \(status)); check the token",
                counter: failures.auth,
                alert: .unauthorized,
                atLeast: configuration.backoff.max / 2
            )
        case 408, 429, 500...599:
            return failed(
                batch,
                "the cloud answered HTTP \(status)\(Self.detail(answer))",
                counter: failures.server,
                alert: .failing,
                atLeast: retryAfter.map { min($0, .seconds(3600)) }
            )
        default:
            // The batch as a whole was refused: find the item to blame by sending one at a time.
            let reason = "HTTP \(status)\(Self.detail(answer))"
            if batch.count > 1 {
                batchLimit = 1
                logger.warning("the cloud refused a batch; retrying item by item", metadata: ["reason": "\(reason)"])
                return .progress
            }
            quarantine(batch[0], reason: reason)
            return .progress
        }
    }

    /// A 200 answer: every result must answer the item at its position.
    private func handle(_ body: Data, for batch: [OutboxItem]) -> Next {
        guard let response = try? JSONDecoder().decode(CloudProtocol.Response.self, from: body) else {
            return failed(
                batch,
                "the cloud's answer is not a valid batch response (\(body.count) bytes)",
                counter: failures.protocolError,
                alert: .protocolError
            )
        }
        guard !response.results.isEmpty, response.results.count <= batch.count,
            zip(response.results, batch).allSatisfy({ $0.idempotencyKey == $1.item.idempotencyKey })
        else {
            let keys = response.results.prefix(3).map(\.idempotencyKey).joined(separator: ", ")
            return failed(
                batch,
                "the cloud acknowledged items that were not sent, or out of order (\(keys))",
                counter: failures.protocolError,
                alert: .protocolError
            )
        }
        var confirmed: [(seq: UInt64, receipt: String?)] = []
        var rejected: (OutboxItem, CloudProtocol.Result)?
        for (result, item) in zip(response.results, batch) {
            switch result.status {
            case .accepted, .duplicate:
                confirmed.append((item.seq, result.receipt))
                continue
            case .rejected:
                rejected = (item, result)
            case .skipped:
                break
            }
            break
        }
        do {
            if !confirmed.isEmpty { try store.markUploaded(confirmed) }
        } catch {
            logger.error("sync cannot mark items uploaded", metadata: ["error": "\(error)"])
            return .wait(configuration.backoff.first)
        }
        uploaded.increment(by: confirmed.count)
        uploadedSinceStart += confirmed.count
        if !confirmed.isEmpty {
            lastSuccessAt = Date()
            consecutiveFailures = 0
            clear(.failing)
            clear(.unauthorized)
            clear(.protocolError)
            batchLimit = configuration.batchSize
        }
        if let (item, result) = rejected {
            quarantine(item, reason: "\(result.code ?? "REJECTED"): \(result.reason ?? "no reason given")")
            return .progress
        }
        if confirmed.isEmpty {
            return failed(
                batch,
                "the cloud skipped every item without rejecting one",
                counter: failures.protocolError,
                alert: .protocolError
            )
        }
        return .progress
    }

    private func quarantine(_ item: OutboxItem, reason: String) {
        failures.rejected.increment()
        do { try store.quarantine(item.seq, reason: reason) } catch {
            logger.error("sync cannot quarantine an item", metadata: ["error": "\(error)"])
        }
        lastError = "invoice \(item.seq) rejected: \(reason)"
        state = "stopped"
        raise(
            .quarantined,
            "invoice \(item.seq) was rejected by the cloud (\(reason)); the upload line waits for `fiscal-mediator sync retry`"
        )
    }

    /// Counts a failed attempt, raises `alert` (at once for auth and protocol problems, after
    /// `failuresBeforeAlert` for the rest) and returns the pause before the next attempt.
    private func failed(
        _ batch: [OutboxItem],
        _ message: String,
        counter: Counter,
        alert: Alert.Kind,
        atLeast: Duration? = nil
    ) -> Next {
        counter.increment()
        consecutiveFailures += 1
        lastError = message
        try? store.noteSyncFailure(batch.first?.seq, message)
        if alert != .failing || consecutiveFailures >= configuration.failuresBeforeAlert {
            raise(alert, message)
        } else {
            logger.notice(
                "sync attempt failed",
                metadata: ["error": "\(message)", "failures": "\(consecutiveFailures)"]
            )
        }
        var pause = Self.backoff(
            attempt: consecutiveFailures,
            first: configuration.backoff.first,
            max: configuration.backoff.max
        )
        if let atLeast { pause = max(pause, atLeast) }
        return .wait(pause)
    }

    /// Exponential backoff with "equal jitter": half the step fixed, half random.
    static func backoff(attempt: Int, first: Duration, max: Duration) -> Duration {
        let step = min(first * (1 << min(attempt - 1, 20)), max)
        return step / 2 + step / 2 * Double.random(in: 0...1)
    }

    // MARK: Alerts and housekeeping

    private func raise(_ kind: Alert.Kind, _ message: String) {
        if alertsByKind[kind]?.message == message { return }
        let since = alertsByKind[kind]?.since ?? Date()
        alertsByKind[kind] = Alert(kind: kind, since: since, message: message)
        logger.warning("alert", metadata: ["alert": "\(kind.rawValue)", "message": "\(message)"])
    }

    private func clear(_ kind: Alert.Kind) {
        guard alertsByKind.removeValue(forKey: kind) != nil else { return }
        logger.notice("alert cleared", metadata: ["alert": "\(kind.rawValue)"])
    }

    private func checkLate(_ head: OutboxItem?) {
        guard let head, let sealed = DeviceTimestamp.parse(head.enqueuedAt) else { return clear(.late) }
        let age = Date().timeIntervalSince(sealed)
        if age > configuration.lateAfter.inSeconds {
            raise(
                .late,
                "invoice \(head.seq) has waited \(Int(age / 3600)) h for upload (more than \(Int(configuration.lateAfter.inSeconds / 3600)) h)"
            )
        } else {
            clear(.late)
        }
    }

    private func pruneIfDue() {
        guard let retention = configuration.retention, ContinuousClock.now - lastPrune > .seconds(60) else { return }
        lastPrune = .now
        do {
            let pruned = try store.prune(uploadedBefore: Date().addingTimeInterval(-retention.inSeconds))
            if pruned > 0 { logger.info("pruned confirmed invoices", metadata: ["count": "\(pruned)"]) }
        } catch {
            logger.error("sync cannot prune", metadata: ["error": "\(error)"])
        }
    }

    private static func detail(_ body: ByteBuffer) -> String {
        guard let error = try? JSONDecoder().decode(CloudProtocol.ErrorBody.self, from: Data(body.readableBytesView))
        else { return "" }
        return ": \(error.code) \(error.message)"
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }()
}
