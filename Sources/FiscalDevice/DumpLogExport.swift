public import FiscalCore
import Foundation

/// A journal export: the pages of an `ADM|DUMPLOG` walk joined into one JSON object of the
/// DUMPLOG shape (`device_id`, `public_key`, `entries`, `head_seq`, `head_hash`,
/// `head_signature`, `next: null`), written and read a page at a time so that memory stays flat
/// whatever the journal's size.
///
/// The writer puts the identity first, one entry per line, and the head (known only at the
/// end of the walk) last. It writes to `FILE.partial` and renames it to `FILE` only once the
/// head is written and synced: an export that exists is whole.
public enum DumpLogExport {
    /// What an export holds besides its entries.
    public struct Identity: Hashable, Sendable {
        public var deviceID: DeviceID
        /// Hex of the device's Ed25519 public key.
        public var publicKey: String

        public init(deviceID: DeviceID, publicKey: String) {
            self.deviceID = deviceID
            self.publicKey = publicKey
        }
    }

    /// The device's signed head, as the last page carried it.
    public struct Head: Hashable, Sendable {
        public var seq: UInt64
        public var hash: String
        /// base64url of the device's signature of `DEF-HEAD-1|device_id|seq|hash`.
        public var signature: String

        public init(seq: UInt64, hash: String, signature: String) {
            self.seq = seq
            self.hash = hash
            self.signature = signature
        }
    }

    /// What a finished export holds.
    public struct Summary: Hashable, Sendable {
        public var identity: Identity
        public var head: Head
        public var entries: Int
        public var bytes: Int
    }

    /// Writes an export page by page.
    public final class Writer {
        private let path: String
        private let partialPath: String
        private let handle: FileHandle
        private let encoder = JSONEncoder()
        private var buffer: [UInt8] = []
        private var identity: Identity?
        private var head: Head?
        private var entries = 0
        private var bytes = 0
        private var closed = false

        /// Creates `path.partial` (truncating it); `path` appears only at ``finish()``.
        public init(path: String) throws {
            self.path = path
            partialPath = path + ".partial"
            guard FileManager.default.createFile(atPath: partialPath, contents: nil) else {
                throw FiscalError(.configInvalid, "\(partialPath): cannot create the file")
            }
            guard let handle = FileHandle(forWritingAtPath: partialPath) else {
                throw FiscalError(.configInvalid, "\(partialPath): cannot open the file for writing")
            }
            self.handle = handle
            buffer.reserveCapacity(Self.flushSize + 4096)
        }

        deinit {
            if !closed {
                try? handle.close()
                try? FileManager.default.removeItem(atPath: partialPath)
            }
        }

        private static let flushSize = 1 << 20

        /// Appends a page's entries (the first page also gives the identity).
        public func append(_ page: DeviceReply.DumpLog) throws {
            if identity == nil {
                identity = Identity(deviceID: page.deviceID, publicKey: page.publicKey)
                write(#"{"device_id":"#)
                try write(encoded: page.deviceID.rawValue)
                write(#","public_key":"#)
                try write(encoded: page.publicKey)
                write(#","entries":["#)
            }
            for entry in page.entries {
                write(entries == 0 ? "\n" : ",\n")
                try write(encoded: entry)
                entries += 1
            }
            head = Head(seq: page.headSeq, hash: page.headHash, signature: page.headSignature)
            if buffer.count >= Self.flushSize { try flush() }
        }

        /// Writes the head (the last page's), syncs, and renames the file into place.
        @discardableResult
        public func finish() throws -> Summary {
            guard let identity, let head else {
                throw FiscalError(.replyInvalid, "the export received no page from the device")
            }
            write("\n],\"head_seq\":\(head.seq),\"head_hash\":")
            try write(encoded: head.hash)
            write(#","head_signature":"#)
            try write(encoded: head.signature)
            write(",\"next\":null}\n")
            try flush()
            try handle.synchronize()
            try handle.close()
            closed = true
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: partialPath, toPath: path)
            return Summary(identity: identity, head: head, entries: entries, bytes: bytes)
        }

        private func write(_ text: String) { buffer.append(contentsOf: text.utf8) }

        private func write(encoded value: some Encodable) throws {
            buffer.append(contentsOf: try encoder.encode(value))
        }

        private func flush() throws {
            guard !buffer.isEmpty else { return }
            try handle.write(contentsOf: buffer)
            bytes += buffer.count
            buffer.removeAll(keepingCapacity: true)
        }
    }
}
