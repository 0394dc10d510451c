public import FiscalCore
public import MediatorStore
import Metrics

/// What the ops API shows of the mediator: the device, the terminals, and the gauges.
extension MediatorService {
    /// The device as STATUS shows it (with the emulator's busy time when it can say).
    public func deviceInfo(_ snapshot: DeviceSnapshot) -> TerminalReply.DeviceInfo {
        var info = snapshot.device
        if let busy = configuration.deviceBusyTime?() {
            info.busyMs = Int(busy.wholeMilliseconds)
        }
        return info
    }

    /// One registered terminal with what the mediator knows of it now.
    public struct TerminalOverview: Sendable {
        public var registration: TerminalRecord
        public var liveness: HeartbeatMonitor.Status?
        public var connected: Bool
        public var cashier: String?
        public var holdsDevice: Bool
        /// The terminal's open work period, if any.
        public var periodID: WorkPeriodID?
    }

    /// Every registered terminal, by code, with its liveness, cashier and whether it holds the
    /// device (the status table of spec §4.8.3).
    public func terminalOverview() async throws -> [TerminalOverview] {
        let registry = try await store.terminalRecords()
        let liveness = await monitor.statuses()
        let holder = await deviceActor.snapshot().holder?.terminalID
        let connected = Set(sessions.connectedTerminals())
        var rows: [TerminalOverview] = []
        for terminal in registry {
            rows.append(
                TerminalOverview(
                    registration: terminal,
                    liveness: liveness[terminal.code],
                    connected: connected.contains(terminal.code) && (liveness[terminal.code]?.connected ?? true),
                    cashier: try await store.openSession(at: terminal.code)?.cashierID,
                    holdsDevice: holder == terminal.code.rawValue,
                    periodID: try await store.openPeriod(at: terminal.code)?.0.id
                )
            )
        }
        return rows
    }

    /// Brings the gauges up to date (every monitor tick, and before a scrape).
    public func refreshGauges() async {
        let snapshot = await deviceActor.snapshot()
        metrics.queueDepth.set(snapshot.queueDepth)
        metrics.inDoubt.set(snapshot.inDoubt)
        metrics.lockHeld.set(snapshot.holder == nil ? 0 : 1)
        if let seq = snapshot.device.lastInvoiceSeq { metrics.lastInvoiceSeq.set(Int64(clamping: seq)) }
        metrics.terminalsOnline.set(await monitor.onlineCount())
    }
}
