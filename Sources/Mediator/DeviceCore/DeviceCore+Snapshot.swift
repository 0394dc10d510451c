public import FiscalCore
import MediatorStore

/// What STATUS, `/health` and `/alerts` show of the device core.
public struct DeviceSnapshot: Sendable {
    /// An alert raised now.
    public struct Alert: Sendable, Hashable {
        public var code: ErrorCode
        public var message: String
        /// How long ago it was raised.
        public var age: Duration
    }

    public var holder: TerminalReply.LockHolder?
    public var queueDepth: Int
    public var device: TerminalReply.DeviceInfo
    /// Requests whose outcome is unknown until the device or the store answers.
    public var inDoubt: Int
    public var alerts: [Alert]
    /// Recovery is done: sales are admitted.
    public var ready: Bool
}

extension DeviceCore {
    /// The device as the terminals and the operator see it now; `link` names the transport.
    public func snapshot(now: Instant, link: String) -> DeviceSnapshot {
        var holderInfo: TerminalReply.LockHolder?
        var resolving = false
        if case .holder(let holder) = slot, let live = requests[holder.key] {
            holderInfo = TerminalReply.LockHolder(
                terminalID: holder.key.terminal.rawValue,
                requestID: holder.key.request.rawValue,
                mode: live.mode.rawValue
            )
            if case .inDoubt = holder.phase { resolving = true }
        }
        var inDoubt = 0
        for live in requests.values {
            switch live.stage {
            case .settling: inDoubt += 1
            case .sealing where line.failing != nil: inDoubt += 1
            default: break
            }
        }
        if resolving { inDoubt += 1 }
        let ready: Bool = if case .running = lifecycle { true } else { false }
        let state: DeviceState =
            if !ready { .recovering } else if resolving { .resolving } else if line.failing != nil {
                .storeFailing
            } else if health.halt != nil { .halted } else if health.unreachable != nil { .unavailable } else {
                .ready
            }
        let current = currentAlerts()
        let alerts = health.raised.keys.sorted { $0.rawValue < $1.rawValue }.map { code in
            DeviceSnapshot.Alert(
                code: code,
                message: current[code] ?? "",
                age: health.raised[code].map { $0.duration(to: now) } ?? .zero
            )
        }
        return DeviceSnapshot(
            holder: holderInfo,
            queueDepth: queue.count,
            device: TerminalReply.DeviceInfo(
                deviceID: health.deviceID?.rawValue,
                emulated: health.emulated,
                state: state,
                haltedCode: health.halt?.code,
                lastInvoiceSeq: health.lastSeq?.rawValue,
                link: link
            ),
            inDoubt: inDoubt,
            alerts: alerts,
            ready: ready
        )
    }

    /// Whether shutdown is complete (``Action/drained`` was given).
    public var isDrained: Bool {
        if case .stopping(drainedSent: true) = lifecycle { return true }
        return false
    }
}
