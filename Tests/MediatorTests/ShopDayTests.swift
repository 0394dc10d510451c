import FiscalCore
import Foundation
import Mediator
import MediatorStore
import SampleData
import TerminalClient
import Testing
import ZeroMQ

/// The shop's day over real ZeroMQ and a real SQLite store (docs/SHOP_DAY.md): staff, work
/// periods per terminal, cashier sessions and handovers, cash events, and each sale's context.
@Suite("Shop day", .serialized, .timeLimit(.minutes(2)))
struct ShopDayTests {
    static let float = CurrencyAmounts(["CDF": Money(units: 5_000_000), "USD": Money(units: 2000)])

    /// 20 USD at 2850 CDF for `invoice`'s CDF total, the change in CDF, and a discount on its first line.
    static func usdSale(_ invoice: Invoice) -> SaleContext {
        let paid: Int64 = 5_700_000
        return SaleContext(
            discounts: [.init(item: 0, amount: Money(units: 250))],
            tendered: [
                .init(
                    method: .cash,
                    currency: "USD",
                    amount: Money(units: 2000),
                    rate: ExchangeRate(decimalText: "2850")
                )
            ],
            change: [.init(currency: "CDF", amount: Money(units: paid - invoice.totals.total.units))]
        )
    }

    static func registerStaff(_ store: MediatorDatabase) throws {
        _ = try store.addStaff(StaffRecord(id: SampleInvoices.cashier, displayName: "Amani", role: .cashier))
        _ = try store.addStaff(StaffRecord(id: "BOB", displayName: "Bob", role: .cashier))
        _ = try store.addStaff(StaffRecord(id: "SUP-01", displayName: "Sifa", role: .supervisor))
    }

    @Test("three terminals open periods with floats, sell in two currencies, record cash events and hand over")
    func fullShift() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        try Self.registerStaff(mediator.store)
        let terminals = ["REG-001", "REG-002", "MOB-001"]
        var clients: [String: MediatorClient] = [:]
        var periods: [String: WorkPeriodID] = [:]
        var firstSessions: [String: Int64] = [:]
        for terminal in terminals {
            let client = try await mediator.client(terminal, openPeriod: false)
            clients[terminal] = client
            let reply = try await client.openPeriod(openedBy: "SUP-01", openingFloat: Self.float)
            let period = try #require(reply.period)
            #expect(period.openingFloat == Self.float && period.openedBy == "SUP-01")
            // The cashier who said HELLO before the period opened moved into it.
            #expect(period.cashierID == SampleInvoices.cashier)
            periods[terminal] = WorkPeriodID(period.id)
            let session = try #require(period.sessionID)
            firstSessions[terminal] = session
        }
        #expect(Set(periods.values).count == 3)

        // Sales with a context on every terminal, and cash events.
        var sealed: [(terminal: String, requestID: String, cashier: String, context: SaleContext)] = []
        for (index, terminal) in terminals.enumerated() {
            let client = try #require(clients[terminal])
            let sale = invoice(terminal, sale: index)
            let context = Self.usdSale(sale)
            if terminal.hasPrefix("MOB") {
                // A tablet's two phases: the context travels with PREPARE.
                let (nonce, _) = try await client.prepare(requestID: "\(terminal)-s1", invoice: sale, sale: context)
                _ = try await client.commit(requestID: "\(terminal)-s1", nonce: nonce)
            } else {
                _ = try await client.fiscalize(requestID: "\(terminal)-s1", invoice: sale, sale: context)
            }
            sealed.append((terminal, "\(terminal)-s1", SampleInvoices.cashier, context))
            let events = [
                CashEvent(
                    eventID: "\(terminal)-e1",
                    kind: .payout,
                    amount: Money(units: 150_000),
                    currency: "CDF",
                    reason: "bread"
                ),
                CashEvent(eventID: "\(terminal)-e2", kind: .payIn, amount: Money(units: 500), currency: "USD"),
                CashEvent(eventID: "\(terminal)-e3", kind: .noSale, reason: "change for a customer"),
                CashEvent(eventID: "\(terminal)-e4", kind: .drawerOpen),
                CashEvent(eventID: "\(terminal)-e5", kind: .lineVoid, amount: Money(units: 1250), currency: "CDF"),
            ]
            for event in events {
                let reply = try await client.cashEvent(event)
                #expect(reply.cashEvent?.periodID == periods[terminal]?.rawValue)
                #expect(reply.cashEvent?.sessionID == firstSessions[terminal])
            }
            // The same event again is a replay; the same id with other content is refused.
            #expect(try await client.cashEvent(events[0]).replayed == true)
            var changed = events[0]
            changed.amount = Money(units: 150_001)
            #expect(await refusal { try await client.cashEvent(changed) }?.code == .idempotencyConflict)
        }

        // A handover at REG-001: BOB takes over inside the same period, sells and pays out.
        let lane = try #require(clients["REG-001"])
        _ = try await lane.login(cashierID: "BOB")
        let bobs = SampleInvoices.sale(lines: 2, terminal: "REG-001", cashier: "BOB", lane: nil, seed: 40)
        let bobsContext = SaleContext(tendered: [.init(method: .cash, currency: "CDF", amount: bobs.totals.total)])
        _ = try await lane.fiscalize(requestID: "REG-001-s2", invoice: bobs, sale: bobsContext)
        sealed.append(("REG-001", "REG-001-s2", "BOB", bobsContext))
        let bobsEvent = try await lane.cashEvent(
            CashEvent(eventID: "REG-001-e9", kind: .payout, amount: Money(units: 100), currency: "USD")
        )
        #expect(bobsEvent.cashEvent?.cashierID == "BOB")
        // A sale under the previous cashier's id is no longer accepted at REG-001.
        let stale = invoice("REG-001", sale: 90)
        #expect(
            await refusal { try await lane.fiscalize(requestID: "REG-001-stale", invoice: stale) }?.code
                == .cashierMismatch
        )

        // Every sealed invoice and every event carries its terminal's period and session.
        for terminal in terminals {
            let period = try #require(periods[terminal])
            let detail = try #require(try await mediator.store.workPeriod(period))
            #expect(detail.period.isOpen && detail.period.terminalID == terminal)
            let sessionOf = Dictionary(detail.sessions.map { ($0.cashierID, $0.id) }, uniquingKeysWith: { $1 })
            let invoices = try await mediator.store.sealedInvoices(inPeriod: period)
            let expected = sealed.filter { $0.terminal == terminal }
            #expect(invoices.count == expected.count)
            for sale in expected {
                let found = try #require(invoices.first { $0.requestID.rawValue == sale.requestID })
                #expect(found.periodID == period)
                #expect(found.sessionID?.rawValue == sessionOf[sale.cashier])
                #expect(found.cashierID == sale.cashier)
                let stored = try JSONDecoder().decode(
                    SaleContext.self,
                    from: Data(try #require(found.saleContext).utf8)
                )
                #expect(stored == sale.context)
            }
            #expect(detail.cashEvents.count == (terminal == "REG-001" ? 6 : 5))
            for event in detail.cashEvents {
                #expect(event.periodID == period && event.sessionID.rawValue == sessionOf[event.cashierID])
            }
            #expect(detail.invoiceSeqs.count == expected.count)
        }
        let lanePeriod = try #require(periods["REG-001"])
        let handover = try #require(try await mediator.store.workPeriod(lanePeriod))
        #expect(handover.sessions.map(\.cashierID) == [SampleInvoices.cashier, "BOB"])
        #expect(handover.sessions[0].closeReason == "superseded by BOB" && handover.sessions[1].closedAt == nil)
    }

    @Test("bad input gets a stable code and changes nothing")
    func hostile() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let store = mediator.store
        let client = try await mediator.client("REG-001", openPeriod: false)
        // Raw frames come from another terminal: a second socket under REG-001 would take its
        // routing id over (ROUTER_HANDOVER). Decoding refuses them before any state is read.
        _ = try store.addTerminal(TerminalRecord(code: TerminalID("REG-008")))
        if mediator.curve { try store.pinKey(try mediator.keys(for: "REG-008").publicKey, to: TerminalID("REG-008")) }

        // No period yet: sales and cash events are refused, nothing stored.
        let early = invoice("REG-001", sale: 1)
        #expect(
            await refusal { try await client.fiscalize(requestID: "early", invoice: early) }?.code == .workPeriodClosed
        )
        #expect(try store.request(TerminalID("REG-001"), RequestID("early")) == nil)
        #expect(
            await refusal { try await client.cashEvent(CashEvent(eventID: "x", kind: .noSale)) }?.code
                == .workPeriodClosed
        )

        // Floats: a currency not accepted, a negative amount, a number beyond range.
        let euro = CurrencyAmounts(["EUR": Money(units: 100)])
        let euroRefusal = await refusal { try await client.openPeriod(openedBy: "SUP", openingFloat: euro) }
        #expect(euroRefusal?.code == .floatInvalid && euroRefusal?.violations.first?.path == "$.opening_float.EUR")
        let negative = CurrencyAmounts(["CDF": Money(units: -1)])
        #expect(
            await refusal { try await client.openPeriod(openedBy: "SUP", openingFloat: negative) }?.code
                == .floatInvalid
        )
        let huge = Data(
            #"{"v":1,"type":"OPEN_PERIOD","msg_id":"h","opened_by":"SUP","opening_float":{"CDF":1e30}}"#.utf8
        )
        #expect(try await rawReply(mediator, "REG-008", huge).code == .floatInvalid)
        #expect(try await store.workPeriods().isEmpty)

        // One period; a second is refused.
        let opened = try #require(try await client.openPeriod(openedBy: "SUP", openingFloat: Self.float).period)
        #expect(await refusal { try await client.openPeriod(openedBy: "SUP") }?.code == .workPeriodOpen)
        #expect(try await store.workPeriods().count == 1)

        // Cash events: negative, a currency not accepted, a huge or malformed amount, an unknown kind.
        let bad: [CashEvent] = [
            CashEvent(eventID: "b1", kind: .payout, amount: Money(units: -100), currency: "CDF"),
            CashEvent(eventID: "b2", kind: .payIn, amount: Money(units: 100), currency: "EUR"),
            CashEvent(eventID: "b3", kind: .payout),
        ]
        for event in bad {
            #expect(await refusal { try await client.cashEvent(event) }?.code == .cashEventInvalid)
        }
        let hostileFrames = [
            #"{"v":1,"type":"CASH_EVENT","msg_id":"c","event_id":"b4","kind":"payout","amount":99999999999999999999999,"currency":"CDF"}"#,
            #"{"v":1,"type":"CASH_EVENT","msg_id":"c","event_id":"b5","kind":"payout","amount":"12.345","currency":"CDF"}"#,
            #"{"v":1,"type":"CASH_EVENT","msg_id":"c","event_id":"b6","kind":"theft"}"#,
        ]
        for frame in hostileFrames {
            #expect(try await rawReply(mediator, "REG-008", Data(frame.utf8)).code == .cashEventInvalid, "\(frame)")
        }
        #expect(try await store.cashEvents(inPeriod: WorkPeriodID(opened.id)).isEmpty)

        // A sale context that does not add up: refused with its violations, nothing stored.
        let sale = invoice("REG-001", sale: 2)
        let short = SaleContext(tendered: [.init(method: .cash, currency: "CDF", amount: Money(units: 1))])
        let shortRefusal = await refusal { try await client.fiscalize(requestID: "short", invoice: sale, sale: short) }
        #expect(shortRefusal?.code == .saleContextInvalid)
        #expect(shortRefusal?.violations.first?.code == .tenderInsufficient)
        #expect(shortRefusal?.violations.first?.path == "$.sale.tendered")
        #expect(try store.request(TerminalID("REG-001"), RequestID("short")) == nil)

        // After LOGOUT, cash events have no session.
        _ = try await client.logout()
        #expect(
            await refusal { try await client.cashEvent(CashEvent(eventID: "late", kind: .drawerOpen)) }?.code
                == .notLoggedIn
        )

        // Closing twice: the second is refused and changes nothing.
        let closed = try await store.closePeriod(WorkPeriodID(opened.id), closedBy: "SUP")
        #expect(!closed.isOpen)
        let again = await refusal { _ = try await store.closePeriod(WorkPeriodID(opened.id), closedBy: "OTHER") }
        #expect(again?.code == .workPeriodClosed)
        #expect(try await store.workPeriods().first?.closedBy == "SUP")
        #expect(try store.lastSealedSeq() == nil)
    }

    @Test("the staff registry: empty lets anyone log in; in use, unknown and deactivated ids are refused")
    func staffRegistry() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let client = try await mediator.client("REG-001", cashier: nil)
        _ = try await client.login(cashierID: "ANYONE")  // registry empty: today's behaviour
        try Self.registerStaff(mediator.store)
        #expect(await refusal { try await client.login(cashierID: "MALLORY") }?.code == .staffUnknown)
        #expect(try await mediator.store.openSession(at: TerminalID("REG-001"))?.cashierID == "ANYONE")
        _ = try await client.login(cashierID: "BOB")
        try mediator.store.setStaffActive("BOB", false)
        #expect(await refusal { try await client.login(cashierID: "BOB") }?.code == .staffUnknown)
        #expect(await refusal { _ = try await client.hello(cashierID: "MALLORY") }?.code == .staffUnknown)
        let other = try await mediator.client("REG-002", openPeriod: false, cashier: nil)
        #expect(await refusal { try await other.openPeriod(openedBy: "MALLORY") }?.code == .staffUnknown)
        #expect(try await mediator.store.openPeriod(at: TerminalID("REG-002")) == nil)
    }

    @Test("refunds and credit notes name a sale of this outlet sealed here, and never return more than it")
    func refundsAndCreditNotes() async throws {
        let mediator = try await MediatorHarness()
        defer { Task { await mediator.close() } }
        let lane = try await mediator.client("REG-001")
        let sale = invoice("REG-001", sale: 1, lines: 2)
        let sold = try await lane.fiscalize(requestID: "sale", invoice: sale).invoiceSeq
        func correction(_ type: Invoice.InvoiceType, _ reference: String, _ items: [Invoice.Item]) -> Invoice {
            SampleInvoices.build(type: type, reference: reference, items: items, terminal: "REG-001", lane: nil)
        }
        func refused(_ id: String, _ invoice: Invoice) async throws -> ErrorCode? {
            let code = await refusal { try await lane.fiscalize(requestID: id, invoice: invoice) }?.code
            #expect(try mediator.store.request(TerminalID("REG-001"), RequestID(id)) == nil, "\(id) was stored")
            return code
        }
        // Part of the sale back, in cash: the context says what was handed back.
        let refund = correction(.refund, "\(sold)", [sale.items[0]])
        let back = SaleContext(tendered: [.init(method: .cash, currency: "CDF", amount: refund.totals.total)])
        let refunded = try await lane.fiscalize(requestID: "refund-1", invoice: refund, sale: back).invoiceSeq
        // All of it again would return more than was sold.
        #expect(try await refused("refund-2", correction(.refund, "\(sold)", sale.items)) == .refundExceedsOriginal)
        // The rest, cancelled by a credit note; then nothing is left.
        _ = try await lane.fiscalize(
            requestID: "credit-1",
            invoice: correction(.creditNote, "\(sold)", [sale.items[1]])
        )
        #expect(
            try await refused("credit-2", correction(.creditNote, "\(sold)", [sale.items[1]])) == .refundExceedsOriginal
        )
        // References that are no sale of this outlet sealed here.
        #expect(try await refused("r-unknown", correction(.refund, "999", [sale.items[0]])) == .referenceUnknown)
        #expect(try await refused("r-text", correction(.refund, "INV-1", [sale.items[0]])) == .referenceUnknown)
        #expect(try await refused("r-refund", correction(.refund, "\(refunded)", [sale.items[0]])) == .referenceInvalid)
        var elsewhere = invoice("REG-001", sale: 2)
        elsewhere = SampleInvoices.build(
            items: elsewhere.items,
            terminal: "REG-001",
            lane: nil,
            outlet: "OUTLET-GOMA-02"
        )
        let theirs = try await lane.fiscalize(requestID: "elsewhere", invoice: elsewhere).invoiceSeq
        #expect(
            try await refused("r-outlet", correction(.refund, "\(theirs)", [elsewhere.items[0]])) == .referenceInvalid
        )
        // The corrections are sealed in the period, under the session, like sales.
        let period = try #require(try await mediator.store.openPeriod(at: TerminalID("REG-001"))).0.id
        let sealed = try await mediator.store.sealedInvoices(inPeriod: period)
        #expect(sealed.map(\.entry.invoiceType) == [.sale, .refund, .creditNote, .sale])
        #expect(Set(sealed.compactMap(\.sessionID)).count == 1)
    }

    @Test("serve --no-work-periods sells without a period, as before")
    func withoutWorkPeriods() async throws {
        let mediator = try await MediatorHarness(configure: { $0.requireWorkPeriod = false })
        defer { Task { await mediator.close() } }
        let client = try await mediator.client("REG-001", openPeriod: false)
        _ = try await client.fiscalize(requestID: "loose", invoice: invoice("REG-001", sale: 1))
        let sealed = try #require(try mediator.store.sealedInvoice(InvoiceSeq(1)))
        #expect(sealed.periodID == nil && sealed.sessionID != nil)
    }

    /// The reply to one raw frame from `terminal` (its own DEALER socket).
    func rawReply(_ mediator: MediatorHarness, _ terminal: String, _ frame: Data) async throws -> TerminalReply {
        // Its own key under CURVE (the terminal is whoever the key is pinned to), its routing id
        // in plaintext.
        let socket = try BadInputTests().rawTerminal(mediator, id: terminal)
        defer { socket.stop() }
        socket.send([Array(frame)])
        var inbound = socket.inbound.makeAsyncIterator()
        let message = try #require(await inbound.next())
        return try JSONDecoder().decode(TerminalReply.self, from: Data(try #require(message.frames.last)))
    }
}
