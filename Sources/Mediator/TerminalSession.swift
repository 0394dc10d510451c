public import FiscalCore
import MediatorStore

/// One terminal as the mediator sees it: its connection and who is at it.
///
/// Owns: whether it is connected and on which connection (descriptor), the cashier logged in
/// there (a cache of the store's open cashier session, written through), and whether its last
/// HELLO was refused for coming from the wrong machine. (Its health and app version are the
/// heartbeat monitor's.)
public actor TerminalSession {
    public let terminal: TerminalID
    public private(set) var descriptor: Int32 = -1
    public private(set) var connected = false
    public private(set) var cashier: String?
    /// Set by a HELLO refused with MACHINE_MISMATCH, cleared by one accepted: until then the
    /// terminal's requests are refused the same way.
    public private(set) var machineRejected = false
    private let store: MediatorDatabase
    /// Whether the cashier was read from the store yet (on the first message).
    private var cashierKnown = false

    init(terminal: TerminalID, store: MediatorDatabase) {
        self.terminal = terminal
        self.store = store
    }

    /// What the mediator needs to know about the session on every message.
    struct Heard: Sendable {
        /// The terminal was disconnected and this message came on a new connection.
        var returned: Bool
        var cashier: String?
        var machineRejected: Bool
        /// Why the cashier could not be read from the store, if it could not.
        var unreadable: FiscalError?
    }

    /// A message arrived on connection `descriptor`.
    func heard(on descriptor: Int32) async -> Heard {
        var unreadable: FiscalError?
        if !cashierKnown {
            do {
                cashier = try await store.openSession(at: terminal)?.cashierID
                cashierKnown = true
            } catch {
                // The cashier stays unknown; a sale is refused STORE_UNAVAILABLE, and the next
                // message reads again.
                unreadable = StoreFailure.fiscal(error)
            }
        }
        let returned = !connected && self.descriptor >= 0
        if descriptor >= 0 { self.descriptor = descriptor }
        connected = true
        return Heard(returned: returned, cashier: cashier, machineRejected: machineRejected, unreadable: unreadable)
    }

    /// The connection `descriptor` dropped; `true` if it was this terminal's current one (a
    /// handover may already have replaced it).
    func dropped(_ descriptor: Int32) -> Bool {
        guard descriptor == self.descriptor, connected else { return false }
        connected = false
        return true
    }

    func hello(machineRejected: Bool) { self.machineRejected = machineRejected }

    func loggedIn(_ cashier: String?) {
        self.cashier = cashier
        cashierKnown = true
    }
}
