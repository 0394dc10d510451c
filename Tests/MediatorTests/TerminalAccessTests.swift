import DeviceEmulator
import FiscalCore
import FiscalTestSupport
import Foundation
import Mediator
import MediatorStore
import TerminalClient
import Testing

/// Who may use the device, and as whom: the registry, machine binding and cashier sessions,
/// end to end over loopback ZeroMQ.
@Suite("Terminal access over ZeroMQ", .timeLimit(.minutes(1)))
struct TerminalAccessTests {
    @Test("plaintext: unknown and deactivated terminals are refused before the device; PING still answers")
    func registryGate() async throws {
        // Under CURVE an unknown terminal has no pinned key and never gets past the handshake
        // (CurveAccessTests); this is version 1's gate, behind --insecure-plaintext.
        let mediator = try await MediatorHarness(configure: { $0.gateway.security = .insecurePlaintext })
        defer { Task { await mediator.close() } }
        let stranger = try await mediator.connect("REG-077", register: false)
        #expect(try await stranger.send(TerminalRequest(type: .ping)).isOK)
        let hello = await refusal {
            try await stranger.send(TerminalRequest(type: .hello, terminalID: "REG-077", cashierID: "CASH-01"))
        }
        #expect(hello?.code == .notRegistered)
        let sale = await #expect(throws: FiscalError.self) {
            try await stranger.fiscalize(requestID: "s1", invoice: invoice("REG-077", sale: 1))
        }
        #expect(sale?.code == .notRegistered)
        let heartbeat = await #expect(throws: FiscalError.self) {
            try await stranger.heartbeat(
                TerminalHealth(printerAvailable: true, drawerAvailable: true, workPeriodOpen: true)
            )
        }
        #expect(heartbeat?.code == .notRegistered)

        let lane = try await mediator.client("REG-001")
        #expect(
            try await lane.fiscalize(requestID: "a", invoice: invoice("REG-001", sale: 1)).invoiceSeq == InvoiceSeq(1)
        )
        try mediator.store.setTerminalActive(TerminalID("REG-001"), false)
        let inactive = await #expect(throws: FiscalError.self) {
            try await lane.fiscalize(requestID: "b", invoice: invoice("REG-001", sale: 2))
        }
        #expect(inactive?.code == .terminalInactive)
        try mediator.store.setTerminalActive(TerminalID("REG-001"), true)
        #expect(
            try await lane.fiscalize(requestID: "b", invoice: invoice("REG-001", sale: 2)).invoiceSeq == InvoiceSeq(2)
        )
        // Nothing refused reached the device, and the refusals are not in the ledger.
        #expect(try await mediator.journal().count == 2)
        #expect(try mediator.store.request(TerminalID("REG-077"), "s1") == nil)
    }

    @Test("HELLO binds an unbound terminal to its machine; another machine is refused, also for sales, until rebound")
    func machineBinding() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let first = try await mediator.client("REG-005", machineID: "A4:83:E7:2B:91:F0")
        #expect(try mediator.store.terminal(TerminalID("REG-005"))?.machineID == "A4:83:E7:2B:91:F0")
        #expect(
            try await first.fiscalize(requestID: "1", invoice: invoice("REG-005", sale: 1)).invoiceSeq == InvoiceSeq(1)
        )
        first.close()

        // A second machine configured with the same code.
        let impostor = try await mediator.connect("REG-005", machineID: "00:11:22:33:44:55")
        let hello = await refusal { try await impostor.hello(cashierID: "CASH-01") }
        #expect(hello?.code == .machineMismatch)
        let sale = await #expect(throws: FiscalError.self) {
            try await impostor.fiscalize(requestID: "2", invoice: invoice("REG-005", sale: 2))
        }
        #expect(sale?.code == .machineMismatch)
        // A HELLO without machine id for a bound terminal is refused too.
        let anonymous = await refusal { try await impostor.send(TerminalRequest(type: .hello, terminalID: "REG-005")) }
        #expect(anonymous?.code == .machineMismatch)

        try mediator.store.rebindTerminal(TerminalID("REG-005"), to: "00:11:22:33:44:55")
        #expect(try await impostor.hello(cashierID: "CASH-01").isOK)
        #expect(
            try await impostor.fiscalize(requestID: "2", invoice: invoice("REG-005", sale: 2)).invoiceSeq
                == InvoiceSeq(2)
        )
        #expect(try await mediator.journal().count == 2)
    }

    @Test(
        "plaintext: self-registration, when enabled, registers a well-formed code at HELLO and refuses a malformed one"
    )
    func selfRegistration() async throws {
        let mediator = try await MediatorHarness(configure: {
            $0.selfRegister = true
            $0.gateway.security = .insecurePlaintext
        })
        defer { Task { await mediator.close() } }
        let tablet = try await mediator.connect("MOB-003", register: false, machineID: "tablet-3")
        let hello = try await tablet.hello(cashierID: "CASH-07")
        #expect(hello.isOK && hello.terminal?.kind == .mobile && hello.cashierID == "CASH-07")
        #expect(hello.heartbeatMs == 5000)
        let registered = try #require(try mediator.store.terminal(TerminalID("MOB-003")))
        #expect(registered.machineID == "tablet-3" && registered.businessMode == .restaurant)
        let odd = try await mediator.connect("tablet-9", register: false)
        #expect(
            await refusal { try await odd.send(TerminalRequest(type: .hello, terminalID: "tablet-9")) }?.code
                == .notRegistered
        )
    }

    @Test("sales need the logged-in cashier; LOGIN for another terminal and malformed LOGINs are refused")
    func cashiers() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let lane = try await mediator.client("REG-002", cashier: nil)
        let none = await #expect(throws: FiscalError.self) {
            try await lane.fiscalize(requestID: "1", invoice: invoice("REG-002", sale: 1))
        }
        #expect(none?.code == .notLoggedIn)
        #expect(try await lane.login(cashierID: "CASH-02").cashierID == "CASH-02")
        let wrong = await #expect(throws: FiscalError.self) {
            try await lane.fiscalize(requestID: "1", invoice: invoice("REG-002", sale: 1))  // rung up by CASH-01
        }
        #expect(wrong?.code == .cashierMismatch)
        let forOther = await refusal {
            try await lane.send(TerminalRequest(type: .login, terminalID: "REG-003", cashierID: "CASH-01"))
        }
        #expect(forOther?.code == .terminalMismatch)
        _ = try await lane.login(cashierID: "CASH-01")
        let sealed = try await lane.fiscalize(requestID: "1", invoice: invoice("REG-002", sale: 1))
        #expect(try mediator.store.sealedInvoice(sealed.invoiceSeq.rawValue)?.cashierID == "CASH-01")
        _ = try await lane.logout()
        let after = await #expect(throws: FiscalError.self) {
            try await lane.fiscalize(requestID: "2", invoice: invoice("REG-002", sale: 2))
        }
        #expect(after?.code == .notLoggedIn)
        let history = try mediator.store.cashierSessions(at: TerminalID("REG-002"))
        #expect(history.map(\.cashierID) == ["CASH-01", "CASH-02"])
        #expect(history.first?.closeReason == "logout" && history.last?.closeReason == "superseded by CASH-01")
        #expect(try await mediator.journal().count == 1)
    }

    @Test("HEARTBEAT: status fields are checked; a good one marks the terminal online with its interval")
    func heartbeats() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let lane = try await mediator.client("REG-004")
        let bad = await refusal {
            try await lane.send(
                TerminalRequest(
                    type: .heartbeat,
                    health: TerminalHealth(
                        printerAvailable: true,
                        drawerAvailable: true,
                        workPeriodOpen: true,
                        ipAddress: "10.0.0.300",
                        latencyMs: -4
                    )
                )
            )
        }
        #expect(bad?.code == .messageInvalid)
        #expect(Set(bad?.violations.map(\.path) ?? []) == ["$.health.ip_address", "$.health.latency_ms"])

        let good = try await lane.heartbeat(
            TerminalHealth(printerAvailable: false, drawerAvailable: true, workPeriodOpen: true, ipAddress: "10.0.0.4"),
            cashierID: "CASH-01"
        )
        #expect(good.heartbeatMs == 15000)
        let status = await mediator.service.monitor.statuses()[TerminalID("REG-004")]
        #expect(status?.online == true && status?.health?.ipAddress == "10.0.0.4")
        #expect(await mediator.service.monitor.alerts().map(\.kind) == [.printerUnavailable])
        #expect(try await mediator.journal().isEmpty)
    }
}

@Suite("Roaming tablets", .timeLimit(.minutes(1)))
struct RoamingTests {
    @Test("a tablet back within the grace keeps the lock and commits its nonce: one fiscal number, lanes waited")
    func backWithinGrace() async throws {
        let mediator = try await MediatorHarness(configure: { $0.device.roamingGrace = .seconds(3) })
        defer { Task { await mediator.close() } }
        let tablet = try await mediator.client("MOB-001")
        let lane = try await mediator.client("REG-001")
        let sale = invoice("MOB-001", sale: 3)
        let (nonce, _) = try await tablet.prepare(requestID: "table-3", invoice: sale)
        tablet.close()  // the Wi-Fi gap
        async let laneSale = lane.fiscalize(requestID: "lane-1", invoice: invoice("REG-001", sale: 1))
        try await Task.sleep(for: .milliseconds(300))
        // Back under the same identity on a new connection, well within the grace.
        let back = try await mediator.connect("MOB-001")
        let sealed = try await back.commit(requestID: "table-3", nonce: nonce)
        #expect(sealed.invoiceSeq == InvoiceSeq(1))
        #expect(try await laneSale.invoiceSeq == InvoiceSeq(2))
        let journal = try await mediator.journal()
        #expect(journal.map(\.posTerminalID) == ["MOB-001", "REG-001"])
        #expect(try mediator.store.request(TerminalID("MOB-001"), "table-3")?.state == .sealed)
    }

    @Test("a tablet gone past the grace loses the lock; returning, it re-prepares the same request: still one number")
    func backAfterGrace() async throws {
        // A 1 s lease (the device's 1.5 s TTL less 500 ms): room for a loaded machine's round trips.
        let mediator = try await MediatorHarness(
            configureEmulator: { $0.nonceTTL = .milliseconds(1500) },
            configure: { $0.device.roamingGrace = .milliseconds(300) }
        )
        defer { Task { await mediator.close() } }
        let tablet = try await mediator.client("MOB-002")
        let lane = try await mediator.client("REG-002")
        let sale = invoice("MOB-002", sale: 9)
        let (oldNonce, _) = try await tablet.prepare(requestID: "table-9", invoice: sale)
        tablet.close()
        let started = ContinuousClock.now
        #expect(
            try await lane.fiscalize(requestID: "l1", invoice: invoice("REG-002", sale: 1)).invoiceSeq == InvoiceSeq(1)
        )
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(250) && waited < .seconds(3))

        let back = try await mediator.connect("MOB-002")
        #expect(try await back.result(requestID: "table-9").state == .aborted)
        let stale = await #expect(throws: FiscalError.self) {
            try await back.commit(requestID: "table-9", nonce: oldNonce)
        }
        #expect(stale?.code == .aborted || stale?.code == .nonceExpired || stale?.code == .invalidNonce)
        let (nonce, _) = try await back.prepare(requestID: "table-9", invoice: sale)
        #expect(try await back.commit(requestID: "table-9", nonce: nonce).invoiceSeq == InvoiceSeq(2))
        // Asking again replays; the device has exactly one entry for the sale.
        #expect(try await back.result(requestID: "table-9").securityElements?.invoiceSeq == InvoiceSeq(2))
        #expect(try await mediator.journal().filter { $0.posTerminalID == "MOB-002" }.count == 1)
    }

    @Test(
        "the device keeps an aborted holder's PREPARE until its nonce TTL; the lane goes on right then, not at a later retry"
    )
    func abandonedPrepareEndsAtTTL() async throws {
        let mediator = try await MediatorHarness(
            configureEmulator: { $0.nonceTTL = .milliseconds(800) },
            configure: {
                $0.device.roamingGrace = .milliseconds(100)
                // Polling DEVICE_BUSY at these pauses would keep the lane waiting 3 s or more.
                $0.device.retryBackoff = (.seconds(3), .seconds(3))
            }
        )
        defer { Task { await mediator.close() } }
        let tablet = try await mediator.client("MOB-003")
        let lane = try await mediator.client("REG-003")
        let started = ContinuousClock.now
        _ = try await tablet.prepare(requestID: "table-4", invoice: invoice("MOB-003", sale: 4))
        tablet.close()
        let sealed = try await lane.fiscalize(requestID: "l1", invoice: invoice("REG-003", sale: 1))
        let waited = ContinuousClock.now - started
        #expect(sealed.invoiceSeq == InvoiceSeq(1))
        #expect(waited >= .milliseconds(750), "the device refused PREPARE until the TTL: \(waited)")
        #expect(waited < .milliseconds(2500), "the lane went on when the device's TTL ended: \(waited)")
    }
}
