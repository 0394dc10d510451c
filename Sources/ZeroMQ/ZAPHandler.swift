/// The context's ZAP handler (RFC 27): libzmq asks it, over `inproc://zeromq.zap.01`, whether
/// each CURVE client may finish its handshake.
///
/// Without a handler bound there, libzmq admits **any** client key; so this is bound before any
/// CURVE server socket of the context binds, and a request it cannot answer is refused (fail
/// closed). It is a ``SocketLoop`` of its own (a ROUTER, as libzmq's ZAP client is a REQ): the
/// requests reach ``run(_:)`` as values, the decision is an `async` function (a registry lookup),
/// and the replies go back through the loop's thread.
public final class ZAPHandler: Sendable {
    /// What a ZAP request says about a connection being admitted.
    public struct Request: Sendable, Hashable {
        /// The `ZMQ_ZAP_DOMAIN` of the server socket (one handler serves several sockets).
        public var domain: String
        /// The client's IP address.
        public var address: String
        /// `CURVE`, `PLAIN` or `NULL`.
        public var mechanism: String
        /// The client's long-term public key, proved by the CURVE handshake (CURVE only).
        public var clientKey: CurveKey?
    }

    /// The handler's answer.
    public enum Decision: Sendable, Hashable {
        /// Admit the connection; each of its messages carries this `User-Id`.
        case admit(userID: String)
        /// Refuse it (ZAP 400): the handshake fails and no message of the peer is ever read.
        case refuse(reason: String)
    }

    public static let endpoint = "inproc://zeromq.zap.01"

    private let loop: SocketLoop

    /// Binds the handler's endpoint in `context` (only one handler per context).
    public init(context: ZMQContext) throws {
        loop = try SocketLoop(context: context, kind: .router, name: "zap") { socket in
            try socket.set(.linger(.zero))
            try socket.bind(Self.endpoint)
            return []
        }
    }

    /// Answers requests with `decide` until the handler stops. Requests are decided one after
    /// another; a malformed one is dropped (libzmq then refuses the handshake on its own).
    public func run(_ decide: @Sendable (Request) async -> Decision) async {
        for await message in loop.inbound {
            // [routing id, "", version, request id, domain, address, identity, mechanism, credentials...]
            let frames = message.frames
            guard frames.count >= 8, frames[1].isEmpty, frames[2] == Array("1.0".utf8) else { continue }
            let mechanism = String(decoding: frames[7], as: UTF8.self)
            let request = Request(
                domain: String(decoding: frames[4], as: UTF8.self),
                address: String(decoding: frames[5], as: UTF8.self),
                mechanism: mechanism,
                clientKey: mechanism == "CURVE" && frames.count >= 9 ? CurveKey(bytes: frames[8]) : nil
            )
            let decision = await decide(request)
            let status: (code: String, text: String, user: String)
            switch decision {
            case .admit(let user): status = ("200", "OK", user)
            case .refuse(let reason): status = ("400", reason, "")
            }
            loop.send([
                frames[0], [], Array("1.0".utf8), frames[3], Array(status.code.utf8), Array(status.text.utf8),
                Array(status.user.utf8), [],
            ])
        }
    }

    public func stop() { loop.stop() }
}
