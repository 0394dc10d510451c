public import FiscalCore
import Foundation
import GRDB

/// A terminal in the outlet's registry (spec §4.1.2, §5.1.1).
public struct TerminalRecord: Sendable, Hashable {
    public var code: TerminalID
    public var name: String
    public var kind: TerminalKind
    public var businessMode: BusinessMode
    public var laneNumber: Int?
    /// The machine the code is bound to; `nil` until its first HELLO (pre-registered).
    public var machineID: String?
    public var active: Bool
    /// Which heartbeat interval applies (`lane`, `tablet`, `default`, or one configured).
    public var heartbeatProfile: String
    /// The CURVE public key (Z85) pinned to this terminal by pairing; `nil` when unpaired or
    /// revoked. Only a connection that proved this key speaks as this terminal.
    public var curveKey: String?
    public var createdAt: String
    public var modifiedAt: String

    /// A new, active, unbound terminal; kind, business mode and heartbeat profile follow the
    /// code's prefix unless given.
    public init(
        code: TerminalID,
        name: String? = nil,
        businessMode: BusinessMode? = nil,
        laneNumber: Int? = nil,
        machineID: String? = nil,
        heartbeatProfile: String? = nil
    ) throws(FiscalError) {
        let kind = try TerminalKind.of(code: code.rawValue)
        self.code = code
        self.name = name ?? code.rawValue
        self.kind = kind
        self.businessMode = businessMode ?? kind.defaultBusinessMode
        self.laneNumber = laneNumber
        self.machineID = machineID
        self.active = true
        self.heartbeatProfile = heartbeatProfile ?? kind.defaultHeartbeatProfile
        self.curveKey = nil
        self.createdAt = ""
        self.modifiedAt = ""
    }

    init(row: Row) {
        code = TerminalID(row["code"] as String)
        name = row["name"]
        kind = TerminalKind(rawValue: row["kind"]) ?? .register
        businessMode = BusinessMode(rawValue: row["business_mode"]) ?? .supermarket
        laneNumber = row["lane_number"]
        machineID = row["machine_id"]
        active = row["active"]
        heartbeatProfile = row["heartbeat_profile"]
        curveKey = row["curve_key"]
        createdAt = row["created_at"]
        modifiedAt = row["modified_at"]
    }
}

/// One cashier's time at one terminal, from LOGIN to LOGOUT (or to the next LOGIN there).
public struct CashierSession: Sendable, Hashable, Codable {
    public var id: Int64
    public var terminalID: String
    public var cashierID: String
    public var openedAt: String
    public var closedAt: String?
    public var closeReason: String?
    /// The work period it lives in; nil for one opened while no period was open (it moves into
    /// the next period opened at its terminal).
    public var periodID: Int64?

    init(row: Row) {
        id = row["id"]
        periodID = row["period_id"]
        terminalID = row["terminal_id"]
        cashierID = row["cashier_id"]
        openedAt = row["opened_at"]
        closedAt = row["closed_at"]
        closeReason = row["close_reason"]
    }

    enum CodingKeys: String, CodingKey {
        case id
        case terminalID = "terminal_id"
        case cashierID = "cashier_id"
        case openedAt = "opened_at"
        case closedAt = "closed_at"
        case closeReason = "close_reason"
        case periodID = "period_id"
    }
}

/// Something that happened to a terminal: it came online or went offline, its printer failed,
/// it was bound, deactivated, ...
public struct TerminalEvent: Sendable, Hashable, Codable {
    public var id: Int64
    public var terminalID: String
    public var kind: String
    public var detail: String
    public var at: String

    enum CodingKeys: String, CodingKey {
        case id
        case terminalID = "terminal_id"
        case kind, detail, at
    }
}

extension MediatorDatabase {
    // MARK: Registry

    /// Registers a terminal. Its code must be new and follow the naming convention; a machine
    /// id, if given, must not be bound to another terminal.
    public func addTerminal(_ terminal: TerminalRecord) throws(FiscalError) -> TerminalRecord {
        _ = try TerminalKind.of(code: terminal.code.rawValue)
        return try storeError { try pool.write { db in try Self.insert(db, terminal) } }
    }

    /// ``addTerminal(_:)`` off the caller's thread (GRDB's writer queue): for a terminal that
    /// registers itself at HELLO, on the cooperative pool.
    public func registerAtHello(_ terminal: TerminalRecord) async throws(FiscalError) -> TerminalRecord {
        _ = try TerminalKind.of(code: terminal.code.rawValue)
        do { return try await pool.write { db in try Self.insert(db, terminal) } } catch {
            throw Self.fiscal(error)
        }
    }

    private static func insert(_ db: Database, _ terminal: TerminalRecord) throws -> TerminalRecord {
        if try terminalRow(db, terminal.code) != nil {
            throw FiscalError(.configInvalid, "terminal \(terminal.code) is already registered")
        }
        if let machine = terminal.machineID { try checkMachineFree(db, machine, for: terminal.code) }
        let now = now()
        try db.execute(
            sql: """
                INSERT INTO terminal (code, name, kind, business_mode, lane_number, machine_id, active,
                                      heartbeat_profile, created_at, modified_at)
                VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)
                """,
            arguments: [
                terminal.code.rawValue, terminal.name, terminal.kind.rawValue, terminal.businessMode.rawValue,
                terminal.laneNumber, terminal.machineID, terminal.heartbeatProfile, now, now,
            ]
        )
        try insertEvent(db, terminal.code, "registered", "as \(terminal.kind.rawValue) '\(terminal.name)'")
        return try written(terminalRow(db, terminal.code), "terminal \(terminal.code)")
    }

    /// The registry entry for `code`, if any.
    public func terminal(_ code: TerminalID) throws -> TerminalRecord? {
        try pool.read { db in try Self.terminalRow(db, code) }
    }

    /// Every registered terminal, by code.
    public func terminals() throws -> [TerminalRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM terminal ORDER BY code").map(TerminalRecord.init(row:))
        }
    }

    /// What binding a terminal to a machine did.
    public enum Binding: Sendable, Equatable {
        /// It was unbound and is now bound to the machine.
        case bound
        /// It was already bound to this machine.
        case unchanged
    }

    /// Binds `code` to `machineID` at its HELLO: an unbound terminal takes the machine; one
    /// bound to another machine answers MACHINE_MISMATCH (an admin must ``rebindTerminal(_:to:)``).
    public func bindAtHello(_ code: TerminalID, machineID: String) async throws(FiscalError) -> Binding {
        do { return try await pool.write { db in try Self.bind(db, code, machineID) } } catch {
            throw Self.fiscal(error)
        }
    }

    private static func bind(_ db: Database, _ code: TerminalID, _ machineID: String) throws -> Binding {
        guard let terminal = try terminalRow(db, code) else {
            throw FiscalError(.notRegistered, "terminal \(code) is not registered")
        }
        if let bound = terminal.machineID {
            guard bound == machineID else {
                throw FiscalError(
                    .machineMismatch,
                    "terminal \(code) is bound to another machine; an admin runs `terminals bind \(code) MACHINE` to move it"
                )
            }
            return .unchanged
        }
        try checkMachineFree(db, machineID, for: code)
        try setMachine(db, code, machineID)
        try insertEvent(db, code, "bound", "to machine \(machineID) at its first HELLO")
        return .bound
    }

    /// An admin binds `code` to `machineID` (or, with `nil`, unbinds it so the next HELLO binds).
    @discardableResult
    public func rebindTerminal(_ code: TerminalID, to machineID: String?) throws(FiscalError) -> TerminalRecord {
        try storeError {
            try pool.write { db in
                guard try Self.terminalRow(db, code) != nil else {
                    throw FiscalError(.notRegistered, "terminal \(code) is not registered")
                }
                if let machineID { try Self.checkMachineFree(db, machineID, for: code) }
                try Self.setMachine(db, code, machineID)
                try Self.insertEvent(
                    db,
                    code,
                    machineID == nil ? "unbound" : "bound",
                    machineID.map { "to machine \($0) by an admin" } ?? "by an admin"
                )
                return try Self.written(Self.terminalRow(db, code), "terminal \(code)")
            }
        }
    }

    /// Activates or deactivates `code`. A deactivated terminal's requests never reach the device.
    @discardableResult
    public func setTerminalActive(_ code: TerminalID, _ active: Bool) throws(FiscalError) -> TerminalRecord {
        try storeError {
            try pool.write { db in
                guard try Self.terminalRow(db, code) != nil else {
                    throw FiscalError(.notRegistered, "terminal \(code) is not registered")
                }
                try db.execute(
                    sql: "UPDATE terminal SET active = ?, modified_at = ? WHERE code = ?",
                    arguments: [active, Self.now(), code.rawValue]
                )
                try Self.insertEvent(db, code, active ? "activated" : "deactivated", "by an admin")
                return try Self.written(Self.terminalRow(db, code), "terminal \(code)")
            }
        }
    }

    // MARK: Cashier sessions

    /// Opens a session for `cashier` at `terminal`. The same cashier already logged in there
    /// keeps their session; another one's is closed first (`superseded`). Returns the open
    /// session and the one it closed.
    public func logIn(
        _ cashier: String,
        at terminal: TerminalID
    ) throws(FiscalError) -> (open: CashierSession, closed: CashierSession?) {
        try storeError {
            try pool.write { db in try Self.logIn(db, cashier, at: terminal) }
        }
    }

    /// ``logIn(_:at:)`` through GRDB's asynchronous API, for the request path.
    public func beginSession(
        _ cashier: String,
        at terminal: TerminalID
    ) async throws(FiscalError) -> (open: CashierSession, closed: CashierSession?) {
        try await shopDayError {
            try await pool.write { db in try Self.logIn(db, cashier, at: terminal) }
        }
    }

    /// The session opens inside the terminal's open period, if there is one; when another
    /// cashier was logged in there, theirs closes first (a handover, in the same period).
    private static func logIn(
        _ db: Database,
        _ cashier: String,
        at terminal: TerminalID
    ) throws -> (open: CashierSession, closed: CashierSession?) {
        var day = try dayState(db, terminal)
        switch try day.handle(.logIn(cashier: cashier)) {
        case .openSession(_, let period, let closing):
            var closed: CashierSession?
            if let closing, let current = try openSession(db, terminal), current.id == closing.rawValue {
                closed = try close(db, current, reason: "superseded by \(cashier)")
            }
            try db.execute(
                sql: "INSERT INTO cashier_session (terminal_id, cashier_id, opened_at, period_id) VALUES (?, ?, ?, ?)",
                arguments: [terminal.rawValue, cashier, now(), period?.rawValue]
            )
            try insertEvent(db, terminal, "login", cashier)
            return (try written(openSession(db, terminal), "the session at \(terminal)"), closed)
        default:
            return (try written(openSession(db, terminal), "the session at \(terminal)"), nil)
        }
    }

    /// ``logOut(at:reason:)`` through GRDB's asynchronous API, for the request path.
    public func endSession(
        at terminal: TerminalID,
        reason: String = "logout"
    ) async throws(FiscalError)
        -> CashierSession?
    {
        try await shopDayError {
            try await pool.write { db in
                guard let current = try Self.openSession(db, terminal) else { return nil }
                try Self.insertEvent(db, terminal, "logout", "\(current.cashierID) (\(reason))")
                return try Self.close(db, current, reason: reason)
            }
        }
    }

    /// Closes the open session at `terminal`, if there is one, and returns it.
    public func logOut(at terminal: TerminalID, reason: String = "logout") throws(FiscalError) -> CashierSession? {
        try storeError {
            try pool.write { db in
                guard let current = try Self.openSession(db, terminal) else { return nil }
                try Self.insertEvent(db, terminal, "logout", "\(current.cashierID) (\(reason))")
                return try Self.close(db, current, reason: reason)
            }
        }
    }

    /// The open session at `terminal`, if a cashier is logged in there.
    public func currentSession(at terminal: TerminalID) throws -> CashierSession? {
        try pool.read { db in try Self.openSession(db, terminal) }
    }

    /// Session history, newest first (at one terminal, or everywhere).
    public func cashierSessions(at terminal: TerminalID? = nil, limit: Int = 100) throws -> [CashierSession] {
        try pool.read { db in
            if let terminal {
                return try Row.fetchAll(
                    db,
                    sql: "SELECT * FROM cashier_session WHERE terminal_id = ? ORDER BY id DESC LIMIT ?",
                    arguments: [terminal.rawValue, limit]
                ).map(CashierSession.init(row:))
            }
            return try Row.fetchAll(
                db,
                sql: "SELECT * FROM cashier_session ORDER BY id DESC LIMIT ?",
                arguments: [limit]
            )
            .map(CashierSession.init(row:))
        }
    }

    // MARK: Events

    /// Appends an event for `terminal` without waiting for the disk (events are a log, not a
    /// promise).
    public func recordEvent(_ terminal: TerminalID, kind: String, detail: String) {
        let at = Self.now()
        pool.asyncWrite(
            { db in try Self.insertEvent(db, terminal, kind, detail, at: at) },
            completion: { _, _ in }
        )
    }

    /// Events, newest first (of one terminal, or of all).
    public func terminalEvents(of terminal: TerminalID? = nil, limit: Int = 100) throws -> [TerminalEvent] {
        try pool.read { db in
            let rows =
                if let terminal {
                    try Row.fetchAll(
                        db,
                        sql: "SELECT * FROM terminal_event WHERE terminal_id = ? ORDER BY id DESC LIMIT ?",
                        arguments: [terminal.rawValue, limit]
                    )
                } else {
                    try Row.fetchAll(
                        db,
                        sql: "SELECT * FROM terminal_event ORDER BY id DESC LIMIT ?",
                        arguments: [limit]
                    )
                }
            return rows.map {
                TerminalEvent(
                    id: $0["id"],
                    terminalID: $0["terminal_id"],
                    kind: $0["kind"],
                    detail: $0["detail"],
                    at: $0["at"]
                )
            }
        }
    }

    // MARK: Rows

    /// A row this transaction has just written, read back; its absence means the store is not
    /// the one this code wrote (a trigger or a concurrent schema change), reported, not trapped.
    static func written<T>(_ row: T?, _ what: String) throws -> T {
        guard let row else { throw FiscalError(.deviceUnavailable, "the store lost \(what) it had just written") }
        return row
    }

    func storeError<T>(_ body: () throws -> T) throws(FiscalError) -> T {
        do { return try body() } catch { throw Self.fiscal(error) }
    }

    /// A registry error as a terminal or an operator sees it: the registry's own refusal as it
    /// is, anything else (SQLite busy, full, failing) STORE_UNAVAILABLE.
    static func fiscal(_ error: any Error) -> FiscalError {
        error as? FiscalError ?? FiscalError(.storeUnavailable, "the store failed: \(error)")
    }

    static func terminalRow(_ db: Database, _ code: TerminalID) throws -> TerminalRecord? {
        try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM terminal WHERE code = ?"), arguments: [code.rawValue])
            .map(TerminalRecord.init(row:))
    }

    private static func checkMachineFree(_ db: Database, _ machineID: String, for code: TerminalID) throws {
        guard !machineID.isEmpty, machineID.utf8.count <= 100 else {
            throw FiscalError(.formatInvalid, "a machine id is 1 to 100 bytes")
        }
        if let other = try String.fetchOne(
            db,
            sql: "SELECT code FROM terminal WHERE machine_id = ? AND code != ?",
            arguments: [machineID, code.rawValue]
        ) {
            throw FiscalError(.machineMismatch, "machine \(machineID) is already bound to terminal \(other)")
        }
    }

    private static func setMachine(_ db: Database, _ code: TerminalID, _ machineID: String?) throws {
        try db.execute(
            sql: "UPDATE terminal SET machine_id = ?, modified_at = ? WHERE code = ?",
            arguments: [machineID, now(), code.rawValue]
        )
    }

    static func openSession(_ db: Database, _ terminal: TerminalID) throws -> CashierSession? {
        try Row.fetchOne(
            db.cachedStatement(sql: "SELECT * FROM cashier_session WHERE terminal_id = ? AND closed_at IS NULL"),
            arguments: [terminal.rawValue]
        ).map(CashierSession.init(row:))
    }

    private static func close(_ db: Database, _ session: CashierSession, reason: String) throws -> CashierSession {
        var closed = session
        closed.closedAt = now()
        closed.closeReason = reason
        try db.execute(
            sql: "UPDATE cashier_session SET closed_at = ?, close_reason = ? WHERE id = ?",
            arguments: [closed.closedAt, reason, session.id]
        )
        return closed
    }

    static func insertEvent(
        _ db: Database,
        _ terminal: TerminalID,
        _ kind: String,
        _ detail: String,
        at: String = now()
    ) throws {
        try db.execute(
            sql: "INSERT INTO terminal_event (terminal_id, kind, detail, at) VALUES (?, ?, ?, ?)",
            arguments: [terminal.rawValue, kind, detail, at]
        )
    }
}
