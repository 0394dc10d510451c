import FiscalCore
import FiscalTestSupport
import Foundation
import MediatorStore
import Reports
import SampleData
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A Z killed with SIGKILL at random moments of its commit (`report z` as a child process, on
/// a shift of 6,000 invoices so the transaction is wide enough to land in): afterwards there is
/// either no Z and the period is still open, or the whole Z and the period closed; numbers never
/// skip, and every chain verifies.
@Suite("Z killed mid-commit", .serialized, .timeLimit(.minutes(5)))
struct ReportCrashTests {
    static func zArguments(_ path: String, preview: Bool = false) -> [String] {
        [
            "report", "z", "--db", path, "--terminal", "REG-001", "--closed-by", "SUP", "--count", "CDF:500x0",
            "--count", "USD:1x0", "--explanation", "crash test", "--format", "json",
        ] + (preview ? ["--preview"] : [])
    }

    @Test("SIGKILL before or during the Z's commit leaves no Z or the whole Z, never a skipped number")
    func killedDuringZ() async throws {
        let directory = TemporaryDirectory("report-crash")
        defer { directory.remove() }
        let path = directory.url.appendingPathComponent("m.sqlite").path
        do {
            let store = try MediatorDatabase(path: path)
            _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-001")))
            _ = try await store.openPeriod(at: TerminalID("REG-001"), openedBy: "SUP", openingFloat: .init())
            _ = try await store.beginSession("CASH-01", at: TerminalID("REG-001"))
        }
        try ShiftBulkWriter.append(6000, to: path)

        // How long the whole work takes here, read-only: the kill points spread over it.
        let clock = ContinuousClock()
        let started = clock.now
        let preview = try await ServeProcess.run(Self.zArguments(path, preview: true))
        let span = clock.now - started
        #expect(preview.status == 0, "\(preview.errors)")

        var random = SeededRandom(seed: 19)
        var killed = 0
        var completed: ReportRecord?
        for _ in 0..<8 where completed == nil {
            let child = try ServeProcess(Self.zArguments(path))
            // Picks the moment to kill, it synchronizes nothing: whatever the child reached,
            // the store must be in one of the two states below.
            let delay = (0.1 + Double(random.next() % 1000) / 1000 * 0.6) * span.inSeconds
            try await Task.sleep(for: .seconds(delay))
            kill(child.process.processIdentifier, SIGKILL)
            let status = await child.exit()
            let store = try MediatorDatabase(path: path)
            let zs = try await store.reports(kinds: [.z])
            let open = try await store.openPeriod(at: TerminalID("REG-001"))
            if zs.isEmpty {
                #expect(open != nil, "no Z, yet the period is closed")
                killed += 1
            } else {
                #expect(zs.count == 1 && open == nil && zs[0].number.hasSuffix("REG001-0001"))
                completed = try await store.report(zs[0].number).record
                #expect(completed?.figures?.statistics.transactions == 6000, "exit \(status)")
            }
            #expect(try await store.verifyReports().findings.isEmpty)
        }
        if completed == nil {
            let finished = try await ServeProcess.run(Self.zArguments(path))
            #expect(finished.status == 0, "\(finished.errors)")
        }

        // The next Z takes the next number, chained to the first.
        let store = try MediatorDatabase(path: path)
        _ = try await store.openPeriod(at: TerminalID("REG-001"), openedBy: "SUP", openingFloat: .init())
        _ = try await store.beginSession("CASH-01", at: TerminalID("REG-001"))
        try ShiftBulkWriter.append(10, to: path)
        let next = try await ServeProcess.run(Self.zArguments(path))
        #expect(next.status == 0, "\(next.errors)")
        let zs = try await store.reports(kinds: [.z])
        #expect(zs.map { $0.number.suffix(4) } == ["0001", "0002"])
        #expect(try await store.report(zs[1].number).record.previousHash == zs[0].hash)
        #expect(try await store.verifyReports().findings.isEmpty)
        print("report crash: \(killed) kill(s) left no Z, the span was \(span)")
    }
}
