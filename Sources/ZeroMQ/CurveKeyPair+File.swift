import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension CurveKeyPair {
    /// Reads the key pair in `path`, or makes one and writes it there (mode 0600, created
    /// exclusively: two processes starting at once cannot both write one). Returns it and whether
    /// it was made now.
    ///
    /// The file is two lines, `public-key=Z85` and `secret-key=Z85`. It is refused (fail closed)
    /// when group or others may read it, when the public key does not match the secret one, or
    /// when it cannot be parsed; the error never quotes the secret.
    public static func loadOrCreate(file path: String) throws -> (pair: CurveKeyPair, created: Bool) {
        if FileManager.default.fileExists(atPath: path) { return (try load(file: path), false) }
        let pair = try generate()
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { return (try load(file: path), false) }
            throw KeyFileError(path: path, reason: "cannot create it: \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let text = Array("public-key=\(pair.publicKey.z85)\nsecret-key=\(pair.secretKey.z85)\n".utf8)
        guard write(descriptor, text, text.count) == text.count, fsync(descriptor) == 0 else {
            throw KeyFileError(path: path, reason: "cannot write it: \(String(cString: strerror(errno)))")
        }
        return (pair, true)
    }

    /// Reads a key pair file written by ``loadOrCreate(file:)``.
    public static func load(file path: String) throws -> CurveKeyPair {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw KeyFileError(path: path, reason: "cannot read it: \(String(cString: strerror(errno)))")
        }
        guard status.st_mode & 0o077 == 0 else {
            throw KeyFileError(path: path, reason: "group or others may read it; chmod 600 it")
        }
        guard let data = FileManager.default.contents(atPath: path), data.count < 4096 else {
            throw KeyFileError(path: path, reason: "cannot read it")
        }
        var fields: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 { fields[parts[0]] = parts[1] }
        }
        guard let secret = fields["secret-key"].flatMap(CurveKey.init(z85:)) else {
            throw KeyFileError(path: path, reason: "no valid secret-key line")
        }
        let pair = try CurveKeyPair(secretKey: secret)
        if let stated = fields["public-key"], stated != pair.publicKey.z85 {
            throw KeyFileError(path: path, reason: "its public-key does not belong to its secret-key")
        }
        return pair
    }
}

/// A key file that cannot be used, and why (never its content).
public struct KeyFileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "key file \(path): \(reason)" }
}
