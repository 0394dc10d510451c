import DeviceEmulator
import FiscalCore
import FiscalTestSupport
import Foundation
import Mediator
import MediatorStore
import Synchronization
import TerminalClient
import Testing
import ZeroMQ

/// Only paired terminals speak (issue 16): CURVE with a ZAP handler, identity from the key read
/// on every message, pairing, revocation. Over real ZeroMQ on loopback TCP.
@Suite("CURVE access", .timeLimit(.minutes(2)))
struct CurveAccessTests {
    /// A raw DEALER: a CURVE client with `keys` (or none: plaintext), with the routing id it
    /// chooses (which must make no difference).
    func raw(
        _ mediator: MediatorHarness,
        keys: CurveKeyPair?,
        routingID: String? = nil,
        endpoint: String? = nil
    ) throws -> SocketLoop {
        let endpoint = endpoint ?? mediator.endpoint
        let serverText = try #require(mediator.service.gateway.serverKey?.publicKey)
        let serverKey = try #require(CurveKey(z85: serverText))
        return try SocketLoop(context: mediator.context, kind: .dealer, name: "raw") { socket in
            try socket.set(.linger(.zero))
            if let routingID { try socket.set(.routingID(Array(routingID.utf8))) }
            if let keys { try socket.set(.curveClient(serverKey: serverKey, client: keys)) }
            try socket.connect(endpoint)
            return []
        }
    }

    func json(_ text: String) -> [[UInt8]] { [Array(text.utf8)] }

    /// The replies on `socket` until one with `msgID` arrives (those before it included).
    func replies(_ socket: SocketLoop, until msgID: String) async throws -> [TerminalReply] {
        var seen: [TerminalReply] = []
        for await message in socket.inbound {
            let reply = try JSONDecoder().decode(TerminalReply.self, from: Data(message.frames.last!))
            seen.append(reply)
            if reply.msgID == msgID { return seen }
        }
        return seen
    }

    /// What arrives on `socket` within `limit` (the proof that nothing does).
    func anything(on socket: SocketLoop, within limit: Duration) async -> SocketLoop.Message? {
        await withTaskGroup(of: SocketLoop.Message?.self) { group in
            group.addTask {
                var inbound = socket.inbound.makeAsyncIterator()
                return await inbound.next()
            }
            group.addTask {
                try? await Task.sleep(for: limit)
                return nil
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
    }

    @Test("CURVE is on by default and libzmq has it")
    func curveOn() async throws {
        #expect(CurveKeyPair.isAvailable)
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        #expect(mediator.curve)
        #expect(mediator.service.gateway.serverKey?.publicKey.count == 40)
    }

    @Test("an unknown key is refused at the handshake: no message of it is ever read")
    func unknownKey() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        try await mediator.register("REG-001")
        let stranger = try raw(mediator, keys: try CurveKeyPair.generate())
        defer { stranger.stop() }
        stranger.send(json(#"{"v":1,"type":"PING","msg_id":"p"}"#))
        try await eventually("the ZAP handler refused the key") { mediator.service.gateway.counters.refused >= 1 }
        #expect(await anything(on: stranger, within: .milliseconds(500)) == nil)
        #expect(mediator.service.gateway.counters.handshakes == 0)
    }

    @Test("a revoked key is refused on its next message, on a connection opened before the revocation")
    func revokedOnNextMessage() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let lane = try await mediator.client("REG-001")
        #expect(try await lane.fiscalize(requestID: "a", invoice: invoice("REG-001", sale: 1)).invoiceSeq.rawValue == 1)
        try mediator.store.revokeKey(of: TerminalID("REG-001"))
        let refused = await #expect(throws: FiscalError.self) {
            try await lane.fiscalize(requestID: "b", invoice: invoice("REG-001", sale: 2))
        }
        #expect(refused?.code == .keyNotPaired)
        #expect(await refusal { try await lane.status() }?.code == .keyNotPaired)
        // A rotated key is the same: the old one is not the pinned one any more.
        let rotated = try await mediator.client("REG-002")
        try mediator.store.pinKey(try TerminalKeys.generate().publicKey, to: TerminalID("REG-002"))
        #expect(await refusal { try await rotated.status() }?.code == .keyNotPaired)
        #expect(try mediator.store.request(TerminalID("REG-001"), "b") == nil)
        #expect(try await mediator.journal().count == 1)
    }

    @Test("REG-001's key cannot act as REG-002")
    func keyIsIdentity() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        try await mediator.register("REG-001")
        try await mediator.register("REG-002")
        let impostor = try await mediator.connect("REG-002", keys: try mediator.keys(for: "REG-001"))
        let hello = await refusal {
            try await impostor.send(TerminalRequest(type: .hello, terminalID: "REG-002", cashierID: "CASH-01"))
        }
        #expect(hello?.code == .terminalMismatch)
        let sale = await #expect(throws: FiscalError.self) {
            try await impostor.fiscalize(requestID: "x", invoice: invoice("REG-002", sale: 1))
        }
        #expect(sale?.code == .terminalMismatch)
        // Its requests are REG-001's: REG-002's request ids are not reachable through it.
        let real = try await mediator.client("REG-002")
        _ = try await real.fiscalize(requestID: "mine", invoice: invoice("REG-002", sale: 2))
        #expect(await refusal { try await impostor.result(requestID: "mine") }?.code == .notFound)
        #expect(try await mediator.journal().map(\.posTerminalID) == ["REG-002"])
    }

    @Test("a peer without a paired key gets nothing, whatever routing id it sets; REG-001 still works")
    func noKeyNothing() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let lane = try await mediator.client("REG-001")
        _ = try await lane.fiscalize(requestID: "s1", invoice: invoice("REG-001", sale: 1))
        let plaintext = try raw(mediator, keys: nil, routingID: "REG-001")
        let unpaired = try raw(mediator, keys: try CurveKeyPair.generate(), routingID: "REG-001")
        defer {
            plaintext.stop()
            unpaired.stop()
        }
        for peer in [plaintext, unpaired] {
            peer.send(json(#"{"v":1,"type":"RESULT","msg_id":"r","request_id":"s1"}"#))
            peer.send(json(#"{"v":1,"type":"PING","msg_id":"p"}"#))
        }
        #expect(await anything(on: plaintext, within: .milliseconds(500)) == nil)
        #expect(await anything(on: unpaired, within: .milliseconds(200)) == nil)
        #expect(try await lane.result(requestID: "s1").state == .sealed)
        #expect(mediator.service.gateway.counters.handshakes == 1)
    }

    @Test("a second paired key cannot take REG-001's replies, whatever routing id it sets; REG-001 gets its own")
    func noHijack() async throws {
        let mediator = try await MediatorHarness(configureEmulator: {
            $0.latency = EmulatorLatency(prepare: .milliseconds(200), commit: .milliseconds(200))
        })
        defer { Task { await mediator.close() } }
        let lane = try await mediator.client("REG-001")
        try await mediator.register("REG-002")
        let other = try raw(mediator, keys: try mediator.keys(for: "REG-002").pair, routingID: "REG-001")
        defer { other.stop() }
        // REG-001's sale is at the device while the other key connects claiming REG-001's id.
        async let sealed = lane.fiscalize(requestID: "s1", invoice: invoice("REG-001", sale: 1))
        try await eventually("REG-001 holds the device") {
            await mediator.service.deviceActor.snapshot().holder?.terminalID == "REG-001"
        }
        other.send(json(#"{"v":1,"type":"PING","msg_id":"p1"}"#))
        #expect(try await replies(other, until: "p1").count == 1)
        #expect(try await sealed.invoiceSeq.rawValue == 1)
        // Anything misrouted to the other peer would have come before its second PING's reply.
        other.send(json(#"{"v":1,"type":"PING","msg_id":"p2"}"#))
        let seen = try await replies(other, until: "p2")
        #expect(seen.map(\.msgID) == ["p2"])
        #expect(seen.allSatisfy { $0.securityElements == nil })
    }

    @Test("a roaming reconnect with the same key gets the reply to a request sent before the drop, sealed while away")
    func roamingReconnect() async throws {
        let mediator = try await MediatorHarness(configureEmulator: {
            $0.latency = EmulatorLatency(prepare: .milliseconds(300), commit: .milliseconds(300))
        })
        defer { Task { await mediator.close() } }
        try await mediator.register("MOB-001")
        let keys = try mediator.keys(for: "MOB-001").pair
        let before = try raw(mediator, keys: keys)
        let sale = try JSONEncoder().encode(
            TerminalRequest(type: .fiscalize, msgID: "f1", requestID: "table-1", invoice: invoice("MOB-001", sale: 1))
        )
        before.send([Array(sale)])
        try await eventually("the tablet's sale is at the device") {
            await mediator.service.deviceActor.snapshot().holder?.terminalID == "MOB-001"
        }
        before.stop()  // out of range: its connection closes
        // The sale is sealed while the tablet has no connection: its reply is kept for it.
        try await eventually("the sale sealed while the tablet is away") {
            try mediator.store.request(TerminalID("MOB-001"), "table-1")?.state == .sealed
        }
        let after = try raw(mediator, keys: keys)
        defer { after.stop() }
        after.send(json(#"{"v":1,"type":"PING","msg_id":"back"}"#))
        var sealed: TerminalReply?
        try await eventually("the reply reached the new connection") {
            if let message = await anything(on: after, within: .seconds(2)),
                let reply = try? JSONDecoder().decode(TerminalReply.self, from: Data(message.frames.last!)),
                reply.msgID == "f1"
            {
                sealed = reply
            }
            return sealed != nil
        }
        #expect(sealed?.securityElements?.invoiceSeq.rawValue == 1)
    }

    @Test("LOG: a terminal reads only its own sealed invoices; an ADMIN terminal reads all")
    func logIsPrivate() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let first = try await mediator.client("REG-001")
        let second = try await mediator.client("REG-002")
        let admin = try await mediator.client("ADMIN-001", cashier: nil)
        let seq = try await first.fiscalize(requestID: "a", invoice: invoice("REG-001", sale: 1)).invoiceSeq
        #expect(try await first.log(seq).sealed?.requestID == "a")
        #expect(await refusal { try await second.log(seq) }?.code == .notFound)
        #expect(try await admin.log(seq).sealed?.posTerminalID == "REG-001")
    }

    @Test(
        "pairing: a code pins the handshake's key once; reused, expired or guessed codes are refused, then rate-limited"
    )
    func pairing() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        _ = try mediator.store.addTerminal(TerminalRecord(code: TerminalID("MOB-007")))
        let context = ClientContext(mediator.context)
        let serverKey = try #require(mediator.service.gateway.serverKey?.publicKey)
        let tablet = try #require(CurveSettings(keys: try TerminalKeys.generate(), serverKey: serverKey))
        let code = try mediator.store.issuePairingCode(for: TerminalID("MOB-007"))
        func pair(_ text: String, _ curve: CurveSettings) async -> ErrorCode? {
            do {
                _ = try await MediatorClient.pair(
                    context: context,
                    endpoint: mediator.pairingEndpoint,
                    code: text,
                    curve: curve
                )
                return nil
            } catch { return (error as? FiscalError)?.code ?? .messageInvalid }
        }
        #expect(await pair(code.text.lowercased(), tablet) == nil)
        #expect(try mediator.store.terminal(TerminalID("MOB-007"))?.curveKey == tablet.keys.publicKey)
        // The key now speaks as MOB-007, and only it.
        var configuration = MediatorClient.Configuration(endpoint: mediator.endpoint, terminalID: TerminalID("MOB-007"))
        configuration.curve = tablet
        let answered = try await MediatorClient.withClient(context: context, configuration: configuration) { client in
            try await client.send(TerminalRequest(type: .ping)).isOK
        }
        #expect(answered)

        let thief = try #require(CurveSettings(keys: try TerminalKeys.generate(), serverKey: serverKey))
        #expect(await pair(code.text, thief) == .pairingRefused)  // used twice
        let old = try mediator.store.issuePairingCode(
            for: TerminalID("MOB-007"),
            lifetime: .seconds(60),
            now: Date().addingTimeInterval(-120)
        )
        #expect(await pair(old.text, thief) == .pairingRefused)  // expired
        var answers: [ErrorCode?] = []
        for _ in 0..<6 { answers.append(await pair("ABCD-EFGH", thief)) }  // guessed
        #expect(answers.contains(.pairingRefused))
        #expect(answers.last == .rateLimited)
        // Rate-limited means even a good code waits now: guessing cannot go on at speed.
        let fresh = try mediator.store.issuePairingCode(for: TerminalID("MOB-007"))
        #expect(await pair(fresh.text, thief) == .rateLimited)
        #expect(try mediator.store.terminal(TerminalID("MOB-007"))?.curveKey == tablet.keys.publicKey)
    }

    @Test("many connection attempts with unpaired keys or none: none accepted")
    func strangersRefused() async throws {
        let attempts = Int(ProcessInfo.processInfo.environment["CURVE_ATTEMPTS"] ?? "") ?? 100
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        try await mediator.register("REG-001")
        let started = ContinuousClock.now
        var answered = 0
        var curveAttempts = 0
        // In batches of 100: each raw socket is a thread and three libzmq sockets, and a
        // context holds at most 1023.
        for batch in stride(from: 0, to: attempts, by: 100) {
            var sockets: [SocketLoop] = []
            for index in batch..<min(attempts, batch + 100) {
                // Half with an unpaired key, half with none (plaintext against a CURVE server);
                // a quarter claim REG-001's routing id.
                if index.isMultiple(of: 2) { curveAttempts += 1 }
                let socket = try raw(
                    mediator,
                    keys: index.isMultiple(of: 2) ? try CurveKeyPair.generate() : nil,
                    routingID: index.isMultiple(of: 4) ? "REG-001" : nil
                )
                socket.send(json(#"{"v":1,"type":"PING","msg_id":"p"}"#))
                sockets.append(socket)
            }
            let expected = curveAttempts
            try await eventually(within: .seconds(60), "every unpaired key refused by ZAP") {
                mediator.service.gateway.counters.refused >= expected
            }
            for socket in sockets where await anything(on: socket, within: .milliseconds(5)) != nil { answered += 1 }
            for socket in sockets { socket.stop() }
        }
        print(
            "curve-strangers attempts=\(attempts) answered=\(answered) handshakes=\(mediator.service.gateway.counters.handshakes) zap_refused=\(mediator.service.gateway.counters.refused) seconds=\(ContinuousClock.now - started)"
        )
        #expect(answered == 0)
        #expect(mediator.service.gateway.counters.handshakes == 0)
        #expect(mediator.service.gateway.counters.admitted == 0)
    }
}
