import FiscalCore
import FiscalTestSupport
import Foundation
import SampleData
import Testing

/// No bytes from a socket or a file make the domain's decoders trap: every one either throws
/// a decoding error that names a path or yields a value the checks then judge.
@Suite("Hostile input to the domain's decoders")
struct HostileInputTests {
    // MARK: The LOG frame that killed the mediator (issue 12)

    @Test("LOG with invoice_seq 2^63 is refused at decode time, naming $.invoice_seq")
    func logBeyondInt64() throws {
        let frame = #"{"v":1,"type":"LOG","msg_id":"1","invoice_seq":9223372036854775808}"#
        let error = try #require(throws: DecodingError.self) {
            try JSONDecoder().decode(TerminalRequest.self, from: Data(frame.utf8))
        }
        #expect(error.jsonPath == "$.invoice_seq")
        #expect(error.fiscalDescription.contains("9223372036854775807"))
    }

    @Test(
        "a fiscal number is 1 ... Int64.max and nothing else, refused at its path",
        arguments: ["0", "-1", "18446744073709551616", "1.5", "1e308"]
    )
    func invoiceSeqOutOfRange(text: String) throws {
        let frame = #"{"v":1,"type":"LOG","msg_id":"1","invoice_seq":\#(text)}"#
        let error = try #require(throws: DecodingError.self) {
            try JSONDecoder().decode(TerminalRequest.self, from: Data(frame.utf8))
        }
        #expect(error.jsonPath == "$.invoice_seq")
    }

    @Test(
        "integers that do not fit are refused at their own path, not at the document's root",
        arguments: [
            (
                #"{"v":1,"type":"HEARTBEAT","msg_id":"1","health":{"printer_available":true,"drawer_available":true,"work_period_open":true,"latency_ms":9223372036854775808}}"#,
                "$.health.latency_ms"
            ),
            (#"{"v":18446744073709551616,"type":"PING"}"#, "$.v"),
            (#"{"v":1.5,"type":"PING"}"#, "$.v"),
        ]
    )
    func integerPaths(frame: String, path: String) throws {
        let error = try #require(throws: DecodingError.self) {
            try JSONDecoder().decode(TerminalRequest.self, from: Data(frame.utf8))
        }
        #expect(error.jsonPath == path)
    }

    @Test("the largest fiscal number decodes and fits SQLite")
    func largestInvoiceSeq() throws {
        let frame = #"{"v":1,"type":"LOG","msg_id":"1","invoice_seq":9223372036854775807}"#
        let request = try JSONDecoder().decode(TerminalRequest.self, from: Data(frame.utf8))
        guard case .log(let log) = request.body else {
            Issue.record("LOG decoded as \(request.type)")
            return
        }
        #expect(log.invoiceSeq.int64Value == Int64.max)
        #expect(log.invoiceSeq.next == nil)
        #expect(InvoiceSeq(rawValue: 0) == nil && InvoiceSeq(rawValue: UInt64(Int64.max) + 1) == nil)
        #expect(InvoiceSeq(text: "42") == InvoiceSeq(42) && InvoiceSeq(text: "+42") == nil)
        #expect(InvoiceSeq(text: "9223372036854775808") == nil && InvoiceSeq(text: "") == nil)
    }

    // MARK: Numbers the domain computes from decoded ones

    @Test("quantity × unit_price beyond Int64 is VALUE_OUT_OF_RANGE, not a trap")
    func itemAmountOverflow() throws {
        var invoice = SampleInvoices.sale(lines: 1)
        invoice.items[0].quantity = Quantity(units: Quantity.limit)
        invoice.items[0].unitPrice = Money(units: Money.limit)
        #expect(invoice.items[0].exactAmount == Int128(Quantity.limit) * Int128(Money.limit) / 1000)
        let violations = InvoiceValidator().violations(in: invoice)
        #expect(violations.contains { $0.code == .valueOutOfRange && $0.path == "$.items[0]" })
    }

    @Test("durations that overflow are not durations", arguments: ["9223372036854775807d", "106751991167301d", "-1s"])
    func durationOverflow(text: String) {
        #expect(Duration.parsing(text) == nil)
    }

    @Test("the longest parsed duration and the usual ones still parse")
    func durationsParse() {
        #expect(Duration.parsing("3660d") == .seconds(3660 * 86_400))
        #expect(Duration.parsing("3661d") == nil)
        #expect(Duration.parsing("250us") == .microseconds(250) && Duration.parsing("15ms") == .milliseconds(15))
    }

    @Test("10,000 levels of nesting are a clean error in Foundation's decoders (depth 512), not a stack overflow")
    func deepNesting() {
        let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let frame = #"{"v":1,"type":"PING","msg_id":\#(deep)}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(TerminalRequest.self, from: Data(frame.utf8)) }
        #expect(throws: (any Error).self) { try JSONSerialization.jsonObject(with: Data(frame.utf8)) }
        #expect(throws: FiscalError.self) { try Invoice.decode(json: Array(deep.utf8)) }
    }

    @Test("peer text printed on a console stays on one line and cannot paint the terminal")
    func peerText() {
        #expect(PeerText.escaped("REG-001\n2026-11-21 forged: ok") == #"REG-001\n2026-11-21 forged: ok"#)
        #expect(PeerText.escaped("\u{1b}[31mred\u{7f}\u{85}\u{2028}") == #"\u{1b}[31mred\u{7f}\u{85}\u{2028}"#)
        #expect(PeerText.escaped(#"a"b\c"#) == #"a\"b\\c"#)
        #expect(PeerText.escaped(String(repeating: "x", count: 300)).count == 201)
        #expect(!PeerText.escaped("x\r\n\u{0}y").contains { $0.isNewline })
    }

    // MARK: The boundary-value walk

    /// A valid request of every type, with every field its type reads.
    static func requests() throws -> [(TerminalProtocol.MessageType, HostileJSON)] {
        let sale = SampleInvoices.sale(lines: 2)
        let invoice = try HostileJSON(encoding: sale)
        let context = try HostileJSON(
            encoding: SaleContext(
                discounts: [.init(item: 0, amount: Money(units: 100))],
                tendered: [
                    .init(
                        method: .cash,
                        currency: "USD",
                        amount: Money(units: 2000),
                        rate: ExchangeRate(units: 2_850_000_000)
                    )
                ],
                change: [.init(currency: "CDF", amount: Money(units: 5_700_000 - sale.totals.total.units))]
            )
        )
        let health = try HostileJSON(
            encoding: TerminalHealth(
                printerAvailable: true,
                drawerAvailable: true,
                workPeriodOpen: true,
                ipAddress: "10.0.0.21",
                latencyMs: 4
            )
        )
        return try TerminalProtocol.MessageType.allCases.map { type in
            // Every field any type reads, flat as on the wire; the decoder takes what its type needs.
            let fields = WireFields(type: type.rawValue)
            var tree = try HostileJSON(encoding: fields).setting("invoice", invoice).setting("health", health)
            if type == .prepare { tree = tree.setting("sale", context) }
            return (type, tree)
        }
    }

    @Test("every terminal request type, every field, every boundary value: decode throws or succeeds, then checks run")
    func terminalRequestWalk() throws {
        var decoded = 0
        var refused = 0
        for (type, request) in try Self.requests() {
            // The decoder reads every field whatever the type: each type's top-level fields,
            // and the invoice's and the health's own fields once (under FISCALIZE, HEARTBEAT).
            let deep: HostileJSON.Step? =
                switch type {
                case .fiscalize: .key("invoice")
                case .prepare: .key("sale")
                case .heartbeat: .key("health")
                case .openPeriod: .key("opening_float")
                default: nil
                }
            for variant in request.hostileVariants(where: { $0.count == 1 || $0.first == deep }) {
                do {
                    let value = try JSONDecoder().decode(TerminalRequest.self, from: Data(variant.json.text.utf8))
                    decoded += 1
                    // What the mediator does next with a decoded request must not trap either.
                    switch value.body {
                    case .heartbeat(let heartbeat): _ = heartbeat.health.violations()
                    case .fiscalize(let sale), .prepare(let sale):
                        _ = InvoiceValidator().violations(in: sale.invoice)
                        _ = sale.invoice.payloadDigest()
                        _ = sale.context?.violations(against: sale.invoice, rules: .default)
                        _ = sale.context?.storedJSON()
                    case .openPeriod(let open):
                        _ = open.openingFloat.violations(currencies: ["CDF", "USD"], at: JSONPath.root)
                        _ = open.openingFloat.storedJSON()
                    case .cashEvent(let event): _ = event.violations(currencies: ["CDF", "USD"])
                    case .log(let log): _ = log.invoiceSeq.int64Value
                    default: break
                    }
                } catch let error as DecodingError {
                    refused += 1
                    #expect(error.jsonPath.hasPrefix("$"), "\(type) \(variant.label)")
                }
            }
        }
        // The walk reached both outcomes: values that decode, and values refused with a path.
        #expect(decoded > 100 && refused > 1000, "decoded \(decoded), refused \(refused)")
    }

    @Test("every reply field of the terminal protocol, every boundary value: decode throws or succeeds")
    func terminalReplyWalk() throws {
        var reply = TerminalReply(type: .status, msgID: "m-1")
        reply.retryAfterMs = 50
        reply.leaseMs = 15_000
        reply.nextInvoiceSeq = 42
        reply.position = 1
        reply.queueDepth = 2
        reply.inDoubt = 0
        reply.heartbeatMs = 15_000
        reply.requestID = "sale-1"
        reply.state = .sealed
        reply.replayed = true
        reply.code = .queueFull
        reply.message = "m"
        reply.nonce = "n"
        reply.cashierID = "CASH-01"
        reply.event = .queued
        reply.violations = [Violation(code: .formatInvalid, path: "$.x", message: "m")]
        let elements = SecurityElements(
            invoiceSeq: InvoiceSeq(42),
            deviceID: DeviceID("DEF-1"),
            authCode: "a",
            deviceTimestamp: "2026-11-21T09:15:00.412Z",
            qrPayload: "q",
            payloadDigest: "d",
            entryHash: "e"
        )
        reply.securityElements = elements
        reply.sealed = TerminalReply.SealedRecord(
            securityElements: elements,
            posTerminalID: "REG-001",
            cashierID: "CASH-01",
            outletID: "O",
            laneNumber: 1,
            requestID: "sale-1",
            sealedAt: "t"
        )
        reply.mediator = TerminalReply.MediatorInfo(name: "m", version: "1", outletID: "O")
        var device = TerminalReply.DeviceInfo(
            deviceID: "DEF-1",
            emulated: true,
            state: .ready,
            haltedCode: nil,
            lastInvoiceSeq: 41,
            link: "l"
        )
        device.busyMs = 3
        reply.device = device
        reply.lockHolder = TerminalReply.LockHolder(terminalID: "REG-001", requestID: "sale-1", mode: "fiscalize")
        reply.terminal = TerminalReply.TerminalInfo(
            code: "REG-001",
            name: "n",
            kind: .register,
            businessMode: .supermarket,
            laneNumber: 1
        )
        reply.period = TerminalReply.PeriodInfo(
            id: 3,
            terminalID: "REG-001",
            openedBy: "SUP-01",
            openedAt: "t",
            openingFloat: CurrencyAmounts(["CDF": Money(units: 5_000_000)]),
            sessionID: 7,
            cashierID: "CASH-01"
        )
        reply.cashEvent = TerminalReply.CashEventInfo(
            eventID: "e1",
            periodID: 3,
            sessionID: 7,
            cashierID: "CASH-01",
            recordedAt: "t"
        )
        reply.report = .object([
            "number": .string("Z-2026-REG001-0001"), "sequence": .integer(1), "forced": .bool(false),
            "figures": .object(["net": .number(Decimal(string: "117270.05")!)]), "previous_number": .null,
            "included_reports": .array([.string("Z-2026-REG001-0001")]),
        ])
        reply.reportText = "Z REPORT - END OF SHIFT"
        // The hand-written init(from:) reads every stored property: a fully populated reply
        // survives a round trip, and a property added later fails here until it is read too.
        #expect(try JSONDecoder().decode(TerminalReply.self, from: JSONEncoder().encode(reply)) == reply)
        let unset = Mirror(reflecting: reply).children.filter { Self.isNil($0.value) }.compactMap(\.label)
        #expect(unset.isEmpty, "set these in the test: \(unset)")

        let tree = try HostileJSON(encoding: reply)
        var refused: Set<String> = []
        for variant in tree.hostileVariants {
            do {
                _ = try JSONDecoder().decode(TerminalReply.self, from: Data(variant.json.text.utf8))
            } catch is DecodingError {
                refused.insert(variant.label)
            }
        }
        // Out-of-range integers are refused at decode time, not handed to the client.
        for label in [
            "$.retry_after_ms = -1", "$.retry_after_ms = 2^31", "$.lease_ms = 2^53", "$.position = -1",
            "$.queue_depth = 2^63", "$.next_invoice_seq = 0", "$.next_invoice_seq = 2^63",
            "$.device.last_invoice_seq = 2^63", "$.security_elements.invoice_seq = 0", "$.heartbeat_ms = -1",
            "$.sealed.lane_number = 0", "$.v = -1",
        ] {
            #expect(refused.contains(label), "\(label) decoded")
        }
    }

    /// Whether a reflected value is an Optional holding nothing.
    static func isNil(_ value: Any) -> Bool {
        let mirror = Mirror(reflecting: value)
        return mirror.displayStyle == .optional && mirror.children.isEmpty
    }

    @Test(
        "every field of an invoice, every boundary value: decoding throws SCHEMA_INVALID with a path or validation runs"
    )
    func invoiceWalk() throws {
        let tree = try HostileJSON(encoding: SampleInvoices.sale(lines: 2))
        for variant in tree.hostileVariants {
            do {
                let invoice = try Invoice.decode(json: Array(variant.json.text.utf8))
                _ = InvoiceValidator().violations(in: invoice)
                _ = invoice.canonicalJSON()
            } catch {
                #expect(error.code == .schemaInvalid, "\(variant.label)")
                #expect(error.violations.allSatisfy { $0.path.hasPrefix("$") }, "\(variant.label)")
            }
        }
    }

    @Test("a journal entry and the cloud's replies, every field, every boundary value: throw or succeed")
    func journalAndCloudWalk() throws {
        let entry = JournalEntry(
            seq: InvoiceSeq(7),
            deviceID: DeviceID("DEF-1"),
            previousHash: JournalEntry.genesisHash,
            payloadDigest: "d",
            posTerminalID: "REG-001",
            cashierID: "CASH-01",
            invoiceType: .sale,
            total: Money(units: 100),
            currency: "CDF",
            deviceTimestamp: "2026-11-21T09:15:00.412Z"
        )
        for variant in try HostileJSON(encoding: entry).hostileVariants {
            _ = try? JSONDecoder().decode(JournalEntry.self, from: Data(variant.json.text.utf8))
        }
        #expect(throws: DecodingError.self) {
            let tree = try HostileJSON(encoding: entry).setting("seq", .raw("9223372036854775808"))
            _ = try JSONDecoder().decode(JournalEntry.self, from: Data(tree.text.utf8))
        }
        let response = CloudProtocol.Response(results: [
            CloudProtocol.Result(idempotencyKey: "DEF-1:7", status: .accepted, receipt: "CLD-1"),
            CloudProtocol.Result(idempotencyKey: "DEF-1:8", status: .rejected, code: "ORDER_GAP", reason: "r"),
        ])
        var decoded = 0
        for variant in try HostileJSON(encoding: response).hostileVariants {
            if (try? JSONDecoder().decode(CloudProtocol.Response.self, from: Data(variant.json.text.utf8))) != nil {
                decoded += 1
            }
        }
        #expect(decoded > 0)
    }
}

/// A terminal request with every field any type reads, flat as on the wire.
struct WireFields: Encodable {
    var v = 1
    var type: String
    var msgID = "m-1"
    var terminalID = "REG-001"
    var cashierID = "CASH-01"
    var appVersion = "pos 4.2"
    var machineID = "A4:83:E7:2B:91:F0"
    var requestID = "sale-1"
    var nonce = "4b03d412c77de0c8d4e9d0458ef84391"
    var invoiceSeq = 42
    // OPEN_PERIOD and CASH_EVENT.
    var openingFloat = ["CDF": "50000.00", "USD": "20.00"]
    var openedBy = "SUP-01"
    var eventID = "ev-1"
    var kind = "payout"
    var amount = "1500.00"
    var currency = "CDF"
    var reason = "bread"

    enum CodingKeys: String, CodingKey {
        case v, type, nonce, kind, amount, currency, reason
        case openingFloat = "opening_float"
        case openedBy = "opened_by"
        case eventID = "event_id"
        case msgID = "msg_id"
        case terminalID = "terminal_id"
        case cashierID = "cashier_id"
        case appVersion = "app_version"
        case machineID = "machine_id"
        case requestID = "request_id"
        case invoiceSeq = "invoice_seq"
    }
}
