import Testing
import ZeroMQ

@Suite("ZeroMQ socket loops over loopback TCP", .timeLimit(.minutes(1)))
struct SocketLoopTests {
    let context = ZMQContext()

    func router() throws -> SocketLoop {
        try SocketLoop(context: context, kind: .router, name: "test-router") { socket in
            try socket.set(.linger(.zero))
            try socket.set(.routerMandatory(true))
            try socket.set(.routerHandover(true))
            try socket.bind("tcp://127.0.0.1:*")
            return [socket.lastEndpoint]
        }
    }

    func dealer(_ id: String, to endpoint: String) throws -> SocketLoop {
        try SocketLoop(context: context, kind: .dealer, name: "test-dealer-\(id)") { socket in
            try socket.set(.linger(.zero))
            try socket.set(.routingID(Array(id.utf8)))
            try socket.connect(endpoint)
            return []
        }
    }

    @Test("a DEALER and a ROUTER exchange multipart messages; the router sees the routing id")
    func roundTrip() async throws {
        let server = try router()
        let endpoint = try #require(server.endpoints.first)
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        let client = try dealer("REG-001", to: endpoint)
        client.send([Array("hello".utf8), Array("world".utf8)])
        var serverInbound = server.inbound.makeAsyncIterator()
        let received = try #require(await serverInbound.next())
        #expect(received.frames == [Array("REG-001".utf8), Array("hello".utf8), Array("world".utf8)])
        #expect(received.connection.number >= 1)
        server.send([Array("REG-001".utf8), Array("reply".utf8)])
        var clientInbound = client.inbound.makeAsyncIterator()
        #expect(await clientInbound.next()?.frames == [Array("reply".utf8)])
        client.stop()
        server.stop()
    }

    @Test("the monitor reports the connection's accept and its disconnect under the message's connection")
    func connectionEvents() async throws {
        let server = try router()
        let client = try dealer("MOB-001", to: server.endpoints[0])
        client.send([Array("ping".utf8)])
        var inbound = server.inbound.makeAsyncIterator()
        let message = try #require(await inbound.next())
        var events = server.events.makeAsyncIterator()
        #expect(await events.next() == .accepted(message.connection))
        #expect(await events.next() == .handshakeSucceeded)
        client.stop()
        #expect(await events.next() == .disconnected(message.connection))
        server.stop()
    }

    @Test("connections one after the other get new numbers, even on a reused descriptor")
    func connectionNumbersAreNeverReused() async throws {
        let server = try router()
        var inbound = server.inbound.makeAsyncIterator()
        var events = server.events.makeAsyncIterator()
        var seen: [SocketLoop.Connection] = []
        for _ in 0..<3 {
            let client = try dealer("REG-009", to: server.endpoints[0])
            client.send([Array("ping".utf8)])
            let message = try #require(await inbound.next())
            #expect(await events.next() == .accepted(message.connection))
            #expect(await events.next() == .handshakeSucceeded)
            seen.append(message.connection)
            client.stop()
            #expect(await events.next() == .disconnected(message.connection))
        }
        #expect(seen == seen.sorted() && Set(seen).count == 3)
        server.stop()
    }

    @Test("a message to an unknown peer is dropped and counted, not blocked on")
    func unknownPeer() async throws {
        let server = try router()
        server.send([Array("NOBODY".utf8), Array("x".utf8)])
        let client = try dealer("REG-002", to: server.endpoints[0])
        client.send([Array("ping".utf8)])
        var inbound = server.inbound.makeAsyncIterator()
        _ = await inbound.next()
        #expect(server.droppedMessages == 1)
        client.stop()
        server.stop()
    }

    @Test("a setup that fails throws from init")
    func setupFailure() {
        #expect(throws: ZMQError.self) {
            _ = try SocketLoop(context: context, kind: .router, name: "bad") { socket in
                try socket.bind("tcp://256.0.0.1:1")
                return []
            }
        }
    }
}
