import FiscalCore

/// Faults the emulator can be told to show, from tests (`DeviceEmulator.arm`) or from the
/// command line (`--fault KIND[@N]`).
public enum EmulatorFault: Hashable, Sendable, CustomStringConvertible {
    /// Power fails inside COMMIT before the counter moves: nothing is journaled, no reply.
    case powerLossBeforeCommit
    /// Power fails inside COMMIT after the entry is journaled, before the reply is written.
    case powerLossAfterCommit
    /// The reply's bytes are corrupted on the line (its CRC fails).
    case garbledReply
    /// Only the first half of the reply reaches the host.
    case truncatedReply
    /// The device answers nothing.
    case noReply

    /// Whether the fault waits for a COMMIT (rather than any command).
    public var triggersOnCommit: Bool {
        self == .powerLossBeforeCommit || self == .powerLossAfterCommit
    }

    public var description: String {
        switch self {
        case .powerLossBeforeCommit: "power-loss-before-commit"
        case .powerLossAfterCommit: "power-loss-after-commit"
        case .garbledReply: "garbled-reply"
        case .truncatedReply: "truncated-reply"
        case .noReply: "no-reply"
        }
    }

    public init?(name: String) {
        guard
            let fault = [
                EmulatorFault.powerLossBeforeCommit, .powerLossAfterCommit, .garbledReply, .truncatedReply, .noReply,
            ]
            .first(where: { $0.description == name })
        else { return nil }
        self = fault
    }

    /// Parses `KIND[@N]`: the fault fires at the N-th COMMIT (commit faults) or N-th command
    /// (reply faults) from now; N defaults to 1.
    public static func parse(_ text: String) -> (fault: EmulatorFault, occurrence: Int)? {
        let parts = text.split(separator: "@", maxSplits: 1)
        guard let name = parts.first, let fault = EmulatorFault(name: String(name)) else { return nil }
        if parts.count == 2 {
            guard let occurrence = Int(parts[1]), occurrence >= 1 else { return nil }
            return (fault, occurrence)
        }
        return (fault, 1)
    }
}

/// Device-speed modelling: how long each command takes in all (its own work included) before
/// the reply goes out.
public struct EmulatorLatency: Hashable, Sendable {
    public var prepare: Duration = .zero
    public var commit: Duration = .zero
    public var other: Duration = .zero

    public init(prepare: Duration = .zero, commit: Duration = .zero, other: Duration = .zero) {
        self.prepare = prepare
        self.commit = commit
        self.other = other
    }

    /// Parses `prepare=5ms,commit=10ms,other=1ms` (units: us, ms, s).
    public static func parse(_ text: String) -> EmulatorLatency? {
        var latency = EmulatorLatency()
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, let duration = parseDuration(String(pair[1])) else { return nil }
            switch pair[0] {
            case "prepare": latency.prepare = duration
            case "commit": latency.commit = duration
            case "other": latency.other = duration
            default: return nil
            }
        }
        return latency
    }

    /// `250us`, `15ms`, `2s`, `5m`, `1h`, `90d` (see `Duration.parsing`).
    public static func parseDuration(_ text: String) -> Duration? { Duration.parsing(text) }
}
