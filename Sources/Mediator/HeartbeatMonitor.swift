public import FiscalCore
public import Foundation
public import Logging

/// Where the heartbeat monitor reads the time: a monotonic instant for timeouts, a wall-clock
/// date for what it shows. Tests inject a clock they move by hand.
public struct MonitorClock: Sendable {
    public var now: @Sendable () -> ContinuousClock.Instant
    public var date: @Sendable () -> Date
    public init(now: @escaping @Sendable () -> ContinuousClock.Instant, date: @escaping @Sendable () -> Date) {
        self.now = now
        self.date = date
    }
    public static let system = MonitorClock(now: { .now }, date: { Date() })
}

/// Which terminals are alive, and what is wrong with them.
///
/// Owns: per terminal, the last HEARTBEAT (or HELLO) and its status fields, whether the
/// connection is up (ZMTP heartbeats drop a dead peer within seconds), whether it counts as
/// online, and its open alerts.
///
/// A terminal is online while it is connected and its last heartbeat is younger than
/// `missedBeforeOffline` intervals of its profile. Going offline or online, and a printer or
/// drawer failing or coming back, is an event (`onEvent`). Offline longer than
/// `offlineAlertAfter` raises TERMINAL_OFFLINE; a missing printer or drawer raises
/// PRINTER_UNAVAILABLE or DRAWER_UNAVAILABLE until a heartbeat says it is back.
public actor HeartbeatMonitor {
    public struct Configuration: Sendable {
        /// Heartbeat intervals by profile name. `default` is the spec's 60 s; lanes on the wired
        /// LAN and tablets on Wi-Fi beat faster so a lost one is seen sooner.
        public var profiles: [String: Duration] = [
            "default": .seconds(60), "lane": .seconds(15), "tablet": .seconds(5),
        ]
        /// Heartbeats a terminal may miss before it counts as offline.
        public var missedBeforeOffline = 3
        /// Offline this long raises TERMINAL_OFFLINE (spec §4.8.5: 5 minutes).
        public var offlineAlertAfter: Duration = .seconds(300)
        /// How often timeouts are checked.
        public var tick: Duration = .seconds(1)
        public init() {}

        /// The interval of `profile` (`default`'s when the profile is unknown).
        public func interval(_ profile: String) -> Duration {
            profiles[profile] ?? profiles["default"] ?? .seconds(60)
        }
    }

    /// One terminal's liveness, as `/terminals` shows it.
    public struct Status: Sendable {
        public var terminal: TerminalID
        public var online: Bool
        public var connected: Bool
        public var interval: Duration
        public var lastHeartbeat: Date?
        public var offlineSince: Date?
        public var health: TerminalHealth?
        public var reportedCashier: String?
        public var appVersion: String?
    }

    /// An open alert.
    public struct Alert: Sendable, Hashable {
        public var terminal: TerminalID
        /// Its code in the catalog (docs/ERRORS.md, "Alerts").
        public var kind: ErrorCode
        public var since: Date
        public var message: String
    }

    /// A change worth recording: `online`, `offline`, `printer_unavailable`, ...
    public typealias EventSink = @Sendable (_ terminal: TerminalID, _ kind: String, _ detail: String) -> Void

    private struct Entry {
        var interval: Duration
        var lastBeat: ContinuousClock.Instant
        var lastHeartbeat: Date
        var connected = true
        var online = true
        var offlineAt: (instant: ContinuousClock.Instant, date: Date)?
        var health: TerminalHealth?
        var reportedCashier: String?
        var appVersion: String?
        var alerts: [ErrorCode: Alert] = [:]
    }

    public let configuration: Configuration
    private let clock: MonitorClock
    private let logger: Logger
    private let onEvent: EventSink
    private var entries: [TerminalID: Entry] = [:]

    public init(
        configuration: Configuration = Configuration(),
        clock: MonitorClock = .system,
        logger: Logger,
        onEvent: @escaping EventSink = { _, _, _ in }
    ) {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.onEvent = onEvent
    }

    /// A HEARTBEAT (or HELLO, with no status fields) from `terminal`, whose profile is `profile`.
    public func heartbeat(
        _ terminal: TerminalID,
        profile: String,
        health: TerminalHealth? = nil,
        cashier: String? = nil,
        appVersion: String? = nil
    ) {
        let now = clock.now()
        let date = clock.date()
        var entry =
            entries[terminal]
            ?? Entry(interval: configuration.interval(profile), lastBeat: now, lastHeartbeat: date, online: false)
        entry.interval = configuration.interval(profile)
        entry.lastBeat = now
        entry.lastHeartbeat = date
        entry.connected = true
        if cashier != nil { entry.reportedCashier = cashier }
        if appVersion != nil { entry.appVersion = appVersion }
        if !entry.online {
            entry.online = true
            entry.offlineAt = nil
            entry.alerts[.terminalOffline] = nil
            emit(terminal, "online", "heartbeat every \(entry.interval.inSeconds) s")
        }
        if let health {
            let previous = entry.health
            check(
                terminal,
                &entry,
                .printerUnavailable,
                problem: !health.printerAvailable,
                was: previous.map { !$0.printerAvailable } ?? false,
                name: "printer",
                date: date
            )
            check(
                terminal,
                &entry,
                .drawerUnavailable,
                problem: !health.drawerAvailable,
                was: previous.map { !$0.drawerAvailable } ?? false,
                name: "cash drawer",
                date: date
            )
            entry.health = health
        }
        entries[terminal] = entry
    }

    /// The terminal's connection dropped (ZMTP heartbeat timeout or a closed socket): offline at
    /// once, without waiting for missed heartbeats.
    public func disconnected(_ terminal: TerminalID) {
        guard var entry = entries[terminal] else { return }
        entry.connected = false
        goOffline(terminal, &entry, reason: "connection lost")
        entries[terminal] = entry
    }

    /// Re-evaluates every terminal against the clock: missed heartbeats and overdue alerts.
    public func evaluate() {
        let now = clock.now()
        for (terminal, var entry) in entries {
            if entry.online, now - entry.lastBeat > entry.interval * configuration.missedBeforeOffline {
                goOffline(terminal, &entry, reason: "\(configuration.missedBeforeOffline) heartbeats missed")
            }
            if !entry.online, let offline = entry.offlineAt, entry.alerts[.terminalOffline] == nil,
                now - offline.instant >= configuration.offlineAlertAfter
            {
                let alert = Alert(
                    terminal: terminal,
                    kind: .terminalOffline,
                    since: offline.date,
                    message: "\(terminal) offline for more than \(configuration.offlineAlertAfter.inSeconds) s"
                )
                entry.alerts[.terminalOffline] = alert
                logger.warning("alert", metadata: ["terminal.id": "\(terminal)", "alert": "\(alert.kind.rawValue)"])
                emit(terminal, "alert", alert.message)
            }
            entries[terminal] = entry
        }
    }

    /// Every terminal the monitor has heard from.
    public func statuses() -> [TerminalID: Status] {
        var statuses: [TerminalID: Status] = [:]
        for (terminal, entry) in entries {
            statuses[terminal] = Status(
                terminal: terminal,
                online: entry.online,
                connected: entry.connected,
                interval: entry.interval,
                lastHeartbeat: entry.lastHeartbeat,
                offlineSince: entry.offlineAt?.date,
                health: entry.health,
                reportedCashier: entry.reportedCashier,
                appVersion: entry.appVersion
            )
        }
        return statuses
    }

    /// Open alerts, oldest first.
    public func alerts() -> [Alert] {
        entries.values.flatMap(\.alerts.values).sorted {
            ($0.since, $0.terminal.rawValue) < ($1.since, $1.terminal.rawValue)
        }
    }

    /// Terminals online now.
    public func onlineCount() -> Int { entries.values.count(where: \.online) }

    // MARK: Private

    private func goOffline(_ terminal: TerminalID, _ entry: inout Entry, reason: String) {
        guard entry.online else { return }
        entry.online = false
        entry.offlineAt = (clock.now(), clock.date())
        emit(terminal, "offline", reason)
    }

    private func check(
        _ terminal: TerminalID,
        _ entry: inout Entry,
        _ kind: ErrorCode,
        problem: Bool,
        was: Bool,
        name: String,
        date: Date
    ) {
        let event = kind.rawValue.lowercased()
        if problem && entry.alerts[kind] == nil {
            let alert = Alert(terminal: terminal, kind: kind, since: date, message: "\(terminal): \(name) unavailable")
            entry.alerts[kind] = alert
            logger.warning("alert", metadata: ["terminal.id": "\(terminal)", "alert": "\(kind.rawValue)"])
            emit(terminal, event, alert.message)
        } else if !problem && (was || entry.alerts[kind] != nil) {
            entry.alerts[kind] = nil
            emit(terminal, event.replacingOccurrences(of: "_unavailable", with: "_restored"), "\(name) available again")
        }
    }

    private func emit(_ terminal: TerminalID, _ kind: String, _ detail: String) {
        logger.info("terminal \(kind)", metadata: ["terminal.id": "\(terminal)", "detail": "\(detail)"])
        onEvent(terminal, kind, detail)
    }
}
