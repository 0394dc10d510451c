public import FiscalCore
import MediatorStore
public import ZeroMQ

/// One terminal as the mediator sees it: its connection and who is at it.
///
/// Owns: whether it is connected and on which connection (a number never reused), the cashier logged in
/// there (a cache of the store's open cashier session, written through), and whether its last
/// HELLO was refused for coming from the wrong machine. (Its health and app version are the
/// heartbeat monitor's.)
public actor TerminalSession {
    public let terminal: TerminalID
    public private(set) var connection: SocketLoop.Connection?
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

    /// A message arrived on `connection`.
    func heard(on connection: SocketLoop.Connection) async -> Heard {
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
        let returned = !connected && self.connection != nil
        // Connections are numbered in order: a late message from an older one never replaces
        // the newest.
        if self.connection.map({ connection >= $0 }) ?? true { self.connection = connection }
        connected = true
        return Heard(returned: returned, cashier: cashier, machineRejected: machineRejected, unreadable: unreadable)
    }

    /// `connection` dropped; `true` if it was this terminal's current one (a handover may
    /// already have replaced it, and then the old one's drop changes nothing).
    func dropped(_ connection: SocketLoop.Connection) -> Bool {
        guard connection == self.connection, connected else { return false }
        connected = false
        return true
    }

    func hello(machineRejected: Bool) { self.machineRejected = machineRejected }

    func loggedIn(_ cashier: String?) {
        self.cashier = cashier
        cashierKnown = true
    }
}
