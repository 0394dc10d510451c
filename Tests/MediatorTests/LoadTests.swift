import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import LoadGenerator
import Mediator
import MediatorStore
import SampleData
import TerminalClient
import Testing
import Topology

@Suite("Load audit (pure logic)")
struct LoadAuditTests {
    static func entries(_ count: Int) -> [JournalEntry] {
        var previous = JournalEntry.genesisHash
        return (1...count).map { seq in
            let entry = JournalEntry(
                seq: InvoiceSeq(UInt64(seq)),
                deviceID: DeviceID("DEF-1"),
                previousHash: previous,
                payloadDigest: "digest-\(seq)",
                posTerminalID: "REG-001",
                cashierID: "CASH-01",
                invoiceType: .sale,
                total: Money(units: 100),
                currency: "CDF",
                deviceTimestamp: "2026-11-21T08:00:00.000Z",
                authCode: "sig",
                entryHash: "hash-\(seq)"
            )
            previous = entry.entryHash
            return entry
        }
    }

    static func ack(_ entry: JournalEntry, _ request: String) -> LoadAudit.Acknowledgement {
        .init(terminal: entry.posTerminalID, requestID: request, elements: entry.securityElements)
    }

    @Test("a clean run is clean")
    func clean() {
        let journal = Self.entries(5)
        let store = Dictionary(uniqueKeysWithValues: journal.map { ($0.seq.rawValue, $0.entryHash) })
        let acks = journal.map { Self.ack($0, "r\($0.seq)") }
        let audit = LoadAudit.compare(journal: journal, verified: true, store: store, acknowledgements: acks)
        #expect(audit.clean && audit.gaps == 0 && audit.acknowledged == 5 && audit.findings.isEmpty)
    }

    @Test("gaps, duplicates and missing acknowledgements are each counted and named")
    func problems() {
        var journal = Self.entries(6)
        journal.remove(at: 2)  // number 3 is missing from the journal
        journal[3].payloadDigest = journal[0].payloadDigest  // the sale sealed as 1 sealed again (as 5)
        var store = Dictionary(uniqueKeysWithValues: journal.map { ($0.seq.rawValue, $0.entryHash) })
        store[6] = nil  // the store lacks 6
        var acks = journal.map { Self.ack($0, "r\($0.seq)") }
        acks.append(Self.ack(journal[1], "other"))  // number 2 acknowledged to two requests
        var forged = journal[0].securityElements
        forged.entryHash = "made-up"
        acks.append(.init(terminal: "REG-001", requestID: "forged", elements: forged))
        let audit = LoadAudit.compare(journal: journal, verified: false, store: store, acknowledgements: acks)
        #expect(audit.gaps == 2)  // 3 not in the journal, 6 not in the store
        // A sale sealed twice; number 2 acknowledged to two requests; number 1 to r1 and "forged".
        #expect(audit.duplicates == 3)
        // The forged acknowledgement (not the journal's entry 1); 6, acknowledged but not in the store.
        #expect(audit.missing == 2)
        #expect(audit.signaturesOK == false && !audit.clean)
        #expect(audit.findings.contains { $0.contains("fiscal number 3 is not in the journal") })
    }
}

extension LoadAuditTests {
    @Test("an unreadable journal makes the audit incomplete, never clean: in the verdict and the JSON")
    func unreadableJournal() throws {
        let store = Dictionary(uniqueKeysWithValues: Self.entries(3).map { ($0.seq.rawValue, $0.entryHash) })
        let error = "REPLY_INVALID: the reply to ADM|DUMPLOG was corrupt"
        let audit = LoadAudit.compare(
            journal: nil,
            verified: nil,
            journalError: error,
            store: store,
            acknowledgements: []
        )
        #expect(!audit.clean && !audit.journalRead && audit.gaps == 0 && audit.missing == 0)
        #expect(audit.verdict == "audit: incomplete (journal unreadable: \(error))")
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(audit)) as? [String: Any]
        #expect(json?["journal_read"] as? Bool == false)
        #expect(json?["journal_error"] as? String == error)

        // Read, but its signatures not checked, or the store unreadable: not clean either.
        let unchecked = LoadAudit.compare(journal: Self.entries(3), verified: nil, store: store, acknowledgements: [])
        #expect(!unchecked.clean && unchecked.journalRead)
        let noStore = LoadAudit.compare(
            journal: Self.entries(3),
            verified: true,
            store: [:],
            storeError: "no such file",
            acknowledgements: []
        )
        #expect(!noStore.clean && noStore.verdict == "audit: incomplete (store unreadable: no such file)")
        let read = LoadAudit.compare(journal: Self.entries(3), verified: true, store: store, acknowledgements: [])
        #expect(read.clean && read.verdict == "audit: clean")
    }
}

/// The load generator against a real mediator on loopback, with roaming tablets.
@Suite("Load generator", .timeLimit(.minutes(1)))
struct LoadRunnerTests {
    @Test("lanes and roaming tablets: every sale acknowledged once, journal = store = acknowledgements")
    func roaming() async throws {
        var topology = try await Topology.load(
            path: TopologyTests.folder.appendingPathComponent("restaurant-waiters.yaml").path
        )
        topology.terminals = Array(topology.terminals.prefix(4))  // the bar's till and three tablets
        topology.load.tpsPerTerminal = 4
        topology.load.roaming = Topology.Roaming(
            meanInterval: .milliseconds(700),
            outage: .milliseconds(100)...(.milliseconds(900)),
            whileHoldingShare: 0.5
        )
        // A 1 s lease (the device's TTL is longer): a tablet's COMMIT round trip on a loaded
        // machine stays inside it, so the run measures roaming, not the scheduler.
        let mediator = try await MediatorHarness(
            configureEmulator: { $0.nonceTTL = .seconds(2) },
            configure: {
                $0.outletID = topology.outletID
                $0.device.lease = .seconds(1)
                $0.device.roamingGrace = .milliseconds(400)
            }
        )
        defer { Task { await mediator.close() } }
        for terminal in topology.terminals { try await mediator.register(terminal.code.rawValue, cashier: nil) }
        var curve: [TerminalID: CurveSettings] = [:]
        for terminal in topology.terminals { curve[terminal.code] = try mediator.curveSettings(terminal.code.rawValue) }
        let runner = LoadRunner(
            topology: topology,
            endpoint: mediator.endpoint,
            duration: .seconds(6),
            context: ClientContext(mediator.context),
            curve: curve
        )
        let outcome = await runner.run()
        #expect(outcome.errorsByCode.isEmpty, "\(outcome.errorsByCode)")
        #expect(outcome.roamingEvents > 0)
        // Sales of both kinds, not a throughput: on a loaded machine a sale can take a second.
        #expect(outcome.latencies.count >= 8, "\(outcome.latencies.count) sales")
        #expect(
            outcome.twoPhaseSales > 0 && outcome.fiscalizeSales > 0,
            "\(outcome.twoPhaseSales), \(outcome.fiscalizeSales)"
        )

        let dump = try await mediator.device.client.dumpEntireLog()
        try dump.verify()
        let journal = dump.entries
        // A sale whose terminal stopped waiting may still have its seal on the way to disk.
        try await eventually("the store holds every journal entry") {
            try mediator.store.sealedInvoices(limit: 10_000).count == journal.count
        }
        let store = Dictionary(
            uniqueKeysWithValues: try mediator.store.sealedInvoices(limit: 10_000).map {
                ($0.entry.seq.rawValue, $0.entry.entryHash)
            }
        )
        let audit = LoadAudit.compare(
            journal: journal,
            verified: true,
            store: store,
            acknowledgements: outcome.acknowledgements
        )
        #expect(audit.clean, "\(audit.findings)")
        #expect(audit.journalEntries == outcome.latencies.count && audit.acknowledged == outcome.latencies.count)
    }
}

@Suite("Arrival schedules (pure logic)")
struct ArrivalScheduleTests {
    @Test("paced: every gap is exactly 1/TPS, the first sale at a random point of the first interval")
    func paced() {
        let schedule = ArrivalSchedule(.paced, tps: 5)
        var random = SeededRandom(seed: 7)
        #expect((0..<1000).allSatisfy { _ in schedule.nextGap(&random) == .milliseconds(200) })
        let firsts = (0..<100).map { _ in schedule.firstDelay(&random) }
        #expect(firsts.allSatisfy { $0 >= .zero && $0 < .milliseconds(200) })
        #expect(Set(firsts).count > 90)
    }

    @Test("poisson: exponential gaps with mean 1/TPS (standard deviation equal to the mean), first sale at once")
    func poisson() {
        let schedule = ArrivalSchedule(.poisson, tps: 5)
        var random = SeededRandom(seed: 7)
        #expect(schedule.firstDelay(&random) == .zero)
        let gaps = (0..<20_000).map { _ in schedule.nextGap(&random).inSeconds }
        let mean = gaps.reduce(0, +) / Double(gaps.count)
        let deviation = (gaps.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(gaps.count)).squareRoot()
        #expect(abs(mean - 0.2) < 0.01, "mean \(mean)")
        #expect(abs(deviation / mean - 1) < 0.05, "coefficient of variation \(deviation / mean)")
    }
}
