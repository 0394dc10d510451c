public import FiscalCore
public import FiscalDevice
public import Foundation
import GRDB

/// Verifies a journal at rest: an emulator state directory, or an `ADM|DUMPLOG` export.
public enum JournalAudit {
    public struct Outcome: Sendable {
        public var entries: Int
        public var deviceID: DeviceID
        public var lastSeq: UInt64
    }

    /// Checks the chain, every entry hash and signature, and the device's head; throws the
    /// first failure (naming the entry) or a ``FiscalError`` when the input cannot be read.
    ///
    /// `publicKeyHex` pins the key to check against (the one registered with the tax
    /// authority); without it the key stored beside the journal is used.
    public static func verify(path: URL, publicKeyHex: String? = nil) throws -> Outcome {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw FiscalError(.configInvalid, "\(path.path): no such file or directory")
        }
        let dump = isDirectory.boolValue ? try loadStateDirectory(path) : try loadExport(path)
        let keyHex = publicKeyHex ?? dump.publicKey
        guard let keyBytes = Hex.decode(keyHex), let key = Ed25519.PublicKey(rawRepresentation: keyBytes) else {
            throw FiscalError(.configInvalid, "the public key is not 32 bytes of hex")
        }
        let head = JournalVerifier.Head(lastSeq: dump.headSeq, lastHash: dump.headHash)
        if !isDirectory.boolValue {
            let input = DeviceReply.DumpLog.headSigningInput(
                deviceID: dump.deviceID,
                seq: dump.headSeq,
                hash: dump.headHash
            )
            guard let signature = Base64URL.decode(dump.headSignature), key.isValidSignature(signature, for: input)
            else {
                throw JournalVerifier.Failure(
                    seq: dump.headSeq,
                    reason: "the export's head is not signed by the device"
                )
            }
        }
        let count = try JournalVerifier(publicKey: key).verify(dump.entries, head: head)
        return Outcome(entries: count, deviceID: dump.deviceID, lastSeq: dump.headSeq)
    }

    /// The journal at `path` (a state directory or a DUMPLOG export) without checking it.
    public static func load(path: URL) throws -> DeviceReply.DumpLog {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw FiscalError(.configInvalid, "\(path.path): no such file or directory")
        }
        return isDirectory.boolValue ? try loadStateDirectory(path) : try loadExport(path)
    }

    private static func loadExport(_ path: URL) throws -> DeviceReply.DumpLog {
        do {
            return try JSONDecoder().decode(DeviceReply.DumpLog.self, from: Data(contentsOf: path))
        } catch let error as DecodingError {
            throw FiscalError(.configInvalid, "\(path.path): not a DUMPLOG export: \(error.fiscalDescription)")
        }
    }

    private static func loadStateDirectory(_ directory: URL) throws -> DeviceReply.DumpLog {
        let file = directory.appendingPathComponent("device.sqlite")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw FiscalError(.configInvalid, "\(directory.path): no device.sqlite in this state directory")
        }
        var configuration = Configuration()
        configuration.readonly = true
        let database = try DatabaseQueue(path: file.path, configuration: configuration)
        return try database.read { db in
            let row = try Row.fetchOne(
                db,
                sql: "SELECT device_id, public_key, next_seq, head_hash FROM device WHERE id = 1"
            )
            // A state directory is a file anyone may have edited: every column is checked, never
            // converted with a trap (an audit that cannot read its evidence says so).
            guard let row, let deviceID = String.fromDatabaseValue(row["device_id"]),
                let publicKey = Data.fromDatabaseValue(row["public_key"])
            else {
                throw FiscalError(.notInitialized, "\(directory.path): the device was never initialized")
            }
            guard let nextSeq = Int64.fromDatabaseValue(row["next_seq"]), nextSeq >= 1,
                let headHash = String.fromDatabaseValue(row["head_hash"])
            else {
                throw FiscalError(
                    .configInvalid,
                    "\(directory.path): the device header's next_seq or head_hash is not what a device writes"
                )
            }
            let decoder = JSONDecoder()
            let entries = try String.fetchAll(db, sql: "SELECT entry FROM journal ORDER BY seq").map {
                try decoder.decode(JournalEntry.self, from: Data($0.utf8))
            }
            return DeviceReply.DumpLog(
                deviceID: DeviceID(deviceID),
                publicKey: Hex.encode(publicKey),
                entries: entries,
                headSeq: UInt64(nextSeq - 1),
                headHash: headHash,
                headSignature: "",
                next: nil
            )
        }
    }
}
