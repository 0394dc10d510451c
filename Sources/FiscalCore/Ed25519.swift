import COpenSSL

/// Ed25519 signatures through OpenSSL's libcrypto: the device's auth codes.
public enum Ed25519 {
    /// A private key. The raw 32 bytes never leave the device's own storage.
    ///
    /// `@unchecked Sendable`: the wrapped `EVP_PKEY` is never mutated after creation, and
    /// OpenSSL allows concurrent signing with one key when each call has its own `EVP_MD_CTX`.
    public final class PrivateKey: @unchecked Sendable {
        private let key: OpaquePointer

        /// A fresh key pair from OpenSSL's CSPRNG.
        public init() {
            let context = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nil)
            defer { EVP_PKEY_CTX_free(context) }
            var key: OpaquePointer? = nil
            precondition(
                EVP_PKEY_keygen_init(context) == 1 && EVP_PKEY_keygen(context, &key) == 1 && key != nil,
                "Ed25519 key generation failed"
            )
            self.key = key!
        }

        /// A key from its 32 raw bytes; `nil` if OpenSSL rejects them.
        public init?(rawRepresentation bytes: [UInt8]) {
            guard bytes.count == 32,
                let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, bytes, bytes.count)
            else { return nil }
            self.key = key
        }

        deinit { EVP_PKEY_free(key) }

        public var rawRepresentation: [UInt8] {
            var bytes = [UInt8](repeating: 0, count: 32)
            var length = 32
            precondition(EVP_PKEY_get_raw_private_key(key, &bytes, &length) == 1 && length == 32)
            return bytes
        }

        public var publicKey: PublicKey {
            var bytes = [UInt8](repeating: 0, count: 32)
            var length = 32
            precondition(EVP_PKEY_get_raw_public_key(key, &bytes, &length) == 1 && length == 32)
            return PublicKey(rawRepresentation: bytes)!
        }

        /// The 64-byte signature of `message`.
        public func signature(for message: [UInt8]) -> [UInt8] {
            let context = EVP_MD_CTX_new()
            defer { EVP_MD_CTX_free(context) }
            var signature = [UInt8](repeating: 0, count: 64)
            var length = 64
            precondition(
                EVP_DigestSignInit(context, nil, nil, nil, key) == 1
                    && EVP_DigestSign(context, &signature, &length, message, message.count) == 1 && length == 64,
                "Ed25519 signing failed"
            )
            return signature
        }
    }

    /// A public key: what a verifier needs to check auth codes.
    public struct PublicKey: Hashable, Sendable {
        public let rawRepresentation: [UInt8]

        public init?(rawRepresentation bytes: [UInt8]) {
            guard bytes.count == 32 else { return nil }
            rawRepresentation = bytes
        }

        public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
            guard signature.count == 64,
                let key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, rawRepresentation, 32)
            else { return false }
            defer { EVP_PKEY_free(key) }
            let context = EVP_MD_CTX_new()
            defer { EVP_MD_CTX_free(context) }
            return EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1
                && EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
        }
    }
}
