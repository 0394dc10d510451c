import FiscalCore
import Foundation
public import Hummingbird
public import Logging
public import Mediator
import MediatorStore
import NIOCore
public import Prometheus

/// The operator's HTTP API (docs/OPS_API.md): what a shop's IT person or a monitoring system
/// asks the mediator. Read-only; loopback by default.
///
/// - `GET /health`: device state, lock holder, queue by state, last fiscal number, in-doubt
///   count, open alerts; 200 when the device seals, 503 when it does not.
/// - `GET /terminals`, `GET /terminals/{code}`: the status table (spec §4.8.3).
/// - `GET /alerts`: open alerts (terminals offline, printers, drawers, the device).
/// - `GET /metrics`: Prometheus text format.
public enum OpsServer {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 8080
        public init() {}
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
    ) -> some ApplicationProtocol {
        let router = Router()
        let api = Handlers(service: service, registry: registry, sync: sync)
        router.get("/health") { _, _ in try await api.health() }
        router.get("/terminals") { _, _ in try await api.terminals() }
        router.get("/terminals/{code}") { _, context in
            try await api.terminal(context.parameters.require("code"))
        }
        router.get("/alerts") { _, _ in try await api.alerts() }
        router.get("/metrics") { _, _ in await api.metrics() }
        return Application(
            router: router,
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
            "alerts": .int(await service.monitor.alerts().count + snapshot.alerts.count),
            // Issue 16: `serve --insecure-plaintext` (no CURVE; anyone on the LAN can be any terminal).
            "insecure": .bool(service.gateway.insecure),
        ]
        if let sync {
            let summary = try service.store.outboxSummary()
            let status = await sync.status()
            body["sync"] = .object([
                "state": .string(status.state),
                "backlog": .int(summary.pending + summary.quarantined.count),
                "quarantined": .int(summary.quarantined.count),
                "oldest_pending_at": summary.oldestPendingAt.map(JSONValue.string) ?? .null,
                "last_uploaded_seq": summary.lastUploadedSeq.map { .int(Int(clamping: $0)) } ?? .null,
                "last_success_at": status.lastSuccessAt.map { .string(Self.iso($0)) } ?? .null,
                "last_error": status.lastError.map(JSONValue.string) ?? .null,
                "consecutive_failures": .int(status.consecutiveFailures),
            ])
            body["alerts"] = .int(await service.monitor.alerts().count + snapshot.alerts.count + sync.alerts().count)
        }
        return json(.object(body), status: snapshot.device.state == .ready ? .ok : .serviceUnavailable)
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
        ])
    }

    private func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: value.encoded()))
        )
    }

    static func iso(_ date: Date) -> String { DeviceTimestamp.format(date) }
}
