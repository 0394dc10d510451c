import FiscalCore
import Foundation
import Testing

/// Each terminal request decodes to its typed body and encodes back to the same JSON: the
/// wire docs/PROTOCOL.md describes, kept in Fixtures/wire/ as golden files.
@Suite("Wire messages against golden files")
struct WireGoldenTests {
    static let names = [
        "hello", "login", "logout", "heartbeat", "fiscalize", "prepare", "commit", "abort", "result", "log", "status",
        "ping", "open_period", "cash_event", "fiscalize.sale", "report_x", "close_period",
    ]

    static func golden(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/wire/\(name)", withExtension: "json"))
        return try Data(contentsOf: url)
    }

    @Test("each request type decodes to its body and re-encodes to the same JSON", arguments: names)
    func roundTrip(name: String) throws {
        let bytes = try Self.golden(name)
        let request = try JSONDecoder().decode(TerminalRequest.self, from: bytes)
        #expect(request.type.rawValue == name.prefix { $0 != "." }.uppercased())
        switch request.body {
        case .hello(let hello): #expect(hello.machineID == "A4:83:E7:2B:91:F0" && request.terminalID == "REG-001")
        case .login(let login): #expect(login.cashierID == "CASH-07")
        case .heartbeat(let heartbeat): #expect(heartbeat.health.latencyMs == 4 && heartbeat.appVersion == "pos 4.2")
        case .fiscalize(let sale):
            #expect(sale.requestID.rawValue.hasPrefix("3f7c2a90-sale-") && sale.invoice.items.count == 3)
            if let context = sale.context {
                #expect(context.tendered.first?.rate == ExchangeRate(decimalText: "2850"))
                #expect(context.violations(against: sale.invoice, rules: .default).isEmpty)
            }
        case .prepare(let sale): #expect(sale.requestID == "table-5")
        case .commit(let commit): #expect(commit.nonce == Nonce("4b03d412c77de0c8d4e9d0458ef84391"))
        case .abort(let reference), .result(let reference): #expect(!reference.requestID.rawValue.isEmpty)
        case .log(let log): #expect(log.invoiceSeq == InvoiceSeq(42))
        case .openPeriod(let open):
            #expect(open.openedBy == "SUP-01" && open.openingFloat["USD"] == Money(units: 2000))
        case .cashEvent(let event): #expect(event.knownKind == .payout && event.amount == Money(units: 1_500_000))
        case .reportX(let x): #expect(!x.preview && x.cashierID == "CASH-07" && x.takenBy == "SUP-01")
        case .closePeriod(let close):
            #expect(close.closedBy == "SUP-01" && close.count?["CDF"]?["20000"] == 5 && !close.preview)
        case .logout, .status, .ping: break
        }
        let again = try JSONEncoder().encode(request)
        let original = try JSONSerialization.jsonObject(with: bytes) as? NSDictionary
        let encoded = try JSONSerialization.jsonObject(with: again) as? NSDictionary
        #expect(original != nil && original == encoded, "\(String(decoding: again, as: UTF8.self))")
    }

    @Test("a field a type needs, missing or malformed, is a decoding error at its path")
    func requiredFields() throws {
        let cases = [
            (#"{"v":1,"type":"FISCALIZE","msg_id":"a","invoice":{}}"#, "$.request_id"),
            (#"{"v":1,"type":"COMMIT","msg_id":"a","request_id":"r"}"#, "$.nonce"),
            (#"{"v":1,"type":"RESULT","msg_id":"a","request_id":""}"#, "$.request_id"),
            (#"{"v":1,"type":"LOGIN","msg_id":"a"}"#, "$.cashier_id"),
            (#"{"v":1,"type":"HEARTBEAT","msg_id":"a"}"#, "$.health"),
            (#"{"v":1,"type":"LOG","msg_id":"a"}"#, "$.invoice_seq"),
            (#"{"v":1,"type":"OPEN_PERIOD","msg_id":"a","opening_float":{}}"#, "$.opened_by"),
            (
                #"{"v":1,"type":"OPEN_PERIOD","msg_id":"a","opened_by":"x","opening_float":{"CDF":1e40}}"#,
                "$.opening_float.CDF"
            ),
            (#"{"v":1,"type":"CASH_EVENT","msg_id":"a","kind":"payout"}"#, "$.event_id"),
            (#"{"v":1,"type":"CLOSE_PERIOD","msg_id":"a","count":{}}"#, "$.closed_by"),
            (
                #"{"v":1,"type":"CLOSE_PERIOD","msg_id":"a","closed_by":"S","count":{"CDF":{"500":1e30}}}"#,
                "$.count.CDF.500"
            ),
            (#"{"v":1,"type":"REPORT_X","msg_id":"a","preview":"yes"}"#, "$.preview"),
            (
                #"{"v":1,"type":"CASH_EVENT","msg_id":"a","event_id":"e","kind":"payout","amount":99999999999999999999}"#,
                "$.amount"
            ),
        ]
        for (frame, path) in cases {
            let error = try #require(throws: DecodingError.self) {
                try JSONDecoder().decode(TerminalRequest.self, from: Data(frame.utf8))
            }
            #expect(error.jsonPath == path, "\(frame)")
        }
    }
}

/// `JSONDocument`, the carrier of a report record in a reply: every JSON type read and written
/// back the same, amounts as exact decimals, and one form per value.
@Suite("JSON documents")
struct JSONDocumentTests {
    @Test("each JSON type reads back as itself; a number beyond Int64 stays exact; 10.0 and 1e2 are integers")
    func roundTrip() throws {
        let text =
            #"{"a":null,"b":true,"c":42,"d":117270.05,"e":"x","f":[1,"y"],"g":{"h":18446744073709551616},"i":10.0,"j":1e2}"#
        let document = try JSONDecoder().decode(JSONDocument.self, from: Data(text.utf8))
        guard case .object(let fields) = document else {
            Issue.record("an object read as \(document)")
            return
        }
        #expect(fields["a"] == .null && fields["b"] == .bool(true) && fields["c"] == .integer(42))
        #expect(fields["d"] == .number(Decimal(string: "117270.05")!) && fields["e"] == .string("x"))
        #expect(fields["f"] == .array([.integer(1), .string("y")]))
        #expect(fields["g"] == .object(["h": .number(Decimal(string: "18446744073709551616")!)]))
        #expect(fields["i"] == .integer(10) && fields["j"] == .integer(100))
        let again = try JSONDecoder().decode(JSONDocument.self, from: JSONEncoder().encode(document))
        #expect(again == document)
    }
}
