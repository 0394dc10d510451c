public import FiscalCore
import Foundation
import GRDB
public import Hummingbird
public import Logging
public import NIOCore
public import Synchronization

/// A stand-in for the cloud's ingest API (docs/CLOUD_API.md): it stores what it receives in its
/// own SQLite file, deduplicates by idempotency key (answering a duplicate with the original
/// receipt), and checks per outlet and device that fiscal numbers arrive in order with an
/// unbroken hash chain and matching payload digests. Fault modes make it slow, failing,
/// forgetful of its answers, down for a while, hostile to one item, or careless of order.
public final class CloudEmulator: Sendable {
    /// Ways to misbehave; change them at any time.
    public struct Faults: Sendable {
        /// Added to every batch.
        public var latency: Duration = .zero
        /// Share of batches answered 500/502/503 without being looked at.
        public var errorRate = 0.0
        /// Share of batches stored, then the connection closed without an answer (the
        /// acknowledgement is lost; the client must send them again and get duplicates).
        public var dropRate = 0.0
        /// Until then, every batch gets 503 with Retry-After.
        public var downUntil: ContinuousClock.Instant?
        /// Fiscal numbers rejected with REJECTED.
        public var rejectSeqs: Set<UInt64> = []
        /// Report numbers rejected with REJECTED.
        public var rejectReports: Set<String> = []
        /// Answer 200 with a body that is not JSON.
        public var garbleAnswers = false
        /// Answer 200 acknowledging an item that was not sent.
        public var foreignAcks = false
        /// Accept any order: no ORDER_GAP, and no CHAIN_BROKEN (the chain can only be checked
        /// in order), for invoices and reports. A real cloud may not check order; the mediator
        /// must not rely on it.
        public var noOrderCheck = false
        public init() {}
    }

    /// One stored invoice, as `received(outlet:)` returns it.
    public struct Received: Sendable, Hashable {
        public var outletID: String
        public var deviceID: String
        public var seq: UInt64
        public var idempotencyKey: String
        public var entryHash: String
        public var receipt: String
        public var receivedAt: String
    }

    public let faults = Mutex(Faults())
    /// Batches seen, however they were answered.
    public let batchesSeen = Atomic<Int>(0)
    /// Batches of reports seen, however they were answered.
    public let reportBatchesSeen = Atomic<Int>(0)
    let pool: DatabasePool
    private let token: Secret?
    private let logger: Logger

    /// Opens (creating) the store at `path`. With `token`, requests must carry
    /// `Authorization: Bearer <token>`.
    public init(path: String, token: Secret?, logger: Logger) throws {
        try FileManager.default.createDirectory(
            at: URL(fileURLWithPath: path).deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        pool = try DatabasePool(path: path, configuration: configuration)
        self.token = token
        self.logger = logger
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE received (
                        outlet_id TEXT NOT NULL,
                        device_id TEXT NOT NULL,
                        invoice_seq INTEGER NOT NULL,
                        idempotency_key TEXT NOT NULL UNIQUE,
                        entry_hash TEXT NOT NULL,
                        receipt TEXT NOT NULL,
                        item TEXT NOT NULL,
                        received_at TEXT NOT NULL,
                        PRIMARY KEY (outlet_id, device_id, invoice_seq)
                    );
                    """
            )
        }
        migrator.registerMigration("v2-reports") { db in
            try db.execute(
                sql: """
                    CREATE TABLE received_report (
                        outlet_id TEXT NOT NULL,
                        number TEXT NOT NULL,
                        kind TEXT NOT NULL,
                        terminal_id TEXT,
                        sequence INTEGER NOT NULL,
                        hash TEXT NOT NULL,
                        body TEXT NOT NULL,
                        received_at TEXT NOT NULL,
                        PRIMARY KEY (outlet_id, number)
                    );
                    CREATE INDEX received_report_chain
                        ON received_report(outlet_id, kind, COALESCE(terminal_id, ''), sequence);
                    """
            )
        }
        try migrator.migrate(pool)
    }

    /// What an outlet's devices delivered, in device and fiscal-number order.
    public func received(outlet: String) throws -> [Received] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT * FROM received WHERE outlet_id = ? ORDER BY device_id, invoice_seq",
                arguments: [outlet]
            ).map(Self.received)
        }
    }

    // MARK: HTTP

    /// The HTTP application (a `Service`); `onRunning` gets the bound port.
    public func application(
        host: String = "127.0.0.1",
        port: Int,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router(context: CloudContext.self)
        router.post("/v1/outlets/{outlet}/invoices") { request, context in
            try await self.ingest(request, context: context)
        }
        router.get("/v1/outlets/{outlet}/invoices") { request, context in
            try self.list(request, context: context)
        }
        router.post("/v1/outlets/{outlet}/reports") { request, context in
            try await self.ingestReports(request, context: context)
        }
        router.get("/v1/outlets/{outlet}/reports") { request, context in
            try self.listReports(request, context: context)
        }
        router.get("/health") { _, _ in Self.json(["status": "ok"]) }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "cloud-emulator"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }

    func ingest(_ request: Request, context: CloudContext) async throws -> Response {
        batchesSeen.add(1, ordering: .relaxed)
        let outlet = try context.parameters.require("outlet")
        let faults = self.faults.withLock { $0 }
        if let refused = try await gate(request, faults) { return refused }
        let body = try await request.body.collect(upTo: 64 << 20)
        guard let batch = try? JSONDecoder().decode(CloudProtocol.Batch.self, from: Data(body.readableBytesView)) else {
            return Self.error(.badRequest, CloudProtocol.Code.badRequest, "the body is not a batch")
        }
        guard batch.outletID == outlet else {
            return Self.error(
                .badRequest,
                CloudProtocol.Code.outletMismatch,
                "the batch is for \(batch.outletID), the path for \(outlet)"
            )
        }
        var results = try store(batch, outlet: outlet, reject: faults.rejectSeqs, checkOrder: !faults.noOrderCheck)
        if faults.dropRate > 0, Double.random(in: 0..<1) < faults.dropRate {
            context.channel.close(promise: nil)
            throw HTTPError(.internalServerError)
        }
        if faults.garbleAnswers {
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"resul"))
            )
        }
        if faults.foreignAcks, !results.isEmpty {
            results[0].idempotencyKey = "NOT-SENT:\(results[0].idempotencyKey)"
        }
        return Self.json(CloudProtocol.Response(results: results))
    }

    /// 401 for a request without the bearer token (when one is required).
    func unauthorized(_ request: Request) -> Response? {
        guard let token, request.headers[.authorization] != "Bearer \(token.value)" else { return nil }
        return Self.error(.unauthorized, CloudProtocol.Code.unauthorized, "missing or wrong bearer token")
    }

    /// The answer a request gets before its body is looked at, if any: a wrong token, the
    /// cloud down, an injected failure. Then the injected latency.
    func gate(_ request: Request, _ faults: Faults) async throws -> Response? {
        if let refused = unauthorized(request) { return refused }
        if let until = faults.downUntil, ContinuousClock.now < until {
            var response = Self.error(.serviceUnavailable, CloudProtocol.Code.unavailable, "down for maintenance")
            let seconds = max(1, Int(((until - .now).components.seconds)))
            response.headers[.retryAfter] = String(seconds)
            return response
        }
        if faults.errorRate > 0, Double.random(in: 0..<1) < faults.errorRate {
            let statuses: [HTTPResponse.Status] = [.internalServerError, .badGateway, .serviceUnavailable]
            let status = statuses[Int.random(in: statuses.indices)]
            return Self.error(status, CloudProtocol.Code.unavailable, "injected failure")
        }
        if faults.latency > .zero { try await Task.sleep(for: faults.latency) }
        return nil
    }

    /// Stores a batch in one transaction, item by item in order, stopping at the first rejection.
    private func store(
        _ batch: CloudProtocol.Batch,
        outlet: String,
        reject: Set<UInt64>,
        checkOrder: Bool
    ) throws -> [CloudProtocol.Result] {
        let now = DeviceTimestamp.format(Date())
        let encoder = JSONEncoder()
        return try pool.write { db in
            var results: [CloudProtocol.Result] = []
            var stopped = false
            for item in batch.items {
                let key = item.idempotencyKey
                if stopped {
                    results.append(.init(idempotencyKey: key, status: .skipped))
                    continue
                }
                if let receipt = try String.fetchOne(
                    db,
                    sql: "SELECT receipt FROM received WHERE idempotency_key = ?",
                    arguments: [key]
                ) {
                    results.append(.init(idempotencyKey: key, status: .duplicate, receipt: receipt))
                    continue
                }
                if let (code, reason) = try Self.refusal(
                    db,
                    item,
                    outlet: outlet,
                    reject: reject,
                    checkOrder: checkOrder
                ) {
                    results.append(.init(idempotencyKey: key, status: .rejected, code: code, reason: reason))
                    stopped = true
                    continue
                }
                let receipt = "CLD-\(UUID().uuidString.prefix(13).lowercased())"
                try db.execute(
                    sql: """
                        INSERT INTO received (outlet_id, device_id, invoice_seq, idempotency_key, entry_hash, receipt, item, received_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        outlet, item.entry.deviceID.rawValue, item.entry.seq.int64Value, key, item.entry.entryHash,
                        receipt,
                        String(decoding: try encoder.encode(item), as: UTF8.self), now,
                    ]
                )
                results.append(.init(idempotencyKey: key, status: .accepted, receipt: receipt))
            }
            return results
        }
    }

    /// Why `item` cannot be stored, if it cannot.
    private static func refusal(
        _ db: Database,
        _ item: CloudProtocol.Item,
        outlet: String,
        reject: Set<UInt64>,
        checkOrder: Bool
    ) throws -> (String, String)? {
        let entry = item.entry
        guard item.idempotencyKey == CloudProtocol.idempotencyKey(deviceID: entry.deviceID, seq: entry.seq) else {
            return (CloudProtocol.Code.badRequest, "the idempotency key is not DEVICE:SEQ")
        }
        if !item.invoice.isEmpty, SHA256.hex(Array(item.invoice.utf8)) != entry.payloadDigest {
            return (CloudProtocol.Code.digestMismatch, "SHA-256 of the invoice is not the entry's payload_digest")
        }
        if reject.contains(entry.seq.rawValue) {
            return (CloudProtocol.Code.rejectedByRule, "invoice \(entry.seq) refused by the cloud's rules")
        }
        guard checkOrder else { return nil }
        let last = try Row.fetchOne(
            db,
            sql: """
                SELECT invoice_seq, entry_hash FROM received WHERE outlet_id = ? AND device_id = ?
                ORDER BY invoice_seq DESC LIMIT 1
                """,
            arguments: [outlet, entry.deviceID.rawValue]
        )
        let lastSeq = (last?["invoice_seq"] as Int64?).flatMap(UInt64.init(exactly:)) ?? 0
        guard entry.seq.rawValue == lastSeq + 1 else {
            return (
                CloudProtocol.Code.orderGap, "expected invoice \(lastSeq + 1) of \(entry.deviceID), got \(entry.seq)"
            )
        }
        let previous = (last?["entry_hash"] as String?) ?? JournalEntry.genesisHash
        guard entry.previousHash == previous else {
            return (CloudProtocol.Code.chainBroken, "previous_hash does not match invoice \(lastSeq)'s entry_hash")
        }
        return nil
    }

    func list(_ request: Request, context: CloudContext) throws -> Response {
        let outlet = try context.parameters.require("outlet")
        let all = try received(outlet: outlet)
        return Self.json(all.map(Delivered.init))
    }

    // MARK: Helpers

    private static func received(_ row: Row) -> Received {
        Received(
            outletID: row["outlet_id"],
            deviceID: row["device_id"],
            seq: UInt64(clamping: row["invoice_seq"] as Int64),
            idempotencyKey: row["idempotency_key"],
            entryHash: row["entry_hash"],
            receipt: row["receipt"],
            receivedAt: row["received_at"]
        )
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONEncoder().encode(value)) ?? Data()
        return Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    static func error(_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response {
        json(CloudProtocol.ErrorBody(code: code, message: message), status: status)
    }
}

/// One delivered invoice, as the inspection endpoint lists it.
struct Delivered: Encodable {
    var deviceID: String
    var invoiceSeq: UInt64
    var receipt: String
    var entryHash: String

    init(_ received: CloudEmulator.Received) {
        deviceID = received.deviceID
        invoiceSeq = received.seq
        receipt = received.receipt
        entryHash = received.entryHash
    }

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id"
        case invoiceSeq = "invoice_seq"
        case receipt
        case entryHash = "entry_hash"
    }
}

/// The request context: the standard one plus the connection, so a fault can drop it.
public struct CloudContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}
