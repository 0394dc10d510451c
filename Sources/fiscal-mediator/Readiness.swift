import FiscalCore
import Mediator
import ServiceLifecycle

/// Tells systemd (``SystemdNotifier``) how `serve` is doing: `STATUS=` while it waits,
/// `READY=1` once every port is bound and recovery is done as far as the device allows, then a
/// `STATUS=` line whenever the device's state changes, and `WATCHDOG=1` pings while the device
/// actor answers.
///
/// An absent or silent device does not hold readiness back: once DEVICE_UNREACHABLE is raised
/// the mediator is ready (it serves terminals with DEVICE_UNAVAILABLE), so systemd does not
/// restart it in a loop while the device is unplugged.
struct Readiness: Service {
    let service: MediatorService
    let notifier: SystemdNotifier
    /// The ops API's bound port (0 when it is off): the last port to be bound.
    let opsBound: AsyncStream<Int>

    /// How often the device actor is asked how it is, once ready.
    static let poll = Duration.milliseconds(100)

    func run() async throws {
        guard notifier.enabled else { return try await gracefulShutdown() }
        await cancelWhenGracefulShutdown {
            notifier.status("binding the ops API")
            var ports = opsBound.makeAsyncIterator()
            guard await ports.next() != nil else { return }
            notifier.status("recovering: settling what the last run left unfinished with the device")
            var shown = ""
            var readySent = false
            var sincePing = Duration.zero
            while !Task.isCancelled {
                let snapshot = await service.deviceActor.snapshot()
                let unreachable = snapshot.alerts.contains { $0.code == .deviceUnreachable }
                if !readySent, snapshot.ready || unreachable {
                    readySent = true
                    shown = Self.status(snapshot)
                    notifier.ready(status: shown)
                } else if readySent, Self.status(snapshot) != shown {
                    shown = Self.status(snapshot)
                    notifier.status(shown)
                }
                // The actor answered just now: the mediator is alive.
                if let interval = notifier.watchdogInterval, readySent {
                    sincePing += Self.poll
                    if sincePing >= interval {
                        sincePing = .zero
                        notifier.watchdog()
                    }
                }
                do { try await Task.sleep(for: Self.poll) } catch { return }
            }
        }
    }

    /// One line on what the mediator does now, for `systemctl status`.
    static func status(_ snapshot: DeviceSnapshot) -> String {
        let codes = snapshot.alerts.map(\.code.rawValue).joined(separator: ",")
        switch snapshot.device.state {
        case .ready:
            return "ready: device \(snapshot.device.deviceID ?? "?") seals\(codes.isEmpty ? "" : "; alerts \(codes)")"
        case .unavailable:
            return "ready: device unreachable, sales refused with DEVICE_UNAVAILABLE; alerts \(codes)"
        default:
            return "ready: device \(snapshot.device.state.rawValue); alerts \(codes.isEmpty ? "none" : codes)"
        }
    }
}
