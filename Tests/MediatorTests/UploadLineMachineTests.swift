import FiscalCore
import Foundation
import Mediator
import Testing

/// The upload line's decisions as a plain value: no store, no HTTP.
@Suite("Upload line state machine")
struct UploadLineMachineTests {
    typealias Machine = SyncUploader.StateMachine

    static func line(
        _ confirmed: UInt64,
        _ head: [UInt64],
        quarantined: Set<UInt64> = [],
        last: UInt64? = nil
    )
        -> Machine.Line
    {
        Machine.Line(
            confirmedThrough: confirmed,
            lastStored: last ?? head.last,
            head: head.map { .init(seq: $0, quarantined: quarantined.contains($0)) }
        )
    }

    @Test("only a contiguous run from the last confirmed number + 1 is sent")
    func contiguousRun() {
        var machine = Machine(configuration: .init(batchSize: 10))
        #expect(machine.lineRead(Self.line(0, [1, 2, 4, 5]), now: .zero) == .send(1...2))
        _ = machine.answered(.acknowledged([.confirmed(receipt: "a"), .confirmed(receipt: "b")]))
        // 3 is missing: 4 is never sent before it.
        #expect(machine.lineRead(Self.line(2, [4, 5]), now: .zero) == .gap(missing: 3, signal: true))
        #expect(machine.inFlight == nil)
        // The batch size bounds the run.
        var small = Machine(configuration: .init(batchSize: 2))
        #expect(small.lineRead(Self.line(7, [8, 9, 10]), now: .zero) == .send(8...9))
    }

    @Test("a gap halts the line, is handed to recovery once per interval, and the line resumes when it is filled")
    func gapLifecycle() {
        var machine = Machine(configuration: .init(batchSize: 10, gapSignalEvery: .seconds(5)))
        #expect(machine.lineRead(Self.line(1, [3]), now: .seconds(0)) == .gap(missing: 2, signal: true))
        #expect(machine.lineRead(Self.line(1, [3]), now: .seconds(4)) == .gap(missing: 2, signal: false))
        #expect(machine.lineRead(Self.line(1, [3]), now: .seconds(5)) == .gap(missing: 2, signal: true))
        // Uploaded numbers after the gap (a cloud that did not check order) still leave a gap.
        #expect(machine.lineRead(Self.line(1, [], last: 3), now: .seconds(6)) == .gap(missing: 2, signal: false))
        // Filled: the line resumes by itself.
        #expect(machine.lineRead(Self.line(1, [2, 3]), now: .seconds(7)) == .send(2...3))
        _ = machine.answered(.acknowledged([.confirmed(receipt: nil), .confirmed(receipt: nil)]))
        // A new gap later is handed over at once.
        #expect(machine.lineRead(Self.line(3, [5]), now: .seconds(8)) == .gap(missing: 4, signal: true))
        // Nothing after the confirmed run: idle, not a gap.
        #expect(machine.lineRead(Self.line(3, [], last: 3), now: .seconds(9)) == .idle)
    }

    @Test("a pending number below the watermark (adopted late) is the head")
    func adoptedBelowWatermark() {
        var machine = Machine(configuration: .init(batchSize: 10))
        #expect(machine.lineRead(Self.line(5, [2, 6, 7]), now: .zero) == .send(2...2))
    }

    @Test("nothing is sent before recovery finishes, and nothing while a recovery runs")
    func recoveryGate() {
        var machine = Machine(configuration: .init(batchSize: 10, waitForRecovery: true))
        #expect(machine.lineRead(Self.line(0, [1, 2]), now: .zero) == .waitForRecovery)
        machine.recoveryStarted()
        #expect(machine.lineRead(Self.line(0, [1, 2]), now: .zero) == .waitForRecovery)
        machine.recoveryFinished()
        #expect(machine.lineRead(Self.line(0, [1, 2]), now: .zero) == .send(1...2))
        _ = machine.answered(.unreachable("reset"))
        machine.recoveryStarted()
        #expect(machine.lineRead(Self.line(0, [1, 2]), now: .zero) == .waitForRecovery)
        machine.recoveryFinished()
        #expect(machine.lineRead(Self.line(0, [1, 2]), now: .zero) == .send(1...2))
    }

    @Test("a quarantined head stops the line; a quarantined item ends a run")
    func quarantine() {
        var machine = Machine(configuration: .init(batchSize: 10))
        #expect(machine.lineRead(Self.line(4, [5, 6], quarantined: [5]), now: .zero) == .quarantined(5))
        #expect(machine.lineRead(Self.line(4, [5, 6, 7], quarantined: [7]), now: .zero) == .send(5...6))
    }

    @Test("any 2xx with results is success; a rejection is recorded after the confirmed items")
    func acknowledgements() {
        var machine = Machine(configuration: .init(batchSize: 10))
        _ = machine.lineRead(Self.line(0, [1, 2, 3]), now: .zero)
        let action = machine.answered(
            .acknowledged([.confirmed(receipt: "r1"), .rejected(reason: "REJECTED: no"), .skipped])
        )
        #expect(
            action
                == .record(
                    confirmed: [.init(seq: 1, receipt: "r1")],
                    rejected: .init(seq: 2, reason: "REJECTED: no")
                )
        )
        #expect(machine.recorded(.done, confirmed: 1, rejected: 2) == .proceed(confirmed: 1, quarantined: 2))
    }

    @Test("409 is transient: backed off, never quarantined, even for a single item; Retry-After is a floor")
    func conflictIsTransient() {
        var machine = Machine(configuration: .init(batchSize: 1, failuresBeforeAlert: 2))
        _ = machine.lineRead(Self.line(0, [1]), now: .zero)
        guard case .backOff(let failure) = machine.answered(.status(409, detail: "", retryAfter: .seconds(7))) else {
            Issue.record("409 was not backed off")
            return
        }
        #expect(failure.kind == .server && failure.atLeast == .seconds(7) && !failure.raiseAlert)
        _ = machine.lineRead(Self.line(0, [1]), now: .zero)
        guard case .backOff(let second) = machine.answered(.status(503, detail: "", retryAfter: nil)) else {
            Issue.record("503 was not backed off")
            return
        }
        #expect(second.raiseAlert && second.alert == .syncFailing && second.attempt == 2)
        // Another 4xx refuses a batch: item by item, then the single item is quarantined.
        var batch = Machine(configuration: .init(batchSize: 5))
        _ = batch.lineRead(Self.line(0, [1, 2]), now: .zero)
        #expect(batch.answered(.status(400, detail: "", retryAfter: nil)) == .retryItemByItem(reason: "HTTP 400"))
        #expect(batch.lineRead(Self.line(0, [1, 2]), now: .zero) == .send(1...1))
        #expect(
            batch.answered(.status(422, detail: "", retryAfter: nil))
                == .record(confirmed: [], rejected: .init(seq: 1, reason: "HTTP 422"))
        )
        // A 3xx is no batch answer: never grounds to quarantine.
        _ = batch.lineRead(Self.line(0, [1, 2]), now: .zero)
        guard case .backOff = batch.answered(.status(302, detail: "", retryAfter: nil)) else {
            Issue.record("302 was not backed off")
            return
        }
    }

    @Test("a store failure while quarantining pauses the line instead of re-sending at once")
    func quarantineWriteFails() {
        var machine = Machine(configuration: .init(batchSize: 10))
        _ = machine.lineRead(Self.line(0, [1]), now: .zero)
        _ = machine.answered(.acknowledged([.rejected(reason: "REJECTED")]))
        let action = machine.recorded(.quarantineFailed(seq: 1, "disk I/O error"), confirmed: 0, rejected: 1)
        guard case .backOff(let failure) = action else {
            Issue.record("a failed quarantine write did not back off: \(action)")
            return
        }
        #expect(failure.kind == .store && failure.attempt == 1)
        _ = machine.lineRead(Self.line(0, [1]), now: .zero)
        _ = machine.answered(.acknowledged([.rejected(reason: "REJECTED")]))
        guard case .backOff(let again) = machine.recorded(.quarantineFailed(seq: 1, "x"), confirmed: 0, rejected: 1)
        else {
            Issue.record("the second failure did not back off")
            return
        }
        #expect(again.attempt == 2)  // the pause grows
    }

    @Test("Retry-After as seconds or as an HTTP date, in all three forms")
    func retryAfter() throws {
        let now = try #require(ISO8601DateFormatter().date(from: "2026-11-21T07:53:30Z"))
        #expect(SyncUploader.retryAfter("120", now: now) == .seconds(120))
        #expect(SyncUploader.retryAfter("Sat, 21 Nov 2026 07:54:00 GMT", now: now) == .seconds(30))
        #expect(SyncUploader.retryAfter("Saturday, 21-Nov-26 07:54:00 GMT", now: now) == .seconds(30))
        #expect(SyncUploader.retryAfter("Sat Nov 21 07:54:00 2026", now: now) == .seconds(30))
        #expect(SyncUploader.retryAfter("Sat, 21 Nov 2026 07:00:00 GMT", now: now) == .zero)  // past: at once
        #expect(SyncUploader.retryAfter("soon", now: now) == nil)
    }

    @Test("a 2xx answer must acknowledge what was sent, in order")
    func alignment() {
        let keys = ["D:1", "D:2"]
        let ok = Data(#"{"results":[{"idempotency_key":"D:1","status":"accepted","receipt":"r"}]}"#.utf8)
        #expect(SyncUploader.acknowledgements(ok, for: keys) == .acknowledged([.confirmed(receipt: "r")]))
        let swapped = Data(#"{"results":[{"idempotency_key":"D:2","status":"accepted"}]}"#.utf8)
        guard case .misaligned = SyncUploader.acknowledgements(swapped, for: keys) else {
            Issue.record("an answer out of order was taken")
            return
        }
        #expect(SyncUploader.acknowledgements(Data("{".utf8), for: keys) == .malformed(bytes: 1))
    }
}
