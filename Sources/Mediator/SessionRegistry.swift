import FiscalCore
import MediatorStore
import Synchronization

/// The sessions by terminal id. A `Mutex`-guarded map: looked up on every message.
final class SessionRegistry: Sendable {
    private let sessions = Mutex<[TerminalID: TerminalSession]>([:])
    private let connected = Mutex<Set<TerminalID>>([])
    private let store: MediatorDatabase

    init(store: MediatorDatabase) { self.store = store }

    /// The session of `terminal`, made on its first message. The cashier logged in there is
    /// read from the store on its first use (``TerminalSession/heard(on:)``), so a restart keeps
    /// who is at which terminal.
    func session(for terminal: TerminalID) -> TerminalSession {
        connected.withLock { _ = $0.insert(terminal) }
        return sessions.withLock { map in
            if let session = map[terminal] { return session }
            let session = TerminalSession(terminal: terminal, store: store)
            map[terminal] = session
            return session
        }
    }

    func all() -> [TerminalSession] { sessions.withLock { Array($0.values) } }

    /// Terminals that have sent something on their current connection.
    func connectedTerminals() -> [TerminalID] { connected.withLock { Array($0) } }

    func markDisconnected(_ terminal: TerminalID) { connected.withLock { _ = $0.remove(terminal) } }
}
