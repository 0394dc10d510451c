import FiscalCore
import Foundation
import Mediator
import TerminalClient
import Testing
import ZeroMQ

/// What a broken or hostile terminal can send, over a raw DEALER socket.
@Suite("Bad input from terminals", .timeLimit(.minutes(1)))
struct BadInputTests {
    func rawTerminal(_ mediator: MediatorHarness, id: String?) throws -> SocketLoop {
        let endpoint = mediator.endpoint
        return try SocketLoop(context: mediator.context, kind: .dealer, name: "raw") { socket in
            try socket.setLinger(0)
            if let id { try socket.setRoutingID(Array(id.utf8)) }
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
        try mediator.register("REG-001")
        let raw = try rawTerminal(mediator, id: "REG-001")
        defer { raw.stop() }
        let json: (String) -> [[UInt8]] = { [Array($0.utf8)] }

        #expect(try await exchange(raw, json("not json")).code == .messageInvalid)
        #expect(try await exchange(raw, json(#"{"v":2,"type":"PING","msg_id":"a"}"#)).code == .unsupportedVersion)
        #expect(try await exchange(raw, json(#"{"v":1,"type":"SELL","msg_id":"b"}"#)).code == .unknownMessageType)
        #expect(try await exchange(raw, [Array("x".utf8), Array("y".utf8)]).code == .messageInvalid)
        #expect(try await exchange(raw, json(#"{"v":1,"type":"FISCALIZE","msg_id":"c"}"#)).code == .messageInvalid)
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

    @Test("a peer without a routing id is told to set one; an oversized message only costs its sender the connection")
    func identityAndSize() async throws {
        let mediator = try await MediatorHarness(configure: { $0.gateway.maxMessageSize = 4096 })
        defer { Task { await mediator.close() } }
        let anonymous = try rawTerminal(mediator, id: nil)
        defer { anonymous.stop() }
        let reply = try await exchange(anonymous, [Array(#"{"v":1,"type":"PING","msg_id":"a"}"#.utf8)])
        #expect(reply.code == .messageInvalid && reply.message?.contains("ROUTING_ID") == true)

        let big = try rawTerminal(mediator, id: "REG-BIG")
        defer { big.stop() }
        big.send([Array(repeating: UInt8(ascii: "x"), count: 10_000)])
        let healthy = try await mediator.client("REG-001")
        #expect(
            try await healthy.fiscalize(requestID: "ok", invoice: invoice("REG-001", sale: 1)).invoiceSeq
                == InvoiceSeq(1)
        )
    }
}
