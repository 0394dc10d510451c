/// One sealed invoice in the device's hash-chained journal.
///
/// The auth code is the device's Ed25519 signature over ``signingInput``; the entry hash is
/// SHA-256 over the same fields plus the auth code, and the next entry's `previous_hash`
/// repeats it, so editing, removing or reordering any entry breaks the chain.
public struct JournalEntry: Hashable, Sendable, Codable {
    public var seq: InvoiceSeq
    public var deviceID: DeviceID
    public var previousHash: String
    public var payloadDigest: String
    public var posTerminalID: String
    public var cashierID: String
    public var invoiceType: Invoice.InvoiceType
    public var total: Money
    public var currency: String
    /// The device's clock at sealing, UTC, `yyyy-MM-ddTHH:mm:ss.SSSZ`.
    public var deviceTimestamp: String
    /// base64url (no padding) of the 64-byte Ed25519 signature.
    public var authCode: String
    /// 64 lowercase hex digits.
    public var entryHash: String

    /// The `previous_hash` of the first entry.
    public static let genesisHash = String(repeating: "0", count: 64)

    enum CodingKeys: String, CodingKey {
        case seq
        case deviceID = "device_id"
        case previousHash = "previous_hash"
        case payloadDigest = "payload_digest"
        case posTerminalID = "pos_terminal_id"
        case cashierID = "cashier_id"
        case invoiceType = "invoice_type"
        case total, currency
        case deviceTimestamp = "device_timestamp"
        case authCode = "auth_code"
        case entryHash = "entry_hash"
    }

    public init(
        seq: InvoiceSeq,
        deviceID: DeviceID,
        previousHash: String,
        payloadDigest: String,
        posTerminalID: String,
        cashierID: String,
        invoiceType: Invoice.InvoiceType,
        total: Money,
        currency: String,
        deviceTimestamp: String,
        authCode: String = "",
        entryHash: String = ""
    ) {
        self.seq = seq
        self.deviceID = deviceID
        self.previousHash = previousHash
        self.payloadDigest = payloadDigest
        self.posTerminalID = posTerminalID
        self.cashierID = cashierID
        self.invoiceType = invoiceType
        self.total = total
        self.currency = currency
        self.deviceTimestamp = deviceTimestamp
        self.authCode = authCode
        self.entryHash = entryHash
    }

    /// The bytes the device signs: canonical JSON of every field but the auth code and hash.
    public var signingInput: [UInt8] {
        var json = CanonicalJSON()
        json.beginObject()
        writeSignedFields(into: &json)
        json.endObject()
        return json.bytes
    }

    /// The entry hash this entry must carry: SHA-256 of the signed fields plus the auth code.
    public var computedEntryHash: String {
        var json = CanonicalJSON()
        json.beginObject()
        writeSignedFields(into: &json)
        json.field("auth_code", authCode)
        json.endObject()
        return SHA256.hex(json.bytes)
    }

    private func writeSignedFields(into json: inout CanonicalJSON) {
        json.field("v", 1)
        json.field("device_id", deviceID.rawValue)
        json.field("seq", seq.rawValue)
        json.field("previous_hash", previousHash)
        json.field("payload_digest", payloadDigest)
        json.field("pos_terminal_id", posTerminalID)
        json.field("cashier_id", cashierID)
        json.field("invoice_type", invoiceType.rawValue)
        json.field("total", total)
        json.field("currency", currency)
        json.field("device_timestamp", deviceTimestamp)
    }

    /// Signs the entry with the device key and fills in auth code and entry hash.
    public mutating func seal(with key: Ed25519.PrivateKey) {
        authCode = Base64URL.encode(key.signature(for: signingInput))
        entryHash = computedEntryHash
    }

    /// Whether the auth code is a valid signature of this entry by `publicKey`.
    public func hasValidSignature(_ publicKey: Ed25519.PublicKey) -> Bool {
        guard let signature = Base64URL.decode(authCode) else { return false }
        return publicKey.isValidSignature(signature, for: signingInput)
    }

    /// The QR payload printed on the receipt: enough for an inspector to check the receipt
    /// offline against the device's public key.
    public var qrPayload: String {
        "DEF1|\(deviceID)|\(seq)|\(deviceTimestamp)|\(total)|\(currency)|\(authCode)"
    }

    /// The security elements a terminal prints.
    public var securityElements: SecurityElements {
        SecurityElements(
            invoiceSeq: seq,
            deviceID: deviceID,
            authCode: authCode,
            deviceTimestamp: deviceTimestamp,
            qrPayload: qrPayload,
            payloadDigest: payloadDigest,
            entryHash: entryHash
        )
    }
}

/// What the device returns from COMMIT and nothing else may invent: the fiscal number,
/// device id, auth code, device timestamp and QR payload.
public struct SecurityElements: Hashable, Sendable, Codable {
    public var invoiceSeq: InvoiceSeq
    public var deviceID: DeviceID
    public var authCode: String
    public var deviceTimestamp: String
    public var qrPayload: String
    public var payloadDigest: String
    public var entryHash: String

    public init(
        invoiceSeq: InvoiceSeq,
        deviceID: DeviceID,
        authCode: String,
        deviceTimestamp: String,
        qrPayload: String,
        payloadDigest: String,
        entryHash: String
    ) {
        self.invoiceSeq = invoiceSeq
        self.deviceID = deviceID
        self.authCode = authCode
        self.deviceTimestamp = deviceTimestamp
        self.qrPayload = qrPayload
        self.payloadDigest = payloadDigest
        self.entryHash = entryHash
    }

    enum CodingKeys: String, CodingKey {
        case invoiceSeq = "invoice_seq"
        case deviceID = "device_id"
        case authCode = "auth_code"
        case deviceTimestamp = "device_timestamp"
        case qrPayload = "qr_payload"
        case payloadDigest = "payload_digest"
        case entryHash = "entry_hash"
    }
}
