import FiscalCore
import Foundation
import Logging
import Mediator
import Synchronization
import Testing

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let state = Mutex<(instant: ContinuousClock.Instant, date: Date)>(
        (.now, Date(timeIntervalSince1970: 1_795_000_000))
    )
    var monitorClock: MonitorClock {
        MonitorClock(now: { self.state.withLock { $0.instant } }, date: { self.state.withLock { $0.date } })
    }
    func advance(_ duration: Duration) {
        state.withLock {
            $0.instant = $0.instant.advanced(by: duration)
            $0.date = $0.date.addingTimeInterval(duration.inSeconds)
        }
    }
}

/// Events the monitor reported, in order.
final class EventLog: Sendable {
    private let events = Mutex<[String]>([])
    var all: [String] { events.withLock { $0 } }
    func append(_ terminal: TerminalID, _ kind: String) { events.withLock { $0.append("\(terminal) \(kind)") } }
}

@Suite("Heartbeat monitor (injected clock)")
struct HeartbeatMonitorTests {
    func monitor(_ clock: ManualClock, _ log: EventLog) -> HeartbeatMonitor {
        var configuration = HeartbeatMonitor.Configuration()
        configuration.profiles = ["default": .seconds(60), "lane": .seconds(10)]
        configuration.missedBeforeOffline = 3
        return HeartbeatMonitor(configuration: configuration, clock: clock.monitorClock, logger: Logger(label: "test"))
        {
            terminal,
            kind,
            _ in log.append(terminal, kind)
        }
    }

    let healthy = TerminalHealth(
        printerAvailable: true,
        drawerAvailable: true,
        workPeriodOpen: true,
        ipAddress: "10.0.0.7"
    )

    @Test("online while heartbeats come; offline after the profile's missed heartbeats; alert after 5 minutes offline")
    func timeouts() async {
        let clock = ManualClock()
        let log = EventLog()
        let monitor = monitor(clock, log)
        let lane = TerminalID("REG-001")
        await monitor.heartbeat(lane, profile: "lane", health: healthy)
        #expect(await monitor.statuses()[lane]?.online == true)
        clock.advance(.seconds(29))
        await monitor.evaluate()
        #expect(await monitor.statuses()[lane]?.online == true)
        clock.advance(.seconds(2))  // 31 s > 3 × 10 s
        await monitor.evaluate()
        #expect(await monitor.statuses()[lane]?.online == false)
        #expect(await monitor.alerts().isEmpty)
        clock.advance(.seconds(299))
        await monitor.evaluate()
        #expect(await monitor.alerts().isEmpty)
        clock.advance(.seconds(1))
        await monitor.evaluate()
        let alerts = await monitor.alerts()
        #expect(alerts.map(\.kind) == [.terminalOffline] && alerts.first?.terminal == lane)
        // Back: online, the offline alert closes.
        await monitor.heartbeat(lane, profile: "lane", health: healthy)
        #expect(await monitor.alerts().isEmpty)
        #expect(await monitor.onlineCount() == 1)
        #expect(log.all == ["REG-001 online", "REG-001 offline", "REG-001 alert", "REG-001 online"])
    }

    @Test("a dropped connection is offline at once; the spec's 60 s profile tolerates 3 minutes of silence")
    func disconnect() async {
        let clock = ManualClock()
        let log = EventLog()
        let monitor = monitor(clock, log)
        let tablet = TerminalID("ADMIN-1")
        await monitor.heartbeat(tablet, profile: "unknown-profile", health: healthy)
        #expect(await monitor.statuses()[tablet]?.interval == .seconds(60))
        clock.advance(.seconds(179))
        await monitor.evaluate()
        #expect(await monitor.statuses()[tablet]?.online == true)
        await monitor.disconnected(tablet)
        let status = await monitor.statuses()[tablet]
        #expect(status?.online == false && status?.connected == false && status?.offlineSince != nil)
        #expect(log.all == ["ADMIN-1 online", "ADMIN-1 offline"])
    }

    @Test("printer and drawer problems raise alerts until a heartbeat says they are back")
    func hardware() async {
        let clock = ManualClock()
        let log = EventLog()
        let monitor = monitor(clock, log)
        let lane = TerminalID("REG-002")
        await monitor.heartbeat(lane, profile: "lane", health: healthy)
        var broken = healthy
        broken.printerAvailable = false
        await monitor.heartbeat(lane, profile: "lane", health: broken)
        await monitor.heartbeat(lane, profile: "lane", health: broken)  // still broken: no second alert
        broken.drawerAvailable = false
        await monitor.heartbeat(lane, profile: "lane", health: broken)
        #expect(Set(await monitor.alerts().map(\.kind)) == [.printerUnavailable, .drawerUnavailable])
        await monitor.heartbeat(lane, profile: "lane", health: healthy)
        #expect(await monitor.alerts().isEmpty)
        #expect(
            log.all == [
                "REG-002 online", "REG-002 printer_unavailable", "REG-002 drawer_unavailable",
                "REG-002 printer_restored",
                "REG-002 drawer_restored",
            ]
        )
    }
}
