public import FiscalCore

extension DeviceReply.DumpLog {
    /// Whether `signature` (base64url) is `key`'s signature of the head `seq|hash` of `deviceID`.
    public static func isSignedHead(
        deviceID: DeviceID,
        seq: UInt64,
        hash: String,
        signature: String,
        key: Ed25519.PublicKey
    ) -> Bool {
        guard let bytes = Base64URL.decode(signature) else { return false }
        return key.isValidSignature(bytes, for: headSigningInput(deviceID: deviceID, seq: seq, hash: hash))
    }

    /// Checks a whole export held in memory: the head's signature, then every entry (chain,
    /// hashes, signatures, clock) up to that head. `pinned` is the key registered with the tax
    /// authority; without it the export's own key is used. Returns the number of entries.
    @discardableResult
    public func verify(pinned: Ed25519.PublicKey? = nil) throws(JournalVerifier.Failure) -> Int {
        guard let key = pinned ?? Ed25519.PublicKey(hex: publicKey) else {
            throw JournalVerifier.Failure(seq: 0, kind: .head, reason: "the export's public_key is not 32 bytes of hex")
        }
        guard Self.isSignedHead(deviceID: deviceID, seq: headSeq, hash: headHash, signature: headSignature, key: key)
        else {
            throw JournalVerifier.Failure(
                seq: headSeq,
                kind: .head,
                reason: "the export's head is not signed by the device"
            )
        }
        return try JournalVerifier(publicKey: key, deviceID: deviceID).verify(
            entries,
            head: .init(lastSeq: headSeq, lastHash: headHash)
        )
    }
}

extension Ed25519.PublicKey {
    /// A key from 64 hex digits; nil for anything else.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex) else { return nil }
        self.init(rawRepresentation: bytes)
    }
}
