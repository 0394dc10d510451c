import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import Mediator
import MediatorStore
import TerminalClient
import Testing
import ZeroMQ

@Suite("Mediator over loopback ZeroMQ", .timeLimit(.minutes(2)))
struct MediatorTests {
    @Test("ten terminals at once: a gap-free, duplicate-free sequence matching the device journal one to one")
    func tenTerminals() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let perTerminal = 15
        let acknowledged = try await withThrowingTaskGroup(of: [(String, SecurityElements)].self) { group in
            for lane in 1...10 {
                let terminal = "REG-\(String(format: "%03d", lane))"
                let client = try await mediator.client(terminal, timeout: .seconds(30))
                group.addTask {
                    var acks: [(String, SecurityElements)] = []
                    for sale in 0..<perTerminal {
                        let requestID = "\(terminal)-sale-\(sale)"
                        let invoice = invoice(terminal, sale: lane * 100 + sale)
                        if sale % 3 == 0 {
                            // Terminal-driven two-phase commit.
                            let (nonce, _) = try await client.prepare(requestID: requestID, invoice: invoice)
                            acks.append((terminal, try await client.commit(requestID: requestID, nonce: nonce)))
                        } else {
                            acks.append((terminal, try await client.fiscalize(requestID: requestID, invoice: invoice)))
                        }
                    }
                    client.close()
                    return acks
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        let seqs = acknowledged.map(\.1.invoiceSeq.rawValue).sorted()
        #expect(seqs == Array(1...UInt64(10 * perTerminal)))

        let journal = try await mediator.journal()
        #expect(journal.count == 10 * perTerminal)
        let stored = try mediator.store.sealedInvoices()
        #expect(stored.map(\.entry) == journal)
        for (terminal, elements) in acknowledged {
            let entry = journal[Int(elements.invoiceSeq.rawValue) - 1]
            #expect(
                entry.posTerminalID == terminal && entry.entryHash == elements.entryHash
                    && entry.authCode == elements.authCode
            )
        }
        #expect(try mediator.store.outboxCount() == 10 * perTerminal)
    }

    @Test(
        "a lost reply: the retry with the same request id gets the same fiscal number; another invoice under it is refused"
    )
    func lostReply() async throws {
        let mediator = try await MediatorHarness(configureEmulator: {
            $0.latency = EmulatorLatency(commit: .milliseconds(400))
        })
        defer { Task { await mediator.close() } }
        let client = try await mediator.client("REG-001", timeout: .milliseconds(150))
        let sale = invoice("REG-001", sale: 1)
        // The reply comes after the terminal stopped waiting: as if it were lost.
        let first = await #expect(throws: FiscalError.self) {
            try await client.fiscalize(requestID: "sale-1", invoice: sale)
        }
        #expect(first?.code == .mediatorTimeout)
        let settled = try await client.fiscalizeReliably(requestID: "sale-1", invoice: sale)
        #expect(settled.invoiceSeq == InvoiceSeq(1))
        let again = try await client.send(
            TerminalRequest(type: .fiscalize, requestID: "sale-1", invoice: sale),
            timeout: .seconds(5)
        )
        #expect(again.replayed == true && again.securityElements == settled)
        let conflict = await #expect(throws: FiscalError.self) {
            try await client.send(
                TerminalRequest(type: .fiscalize, requestID: "sale-1", invoice: invoice("REG-001", sale: 2)),
                timeout: .seconds(5)
            )
        }
        #expect(conflict?.code == .idempotencyConflict)
        #expect(try await mediator.journal().count == 1)
    }

    @Test(
        "a tablet that disconnects holding the lock: the others go on, and it finishes its sale with one fiscal number"
    )
    func holderDisconnects() async throws {
        let mediator = try await MediatorHarness(
            configureEmulator: { $0.nonceTTL = .seconds(1) },
            configure: { $0.device.roamingGrace = .milliseconds(500) }
        )
        defer { Task { await mediator.close() } }
        let tablet = try await mediator.client("MOB-001")
        let lane = try await mediator.client("REG-001")
        let sale = invoice("MOB-001", sale: 7)
        _ = try await tablet.prepare(requestID: "table-7", invoice: sale)
        tablet.close()  // out of range, holding the device

        let started = ContinuousClock.now
        let laneSale = try await lane.fiscalize(requestID: "lane-1", invoice: invoice("REG-001", sale: 1))
        // The lane waited out the grace (the tablet might have come back), then went on.
        #expect(ContinuousClock.now - started >= .milliseconds(450))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(laneSale.invoiceSeq == InvoiceSeq(1))
        #expect(try mediator.store.request(TerminalID("MOB-001"), "table-7")?.state == .aborted)

        // Back in range under the same identity: the same request id is prepared again.
        let back = try await mediator.client("MOB-001")
        let result = try await back.result(requestID: "table-7")
        #expect(result.state == .aborted)
        let (nonce, _) = try await back.prepare(requestID: "table-7", invoice: sale)
        let sealed = try await back.commit(requestID: "table-7", nonce: nonce)
        #expect(sealed.invoiceSeq == InvoiceSeq(2))
        #expect(try await mediator.journal().filter { $0.posTerminalID == "MOB-001" }.count == 1)
    }

    @Test(
        "a holder that lets its lease run out is told LEASE_EXPIRED and its COMMIT is refused; the next terminal proceeds"
    )
    func leaseExpiry() async throws {
        let mediator = try await MediatorHarness(
            configureEmulator: { $0.nonceTTL = .seconds(1) },
            configure: {
                $0.device.lease = .milliseconds(300)
                $0.device.roamingGrace = .milliseconds(100)
            }
        )
        defer { Task { await mediator.close() } }
        let slow = try await mediator.client("MOB-002")
        var events = slow.events.makeAsyncIterator()
        let (nonce, lease) = try await slow.prepare(requestID: "r1", invoice: invoice("MOB-002", sale: 1))
        #expect(lease <= 300)
        let event = await events.next()
        #expect(event?.event == .leaseExpired && event?.code == .nonceExpired && event?.requestID == "r1")
        let late = await #expect(throws: FiscalError.self) { try await slow.commit(requestID: "r1", nonce: nonce) }
        #expect(late?.code == .nonceExpired)
        let next = try await mediator.client("REG-003")
        #expect(
            try await next.fiscalize(requestID: "x", invoice: invoice("REG-003", sale: 2)).invoiceSeq == InvoiceSeq(1)
        )
    }

    @Test("nonces are checked before the device: another terminal's, another request's, unknown; COMMIT before PREPARE")
    func nonceChecks() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let owner = try await mediator.client("REG-001")
        let thief = try await mediator.client("REG-002")
        let (nonce, _) = try await owner.prepare(requestID: "a", invoice: invoice("REG-001", sale: 1))
        // The thief's own request, prepared later, so it is known to the mediator.
        let stolen = await #expect(throws: FiscalError.self) { try await thief.commit(requestID: "a", nonce: nonce) }
        #expect(stolen?.code == .invalidNonce)
        let unknown = await #expect(throws: FiscalError.self) {
            try await owner.commit(requestID: "a", nonce: Nonce.random().rawValue)
        }
        #expect(unknown?.code == .invalidNonce)
        let wrongRequest = await #expect(throws: FiscalError.self) {
            try await owner.commit(requestID: "b", nonce: nonce)
        }
        #expect(wrongRequest?.code == .invalidNonce)
        #expect(try await mediator.journal().isEmpty)
        #expect(try await owner.commit(requestID: "a", nonce: nonce).invoiceSeq == InvoiceSeq(1))
        // The same COMMIT again replays the stored outcome; it does not reach the device.
        let replay = try await owner.send(TerminalRequest(type: .commit, requestID: "a", nonce: nonce))
        #expect(replay.replayed == true && replay.securityElements?.invoiceSeq == InvoiceSeq(1))
        #expect(try await mediator.journal().count == 1)
    }

    @Test("device power loss before the counter moves: the request is aborted and the retry takes the number")
    func powerLossBeforeCommit() async throws {
        let mediator = try await MediatorHarness(deviceTimeout: .milliseconds(300))
        defer { Task { await mediator.close() } }
        let client = try await mediator.client("REG-001")
        mediator.device.emulator.arm(.powerLossBeforeCommit)
        let sale = invoice("REG-001", sale: 1)
        let lost = await #expect(throws: FiscalError.self) {
            try await client.fiscalize(requestID: "s1", invoice: sale)
        }
        #expect(lost?.code == .aborted)
        #expect(try await mediator.journal().isEmpty)
        #expect(try await client.fiscalizeReliably(requestID: "s1", invoice: sale).invoiceSeq == InvoiceSeq(1))
        #expect(try await mediator.journal().count == 1)
    }

    @Test("device power loss after the counter moved: the in-doubt COMMIT is found in the journal and answered")
    func powerLossAfterCommit() async throws {
        let mediator = try await MediatorHarness(deviceTimeout: .milliseconds(300))
        defer { Task { await mediator.close() } }
        let client = try await mediator.client("REG-001")
        mediator.device.emulator.arm(.powerLossAfterCommit)
        let sale = invoice("REG-001", sale: 1)
        let sealed = try await client.fiscalize(requestID: "s1", invoice: sale)
        #expect(sealed.invoiceSeq == InvoiceSeq(1) && sealed.payloadDigest == sale.payloadDigest())
        let journal = try await mediator.journal()
        #expect(journal.count == 1 && journal[0].entryHash == sealed.entryHash)
        #expect(try mediator.store.request(TerminalID("REG-001"), "s1")?.state == .sealed)
    }

    @Test("recovery stores what the device sealed even when the request's progress marks were lost")
    func recoveryFromJournal() async throws {
        let sale = invoice("REG-004", sale: 4)
        let mediator = try await MediatorHarness(beforeStart: { device, store in
            // As after a host power loss: the request was admitted (fully synchronous) and then
            // sealed by the device, but the 'prepared' and 'committing' marks never reached disk.
            let canonical = sale.canonicalJSON()
            _ = try store.admit(
                RequestRecord(
                    terminalID: TerminalID("REG-004"),
                    requestID: "lost-marks",
                    payloadDigest: SHA256.hex(canonical),
                    payload: canonical,
                    outletID: sale.outletID,
                    cashierID: sale.cashierID,
                    laneNumber: nil,
                    mode: .fiscalize
                )
            )
            _ = try await device.fiscalize(sale)
        })
        defer { Task { await mediator.close() } }
        let record = try mediator.store.request(TerminalID("REG-004"), "lost-marks")
        let stored = try #require(record)
        #expect(stored.state == .sealed && stored.invoiceSeq == 1)
        let client = try await mediator.client("REG-004")
        let retried = try await client.send(TerminalRequest(type: .fiscalize, requestID: "lost-marks", invoice: sale))
        #expect(retried.replayed == true && retried.securityElements?.invoiceSeq == InvoiceSeq(1))
        #expect(try await mediator.journal().count == 1)
    }

    @Test("a reply that never arrives from the device is resolved the same way, over the real pty")
    func noReplyOverPty() async throws {
        let mediator = try await MediatorHarness(transport: .pty, deviceTimeout: .milliseconds(300))
        defer { Task { await mediator.close() } }
        let client = try await mediator.client("REG-001")
        mediator.device.emulator.arm(.garbledReply, at: 2)  // PREPARE is command 1, COMMIT command 2
        let sealed = try await client.fiscalize(requestID: "s1", invoice: invoice("REG-001", sale: 1))
        #expect(sealed.invoiceSeq == InvoiceSeq(1))
        #expect(try await mediator.journal().count == 1)
    }

    @Test("STORAGE_FULL halts sealing and alerts every terminal; nothing reaches the device meanwhile")
    func deviceHalt() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let watcher = try await mediator.client("REG-009")
        _ = try await watcher.hello()
        var events = watcher.events.makeAsyncIterator()
        try await mediator.device.emulator.fillStorage()
        let client = try await mediator.client("REG-001")
        let refused = await #expect(throws: FiscalError.self) {
            try await client.fiscalize(requestID: "s1", invoice: invoice("REG-001", sale: 1))
        }
        #expect(refused?.code == .storageFull)
        let alert = await events.next()
        #expect(alert?.event == .deviceAlert && alert?.code == .storageFull)
        let again = await #expect(throws: FiscalError.self) {
            try await client.fiscalize(requestID: "s2", invoice: invoice("REG-001", sale: 2))
        }
        #expect(again?.code == .storageFull)
        #expect(try await client.status().device?.state == .halted)
    }

    @Test("a terminal over its queue cap gets QUEUE_FULL with a retry hint")
    func queueFull() async throws {
        let mediator = try await MediatorHarness(
            configureEmulator: { $0.latency = EmulatorLatency(commit: .milliseconds(200)) },
            configure: { $0.device.perTerminalQueueLimit = 1 }
        )
        defer { Task { await mediator.close() } }
        let busy = try await mediator.client("REG-001")
        let outcomes = await withTaskGroup(of: ErrorCode?.self) { group in
            for sale in 0..<3 {
                group.addTask {
                    do {
                        _ = try await busy.fiscalize(requestID: "q\(sale)", invoice: invoice("REG-001", sale: sale))
                        return nil
                    } catch { return (error as? FiscalError)?.code }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == .queueFull }.count == 1)
        #expect(outcomes.filter { $0 == nil }.count == 2)
    }
}
