public import FiscalCore
import Foundation
public import ZeroMQ

/// A terminal's long-term CURVE key pair, kept in a 0600 key file. Its public key is what the
/// mediator pins to the terminal at pairing; the secret never leaves the file and this value.
public struct TerminalKeys: Sendable, Hashable {
    package let pair: CurveKeyPair

    /// The public key (Z85): safe to show, it is what `terminals show` lists.
    public var publicKey: String { pair.publicKey.z85 }

    /// Reads the key file at `path`, or makes a new key pair there (mode 0600).
    public static func loadOrCreate(file path: String) throws -> (keys: TerminalKeys, created: Bool) {
        let (pair, created) = try CurveKeyPair.loadOrCreate(file: path)
        return (TerminalKeys(pair: pair), created)
    }

    /// A fresh key pair held in memory only (tests, load runs that pin keys themselves).
    public static func generate() throws -> TerminalKeys { TerminalKeys(pair: try CurveKeyPair.generate()) }

    public init(pair: CurveKeyPair) { self.pair = pair }
}

/// What a CURVE client needs: its own key pair and the mediator's public key, learnt out of
/// band (the pairing printout or QR), never from the network.
public struct CurveSettings: Sendable, Hashable {
    public var keys: TerminalKeys
    public var serverKey: CurveKey

    /// `serverKey` is the mediator's public key in Z85 (40 characters); `nil` if it is not one.
    public init?(keys: TerminalKeys, serverKey: String) {
        guard let key = CurveKey(z85: serverKey.trimmingCharacters(in: .whitespaces)) else { return nil }
        self.keys = keys
        self.serverKey = key
    }
}

extension MediatorClient {
    /// Pairs `keys` with the mediator: connects to its pairing endpoint as a CURVE client (so
    /// the mediator sees the key this handshake proves) and sends `PAIR {code}`. Returns the
    /// terminal the key is now pinned to; throws the mediator's refusal (PAIRING_REFUSED,
    /// RATE_LIMITED) or MEDIATOR_TIMEOUT.
    public static func pair(
        context: ClientContext,
        endpoint: String,
        code: String,
        curve: CurveSettings,
        timeout: Duration = .seconds(10)
    ) async throws -> TerminalID {
        let loop = try SocketLoop(context: context.zmq, kind: .dealer, name: "pairing") { socket in
            try socket.set(.linger(.zero))
            try socket.set(.curveClient(serverKey: curve.serverKey, client: curve.keys.pair))
            try socket.connect(endpoint)
            return []
        }
        defer { loop.stop() }
        let request = PairingRequest(code: code, msgID: "pair-1")
        loop.send([Array(try JSONEncoder().encode(request))])
        let reply = try await withThrowingTaskGroup(of: PairingReply?.self) { group in
            group.addTask {
                for await message in loop.inbound {
                    if let payload = message.frames.last,
                        let reply = try? JSONDecoder().decode(PairingReply.self, from: Data(payload))
                    {
                        return reply
                    }
                }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let reply else {
            throw FiscalError(
                .mediatorTimeout,
                "no answer from the pairing endpoint \(endpoint) within \(timeout) (is the server key right?)"
            )
        }
        guard reply.status == "OK", let terminal = reply.terminalID else {
            throw FiscalError(reply.code ?? .pairingRefused, reply.message ?? "pairing refused")
        }
        return TerminalID(terminal)
    }
}
