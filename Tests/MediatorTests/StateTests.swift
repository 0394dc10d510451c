import FiscalCore
import Mediator
import MediatorStore
import Testing

@Suite("Fair queue")
struct FairQueueTests {
    @Test("requests are served round-robin across terminals, in order within each")
    func roundRobin() {
        var queue = FairQueue<String>(limit: 100, perTerminalLimit: 10)
        for index in 0..<4 { queue.append("A\(index)", for: TerminalID("A")) }
        queue.append("B0", for: TerminalID("B"))
        queue.append("C0", for: TerminalID("C"))
        queue.append("B1", for: TerminalID("B"))
        var order: [String] = []
        while let next = queue.popNext() { order.append(next.element) }
        #expect(order == ["A0", "B0", "C0", "A1", "B1", "A2", "A3"])
    }

    @Test("positions predict the serving order")
    func positions() {
        var queue = FairQueue<String>(limit: 100, perTerminalLimit: 10)
        #expect(queue.append("A0", for: TerminalID("A")) == 1)
        #expect(queue.append("A1", for: TerminalID("A")) == 2)
        #expect(queue.append("B0", for: TerminalID("B")) == 2)
        #expect(queue.positions().map(\.element) == ["A0", "B0", "A1"])
    }

    @Test("caps per terminal and in all are enforced")
    func caps() {
        var queue = FairQueue<Int>(limit: 3, perTerminalLimit: 2)
        queue.append(1, for: TerminalID("A"))
        queue.append(2, for: TerminalID("A"))
        #expect(queue.refusal(for: TerminalID("A")) != nil)
        #expect(queue.refusal(for: TerminalID("B")) == nil)
        queue.append(3, for: TerminalID("B"))
        #expect(queue.refusal(for: TerminalID("C")) != nil)
    }

    @Test("removing a terminal's requests keeps the others in order")
    func removal() {
        var queue = FairQueue<String>(limit: 100, perTerminalLimit: 10)
        queue.append("A0", for: TerminalID("A"))
        queue.append("B0", for: TerminalID("B"))
        queue.append("A1", for: TerminalID("A"))
        #expect(queue.remove { terminal, _ in terminal == TerminalID("A") } == ["A0", "A1"])
        #expect(queue.count == 1 && queue.popNext()?.element == "B0" && queue.isEmpty)
    }
}

@Suite("Nonce tracker")
struct NonceTrackerTests {
    let now = DeviceInstant(sinceOrigin: .seconds(100))

    @Test("a nonce passes only for its terminal and request, before expiry, once")
    func rules() throws {
        var tracker = NonceTracker()
        let key = RequestKey(TerminalID("A"), "r1")
        tracker.issue(Nonce("n1"), to: key, until: now.advanced(by: .seconds(10)))
        try tracker.check(Nonce("n1"), for: key, now: now)
        #expect(throws: FiscalError(.invalidNonce, "the nonce was issued to another terminal")) {
            try tracker.check(Nonce("n1"), for: RequestKey(TerminalID("B"), "r1"), now: now)
        }
        #expect(throws: FiscalError(.invalidNonce, "the nonce was issued for another request")) {
            try tracker.check(Nonce("n1"), for: RequestKey(TerminalID("A"), "r2"), now: now)
        }
        #expect(throws: FiscalError(.nonceExpired, "the nonce's lease ran out; PREPARE again")) {
            try tracker.check(Nonce("n1"), for: key, now: now.advanced(by: .seconds(11)))
        }
        tracker.consume(Nonce("n1"))
        #expect(throws: FiscalError(.invalidNonce, "the nonce was already used")) {
            try tracker.check(Nonce("n1"), for: key, now: now)
        }
        #expect(throws: FiscalError(.invalidNonce, "the nonce was not issued by this mediator")) {
            try tracker.check(Nonce("zz"), for: key, now: now)
        }
        #expect(tracker.outstanding == 0)
    }
}
