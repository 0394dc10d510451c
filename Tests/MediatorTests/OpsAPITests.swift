import AsyncHTTPClient
import CloudEmulator
import DeviceEmulator
import FiscalCore
import FiscalTestSupport
import Foundation
import Hummingbird
import Logging
import Mediator
import MediatorStore
import Metrics
import NIOCore
import NIOHTTP1
import OpsHTTP
import Prometheus
import SampleData
import Synchronization
import TerminalClient
import Testing

/// The ops HTTP API on a real socket (hummingbird on loopback, port 0), read with
/// AsyncHTTPClient while terminals work over ZeroMQ.
@Suite("Ops HTTP API", .timeLimit(.minutes(1)))
struct OpsAPITests {
    /// A mediator with Prometheus metrics and its ops API on an ephemeral port.
    final class Running: Sendable {
        let mediator: MediatorHarness
        let server: Task<Void, any Error>
        let base: String
        let sync: SyncUploader?

        init(
            configure: @escaping (inout MediatorService.Configuration) -> Void = { _ in },
            sync makeSync: ((MediatorDatabase, any MetricsFactory) throws -> SyncUploader)? = nil
        ) async throws {
            let registry = PrometheusCollectorRegistry()
            mediator = try await MediatorHarness(configure: {
                $0.metrics = PrometheusMetricsFactory(registry: registry)
                configure(&$0)
            })
            sync = try makeSync?(mediator.store, PrometheusMetricsFactory(registry: registry))
            var configuration = OpsServer.Configuration()
            configuration.port = 0
            let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
            let app = try OpsServer.application(
                service: mediator.service,
                registry: registry,
                configuration: configuration,
                sync: sync,
                logger: Logger(label: "ops-test")
            ) { port in continuation.yield(port) }
            server = Task { try await app.runService(gracefulShutdownSignals: []) }
            var iterator = ports.makeAsyncIterator()
            base = "http://127.0.0.1:\(try #require(await iterator.next()))"
        }

        func get(_ path: String) async throws -> (status: Int, body: String, contentType: String?) {
            let response = try await HTTPClient.shared.execute(
                HTTPClientRequest(url: base + path),
                timeout: .seconds(5)
            )
            let body = try await response.body.collect(upTo: 1 << 20)
            return (Int(response.status.code), String(buffer: body), response.headers.first(name: "content-type"))
        }

        func json(_ path: String) async throws -> (status: Int, value: Any) {
            let (status, body, _) = try await get(path)
            return (status, try JSONSerialization.jsonObject(with: Data(body.utf8)))
        }

        func close() async {
            server.cancel()
            _ = try? await server.value
            await mediator.close()
        }
    }

    @Test("/health says insecure when terminals connect without CURVE (--insecure-plaintext)")
    func insecureHealth() async throws {
        let running = try await Running(configure: { $0.gateway.security = .insecurePlaintext })
        defer { Task { await running.close() } }
        let health = try #require(try await running.json("/health").value as? [String: Any])
        #expect(health["insecure"] as? Bool == true)
    }

    @Test("/health, /terminals, /terminals/{code}, /alerts and /metrics answer with what the mediator knows")
    func endpoints() async throws {
        let running = try await Running()
        defer { Task { await running.close() } }
        let mediator = running.mediator
        _ = try mediator.store.addTerminal(TerminalRecord(code: TerminalID("MOB-004")))
        let lane = try await mediator.client("REG-001", machineID: "lane-1-mac")
        _ = try await lane.fiscalize(requestID: "a", invoice: invoice("REG-001", sale: 1))
        _ = try await lane.fiscalize(requestID: "b", invoice: invoice("REG-001", sale: 2))
        _ = try? await lane.fiscalize(
            requestID: "c",
            invoice: invoice("REG-001", sale: 3, lines: 0).withCurrency("EUR")
        )
        _ = try await lane.heartbeat(
            TerminalHealth(
                printerAvailable: false,
                drawerAvailable: true,
                workPeriodOpen: true,
                ipAddress: "10.0.0.11",
                latencyMs: 3
            )
        )

        let (healthStatus, healthValue) = try await running.json("/health")
        let health = try #require(healthValue as? [String: Any])
        #expect(healthStatus == 200)
        #expect(health["status"] as? String == "ok")
        #expect(health["last_invoice_seq"] as? Int == 2)
        #expect(health["in_doubt"] as? Int == 0)
        #expect(health["insecure"] as? Bool == false)
        #expect((health["device"] as? [String: Any])?["state"] as? String == "ready")
        #expect(health["lock_holder"] is NSNull)
        #expect((health["queue"] as? [String: Any])?["waiting"] as? Int == 0)
        #expect(health["alerts"] as? Int == 1)
        #expect(health["alert_codes"] as? [String] == ["PRINTER_UNAVAILABLE"])
        // No cloud configured: the upload line is shown as disabled, with what waits in it.
        let sync = try #require(health["sync"] as? [String: Any])
        #expect(sync["state"] as? String == "disabled" && sync["backlog"] as? Int == 2)

        let (_, terminalsValue) = try await running.json("/terminals")
        let terminals = try #require(terminalsValue as? [[String: Any]])
        #expect(terminals.map { $0["code"] as? String } == ["MOB-004", "REG-001"])
        let row = try #require(terminals.last)
        #expect(row["status"] as? String == "online")
        #expect(row["cashier_id"] as? String == SampleInvoices.cashier)
        #expect(row["printer_available"] as? Bool == false)
        #expect(row["ip_address"] as? String == "10.0.0.11")
        #expect(row["machine_id"] as? String == "lane-1-mac")
        #expect(terminals.first?["status"] as? String == "offline")
        #expect(terminals.first?["last_heartbeat"] is NSNull)

        let (oneStatus, oneValue) = try await running.json("/terminals/REG-001")
        let one = try #require(oneValue as? [String: Any])
        #expect(oneStatus == 200)
        #expect(
            (one["cashier_sessions"] as? [[String: Any]])?.first?["cashier_id"] as? String == SampleInvoices.cashier
        )
        #expect(((one["events"] as? [[String: Any]]) ?? []).contains { $0["kind"] as? String == "printer_unavailable" })
        #expect(try await running.json("/terminals/REG-404").status == 404)

        let (_, alertsValue) = try await running.json("/alerts")
        let alerts = try #require(alertsValue as? [[String: Any]])
        #expect(alerts.map { $0["kind"] as? String } == ["PRINTER_UNAVAILABLE"])

        let metrics = try await running.get("/metrics")
        #expect(metrics.status == 200 && metrics.contentType?.hasPrefix("text/plain") == true)
        #expect(metrics.body.contains(#"fiscal_requests_total{type="FISCALIZE",outcome="OK"} 2"#))
        #expect(metrics.body.contains(#"fiscal_requests_total{type="FISCALIZE",outcome="SCHEMA_INVALID"} 1"#))
        #expect(metrics.body.contains("fiscal_request_duration_seconds_bucket"))
        #expect(metrics.body.contains(#"fiscal_device_exchange_seconds_count{command="commit"} 2"#))
        #expect(metrics.body.contains("fiscal_terminals_online 1"))
        #expect(metrics.body.contains("fiscal_last_invoice_seq 2"))
        #expect(metrics.body.contains("fiscal_queue_depth 0"))
    }

    @Test("/health shows the lock holder and answers 503 while the device is halted")
    func degraded() async throws {
        let running = try await Running()
        defer { Task { await running.close() } }
        let tablet = try await running.mediator.client("MOB-001")
        _ = try await tablet.prepare(requestID: "t1", invoice: invoice("MOB-001", sale: 1))
        let (_, value) = try await running.json("/health")
        let holder = try #require((value as? [String: Any])?["lock_holder"] as? [String: Any])
        #expect(holder["terminal_id"] as? String == "MOB-001" && holder["mode"] as? String == "two_phase")
        #expect(
            ((value as? [String: Any])?["queue"] as? [String: Any]).flatMap { $0["by_state"] as? [String: Any] }?[
                "prepared"
            ] as? Int == 1
        )
        _ = try await tablet.abort(requestID: "t1")

        try await running.mediator.device.emulator.fillStorage()
        let lane = try await running.mediator.client("REG-001")
        _ = try? await lane.fiscalize(requestID: "x", invoice: invoice("REG-001", sale: 2))
        let (status, degraded) = try await running.json("/health")
        #expect(status == 503)
        #expect((degraded as? [String: Any])?["status"] as? String == "degraded")
        let (_, alerts) = try await running.json("/alerts")
        #expect((alerts as? [[String: Any]])?.first?["kind"] as? String == "DEVICE_HALTED")
    }
}

extension OpsAPITests {
    @Test("the sync backlog, a quarantined item and its alert show in /health, /alerts and /metrics")
    func syncVisibility() async throws {
        let cloud = try await CloudSyncTests.Cloud()
        let harness = CloudSyncTests()
        let running = try await Running(sync: { try harness.uploader($0, cloud.url, batch: 2, metrics: $1) })
        defer {
            Task {
                await cloud.close()
                await running.close()
            }
        }
        let uploader = try #require(running.sync)
        let lane = try await running.mediator.client("REG-001")
        for sale in 1...4 {
            _ = try await lane.fiscalize(requestID: "s\(sale)", invoice: invoice("REG-001", sale: sale))
        }
        cloud.emulator.faults.withLock { $0.rejectSeqs = [2] }
        try await harness.drive(uploader) { await uploader.alerts().contains { $0.kind == .syncQuarantined } }

        let (status, value) = try await running.json("/health")
        #expect(status == 200)
        let sync = try #require((value as? [String: Any])?["sync"] as? [String: Any])
        #expect(sync["backlog"] as? Int == 3 && sync["quarantined"] as? Int == 1)
        #expect(sync["state"] as? String == "late" && sync["uploader"] as? String == "stopped")
        #expect(sync["last_uploaded_seq"] as? Int == 1)
        let (_, alerts) = try await running.json("/alerts")
        #expect((alerts as? [[String: Any]])?.map { $0["kind"] as? String } == ["SYNC_QUARANTINED"])
        let metrics = try await running.get("/metrics").body
        #expect(metrics.contains("fiscal_sync_backlog 3"))
        #expect(metrics.contains("fiscal_sync_quarantined 1"))
    }
}

extension Invoice {
    func withCurrency(_ currency: String) -> Invoice {
        var copy = self
        copy.totals.currency = currency
        return copy
    }
}
