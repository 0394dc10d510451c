import FiscalCore
import FiscalTestSupport
import Foundation
import SampleData
import Testing

@Suite("Canonical encoding")
struct CanonicalEncodingTests {
    static func fixture(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil))
        return try Data(contentsOf: url)
    }

    @Test("the example invoice encodes to the pinned bytes and digest")
    func goldenVector() throws {
        let invoice = try Invoice.decode(json: Array(try Self.fixture("invoice.json")))
        let expected = try Self.fixture("invoice.canonical.json")
        #expect(invoice.canonicalJSON() == Array(expected))
        // Pinned independently of the encoder (Python's hashlib over the fixture bytes).
        #expect(invoice.payloadDigest() == "ec0735c6b9fe4162d492f63dd4b06b475931fba276acc7251afb07e2c34865bf")
    }

    @Test("the canonical bytes do not depend on input key order, whitespace, number spelling or breakdown order")
    func independentOfSpelling() throws {
        let reordered = """
            {"payments":[{"amount":"40000","method":"cash"},{"reference":"MM-778812","amount":0.010,"method":"mobile_money"}],
             "totals":{"currency":"CDF","total":37304,"total_vat":4504.0,"subtotal":32800},
             "tax_groups":[{"code":"C","rate":8,"base":6300,"amount":504},{"code":"B","rate":16.0,"base":25000,"amount":4000},
                           {"code":"A","rate":0,"base":1500,"amount":0}],
             "items":[{"tax_group":"B","unit_price":12500,"quantity":2,"description":"Riz 5 kg","code":"ART-100"},
                      {"tax_group":"C","unit_price":4200,"quantity":1.5,"description":"Huile 1 L","code":"ART-200"},
                      {"tax_group":"A","unit_price":500,"quantity":3,"description":"Pain","code":"ART-300"}],
             "client":{"classification":"individual"}, "timestamp":"2026-11-21T10:15:00+01:00", "invoice_type":"sale",
             "lane_number":1, "cashier_id":"CASH-01", "pos_terminal_id":"REG-001", "outlet_id":"OUTLET-KIN-01",
             "merchant_nif":"A1234567B"}
            """
        let invoice = try Invoice.decode(json: Array(reordered.utf8))
        #expect(invoice.canonicalJSON() == Array(try Self.fixture("invoice.canonical.json")))
    }

    @Test("strings are escaped one way: quotes, backslashes and control characters; UTF-8 kept raw")
    func stringEscaping() {
        var json = CanonicalJSON()
        json.beginObject()
        json.field("s", "a\"b\\c\nd\u{1}é/")
        json.endObject()
        #expect(String(decoding: json.bytes, as: UTF8.self) == #"{"s":"a\"b\\c\nd\u0001é/"}"#)
    }

    @Test("optional fields are left out when absent, and a change to any field changes the digest")
    func optionalAndSensitivity() {
        var invoice = SampleInvoices.sale()
        invoice.laneNumber = nil
        let text = String(decoding: invoice.canonicalJSON(), as: UTF8.self)
        #expect(!text.contains("lane_number"))
        #expect(!text.contains("\"reference\""))
        let digest = invoice.payloadDigest()
        invoice.items[0].quantity = Quantity(units: invoice.items[0].quantity.units + 1)
        #expect(invoice.payloadDigest() != digest)
    }
}

@Suite("Exact decimals")
struct FixedPointTests {
    @Test(arguments: [
        ("12.5", 1250), ("0.01", 1), ("100", 10_000), ("-3.20", -320), ("1.500", 150), ("007.10", 710),
    ])
    func moneyParses(text: String, units: Int64) {
        #expect(Money(decimalText: text)?.units == units)
    }

    @Test(arguments: ["1.001", "abc", "", ".5", "1.", "1e3", "--1", "99999999999999999999"])
    func moneyRejects(text: String) {
        #expect(Money(decimalText: text) == nil)
    }

    @Test func formatting() {
        #expect(Money(units: 5).canonicalText == "0.05")
        #expect(Money(units: -12345).canonicalText == "-123.45")
        #expect(Quantity(units: 1500).canonicalText == "1.500")
        #expect(TaxRate(units: 1600).canonicalText == "16.00")
    }

    @Test("a JSON number with more decimals than money allows is refused with its path")
    func decodingPrecision() throws {
        var json = String(decoding: SampleInvoices.sale().canonicalJSON(), as: UTF8.self)
        json = json.replacingOccurrences(of: "\"total\":", with: "\"total\":0.001+")
        let error = #expect(throws: FiscalError.self) { try Invoice.decode(json: Array(json.utf8)) }
        #expect(error?.code == .schemaInvalid)
    }

    @Test("line amounts round half away from zero")
    func lineRounding() {
        let item = Invoice.Item(
            code: "X",
            description: "x",
            quantity: Quantity(units: 333),
            unitPrice: Money(units: 150),
            taxGroup: "A"
        )
        // 0.333 × 1.50 = 0.4995 → 0.50
        #expect(item.amount.units == 50)
    }
}

@Suite("Crypto")
struct CryptoTests {
    @Test func sha256KnownVector() {
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func ed25519SignsAndVerifies() throws {
        let key = Ed25519.PrivateKey()
        let message = Array("invoice 42".utf8)
        let signature = key.signature(for: message)
        #expect(key.publicKey.isValidSignature(signature, for: message))
        #expect(!key.publicKey.isValidSignature(signature, for: Array("invoice 43".utf8)))
        #expect(!Ed25519.PrivateKey().publicKey.isValidSignature(signature, for: message))
        let restored = try #require(Ed25519.PrivateKey(rawRepresentation: key.rawRepresentation))
        #expect(restored.publicKey == key.publicKey)
    }

    @Test func hexAndBase64URLRoundTrip() {
        let bytes: [UInt8] = [0, 1, 0xFE, 0xFF, 0x7F]
        #expect(Hex.decode(Hex.encode(bytes)) == bytes)
        #expect(Hex.decode("0g") == nil)
        #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        #expect(!Base64URL.encode([0xFB, 0xFF]).contains(where: { "+/=".contains($0) }))
        for count in 0..<70 {
            let random = (0..<count).map { _ in UInt8.random(in: 0...255) }
            #expect(Base64URL.decode(Base64URL.encode(random)) == random)
        }
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        // Not base64url, a length no encoding has, unused bits set: refused.
        #expect(Base64URL.decode("+/8") == nil && Base64URL.decode("-_8=") == nil)
        #expect(Base64URL.decode("A") == nil && Base64URL.decode("-_9") == nil)
    }
}
