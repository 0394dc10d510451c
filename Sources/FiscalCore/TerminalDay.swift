/// One terminal's day as the mediator records it (docs/SHOP_DAY.md): at most one open work
/// period, and at most one cashier session, which lives inside that period once it is open.
public enum TerminalDay {
    /// The rules of a terminal's day as a value: events in, one ``Action`` out (or a refusal
    /// with a stable code), the state moved on. The store loads the state inside its write
    /// transaction, asks the machine, and applies the action in the same transaction, so two
    /// messages racing on one terminal cannot both open a period (the unique partial index on
    /// open periods backs this up).
    public struct StateMachine: Hashable, Sendable {
        public struct Session: Hashable, Sendable {
            public var id: CashierSessionID
            public var cashier: String
            /// The period it belongs to; nil for a session opened while no period was open.
            public var period: WorkPeriodID?
            public init(id: CashierSessionID, cashier: String, period: WorkPeriodID?) {
                self.id = id
                self.cashier = cashier
                self.period = period
            }
        }

        /// The open period, if any.
        public private(set) var period: WorkPeriodID?
        /// The open cashier session, if any.
        public private(set) var session: Session?

        public init(period: WorkPeriodID? = nil, session: Session? = nil) {
            self.period = period
            self.session = session
        }

        /// What a sale or a cash event must find.
        public struct Requirements: Hashable, Sendable {
            /// An open period (`serve --no-work-periods` turns this off for sales).
            public var period: Bool
            /// A cashier session, whose cashier is the invoice's.
            public var session: Bool
            public init(period: Bool, session: Bool) {
                self.period = period
                self.session = session
            }
        }

        public enum Event: Hashable, Sendable {
            case openPeriod
            case logIn(cashier: String)
            case logOut
            /// A sale by `cashier` (the invoice's `cashier_id`).
            case sell(cashier: String, Requirements)
            /// A cash or drawer event: always needs a period and a session.
            case cashEvent
            case closePeriod(WorkPeriodID)
        }

        public enum Action: Hashable, Sendable {
            /// Open a period; the open session, if any, moves into it (`adopting`).
            case openPeriod(adopting: CashierSessionID?)
            /// Open a session for `cashier` in `period` (nil: no period open), closing `closing`
            /// first: a handover when both are in the same period.
            case openSession(cashier: String, period: WorkPeriodID?, closing: CashierSessionID?)
            /// Close this session.
            case closeSession(CashierSessionID)
            /// Record the sale or the event under this period and session.
            case attribute(period: WorkPeriodID?, session: CashierSessionID?)
            /// Close the period and, with it, its open session.
            case closePeriod(WorkPeriodID, closingSession: CashierSessionID?)
            /// Nothing changes (the same cashier logs in again, a LOGOUT with nobody in).
            case none
        }

        /// Decides `event`. On a refusal the state is unchanged. ``opened(_:)`` and
        /// ``sessionOpened(_:)`` tell the machine the ids the store gave.
        public mutating func handle(_ event: Event) throws(FiscalError) -> Action {
            switch event {
            case .openPeriod:
                if let period {
                    throw FiscalError(.workPeriodOpen, "work period \(period) is already open at this terminal")
                }
                return .openPeriod(adopting: session?.id)
            case .logIn(let cashier):
                if let session, session.cashier == cashier, session.period == period { return .none }
                let closing = session?.id
                session = nil
                return .openSession(cashier: cashier, period: period, closing: closing)
            case .logOut:
                guard let open = session else { return .none }
                session = nil
                return .closeSession(open.id)
            case .sell(let cashier, let needs):
                if needs.period, period == nil {
                    throw FiscalError(
                        .workPeriodClosed,
                        "no work period is open at this terminal; send OPEN_PERIOD first"
                    )
                }
                let current = session.flatMap { $0.period == period ? $0 : nil }
                if needs.session {
                    guard let current else {
                        throw FiscalError(.notLoggedIn, "no cashier session is open at this terminal; send LOGIN first")
                    }
                    guard current.cashier == cashier else {
                        throw FiscalError(
                            .cashierMismatch,
                            "the invoice's cashier_id '\(cashier)' is not the session's cashier '\(current.cashier)'"
                        )
                    }
                }
                return .attribute(period: period, session: current?.cashier == cashier ? current?.id : nil)
            case .cashEvent:
                guard let period else {
                    throw FiscalError(
                        .workPeriodClosed,
                        "no work period is open at this terminal; send OPEN_PERIOD first"
                    )
                }
                guard let current = session, current.period == period else {
                    throw FiscalError(.notLoggedIn, "no cashier session is open at this terminal; send LOGIN first")
                }
                return .attribute(period: period, session: current.id)
            case .closePeriod(let id):
                guard let open = period, open == id else {
                    throw FiscalError(.workPeriodClosed, "work period \(id) is not open at this terminal")
                }
                let closing = session?.id
                period = nil
                session = nil
                return .closePeriod(id, closingSession: closing)
            }
        }

        /// The store opened the period `id` (after ``Action/openPeriod(adopting:)``).
        public mutating func opened(_ id: WorkPeriodID) {
            period = id
            if var open = session {
                open.period = id
                session = open
            }
        }

        /// The store opened the session (after ``Action/openSession(cashier:period:closing:)``).
        public mutating func sessionOpened(_ session: Session) { self.session = session }
    }
}
