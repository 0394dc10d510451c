public import FiscalCore
import Foundation

/// One terminal as the mediator sees it: its connection and who is at it.
///
/// Owns: whether it is connected and on which connection (descriptor), the cashier and app
/// version it announced in HELLO, when it was last heard from, and how many of its requests
/// are being worked on.
public actor TerminalSession {
    public let terminal: TerminalID
    public private(set) var descriptor: Int32 = -1
    public private(set) var connected = false
    public private(set) var cashier: String?
    public private(set) var appVersion: String?
    public private(set) var lastSeen: ContinuousClock.Instant?
    public private(set) var inFlight = 0

    public init(terminal: TerminalID) { self.terminal = terminal }

    /// A message arrived on connection `descriptor`.
    func heard(on descriptor: Int32) {
        if descriptor >= 0 { self.descriptor = descriptor }
        connected = true
        lastSeen = .now
    }

    /// The connection `descriptor` dropped; `true` if it was this terminal's current one (a
    /// handover may already have replaced it).
    func dropped(_ descriptor: Int32) -> Bool {
        guard descriptor == self.descriptor, connected else { return false }
        connected = false
        return true
    }

    func hello(cashier: String?, appVersion: String?) {
        self.cashier = cashier
        self.appVersion = appVersion
    }

    func begin() { inFlight += 1 }
    func end() { inFlight -= 1 }
}
