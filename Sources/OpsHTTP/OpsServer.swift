public import FiscalCore
import FiscalDevice
import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
public import Mediator
import MediatorStore
import NIOCore
public import Prometheus
import Reports

/// The operator's HTTP API (docs/OPS_API.md): what a shop's IT person or a monitoring system
/// asks the mediator. Read-only but for the admin routes; loopback by default.
///
/// - `GET /health`: device state, lock holder, queue by state, last fiscal number, in-doubt
///   count, open alerts; 200 when the device seals, 503 when it does not.
/// - `GET /terminals`, `GET /terminals/{code}`: the status table (spec §4.8.3).
/// - `GET /alerts`: open alerts (terminals offline, printers, drawers, the device).
/// - `GET /metrics`: Prometheus text format.
/// - `GET /staff`, `GET /periods`, `GET /periods/{id}`: the shop's day (docs/SHOP_DAY.md).
/// - `GET /terminals/{code}/report-x`, `GET /reports/combined-x`, `GET /reports`,
///   `GET /reports/{number}`: reports (docs/REPORTS.md); `POST /admin/reports/cz?taken_by=ID`
///   (admin token): the combined Z.
/// - `GET /admin/device/status`, `POST /admin/device/report?kind=x|z` (admin token): the device
///   through the running mediator; a report runs in its turn between sales.
public enum OpsServer {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        /// Bearer tokens; nil serves every route to anyone (the library default: tests).
        public var auth: OpsAuth?
        /// HTTPS with this certificate and key (PEM); nil serves plain HTTP (loopback).
        public var tls: SelfSignedCertificate?
        public init() {}

        /// Whether `host` is a loopback address (only this machine reaches it).
        public static func isLoopback(_ host: String) -> Bool {
            host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }
    }

    /// The HTTP application, a `Service` to run beside the mediator. `onRunning` receives the
    /// bound port (useful with port 0).
    public static func application(
        service: MediatorService,
        registry: PrometheusCollectorRegistry,
        configuration: Configuration,
        sync: SyncUploader? = nil,
        logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = Router()
        let failures = AuthFailures()
        if let auth = configuration.auth, auth.requireForRead {
            router.add(middleware: OpsAuthMiddleware(auth: auth, needed: .read, failures: failures, logger: logger))
        }
        let api = Handlers(service: service, registry: registry, sync: sync)
        router.get("/health") { _, _ in try await api.health() }
        router.get("/terminals") { _, _ in try await api.terminals() }
        router.get("/terminals/{code}") { _, context in
            try await api.terminal(context.parameters.require("code"))
        }
        router.get("/alerts") { _, _ in try await api.alerts() }
        router.get("/metrics") { _, _ in await api.metrics() }
        router.get("/staff") { _, _ in try await api.staff() }
        router.get("/periods") { request, _ in
            try await api.periods(terminal: request.uri.queryParameters.get("terminal"))
        }
        router.get("/periods/{id}") { _, context in try await api.period(context.parameters.require("id")) }
        router.get("/terminals/{code}/report-x") { request, context in
            try await api.reportX(
                context.parameters.require("code"),
                cashier: request.uri.queryParameters.get("cashier")
            )
        }
        router.get("/reports") { request, _ in
            var query: [String: String] = [:]
            for key in ["kind", "terminal", "from", "to"] {
                if let value = request.uri.queryParameters.get(key) { query[key] = value }
            }
            return try await api.reports(query)
        }
        router.get("/reports/{number}") { request, context in
            try await api.report(
                context.parameters.require("number"),
                format: request.uri.queryParameters.get("format")
            )
        }
        // Admin routes: the CLI on this host reaches the running mediator through them.
        let admin = router.group("admin")
        if let auth = configuration.auth {
            admin.add(middleware: OpsAuthMiddleware(auth: auth, needed: .admin, failures: failures, logger: logger))
        } else {
            // No tokens configured: the admin routes are not served at all.
            admin.add(
                middleware: OpsAuthMiddleware(
                    auth: OpsAuth(tokens: [], requireForRead: true),
                    needed: .admin,
                    failures: failures,
                    logger: logger
                )
            )
        }
        admin.get("device/status") { _, _ in await api.deviceStatus() }
        // A Z closes the fiscal day: an admin token only, never a read token.
        admin.post("device/report") { request, _ in
            await api.deviceReport(kind: request.uri.queryParameters.get("kind"))
        }
        // The combined Z closes the store's day (and the device's): an admin token only.
        admin.post("reports/cz") { request, _ in
            await api.combinedZ(takenBy: request.uri.queryParameters.get("taken_by"))
        }
        router.get("/reports/combined-x") { request, _ in
            await api.combinedX(terminals: request.uri.queryParameters.get("terminals"))
        }
        var server: HTTPServerBuilder = .http1()
        if let tls = configuration.tls {
            let tlsConfiguration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(tls.certificatePEM.utf8)).map {
                    .certificate($0)
                },
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(tls.privateKeyPEM.value.utf8), format: .pem))
            )
            server = try .tls(.http1(), tlsConfiguration: tlsConfiguration)
        }
        return Application(
            router: router,
            server: server,
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "fiscal-mediator"
            ),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger
        )
    }
}

/// The handlers, apart from routing so they read as plain functions.
struct Handlers: Sendable {
    let service: MediatorService
    let registry: PrometheusCollectorRegistry
    let sync: SyncUploader?

    func health() async throws -> Response {
        let snapshot = await service.deviceActor.snapshot()
        let byState = try service.store.openRequestCounts()
        var body: [String: JSONValue] = [
            "status": .string(snapshot.device.state == .ready ? "ok" : "degraded"),
            "device": .object([
                "id": snapshot.device.deviceID.map(JSONValue.string) ?? .null,
                "state": .string(snapshot.device.state.rawValue),
                "halted_code": snapshot.device.haltedCode.map { .string($0.rawValue) } ?? .null,
                "link": .string(snapshot.device.link),
                "busy_ms": service.deviceInfo(snapshot).busyMs.map { .int($0) } ?? .null,
                "emulated": .bool(snapshot.device.emulated),
            ]),
            "lock_holder": snapshot.holder.map {
                .object([
                    "terminal_id": .string($0.terminalID), "request_id": .string($0.requestID),
                    "mode": .string($0.mode),
                ])
            } ?? .null,
            "queue": .object([
                "waiting": .int(snapshot.queueDepth),
                "by_state": .object(byState.mapValues { .int($0) }),
            ]),
            "last_invoice_seq": snapshot.device.lastInvoiceSeq.map { .int(Int(clamping: $0)) } ?? .null,
            "in_doubt": .int(snapshot.inDoubt),
            // Issue 16: `serve --insecure-plaintext` (no CURVE; anyone on the LAN can be any terminal).
            "insecure": .bool(service.gateway.insecure),
        ]
        // The upload line is always shown: with no cloud configured, sealed invoices still
        // pile up in the outbox, and the backlog says how many.
        let summary = try await service.store.readOutboxSummary()
        let backlog = summary.pending + summary.quarantined.count
        var syncBody: [String: JSONValue] = [
            "backlog": .int(backlog),
            "quarantined": .int(summary.quarantined.count),
            "oldest_pending_at": summary.oldestPendingAt.map(JSONValue.string) ?? .null,
            "last_uploaded_seq": summary.lastUploadedSeq.map { .int(Int(clamping: $0)) } ?? .null,
        ]
        // The reports' outbox (every Z enters it), beside the invoices'.
        let reports = try await service.store.reportOutboxSummary()
        var reportsBody: [String: JSONValue] = [
            "backlog": .int(reports.pending),
            "failing": .int(reports.failing),
            "oldest_pending_at": reports.oldestPendingAt.map(JSONValue.string) ?? .null,
        ]
        var alertCodes = snapshot.alerts.map(\.code.rawValue) + (await service.monitor.alerts().map(\.kind.rawValue))
        if let sync {
            let status = await sync.status()
            let syncAlerts = await sync.alerts()
            alertCodes += syncAlerts.map(\.kind.rawValue)
            syncBody["state"] = .string(syncAlerts.isEmpty ? "ok" : "late")
            syncBody["uploader"] = .string(status.state)
            syncBody["last_success_at"] = status.lastSuccessAt.map { .string(Self.iso($0)) } ?? .null
            syncBody["last_error"] = status.lastError.map(JSONValue.string) ?? .null
            syncBody["consecutive_failures"] = .int(status.consecutiveFailures)
            reportsBody["uploader"] = .string(status.reportState)
        }
        syncBody["reports"] = .object(reportsBody)
        if sync == nil { syncBody["state"] = .string("disabled") }
        body["sync"] = .object(syncBody)
        let disk = service.disk.check()
        if let alert = disk.alert { alertCodes.append(alert.code.rawValue) }
        let space = service.disk.space()
        body["disk"] = .object([
            "free_bytes": space.map { .int(Int(clamping: $0.freeBytes)) } ?? .null,
            "low_below_bytes": service.disk.thresholdBytes.map { .int(Int(clamping: $0)) } ?? .null,
        ])
        body["alerts"] = .int(alertCodes.count)
        // Which alerts, by code, so a monitor sees DEVICE_SLOW or DISK_LOW without a second call.
        body["alert_codes"] = .array(Set(alertCodes).sorted().map(JSONValue.string))
        return json(.object(body), status: snapshot.device.state == .ready ? .ok : .serviceUnavailable)
    }

    /// What the mediator knows of the device now (`fiscal-mediator device status` while serve
    /// holds the device): the device core owns every exchange, so this is its view, not a new
    /// QRY|STATUS.
    func deviceStatus() async -> Response {
        let snapshot = await service.deviceActor.snapshot()
        let info = service.deviceInfo(snapshot)
        return json(
            .object([
                "source": .string("the running mediator"),
                "device_id": info.deviceID.map(JSONValue.string) ?? .null,
                "state": .string(info.state.rawValue),
                "halted_code": info.haltedCode.map { .string($0.rawValue) } ?? .null,
                "emulated": .bool(info.emulated),
                "link": .string(info.link),
                "last_invoice_seq": info.lastInvoiceSeq.map { .int(Int(clamping: $0)) } ?? .null,
                "ready": .bool(snapshot.ready),
                "queue_depth": .int(snapshot.queueDepth),
                "in_doubt": .int(snapshot.inDoubt),
                "alerts": .array(
                    snapshot.alerts.map {
                        .object(["code": .string($0.code.rawValue), "message": .string($0.message)])
                    }
                ),
            ])
        )
    }

    /// RPT|Z or RPT|X through the running mediator, in its turn between sales: the report as the
    /// device returned it (a Z once stored), or the catalog's code for why not.
    func deviceReport(kind text: String?) async -> Response {
        guard let text, let kind = DeviceReport.Kind(rawValue: text.uppercased()), kind != .a else {
            return json(
                .object([
                    "code": .string(ErrorCode.argumentInvalid.rawValue),
                    "message": .string("kind must be x or z (POST /admin/device/report?kind=z)"),
                ]),
                status: .badRequest
            )
        }
        let report: DeviceReport
        do {
            report = try await service.deviceReport(kind)
        } catch {
            var headers: HTTPFields = [.contentType: "application/json"]
            // Only where asking again is safe: never for a Z whose outcome is unknown.
            if [.deviceUnavailable, .shuttingDown, .storeUnavailable, .queueFull].contains(error.code) {
                headers[.retryAfter] = "1"
            }
            return Response(
                status: Self.status(for: error.code),
                headers: headers,
                body: ResponseBody(
                    byteBuffer: ByteBuffer(
                        bytes: JSONValue.object([
                            "code": .string(error.code.rawValue), "message": .string(error.message),
                        ]).encoded()
                    )
                )
            )
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Response(
                status: .ok,
                headers: [.contentType: "application/json"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: Array(try encoder.encode(report))))
            )
        } catch {
            // The Z is stored either way (GET it from the store); say so rather than drop it.
            return json(
                .object([
                    "code": .string(ErrorCode.replyUnencodable.rawValue),
                    "message": .string(
                        "the \(kind.rawValue) report \(report.zNumber) was taken but cannot be encoded: \(error)"
                    ),
                ]),
                status: .internalServerError
            )
        }
    }

    /// The HTTP status of a report refusal: the mediator cannot now (503), too many wait (429),
    /// the device's answer was lost, its outcome unknown (502), the device refused (409).
    static func status(for code: ErrorCode) -> HTTPResponse.Status {
        switch code {
        case .deviceUnavailable, .shuttingDown, .storeUnavailable, .deviceHalted: .serviceUnavailable
        case .queueFull: .tooManyRequests
        case .deviceTimeout, .linkDown, .replyInvalid, .frameInvalid: .badGateway
        default: .conflict
        }
    }

    func terminals() async throws -> Response {
        json(.array(try await service.terminalOverview().map(row)))
    }

    func terminal(_ code: String) async throws -> Response {
        guard let found = try await service.terminalOverview().first(where: { $0.registration.code.rawValue == code })
        else {
            return json(
                .object(["code": .string(ErrorCode.notRegistered.rawValue), "message": .string("no terminal \(code)")]),
                status: .notFound
            )
        }
        var body = row(found)
        if case .object(var fields) = body {
            let sessions = try service.store.cashierSessions(at: found.registration.code, limit: 20)
            fields["cashier_sessions"] = .array(
                sessions.map { session in
                    .object([
                        "cashier_id": .string(session.cashierID), "opened_at": .string(session.openedAt),
                        "closed_at": session.closedAt.map(JSONValue.string) ?? .null,
                        "close_reason": session.closeReason.map(JSONValue.string) ?? .null,
                    ])
                }
            )
            let events = try service.store.terminalEvents(of: found.registration.code, limit: 50)
            fields["events"] = .array(
                events.map { .object(["at": .string($0.at), "kind": .string($0.kind), "detail": .string($0.detail)]) }
            )
            fields["work_period"] = try await openPeriodJSON(found.registration.code)
            body = .object(fields)
        }
        return json(body)
    }

    func alerts() async throws -> Response {
        var alerts: [JSONValue] = await service.monitor.alerts().map { alert in
            .object([
                "kind": .string(alert.kind.rawValue), "terminal_id": .string(alert.terminal.rawValue),
                "since": .string(Self.iso(alert.since)), "message": .string(alert.message),
            ])
        }
        if let sync {
            alerts += await sync.alerts().map { alert in
                .object([
                    "kind": .string(alert.kind.rawValue), "terminal_id": .null, "since": .string(Self.iso(alert.since)),
                    "message": .string(alert.message),
                ])
            }
        }
        // The device core's alerts first: they stop checkouts. A device refusal to seal is
        // DEVICE_HALTED with the device's code; the others are their own kind.
        let snapshot = await service.deviceActor.snapshot()
        let device: [JSONValue] = snapshot.alerts.map { alert in
            let halted = alert.code == snapshot.device.haltedCode
            return .object([
                "kind": .string(halted ? ErrorCode.deviceHalted.rawValue : alert.code.rawValue), "terminal_id": .null,
                "code": .string(alert.code.rawValue), "since": .string(Self.iso(Date() - alert.age.inSeconds)),
                "message": .string(alert.message),
            ])
        }
        // The last combined Z disagreed with the device: open until a combined Z agrees.
        if let last = try await service.store.lastCombinedZ(), let day = last.dayReconciliation,
            day.verdict == .mismatch
        {
            let first =
                day.differences.first.map { "\($0.item): registers \($0.registers), device \($0.device)" }
                ?? day.numbers.first.map { "fiscal number \($0.seq) \($0.kind): \($0.reason)" } ?? ""
            alerts.append(
                .object([
                    "kind": .string(ErrorCode.reportMismatch.rawValue), "terminal_id": .null,
                    "since": .string(last.generatedAt), "report": .string(last.number),
                    "message": .string(
                        "\(last.number): the registers' Zs and the device's Z \(last.deviceDay?.zNumber ?? 0) disagree (\(day.differences.count) difference(s), \(day.numbers.count) fiscal number(s)); first: \(first)"
                    ),
                ])
            )
        }
        if let disk = service.disk.check().alert {
            alerts.append(
                .object([
                    "kind": .string(disk.code.rawValue), "terminal_id": .null, "since": .string(Self.iso(disk.since)),
                    "message": .string(disk.message),
                ])
            )
        }
        return json(.array(device + alerts))
    }

    func metrics() async -> Response {
        await service.refreshGauges()
        if let sync { await sync.refreshGauges() }
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer))
        )
    }

    private func row(_ overview: MediatorService.TerminalOverview) -> JSONValue {
        let registration = overview.registration
        let liveness = overview.liveness
        let health = liveness?.health
        return .object([
            "code": .string(registration.code.rawValue),
            "name": .string(registration.name),
            "type": .string(registration.kind.rawValue),
            "business_mode": .string(registration.businessMode.rawValue),
            "lane_number": registration.laneNumber.map { .int($0) } ?? .null,
            "active": .bool(registration.active),
            "machine_id": registration.machineID.map(JSONValue.string) ?? .null,
            "status": .string(liveness?.online == true ? "online" : "offline"),
            "connected": .bool(overview.connected),
            "last_heartbeat": liveness?.lastHeartbeat.map { .string(Self.iso($0)) } ?? .null,
            "offline_since": liveness?.offlineSince.map { .string(Self.iso($0)) } ?? .null,
            "heartbeat_interval_ms": liveness.map { .int(Int($0.interval.wholeMilliseconds)) } ?? .null,
            "cashier_id": overview.cashier.map(JSONValue.string) ?? .null,
            "printer_available": health.map { .bool($0.printerAvailable) } ?? .null,
            "drawer_available": health.map { .bool($0.drawerAvailable) } ?? .null,
            "work_period_open": health.map { .bool($0.workPeriodOpen) } ?? .null,
            "ip_address": health?.ipAddress.map(JSONValue.string) ?? .null,
            "latency_ms": health?.latencyMs.map { .int($0) } ?? .null,
            "app_version": liveness?.appVersion.map(JSONValue.string) ?? .null,
            "holds_device": .bool(overview.holdsDevice),
            "work_period_id": overview.periodID.map { .int(Int(clamping: $0.rawValue)) } ?? .null,
        ])
    }

    func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.encoded()))
        )
    }

    static func iso(_ date: Date) -> String { DeviceTimestamp.format(date) }
}
