import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A CURVE key (Curve25519, 32 bytes), public or secret, written as Z85 text (40 characters)
/// wherever a person or a file sees it.
///
/// `description` is the Z85 text, so a secret key must never be interpolated into a log line:
/// log ``fingerprint`` of a public key instead.
public struct CurveKey: Sendable, Hashable, CustomStringConvertible {
    /// The 32 raw bytes.
    public let bytes: [UInt8]

    /// A key from its 32 raw bytes; `nil` for any other length.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    /// A key from its Z85 text (exactly 40 characters of the Z85 alphabet); `nil` otherwise.
    public init?(z85 text: String) {
        let characters = Array(text.utf8)
        guard characters.count == 40, characters.allSatisfy(Self.z85Alphabet.contains) else { return nil }
        var decoded = [UInt8](repeating: 0, count: 32)
        let ok = (characters + [0]).withUnsafeBufferPointer { source in
            source.withMemoryRebound(to: CChar.self) { text in
                zmq_z85_decode(&decoded, text.baseAddress) != nil
            }
        }
        guard ok else { return nil }
        bytes = decoded
    }

    /// The Z85 text: 40 printable characters.
    public var z85: String {
        var text = [CChar](repeating: 0, count: 41)
        _ = zmq_z85_encode(&text, bytes, bytes.count)
        return String(decoding: text.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public var description: String { z85 }

    /// A short form of a public key for logs and listings: its first 8 Z85 characters.
    public var fingerprint: String { String(z85.prefix(8)) }

    private static let z85Alphabet = Set(
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#".utf8
    )
}

/// A CURVE key pair: the public key is told to peers, the secret key never leaves its owner.
public struct CurveKeyPair: Sendable, Hashable {
    public let publicKey: CurveKey
    public let secretKey: CurveKey

    /// A fresh key pair from libzmq (`zmq_curve_keypair`, libsodium's random source).
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        try ZMQError.check("zmq_curve_keypair") { zmq_curve_keypair(&publicText, &secretText) }
        func key(_ text: [CChar]) -> CurveKey? {
            CurveKey(z85: String(decoding: text.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        guard let publicKey = key(publicText), let secretKey = key(secretText) else {
            throw ZMQError(errno: EINVAL, call: "zmq_curve_keypair")
        }
        return CurveKeyPair(publicKey: publicKey, secretKey: secretKey)
    }

    /// The pair whose secret key is `secretKey` (the public key is derived, `zmq_curve_public`).
    public init(secretKey: CurveKey) throws(ZMQError) {
        var publicText = [CChar](repeating: 0, count: 41)
        let secretText = Array(secretKey.z85.utf8CString)
        try ZMQError.check("zmq_curve_public") { zmq_curve_public(&publicText, secretText) }
        guard
            let publicKey = CurveKey(
                z85: String(decoding: publicText.prefix(40).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            )
        else { throw ZMQError(errno: EINVAL, call: "zmq_curve_public") }
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    public init(publicKey: CurveKey, secretKey: CurveKey) {
        self.publicKey = publicKey
        self.secretKey = secretKey
    }

    /// Whether this libzmq was built with CURVE (`zmq_has("curve")`); Debian's is.
    public static var isAvailable: Bool { zmq_has("curve") == 1 }
}
