public import FiscalCore
public import Foundation
import GRDB

/// A one-time pairing code as issued: the text for the technician, and when it expires.
public struct PairingCode: Sendable, Hashable {
    /// `XXXX-XXXX` from an alphabet without look-alikes (no 0/O, 1/I/L): 31⁸ ≈ 2^39.6 codes.
    public var text: String
    public var terminal: TerminalID
    public var expiresAt: Date
}

extension MediatorDatabase {
    /// How long a pairing code is valid unless told otherwise.
    public static let pairingCodeLifetime: Duration = .seconds(15 * 60)

    /// The alphabet of pairing codes: upper-case letters and digits without 0, O, 1, I, L.
    static let pairingAlphabet = Array("ABCDEFGHJKMNPQRSTUVWXYZ23456789")

    // MARK: Keys

    /// The active or inactive terminal `key` (Z85) is pinned to, if any: read on every message
    /// (an indexed lookup), so a revoked or rotated key is refused on its next message.
    public func terminalRecord(forKey key: String) async throws -> TerminalRecord? {
        try await pool.read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM terminal WHERE curve_key = ?"), arguments: [key])
                .map(TerminalRecord.init(row:))
        }
    }

    /// Pins `key` (Z85) to `code` directly (a topology's own terminals, tests): what a redeemed
    /// pairing code does. A key pinned to another terminal is refused.
    @discardableResult
    public func pinKey(_ key: String, to code: TerminalID) throws(FiscalError) -> TerminalRecord {
        try storeError {
            try pool.write { db in try Self.pin(db, key, to: code, how: "pinned by an admin") }
        }
    }

    /// Unpins `code`'s key and voids its outstanding pairing codes: its connections are refused
    /// from their next message on.
    @discardableResult
    public func revokeKey(of code: TerminalID) throws(FiscalError) -> TerminalRecord {
        try storeError {
            try pool.write { db in
                guard let terminal = try Self.terminalRow(db, code) else {
                    throw FiscalError(.notRegistered, "terminal \(code) is not registered")
                }
                try db.execute(
                    sql: "UPDATE terminal SET curve_key = NULL, modified_at = ? WHERE code = ?",
                    arguments: [Self.now(), code.rawValue]
                )
                try db.execute(
                    sql: "DELETE FROM pairing_code WHERE terminal_id = ? AND used_at IS NULL",
                    arguments: [code.rawValue]
                )
                let was = terminal.curveKey.map { "key \($0.prefix(8))… revoked" } ?? "no key was pinned"
                try Self.insertEvent(db, code, "key-revoked", was)
                return try Self.written(Self.terminalRow(db, code), "terminal \(code)")
            }
        }
    }

    // MARK: Pairing codes

    /// Issues a one-time pairing code for `code` (voiding any earlier unused one). The code is
    /// stored only as its SHA-256 digest.
    public func issuePairingCode(
        for code: TerminalID,
        lifetime: Duration = MediatorDatabase.pairingCodeLifetime,
        now: Date = Date()
    ) throws(FiscalError) -> PairingCode {
        var generator = SystemRandomNumberGenerator()
        let raw = String((0..<8).map { _ in Self.pairingAlphabet.randomElement(using: &generator)! })
        let text = "\(raw.prefix(4))-\(raw.suffix(4))"
        let seconds = Double(lifetime.components.seconds) + Double(lifetime.components.attoseconds) / 1e18
        let expires = now.addingTimeInterval(seconds)
        return try storeError {
            try pool.write { db in
                guard try Self.terminalRow(db, code) != nil else {
                    throw FiscalError(.notRegistered, "terminal \(code) is not registered")
                }
                try db.execute(
                    sql: "DELETE FROM pairing_code WHERE terminal_id = ? AND used_at IS NULL",
                    arguments: [code.rawValue]
                )
                try db.execute(
                    sql: """
                        INSERT INTO pairing_code (code_digest, terminal_id, expires_at, created_at)
                        VALUES (?, ?, ?, ?)
                        """,
                    arguments: [Self.digest(raw), code.rawValue, expires.timeIntervalSince1970, Self.now()]
                )
                try Self.insertEvent(db, code, "pairing-code-issued", "expires \(DeviceTimestamp.format(expires))")
                return PairingCode(text: text, terminal: code, expiresAt: expires)
            }
        }
    }

    /// Redeems a pairing code: pins `key` (the one the CURVE handshake proved) to the code's
    /// terminal and marks the code used, in one transaction. An unknown, used or expired code
    /// gets one answer, PAIRING_REFUSED, so a guesser learns nothing from it.
    ///
    /// Asynchronous (GRDB's writer queue): the pairing endpoint's reader never blocks a thread
    /// of the cooperative pool on SQLite.
    public func redeemPairingCode(
        _ text: String,
        key: String,
        now: Date = Date()
    ) async throws(FiscalError) -> TerminalRecord {
        let raw = String(text.uppercased().filter { $0 != "-" && $0 != " " })
        guard raw.count == 8, raw.allSatisfy(Self.pairingAlphabet.contains) else {
            throw FiscalError(.pairingRefused, "the pairing code is unknown, used or expired")
        }
        do {
            return try await pool.write { db in try Self.redeem(db, raw, key: key, now: now) }
        } catch let error as FiscalError {
            throw error
        } catch {
            throw FiscalError(.deviceUnavailable, "the store failed: \(error)")
        }
    }

    private static func redeem(_ db: Database, _ raw: String, key: String, now: Date) throws -> TerminalRecord {
        let row = try Row.fetchOne(
            db,
            sql: "SELECT terminal_id, expires_at, used_at FROM pairing_code WHERE code_digest = ?",
            arguments: [digest(raw)]
        )
        guard let row, (row["used_at"] as String?) == nil,
            (row["expires_at"] as Double) > now.timeIntervalSince1970
        else { throw FiscalError(.pairingRefused, "the pairing code is unknown, used or expired") }
        let code = TerminalID(row["terminal_id"] as String)
        try db.execute(
            sql: "UPDATE pairing_code SET used_at = ? WHERE code_digest = ?",
            arguments: [Self.now(), digest(raw)]
        )
        return try pin(db, key, to: code, how: "paired with a one-time code")
    }

    private static func pin(_ db: Database, _ key: String, to code: TerminalID, how: String) throws -> TerminalRecord {
        guard try terminalRow(db, code) != nil else {
            throw FiscalError(.notRegistered, "terminal \(code) is not registered")
        }
        if let other = try String.fetchOne(
            db,
            sql: "SELECT code FROM terminal WHERE curve_key = ? AND code != ?",
            arguments: [key, code.rawValue]
        ) {
            throw FiscalError(.pairingRefused, "this key is already pinned to terminal \(other)")
        }
        try db.execute(
            sql: "UPDATE terminal SET curve_key = ?, modified_at = ? WHERE code = ?",
            arguments: [key, now(), code.rawValue]
        )
        try insertEvent(db, code, "key-pinned", "key \(key.prefix(8))… \(how)")
        return try written(terminalRow(db, code), "terminal \(code)")
    }

    private static func digest(_ raw: String) -> String { SHA256.hex(Array("pairing:\(raw)".utf8)) }
}
