import FiscalCore
public import Foundation
import GRDB
import SampleData

/// Appends journal entries straight into an emulator's fiscal memory (its `device.sqlite`), for
/// tests that need a large journal fast: no PREPARE/COMMIT, one transaction, about 20 µs an
/// entry in a debug build.
///
/// Tests and benchmarks only: a real device has no such door. The emulator must not be running
/// on the directory (it keeps its header in memory); open one on it afterwards. Entries are
/// chained and hashed exactly as the device does (their bytes are built from templates, checked
/// against ``JournalEntry`` on the first entry) and, with `signed`, carry the device's real
/// Ed25519 signature (about 60 µs more each); without it their `auth_code` is a fixed
/// placeholder that is not a valid signature, which is enough for tests about paging and
/// streaming.
public enum JournalBulkWriter {
    /// The auth code of unsigned bulk entries: 64 zero bytes, base64url.
    public static let placeholderAuthCode = Base64URL.encode([UInt8](repeating: 0, count: 64))

    /// Appends `count` sales to the journal in `directory` after its last entry; returns the
    /// new head (last seq and hash).
    @discardableResult
    public static func append(
        _ count: Int,
        to directory: URL,
        signed: Bool = true,
        terminals: [String] = ["REG-001", "REG-002", "REG-003"]
    ) throws -> (seq: UInt64, hash: String) {
        let database = try DatabaseQueue(path: directory.appendingPathComponent("device.sqlite").path)
        return try database.write { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT device_id, private_key, next_seq, head_hash, high_water_ms FROM device WHERE id = 1"
                ),
                let deviceID = row["device_id"] as String?,
                let keyBytes = row["private_key"] as Data?,
                let key = Ed25519.PrivateKey(rawRepresentation: Array(keyBytes))
            else {
                throw FiscalError(.notInitialized, "\(directory.path): the device was never initialized")
            }
            var seq = UInt64(row["next_seq"] as Int64)
            var previous: String = row["head_hash"]
            // Times that end about now, so that the device can seal more afterwards.
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            var milliseconds = max(row["high_water_ms"] as Int64, now - 3 * Int64(count))
            // A handful of real canonical invoices, reused: each entry's digest is its payload's.
            let payloads = (0..<8).map { SampleInvoices.sale(lines: 1 + $0 % 4, seed: $0).canonicalJSON() }
            let digests = payloads.map(SHA256.hex)
            let templates = terminals.map { Template(deviceID: deviceID, terminal: $0) }
            let insert = try db.makeStatement(sql: "INSERT INTO journal (seq, entry, payload) VALUES (?, ?, ?)")
            var timestamp = ""
            var second: Int64 = -1
            for index in 0..<count {
                milliseconds += 1 + Int64(index % 3)
                if milliseconds / 1000 != second {
                    second = milliseconds / 1000
                    timestamp = DeviceTimestamp.format(Date(timeIntervalSince1970: Double(second)))
                }
                let time = String(timestamp.prefix(20)) + Self.digits(milliseconds % 1000, 3) + "Z"
                let template = templates[index % templates.count]
                let cents = 100_000 + Int64(index % 997) * 12_500
                let digest = digests[index % digests.count]
                var signing = template.signing(seq: seq, previous: previous, digest: digest, cents: cents, time: time)
                let authCode = signed ? Base64URL.encode(key.signature(for: signing)) : placeholderAuthCode
                signing.removeLast()  // the closing brace: the hash covers the auth code too
                signing += Array(#","auth_code":""#.utf8) + Array(authCode.utf8) + Array(#""}"#.utf8)
                let hash = SHA256.hex(signing)
                let stored = template.stored(
                    seq: seq,
                    previous: previous,
                    digest: digest,
                    cents: cents,
                    time: time,
                    authCode: authCode,
                    hash: hash
                )
                if index == 0 { try check(stored, hash: hash, key: signed ? key.publicKey : nil) }
                try insert.execute(arguments: [Int64(seq), stored, Data(payloads[index % payloads.count])])
                previous = hash
                seq += 1
            }
            try db.execute(
                sql: "UPDATE device SET next_seq = ?, head_hash = ?, high_water_ms = ? WHERE id = 1",
                arguments: [Int64(seq), previous, milliseconds]
            )
            return (seq - 1, previous)
        }
    }

    /// The templates must give what ``JournalEntry`` gives: the same entry, hash and signature.
    private static func check(_ stored: String, hash: String, key: Ed25519.PublicKey?) throws {
        let entry = try JSONDecoder().decode(JournalEntry.self, from: Data(stored.utf8))
        precondition(entry.entryHash == hash && entry.computedEntryHash == hash, "bulk entry template drifted")
        if let key { precondition(entry.hasValidSignature(key), "bulk entry signature does not verify") }
    }

    private static func digits(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// The bytes of one terminal's entries, with holes for what changes.
    private struct Template {
        let deviceID: [UInt8]
        let terminal: [UInt8]
        let cashier = Array(SampleInvoices.cashier.utf8)

        init(deviceID: String, terminal: String) {
            self.deviceID = Array(deviceID.utf8)
            self.terminal = Array(terminal.utf8)
        }

        /// The canonical signing input (docs/DEVICE_PROTOCOL.md, "The journal").
        func signing(seq: UInt64, previous: String, digest: String, cents: Int64, time: String) -> [UInt8] {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(640)
            bytes += #"{"v":1,"device_id":""#.utf8
            bytes += deviceID
            bytes += #"","seq":"#.utf8
            bytes += String(seq).utf8
            common(&bytes, previous: previous, digest: digest, cents: cents, time: time)
            bytes += #""}"#.utf8
            return bytes
        }

        /// The entry as the emulator stores it (JSONEncoder's field order).
        func stored(
            seq: UInt64,
            previous: String,
            digest: String,
            cents: Int64,
            time: String,
            authCode: String,
            hash: String
        ) -> String {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(800)
            bytes += #"{"seq":"#.utf8
            bytes += String(seq).utf8
            bytes += #","device_id":""#.utf8
            bytes += deviceID
            bytes += #"""#.utf8
            common(&bytes, previous: previous, digest: digest, cents: cents, time: time)
            bytes += #"","auth_code":""#.utf8
            bytes += authCode.utf8
            bytes += #"","entry_hash":""#.utf8
            bytes += hash.utf8
            bytes += #""}"#.utf8
            return String(decoding: bytes, as: UTF8.self)
        }

        /// From `previous_hash` to the device time's value (without its closing quote).
        private func common(_ bytes: inout [UInt8], previous: String, digest: String, cents: Int64, time: String) {
            bytes += #","previous_hash":""#.utf8
            bytes += previous.utf8
            bytes += #"","payload_digest":""#.utf8
            bytes += digest.utf8
            bytes += #"","pos_terminal_id":""#.utf8
            bytes += terminal
            bytes += #"","cashier_id":""#.utf8
            bytes += cashier
            bytes += #"","invoice_type":"sale","total":"#.utf8
            bytes += String(cents / 100).utf8
            bytes += (cents % 100 < 10 ? ".0" : ".").utf8
            bytes += String(cents % 100).utf8
            bytes += #","currency":"CDF","device_timestamp":""#.utf8
            bytes += time.utf8
        }
    }
}
