/// PAIR, the one message of the pairing endpoint (docs/PROTOCOL.md, "Pairing").
///
/// `{"v":1,"type":"PAIR","msg_id":"p-1","code":"K7QX-M2PD"}`. The terminal sends it over a CURVE
/// connection made with the key pair it will use from then on; the mediator pins the key that
/// connection's handshake proved, never a key named in the message.
public struct PairingRequest: Codable, Sendable, Hashable {
    public var v: Int
    public var type: String
    public var msgID: String?
    public var code: String

    public init(code: String, msgID: String? = nil) {
        v = TerminalProtocol.version
        type = "PAIR"
        self.msgID = msgID
        self.code = code
    }

    enum CodingKeys: String, CodingKey {
        case v, type, code
        case msgID = "msg_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        v = try c.decode(Int.self, forKey: .v, in: WireRange.version)
        type = try c.decode(String.self, forKey: .type)
        msgID = try c.decodeIfPresent(String.self, forKey: .msgID)
        code = try c.decode(String.self, forKey: .code)
        guard type == "PAIR", msgID.map({ $0.utf8.count <= 128 }) ?? true, code.utf8.count <= 32 else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "not a PAIR message"))
        }
    }
}

/// The answer to PAIR: `status` `OK` with the terminal the key is now pinned to and the
/// endpoint to use, or `ERR` with a `code` (PAIRING_REFUSED, RATE_LIMITED, MESSAGE_INVALID).
public struct PairingReply: Codable, Sendable, Hashable {
    public var v = TerminalProtocol.version
    public var type = "PAIR"
    public var msgID: String?
    public var status: String
    public var terminalID: String?
    public var code: ErrorCode?
    public var message: String?
    public var retryAfterMs: Int?

    public init(msgID: String?, terminalID: String) {
        self.msgID = msgID
        status = "OK"
        self.terminalID = terminalID
    }

    public init(msgID: String?, error: FiscalError, retryAfterMs: Int? = nil) {
        self.msgID = msgID
        status = "ERR"
        code = error.code
        message = error.message
        self.retryAfterMs = retryAfterMs
    }

    enum CodingKeys: String, CodingKey {
        case v, type, status, code, message
        case msgID = "msg_id"
        case terminalID = "terminal_id"
        case retryAfterMs = "retry_after_ms"
    }
}
