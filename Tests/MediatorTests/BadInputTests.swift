import FiscalCore
import Foundation
import Mediator
import Synchronization
import TerminalClient
import Testing
import ZeroMQ

/// What a broken or hostile terminal can send, over a raw DEALER socket.
@Suite("Bad input from terminals", .timeLimit(.minutes(1)))
struct BadInputTests {
    /// A raw DEALER for terminal `id`: under CURVE with the harness's key for it (no routing id),
    /// in plaintext with `id` as its routing id.
    func rawTerminal(_ mediator: MediatorHarness, id: String?) throws -> SocketLoop {
        let endpoint = mediator.endpoint
        let curve: (server: CurveKey, keys: CurveKeyPair)? =
            if mediator.curve, let id,
                let server = mediator.service.gateway.serverKey.flatMap({ CurveKey(z85: $0.publicKey) })
            {
                (server, try mediator.keys(for: id).pair)
            } else { nil }
        return try SocketLoop(context: mediator.context, kind: .dealer, name: "raw") { socket in
            try socket.set(.linger(.zero))
            if let curve {
                try socket.set(.curveClient(serverKey: curve.server, client: curve.keys))
            } else if let id {
                try socket.set(.routingID(Array(id.utf8)))
            }
            try socket.connect(endpoint)
            return []
        }
    }

    func exchange(_ socket: SocketLoop, _ frames: [[UInt8]]) async throws -> TerminalReply {
        socket.send(frames)
        var inbound = socket.inbound.makeAsyncIterator()
        let message = try #require(await inbound.next())
        return try JSONDecoder().decode(TerminalReply.self, from: Data(message.frames.last!))
    }

    @Test("malformed messages get clear error codes; nothing reaches the device; the mediator keeps serving")
    func malformed() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        try await mediator.register("REG-001")
        let raw = try rawTerminal(mediator, id: "REG-001")
        defer { raw.stop() }
        let json: (String) -> [[UInt8]] = { [Array($0.utf8)] }

        #expect(try await exchange(raw, json("not json")).code == .messageInvalid)
        #expect(try await exchange(raw, json(#"{"v":2,"type":"PING","msg_id":"a"}"#)).code == .unsupportedVersion)
        #expect(try await exchange(raw, json(#"{"v":1,"type":"SELL","msg_id":"b"}"#)).code == .unknownMessageType)
        #expect(try await exchange(raw, [Array("x".utf8), Array("y".utf8)]).code == .messageInvalid)
        #expect(try await exchange(raw, json(#"{"v":1,"type":"FISCALIZE","msg_id":"c"}"#)).code == .messageInvalid)
        #expect(try await exchange(raw, json(#"{"v":1,"type":"HEARTBEAT","msg_id":"h"}"#)).code == .messageInvalid)
        #expect(try await exchange(raw, json(#"{"v":1,"type":"LOGIN","msg_id":"l"}"#)).code == .messageInvalid)
        #expect(
            try await exchange(raw, json(#"{"v":1,"type":"COMMIT","msg_id":"d","request_id":"nope","nonce":"00"}"#))
                .code == .notPrepared
        )
        #expect(
            try await exchange(raw, json(#"{"v":1,"type":"HELLO","msg_id":"e","terminal_id":"REG-002"}"#)).code
                == .terminalMismatch
        )

        let theirs = try JSONEncoder().encode(
            TerminalRequest(type: .fiscalize, msgID: "f", requestID: "r1", invoice: invoice("REG-002", sale: 1))
        )
        let mismatch = try await exchange(raw, [Array(theirs)])
        #expect(mismatch.code == .terminalMismatch && mismatch.msgID == "f")

        var broken = invoice("REG-001", sale: 2)
        broken.totals.currency = "EUR"
        let invalid = try await exchange(
            raw,
            [
                Array(
                    try JSONEncoder().encode(
                        TerminalRequest(type: .fiscalize, msgID: "g", requestID: "r2", invoice: broken)
                    )
                )
            ]
        )
        #expect(invalid.code == .schemaInvalid && invalid.violations?.first?.code == .unknownCurrency)
        // Paths name the field inside the message, as docs/PROTOCOL.md shows them.
        #expect(invalid.violations?.first?.path == "$.invoice.totals.currency")

        let badMoney =
            #"{"v":1,"type":"FISCALIZE","msg_id":"h","request_id":"r3","invoice":{"invoice_type":"sale","client":{"classification":"individual"},"totals":{"subtotal":"1.001","total_vat":0,"total":0,"currency":"CDF"}}}"#
        let money = try await exchange(raw, json(badMoney))
        #expect(money.code == .schemaInvalid && money.violations?.first?.path == "$.invoice.totals.subtotal")

        #expect(try await mediator.journal().isEmpty)
        #expect(try await exchange(raw, json(#"{"v":1,"type":"PING","msg_id":"z"}"#)).isOK)
    }

    @Test(
        "plaintext: a peer without a routing id gets PING answered and is told to set one; an oversized message only costs its sender the connection"
    )
    func identityAndSize() async throws {
        let mediator = try await MediatorHarness(configure: {
            $0.gateway.maxMessageSize = 4096
            $0.gateway.security = .insecurePlaintext
        })
        defer { Task { await mediator.close() } }
        let anonymous = try rawTerminal(mediator, id: nil)
        defer { anonymous.stop() }
        let ping = try await exchange(anonymous, [Array(#"{"v":1,"type":"PING","msg_id":"a"}"#.utf8)])
        #expect(ping.isOK && ping.msgID == "a")
        let reply = try await exchange(anonymous, [Array(#"{"v":1,"type":"STATUS","msg_id":"b"}"#.utf8)])
        #expect(reply.code == .messageInvalid && reply.message?.contains("ROUTING_ID") == true)
        #expect(reply.msgID == "b" && reply.type == .status)

        let big = try rawTerminal(mediator, id: "REG-BIG")
        defer { big.stop() }
        big.send([Array(repeating: UInt8(ascii: "x"), count: 10_000)])
        let healthy = try await mediator.client("REG-001")
        #expect(
            try await healthy.fiscalize(requestID: "ok", invoice: invoice("REG-001", sale: 1)).invoiceSeq
                == InvoiceSeq(1)
        )
    }

    @Test("plaintext: a routing id holding a newline cannot forge a log line: every event is one escaped line")
    func logInjection() async throws {
        let lines = Mutex<[String]>([])
        let mediator = try await MediatorHarness(
            configure: { $0.gateway.security = .insecurePlaintext },
            logSink: { line in lines.withLock { $0.append(line) } }
        )
        defer { Task { await mediator.close() } }
        let forger = try rawTerminal(mediator, id: "REG-001\nlevel=critical msg=\"forged\"")
        defer { forger.stop() }
        let reply = try await exchange(forger, [Array(#"{"v":1,"type":"STATUS","msg_id":"s"}"#.utf8)])
        #expect(reply.code == .notRegistered)
        let written = lines.withLock { $0 }
        let refusal = try #require(written.first { $0.contains("msg=refused") })
        #expect(refusal.contains(#"terminal.id="REG-001\nlevel=critical msg=\"forged\"""#), "\(refusal)")
        for line in written {
            #expect(line.hasSuffix("\n") && line.dropLast().allSatisfy { $0 != "\n" && $0 != "\r" }, "\(line)")
            #expect(!line.hasPrefix("level=critical"))
        }
    }

    @Test("a flood from one terminal key is refused RATE_LIMITED with retry_after_ms; other terminals are served")
    func flood() async throws {
        let mediator = try await MediatorHarness(configure: {
            $0.gateway.rateLimit = 10
            $0.gateway.rateBurst = 20
        })
        defer { Task { await mediator.close() } }
        try await mediator.register("REG-FLOOD", cashier: nil)
        let flooder = try rawTerminal(mediator, id: "REG-FLOOD")
        defer { flooder.stop() }
        let started = ContinuousClock.now
        for index in 0..<300 { flooder.send([Array(#"{"v":1,"type":"PING","msg_id":"\#(index)"}"#.utf8)]) }
        var inbound = flooder.inbound.makeAsyncIterator()
        var limited = 0
        var answered = 0
        for _ in 0..<300 {
            let message = try #require(await inbound.next())
            let reply = try JSONDecoder().decode(TerminalReply.self, from: Data(message.frames.last!))
            if reply.code == .rateLimited {
                limited += 1
                #expect((reply.retryAfterMs ?? 0) > 0 && reply.msgID != nil)
            } else {
                answered += 1
            }
        }
        let seconds = started.duration(to: .now).inSeconds
        #expect(answered <= 20 + Int((seconds * 10).rounded(.up)) + 1, "\(answered) answered in \(seconds) s")
        #expect(limited == 300 - answered)
        let other = try await mediator.client("REG-002")
        #expect(try await other.send(TerminalRequest(type: .ping)).isOK)
    }
}
