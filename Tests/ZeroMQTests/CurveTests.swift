import Foundation
import Testing
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// CURVE keys, key files and the ZAP handler, over loopback TCP.
@Suite("CURVE keys and ZAP", .timeLimit(.minutes(1)))
struct CurveTests {
    @Test("Z85 keys round-trip; malformed ones are refused; a secret key gives back its public key")
    func keys() throws {
        let pair = try CurveKeyPair.generate()
        #expect(CurveKey(z85: pair.publicKey.z85) == pair.publicKey)
        #expect(try CurveKeyPair(secretKey: pair.secretKey).publicKey == pair.publicKey)
        #expect(CurveKey(z85: "short") == nil)
        #expect(CurveKey(z85: String(repeating: "~", count: 40)) == nil)
        #expect(CurveKey(bytes: [1, 2, 3]) == nil)
    }

    @Test("a key file is made 0600 once, read back the same, and refused when others may read it")
    func keyFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (made, created) = try CurveKeyPair.loadOrCreate(file: path)
        #expect(created)
        var status = stat()
        #expect(stat(path, &status) == 0 && status.st_mode & 0o777 == 0o600)
        let (again, createdAgain) = try CurveKeyPair.loadOrCreate(file: path)
        #expect(!createdAgain && again == made)
        chmod(path, 0o644)
        #expect(throws: KeyFileError.self) { try CurveKeyPair.load(file: path) }
    }

    @Test("the ZAP handler admits a key with its User-Id on every message, and refuses the rest")
    func zap() async throws {
        let context = ZMQContext()
        let zap = try ZAPHandler(context: context)
        let server = try CurveKeyPair.generate()
        let friend = try CurveKeyPair.generate()
        let router = try SocketLoop(context: context, kind: .router, name: "curve-router") { socket in
            try socket.set(.linger(.zero))
            try socket.set(.zapDomain("test"))
            try socket.set(.curveServer(secretKey: server.secretKey))
            try socket.bind("tcp://127.0.0.1:*")
            return [socket.lastEndpoint]
        }
        let deciding = Task {
            await zap.run { request in
                request.domain == "test" && request.clientKey == friend.publicKey
                    ? .admit(userID: "friend") : .refuse(reason: "stranger")
            }
        }
        func dealer(_ keys: CurveKeyPair) throws -> SocketLoop {
            try SocketLoop(context: context, kind: .dealer, name: "curve-dealer") { socket in
                try socket.set(.linger(.zero))
                try socket.set(.curveClient(serverKey: server.publicKey, client: keys))
                try socket.connect(router.endpoints[0])
                return []
            }
        }
        let stranger = try dealer(try CurveKeyPair.generate())
        stranger.send([Array("from a stranger".utf8)])
        let known = try dealer(friend)
        known.send([Array("hello".utf8)])
        var inbound = router.inbound.makeAsyncIterator()
        let message = try #require(await inbound.next())
        #expect(message.frames.last == Array("hello".utf8))
        #expect(message.userID == "friend")
        known.send([Array("again".utf8)])
        #expect(await inbound.next()?.userID == "friend")
        for socket in [stranger, known, router] { socket.stop() }
        zap.stop()
        await deciding.value
    }
}
