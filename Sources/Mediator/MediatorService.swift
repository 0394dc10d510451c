public import FiscalCore
public import FiscalDevice
import Foundation
public import Logging
public import MediatorStore
public import Metrics
public import Reports
public import ServiceLifecycle
import Synchronization
public import ZeroMQ

/// The mediator: terminals in through the gateway, the device through the device actor, state
/// in the store. Runs as a service under swift-service-lifecycle.
///
/// On start the device actor recovers (settles what a previous run left unfinished) while the
/// gateway already answers: sales get DEVICE_UNAVAILABLE with `retry_after_ms` until recovery
/// is done. On graceful shutdown (SIGTERM, SIGINT) it stops reading, fails what is still queued
/// with SHUTTING_DOWN, lets the exchange in flight finish and its writes land, then closes the
/// socket. The message intake is in `MediatorService+Intake.swift`, the handlers by family in
/// `+Sale`, `+Session` and `+Overview`.
public final class MediatorService: Service, Sendable {
    public struct Configuration: Sendable {
        public var name = "fiscal-mediator"
        public var version = "0.4.0"
        /// When set, invoices for another outlet are refused.
        public var outletID: String?
        public var gateway = Gateway.Configuration()
        public var device = DeviceActor.Configuration()
        public var rules: FiscalRules = .default
        /// How long the device has been busy, when it can say (the embedded emulator).
        public var deviceBusyTime: (@Sendable () -> Duration)?
        /// Whether an unknown terminal with a well-formed code registers itself at HELLO (a
        /// trusted LAN) or must be added by an admin first (the default).
        public var selfRegister = false
        /// Whether a sale needs a cashier logged in at its terminal, whose id it must carry.
        public var requireCashierLogin = true
        /// Whether a sale needs an open work period at its terminal (`WORK_PERIOD_CLOSED`
        /// otherwise); `serve --no-work-periods` turns it off. Cash events always need one.
        public var requireWorkPeriod = true
        public var heartbeat = HeartbeatMonitor.Configuration()
        public var monitorClock = MonitorClock.system
        /// Where metrics go (Prometheus in `serve`); nowhere by default.
        public var metrics: any MetricsFactory = NOOPMetricsHandler.instance
        /// DISK_LOW below this many free bytes on the store's file system; nil (the default
        /// here) watches nothing. `serve --disk-low` sets it.
        public var diskLowBytes: Int64?
        /// Report settings: business name, denominations, variance thresholds, blind count.
        public var reports = ReportSettings()
        public init() {}

        /// What is wrong with these settings, if anything (each names its key).
        public func problems() -> [String] {
            var found = device.problems()
            if heartbeat.profiles.values.contains(where: { $0 <= .zero }) || heartbeat.profiles["default"] == nil {
                found.append("heartbeat.profiles must be positive and include 'default'")
            }
            if heartbeat.missedBeforeOffline < 1 { found.append("heartbeat.missed_before_offline must be at least 1") }
            if gateway.endpoints.isEmpty { found.append("gateway.endpoints must name at least one endpoint") }
            return found
        }
    }

    public let configuration: Configuration
    /// A combined Z is running in this process: a second waits for nothing, it is refused.
    let combinedRunning = Mutex(false)
    public let gateway: Gateway
    public let deviceActor: DeviceActor
    public let store: MediatorDatabase
    public let monitor: HeartbeatMonitor
    /// Free space on the store's file system (DISK_LOW).
    public let disk: DiskWatch
    let logger: Logger
    let metrics: MediatorMetrics
    let sessions: SessionRegistry
    let validator: InvoiceValidator
    let lanes = TerminalLanes()
    /// The ZeroMQ context, when this service made its own (``finishSending()`` ends it).
    private let ownContext: ZMQContext?

    /// Binds the gateway now (so the endpoints are known before `run`).
    public convenience init(
        configuration: Configuration,
        context: ZMQContext,
        client: FiscalDeviceClient,
        store: MediatorDatabase,
        logger: Logger
    ) throws {
        try self.init(
            configuration: configuration,
            context: context,
            client: client,
            store: store,
            logger: logger,
            ownContext: nil
        )
    }

    private init(
        configuration: Configuration,
        context: ZMQContext,
        client: FiscalDeviceClient,
        store: MediatorDatabase,
        logger: Logger,
        ownContext: ZMQContext?
    ) throws {
        self.ownContext = ownContext
        let problems = configuration.problems()
        guard problems.isEmpty else {
            throw FiscalError(.configInvalid, problems.joined(separator: "; "))
        }
        self.configuration = configuration
        self.store = store
        self.logger = logger
        disk = DiskWatch(
            directory: URL(fileURLWithPath: store.path).deletingLastPathComponent().path,
            thresholdBytes: configuration.diskLowBytes
        )
        validator = InvoiceValidator(rules: configuration.rules)
        metrics = MediatorMetrics(factory: configuration.metrics)
        sessions = SessionRegistry(store: store)
        monitor = HeartbeatMonitor(
            configuration: configuration.heartbeat,
            clock: configuration.monitorClock,
            logger: logger
        ) { terminal, kind, detail in
            store.recordEvent(terminal, kind: kind, detail: detail)
        }
        let gateway = try Gateway(context: context, configuration: configuration.gateway)
        self.gateway = gateway
        let sessions = self.sessions
        deviceActor = DeviceActor(
            client: client,
            store: store,
            configuration: configuration.device,
            logger: logger,
            metrics: configuration.metrics
        ) { terminal, event in
            if let terminal {
                gateway.send(event, to: terminal)
            } else {
                for terminal in sessions.connectedTerminals() { gateway.send(event, to: terminal) }
            }
        }
    }

    /// A mediator with a ZeroMQ context of its own (what `serve` uses).
    public convenience init(
        configuration: Configuration,
        client: FiscalDeviceClient,
        store: MediatorDatabase,
        logger: Logger
    ) throws {
        let context = ZMQContext()
        try self.init(
            configuration: configuration,
            context: context,
            client: client,
            store: store,
            logger: logger,
            ownContext: context
        )
    }

    /// After ``run()``: returns once the gateway's last replies (those of a graceful shutdown)
    /// are on the wire, by ending the ZeroMQ context this service made (up to the sockets'
    /// linger, 1 s). A process that exited without it could drop a sealed sale's reply.
    public func finishSending() async {
        guard let context = ownContext else { return }
        gateway.stop()
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                context.terminate()
                done.resume()
            }
        }
    }

    public func run() async throws {
        if gateway.insecure {
            logger.warning(
                "terminals connect WITHOUT CURVE: identity is the routing id a peer chooses (--insecure-plaintext)",
                metadata: ["listening": "\(gateway.endpoints.joined(separator: ","))"]
            )
        }
        logger.info(
            "mediator starting; sales wait for recovery",
            metadata: [
                "listening": "\(gateway.endpoints.joined(separator: ","))",
                "device.link": "\(deviceActor.client.link.name)",
            ]
        )
        await withDiscardingTaskGroup { group in
            group.addTask { await self.deviceActor.run() }
            group.addTask {
                await self.deviceActor.waitUntilReady()
                let snapshot = await self.deviceActor.snapshot()
                self.logger.info(
                    "mediator ready",
                    metadata: [
                        "endpoints": "\(self.gateway.endpoints.joined(separator: ","))",
                        "device.id": "\(snapshot.device.deviceID ?? "?")",
                        "device.emulated": "\(snapshot.device.emulated)",
                        "security": "\(self.gateway.insecure ? "INSECURE plaintext" : "curve")",
                        "pairing": "\(self.gateway.pairingEndpoints.joined(separator: ","))",
                    ]
                )
                // A combined Z a previous run left halfway is completed (or dropped) now.
                do { try await self.completePendingCombinedZ() } catch {
                    self.logger.error(
                        "a combined Z left halfway could not be completed",
                        metadata: ["error": "\(error)"]
                    )
                }
            }
            if let zap = gateway.zap {
                group.addTask { await zap.run { await self.admit($0) } }
            }
            if gateway.pairing != nil {
                group.addTask { await self.readPairing() }
            }
            group.addTask {
                for await event in self.gateway.loop.events {
                    switch event {
                    case .disconnected(let connection): await self.connectionDropped(connection)
                    case .handshakeSucceeded: self.gateway.counters.handshakesValue.add(1, ordering: .relaxed)
                    case .accepted, .connected: break
                    }
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: self.configuration.heartbeat.tick) } catch { return }
                    await self.monitor.evaluate()
                    await self.refreshGauges()
                    self.watchDisk()
                }
            }
            await cancelWhenGracefulShutdown {
                await self.readMessages()
            }
            await deviceActor.drain()
            gateway.stop()
            group.cancelAll()
        }
        logger.info("mediator stopped")
    }

    /// Raises or clears DISK_LOW, with a log line when it changes.
    func watchDisk() {
        switch disk.check().change {
        case .raised(let alert):
            logger.warning("\(alert.message)", metadata: ["alert": "\(ErrorCode.diskLow.rawValue)"])
        case .cleared:
            logger.notice("alert cleared", metadata: ["alert": "\(ErrorCode.diskLow.rawValue)"])
        case .none: break
        }
    }

    func connectionDropped(_ connection: SocketLoop.Connection) async {
        gateway.dropped(connection)
        for session in sessions.all() where await session.dropped(connection) {
            logger.info("terminal disconnected", metadata: ["terminal.id": "\(session.terminal)"])
            sessions.markDisconnected(session.terminal)
            await monitor.disconnected(session.terminal)
            await deviceActor.terminalDisconnected(session.terminal)
        }
    }
}
