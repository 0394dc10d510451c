import FiscalCore
import FiscalTestSupport
import Foundation
import MediatorStore
import Testing

@Suite("Terminal registry and cashier sessions (SQLite)")
struct TerminalRegistryTests {
    func store() throws -> (MediatorDatabase, TemporaryDirectory) {
        let directory = TemporaryDirectory("registry")
        return (try MediatorDatabase(path: directory.appending("mediator.sqlite").path), directory)
    }

    @Test(
        "codes follow the naming convention, and their prefix gives the kind",
        arguments: [
            ("REG-001", TerminalKind.register), ("TILL-BAR1", .till), ("ADMIN-1", .admin), ("KDS-02", .kitchenDisplay),
            ("MOB-008", .mobile), ("SCO-1", .selfCheckout),
        ]
    )
    func goodCodes(code: String, kind: TerminalKind) throws {
        #expect(try TerminalKind.of(code: code) == kind)
    }

    @Test(
        "malformed codes are refused with FORMAT_INVALID",
        arguments: ["REG001", "reg-001", "POS-1", "REG-", "REG-0a1", "REG-12345678901234567", ""]
    )
    func badCodes(code: String) {
        let error = #expect(throws: FiscalError.self) { try TerminalKind.of(code: code) }
        #expect(error?.code == .formatInvalid)
    }

    @Test("pre-registered terminals bind at their first HELLO; another machine is refused until an admin rebinds")
    func binding() async throws {
        let (store, directory) = try store()
        defer { directory.remove() }
        let lane = try store.addTerminal(TerminalRecord(code: TerminalID("REG-001"), laneNumber: 1))
        #expect(lane.machineID == nil && lane.active && lane.kind == .register && lane.businessMode == .supermarket)
        #expect(lane.heartbeatProfile == "lane")
        #expect(try await store.bindAtHello(TerminalID("REG-001"), machineID: "A4:83:E7:2B:91:F0") == .bound)
        #expect(try await store.bindAtHello(TerminalID("REG-001"), machineID: "A4:83:E7:2B:91:F0") == .unchanged)
        let other = await #expect(throws: FiscalError.self) {
            try await store.bindAtHello(TerminalID("REG-001"), machineID: "00:11:22:33:44:55")
        }
        #expect(other?.code == .machineMismatch)
        // A machine serves one terminal code only.
        _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-002")))
        let taken = await #expect(throws: FiscalError.self) {
            try await store.bindAtHello(TerminalID("REG-002"), machineID: "A4:83:E7:2B:91:F0")
        }
        #expect(taken?.code == .machineMismatch)
        // The admin moves REG-001 to the new machine.
        try store.rebindTerminal(TerminalID("REG-001"), to: "00:11:22:33:44:55")
        #expect(try await store.bindAtHello(TerminalID("REG-001"), machineID: "00:11:22:33:44:55") == .unchanged)
        try store.rebindTerminal(TerminalID("REG-001"), to: nil)
        #expect(try store.terminal(TerminalID("REG-001"))?.machineID == nil)
        let events = try store.terminalEvents(of: TerminalID("REG-001")).map(\.kind)
        #expect(events == ["unbound", "bound", "bound", "registered"])
    }

    @Test("duplicates and unknown codes are refused; deactivation is recorded")
    func registryRules() throws {
        let (store, directory) = try store()
        defer { directory.remove() }
        _ = try store.addTerminal(TerminalRecord(code: TerminalID("MOB-001")))
        let duplicate = #expect(throws: FiscalError.self) {
            try store.addTerminal(TerminalRecord(code: TerminalID("MOB-001")))
        }
        #expect(duplicate?.code == .configInvalid)
        let unknown = #expect(throws: FiscalError.self) { try store.setTerminalActive(TerminalID("MOB-009"), false) }
        #expect(unknown?.code == .notRegistered)
        #expect(try store.setTerminalActive(TerminalID("MOB-001"), false).active == false)
        #expect(try store.terminal(TerminalID("MOB-001"))?.active == false)
        #expect(try store.terminals().map(\.code.rawValue) == ["MOB-001"])
        let invalid = #expect(throws: FiscalError.self) { try TerminalRecord(code: TerminalID("TABLET-1")) }
        #expect(invalid?.code == .formatInvalid)
    }

    @Test("one open cashier session per terminal: a new LOGIN supersedes, LOGOUT closes, history is kept")
    func cashierSessions() throws {
        let (store, directory) = try store()
        defer { directory.remove() }
        let lane = TerminalID("REG-001")
        _ = try store.addTerminal(TerminalRecord(code: lane))
        let first = try store.logIn("CASH-01", at: lane)
        #expect(first.closed == nil)
        #expect(try store.logIn("CASH-01", at: lane).open.id == first.open.id)  // idempotent
        let second = try store.logIn("CASH-02", at: lane)
        #expect(second.closed?.cashierID == "CASH-01" && second.closed?.closeReason == "superseded by CASH-02")
        #expect(try store.currentSession(at: lane)?.cashierID == "CASH-02")
        #expect(try store.logOut(at: lane)?.cashierID == "CASH-02")
        #expect(try store.currentSession(at: lane) == nil)
        #expect(try store.logOut(at: lane) == nil)
        let history = try store.cashierSessions(at: lane)
        #expect(history.map(\.cashierID) == ["CASH-02", "CASH-01"])
        #expect(history.allSatisfy { $0.closedAt != nil })
    }

    @Test(
        "heartbeat status fields are checked",
        arguments: [
            ("10.0.0.7", true), ("::1", true), ("fe80::1:2", true), ("::ffff:192.168.1.20", true),
            ("2001:db8:0:0:0:0:2:1", true), ("256.1.1.1", false), ("10.0.0", false), ("01.2.3.4", false),
            ("1::2::3", false), ("gggg::1", false), ("hello", false),
        ]
    )
    func ipAddresses(text: String, valid: Bool) {
        #expect(IPAddress.isValid(text) == valid)
    }
}
