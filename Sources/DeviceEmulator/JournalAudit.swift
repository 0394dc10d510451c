public import FiscalCore
public import FiscalDevice
public import Foundation
import GRDB

/// Verifies a journal at rest: an emulator state directory, or a journal export (the pages of
/// `ADM|DUMPLOG` joined, as `device dump-log --out` writes them). Both are read as they stream
/// by, so memory stays flat whatever the journal's size.
public enum JournalAudit {
    public struct Outcome: Sendable {
        public var entries: Int
        public var deviceID: DeviceID
        public var lastSeq: UInt64
    }

    /// Checks the chain, every entry hash, signature and timestamp, and the device's head;
    /// throws the first failure (naming the entry) or a ``FiscalError`` when the input is not a
    /// journal at all.
    ///
    /// `publicKeyHex` pins the key to check against (the one registered with the tax
    /// authority); without it the key stored beside the journal is used.
    @discardableResult
    public static func verify(path: URL, publicKeyHex: String? = nil) throws -> Outcome {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw FiscalError(.configInvalid, "\(path.path): no such file or directory")
        }
        let pinned = try publicKeyHex.map { hex in
            guard let key = Ed25519.PublicKey(hex: hex) else {
                throw FiscalError(.configInvalid, "the public key is not 32 bytes of hex")
            }
            return key
        }
        return isDirectory.boolValue
            ? try verifyStateDirectory(path, pinned: pinned) : try verifyExport(path, pinned: pinned)
    }

    /// An export, streamed: the entries are checked as they are read, the head at the end.
    static func verifyExport(_ path: URL, pinned: Ed25519.PublicKey?) throws -> Outcome {
        var walk: JournalVerifier.Walk?
        var key: Ed25519.PublicKey?
        let identity: DumpLogExport.Identity
        let head: DumpLogExport.Head
        do {
            (identity, head) = try DumpLogExport.read(
                path: path.path,
                identity: { identity in
                    guard let found = pinned ?? Ed25519.PublicKey(hex: identity.publicKey) else {
                        throw FiscalError(
                            .configInvalid,
                            "\(path.path): the export's public_key is not 32 bytes of hex"
                        )
                    }
                    key = found
                    walk = JournalVerifier(publicKey: found, deviceID: identity.deviceID).walk()
                },
                entries: { batch in try walk?.check(batch) }
            )
        } catch let error as DumpLogExport.ReadError {
            guard let walk else {
                throw FiscalError(.configInvalid, "\(path.path): not a journal export: \(error.reason)")
            }
            throw JournalVerifier.Failure(seq: walk.expectedSeq, kind: .unreadable, reason: error.reason)
        }
        guard let walk, let key else { throw FiscalError(.configInvalid, "\(path.path): not a journal export") }
        guard
            DeviceReply.DumpLog.isSignedHead(
                deviceID: identity.deviceID,
                seq: head.seq,
                hash: head.hash,
                signature: head.signature,
                key: key
            )
        else {
            throw JournalVerifier.Failure(
                seq: head.seq,
                kind: .head,
                reason: "the export's head is not signed by the device"
            )
        }
        let count = try walk.finish(head: .init(lastSeq: head.seq, lastHash: head.hash))
        return Outcome(entries: count, deviceID: identity.deviceID, lastSeq: head.seq)
    }

    /// A state directory, streamed from its SQLite file; the head is the device's own record
    /// (its counter and last hash), which nobody signs there.
    static func verifyStateDirectory(_ directory: URL, pinned: Ed25519.PublicKey?) throws -> Outcome {
        let database = try openStateDirectory(directory)
        return try database.read { db in
            let device = try deviceRow(db, directory)
            guard let key = pinned ?? Ed25519.PublicKey(rawRepresentation: device.publicKey) else {
                throw FiscalError(.configInvalid, "\(directory.path): the stored public key is not 32 bytes")
            }
            var walk = JournalVerifier(publicKey: key, deviceID: device.deviceID).walk()
            var batch: [JournalEntry] = []
            batch.reserveCapacity(DumpLogExport.batchSize)
            let decoder = JSONDecoder()
            let rows = try Row.fetchCursor(db, sql: "SELECT seq, entry FROM journal ORDER BY seq")
            while let row = try rows.next() {
                let entry: JournalEntry
                do {
                    guard let text = String.fromDatabaseValue(row[1]) else {
                        throw FiscalError(.replyInvalid, "not text")
                    }
                    entry = try decoder.decode(JournalEntry.self, from: Data(text.utf8))
                } catch {
                    try walk.check(batch)
                    let seq = Int64.fromDatabaseValue(row[0]).map(String.init) ?? "?"
                    throw JournalVerifier.Failure(
                        seq: walk.expectedSeq,
                        kind: .unreadable,
                        reason: "the journal row with seq \(seq) is not a journal entry: \(error)"
                    )
                }
                batch.append(entry)
                if batch.count == DumpLogExport.batchSize {
                    try walk.check(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            try walk.check(batch)
            let count = try walk.finish(head: .init(lastSeq: device.headSeq, lastHash: device.headHash))
            return Outcome(entries: count, deviceID: device.deviceID, lastSeq: device.headSeq)
        }
    }

    /// The journal at `path` (a state directory or an export) in one value, without checking
    /// it: for journals that fit in memory.
    public static func load(path: URL) throws -> DeviceReply.DumpLog {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDirectory) else {
            throw FiscalError(.configInvalid, "\(path.path): no such file or directory")
        }
        return isDirectory.boolValue ? try loadStateDirectory(path) : try loadExport(path)
    }

    private static func loadExport(_ path: URL) throws -> DeviceReply.DumpLog {
        var entries: [JournalEntry] = []
        do {
            let (identity, head) = try DumpLogExport.read(
                path: path.path,
                identity: { _ in },
                entries: { entries += $0 }
            )
            return DeviceReply.DumpLog(
                deviceID: identity.deviceID,
                publicKey: identity.publicKey,
                entries: entries,
                headSeq: head.seq,
                headHash: head.hash,
                headSignature: head.signature,
                next: nil
            )
        } catch let error as DumpLogExport.ReadError {
            throw FiscalError(.configInvalid, "\(path.path): not a whole journal export: \(error.reason)")
        }
    }

    private static func loadStateDirectory(_ directory: URL) throws -> DeviceReply.DumpLog {
        let database = try openStateDirectory(directory)
        return try database.read { db in
            let device = try deviceRow(db, directory)
            let decoder = JSONDecoder()
            let entries = try String.fetchAll(db, sql: "SELECT entry FROM journal ORDER BY seq").map {
                try decoder.decode(JournalEntry.self, from: Data($0.utf8))
            }
            return DeviceReply.DumpLog(
                deviceID: device.deviceID,
                publicKey: Hex.encode(device.publicKey),
                entries: entries,
                headSeq: device.headSeq,
                headHash: device.headHash,
                headSignature: "",
                next: nil
            )
        }
    }

    private static func openStateDirectory(_ directory: URL) throws -> DatabaseQueue {
        let file = directory.appendingPathComponent("device.sqlite")
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw FiscalError(.configInvalid, "\(directory.path): no device.sqlite in this state directory")
        }
        var configuration = Configuration()
        configuration.readonly = true
        return try DatabaseQueue(path: file.path, configuration: configuration)
    }

    /// The device's header row, every value range-checked.
    private static func deviceRow(
        _ db: Database,
        _ directory: URL
    ) throws -> (deviceID: DeviceID, publicKey: [UInt8], headSeq: UInt64, headHash: String) {
        let row = try Row.fetchOne(
            db,
            sql: "SELECT device_id, public_key, next_seq, head_hash FROM device WHERE id = 1"
        )
        guard let row, let deviceID = String.fromDatabaseValue(row[0]), let publicKey = Data.fromDatabaseValue(row[1])
        else {
            throw FiscalError(.notInitialized, "\(directory.path): the device was never initialized")
        }
        guard let nextSeq = Int64.fromDatabaseValue(row[2]), nextSeq >= 1,
            let headHash = String.fromDatabaseValue(row[3])
        else {
            throw FiscalError(.configInvalid, "\(directory.path): the device's counter or head is not readable")
        }
        return (DeviceID(deviceID), Array(publicKey), UInt64(nextSeq - 1), headHash)
    }
}
