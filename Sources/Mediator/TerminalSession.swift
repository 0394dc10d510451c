public import FiscalCore

/// One terminal as the mediator sees it: its connection and who is at it.
///
/// Owns: whether it is connected and on which connection (descriptor), and the cashier and
/// app version it announced in HELLO.
public actor TerminalSession {
    public let terminal: TerminalID
    public private(set) var descriptor: Int32 = -1
    public private(set) var connected = false
    public private(set) var cashier: String?
    public private(set) var appVersion: String?

    public init(terminal: TerminalID) { self.terminal = terminal }

    /// A message arrived on connection `descriptor`.
    func heard(on descriptor: Int32) {
        if descriptor >= 0 { self.descriptor = descriptor }
        connected = true
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
}
