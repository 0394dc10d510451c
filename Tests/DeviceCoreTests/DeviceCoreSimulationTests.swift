import FiscalCore
import Foundation
import Testing

@testable import Mediator

/// The seeded simulation of the device core (Simulation.swift).
///
/// `make test` runs as many seeds as fit in `DEVICE_CORE_SECONDS` (default 60); `make simulate
/// SEEDS=N` runs N. A failing seed prints itself; `DEVICE_CORE_SEED=N` replays exactly that one.
@Suite("DeviceCoreSimulation")
struct DeviceCoreSimulationTests {
    static let environment = ProcessInfo.processInfo.environment
    static let steps = Int(environment["DEVICE_CORE_STEPS"] ?? "") ?? 300

    @Test("random schedules: every invariant after every step, and every (state, event) pair visited")
    func seeds() throws {
        if let single = Self.environment["DEVICE_CORE_SEED"].flatMap(UInt64.init) {
            var simulation = Simulation(seed: single)
            simulation.tracing = true
            try simulation.run(steps: Self.steps)
            return
        }
        let budget = Duration.seconds(Int(Self.environment["DEVICE_CORE_SECONDS"] ?? "") ?? 60)
        let count = Int(Self.environment["DEVICE_CORE_SEEDS"] ?? "")
        let first = UInt64(Self.environment["DEVICE_CORE_FIRST_SEED"] ?? "") ?? 1
        let started = ContinuousClock.now
        var visited: Set<String> = []
        var seed = first
        var ran = 0
        while count.map({ ran < $0 }) ?? (started.duration(to: .now) < budget) {
            var simulation = Simulation(seed: seed)
            do {
                try simulation.run(steps: Self.steps)
            } catch {
                // The same seed again, writing its steps down this time.
                var replay = Simulation(seed: seed)
                replay.tracing = true
                do { try replay.run(steps: Self.steps) } catch let traced { Issue.record("\(traced)") }
                Issue.record("\(error)")
                return
            }
            visited.formUnion(simulation.visited)
            seed += 1
            ran += 1
        }
        let elapsed = started.duration(to: .now)
        let rate = Double(ran) / max(elapsed.inSeconds, 0.001)
        print(
            "device core simulation: \(ran) seeds from \(first) in \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1)))), \(String(format: "%.0f", rate)) schedules/s, \(visited.count) (state, event) pairs"
        )
        if Self.environment["DEVICE_CORE_PRINT_PAIRS"] != nil { print(visited.sorted().joined(separator: "\n")) }
        if ran >= 200 {
            let missing = Self.required.subtracting(visited).sorted()
            #expect(missing.isEmpty, "(state, event) pairs never visited: \(missing)")
        }
    }

    /// The (state, event) pairs the machine defines: a run of enough seeds must visit each one,
    /// or the schedule does not reach the windows where races live.
    static let required: Set<String> = [
        // Terminal messages against each state of their request.
        "unknown × admit", "admitting × admit", "queued × admit", "preparing × admit", "prepared × admit",
        "committing × admit", "inDoubt.status × admit", "sealing × admit", "finishing × admit",
        "unknown × commit", "queued × commit", "preparing × commit", "prepared × commit", "committing × commit",
        "sealing × commit", "finishing × commit",
        "unknown × abort", "admitting × abort", "queued × abort", "preparing × abort", "prepared × abort",
        "committing × abort", "inDoubt.status × abort", "sealing × abort", "finishing × abort",
        "waitingToPrepare × abort",
        "unknown × result", "queued × result", "preparing × result", "prepared × result", "committing × result",
        "sealing × result", "finishing × result",
        // Device answers in each phase.
        "preparing × device.prepared", "preparing × device.busy", "preparing × device.refused",
        "preparing × device.lost", "preparing × device.garbled",
        "preparing+abort × device.prepared", "preparing+abort × device.lost",
        "committing × device.sealed", "committing × device.refused", "committing × device.lost",
        "committing × device.garbled",
        "inDoubt.status × device.status", "inDoubt.status × device.lost", "inDoubt.log × device.logged",
        "errand.probe × device.status", "errand.probe × device.lost",
        "errand.journalStatus × device.status", "errand.adopt × device.logged",
        // Time and connections.
        "prepared × lease", "prepared × roaming", "queued × roaming", "queued × grant", "queued × blocked",
        "idle × disconnect", "prepared × disconnect", "idle × return",
        // The store and shutdown.
        "idle × written", "idle × writeFailed", "idle × shutdown", "preparing × shutdown",
        // Device-free holds (odd seeds): a reservation against each message and its lease.
        "reserved × admit", "reserved × commit", "reserved × abort", "reserved × result", "reserved × lease",
        // Operator reports (three seeds of four): asked in each state of the device, their turn,
        // each exchange of a Z (z_count, the intent's write, RPT|Z) against each answer, and the
        // resolution of a Z whose reply was lost (a DEF without QRY|ZREPORT on one seed in seven).
        "idle × report", "preparing × report", "prepared × report", "committing × report",
        "inDoubt.status × report", "report.askingZ × report", "idle × report.turn", "report.queued × blocked",
        "report.counting × device.status", "report.counting × device.lost", "report.recording × written",
        "report.recording × writeFailed", "report.recording × shutdown", "report.askingZ × device.report",
        "report.askingZ × device.lost", "report.askingZ × device.garbled", "report.askingZ × device.busy",
        "report.asking × device.report", "report.asking × device.lost", "report.waiting × shutdown",
        "errand.zStatus × device.status", "errand.zStatus × device.lost", "errand.zReadBack × device.report",
        "errand.zReadBack × device.refused",
    ]
}
