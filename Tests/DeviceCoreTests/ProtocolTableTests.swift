import FiscalCore
import Foundation
import MediatorStore
import Testing

@testable import Mediator

/// docs/PROTOCOL.md's table "Every state × message" is the device core's behaviour: this test
/// drives a core into each state, sends each message, and compares what it answers with the
/// table in the document.
@Suite("Protocol table")
struct ProtocolTableTests {
    enum State: String, CaseIterable {
        case unknown = "never stored"
        case queued = "`queued` (waiting for the device)"
        case preparing = "`queued`, its PREPARE at the device"
        case prepared = "`prepared` (PREPARE's reply sent)"
        case committing = "`committing`"
        case inDoubt = "`in_doubt`"
        case sealed = "`sealed`"
        case aborted = "`aborted`"
        case failed = "`failed`"
        case reserved = "`prepared`, a device-free hold (PREPARE's reply sent)"
        case heldCommitted = "a device-free hold after its COMMIT, waiting for the device"
    }

    enum Message: String, CaseIterable {
        case sale = "PREPARE or FISCALIZE again"
        case commit = "COMMIT with its nonce"
        case abort = "ABORT"
        case result = "RESULT"
    }

    static let request = CoreDriver.record("MOB-001", "r1", mode: .twoPhase)
    static var key: RequestKey { request.key }

    /// A started core with the request in `state`; returns the nonce it was prepared with, if any.
    static func driver(in state: State) -> (CoreDriver, Nonce?) {
        var driver = CoreDriver().started()
        switch state {
        case .unknown:
            return (driver, nil)
        case .queued:
            driver.sale(CoreDriver.record("REG-009", "other", mode: .fiscalize))
            driver.storeWrites()
            driver.sale(request)
            driver.storeWrites()
            return (driver, nil)
        case .preparing:
            driver.sale(request)
            driver.storeWrites()
            return (driver, nil)
        case .prepared, .committing, .inDoubt, .sealed:
            driver.sale(request)
            driver.storeWrites()
            driver.deviceAnswers()
            driver.storeWrites()
            let nonce = driver.core.nonces.holder(of: Nonce("n1")) == key ? Nonce("n1") : nil
            guard state != .prepared else { return (driver, nonce) }
            driver.commit(key, nonce!)
            driver.storeWrites()
            guard state != .committing else { return (driver, nonce) }
            if state == .inDoubt {
                driver.deviceAnswers(.lost(FiscalError(.deviceTimeout, "no reply")))
                return (driver, nonce)
            }
            driver.settle()
            return (driver, nonce)
        case .aborted:
            driver.sale(request)
            driver.storeWrites()
            driver.deviceAnswers()
            driver.abort(key)
            driver.settle()
            return (driver, Nonce("n1"))
        case .failed:
            driver.sale(CoreDriver.record("MOB-001", "r1", digest: "!bad", mode: .twoPhase))
            driver.settle()
            return (driver, nil)
        case .reserved, .heldCommitted:
            driver = CoreDriver { $0.holds = .mediator }.started()
            if state == .heldCommitted {
                // Another sale holds the device, so the committed hold waits in the queue.
                driver.sale(CoreDriver.record("REG-009", "other", mode: .fiscalize))
                driver.storeWrites()
            }
            driver.sale(request)
            driver.storeWrites()
            guard case .reserved(let nonce, _) = driver.core.requests[key]?.stage else { return (driver, nil) }
            if state == .heldCommitted { driver.commit(key, nonce) }
            return (driver, nonce)
        }
    }

    /// What the terminal is told, in the table's words.
    static func answer(_ state: State, _ message: Message) -> String {
        var (driver, nonce) = driver(in: state)
        let ticket: Core.Ticket
        switch message {
        case .sale:
            ticket = driver.sale(
                state == .failed ? CoreDriver.record("MOB-001", "r1", digest: "!bad", mode: .twoPhase) : request
            )
            driver.storeWrites()
        case .commit:
            ticket = driver.commit(key, nonce ?? Nonce("n1"))
        case .abort:
            ticket = driver.abort(key)
        case .result:
            ticket = driver.result(key)
        }
        guard let reply = driver.reply(ticket) else {
            // Taken: the answer comes once the device has answered (after an abandoned PREPARE's
            // TTL, when there is one).
            driver.settle()
            if driver.reply(ticket) == nil {
                driver.advance(.seconds(31))
                driver.settle()
            }
            guard let later = driver.reply(ticket) else { return "no answer" }
            return "once the device answered: " + describe(later)
        }
        if case .lookUp(let kind, let key) = reply {
            let (record, sealed) = driver.store.lookUp(key)
            return describe(Core.answer(kind, record: record, sealed: sealed))
        }
        return describe(reply)
    }

    static func describe(_ reply: Core.Reply) -> String {
        switch reply {
        case .sealed(_, let replayed): replayed ? "security elements, `replayed`" : "security elements"
        case .prepared(_, _, _, let replayed): replayed ? "the same nonce, `replayed`" : "a nonce"
        case .state(let state, _, let sealed):
            "`state: \(state.rawValue)`" + (sealed == nil ? "" : " + security elements")
        case .refused(let error, _): "`\(error.code.rawValue)`"
        case .lookUp: "(store)"
        case .report: "a report"
        }
    }

    static func table() -> String {
        var lines = ["| state \\ message | " + Message.allCases.map(\.rawValue).joined(separator: " | ") + " |"]
        lines.append("|" + String(repeating: " --- |", count: Message.allCases.count + 1))
        for state in State.allCases {
            lines.append(
                "| \(state.rawValue) | " + Message.allCases.map { answer(state, $0) }.joined(separator: " | ") + " |"
            )
        }
        return lines.joined(separator: "\n")
    }

    @Test("docs/PROTOCOL.md's state × message table is what the core answers")
    func documentMatchesCore() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let begin = "<!-- state-table: generated by ProtocolTableTests; edit the code, then paste -->"
        let end = "<!-- /state-table -->"
        let documented = text.components(separatedBy: begin).dropFirst().first?.components(separatedBy: end).first
        let expected = Self.table()
        #expect(
            documented?.trimmingCharacters(in: .whitespacesAndNewlines) == expected,
            "docs/PROTOCOL.md's table differs from the core; it should read:\n\(begin)\n\(expected)\n\(end)"
        )
    }
}
