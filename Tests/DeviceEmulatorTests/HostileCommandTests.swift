import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import GRDB
import SampleData
import Testing

/// Commands a hostile host writes to the device: the emulator answers each with an error code
/// (or does what was asked) and keeps working; nothing traps, nothing moves the counter.
@Suite("Hostile commands to the emulator", .timeLimit(.minutes(5)))
struct HostileCommandTests {
    /// The reply's `status` and `code`, or nil when the payload is not a reply object.
    static func outcome(_ payload: [UInt8]) -> (status: String, code: String?)? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any],
            let status = object["status"] as? String
        else { return nil }
        return (status, object["code"] as? String)
    }

    static func send(
        _ device: EmulatorHarness,
        _ command: DeviceCommand,
        argument: String? = nil,
        body: String = "{}"
    ) async throws -> (status: String, code: String?) {
        let payload = try await device.link.exchange(
            DeviceRequest(command, argument: argument, body: Array(body.utf8)),
            timeout: .seconds(5)
        )
        return try #require(
            outcome(payload),
            "\(command.rawValue): \(String(decoding: payload.prefix(200), as: UTF8.self))"
        )
    }

    @Test(
        "QRY|LOG beyond Int64 (the crash of issue 12) and other non-numbers are ARGUMENT_INVALID",
        arguments: ["9223372036854775808", "18446744073709551616", "0", "-1", "1e308", "1.5", "+1", "0x10"]
    )
    func logArgument(argument: String) async throws {
        let device = try await EmulatorHarness(transport: .pty)
        defer { Task { await device.close() } }
        let reply = try await Self.send(device, .log, argument: argument)
        #expect(reply.status == "ERR" && reply.code == "ARGUMENT_INVALID")
        // Still alive, still sealing.
        #expect(try await device.fiscalize(SampleInvoices.sale()).entry.seq == InvoiceSeq(1))
    }

    @Test("QRY|LOG of the largest fiscal number is NOT_FOUND")
    func logLargest() async throws {
        let device = try await EmulatorHarness(transport: .pty)
        defer { Task { await device.close() } }
        let reply = try await Self.send(device, .log, argument: "9223372036854775807")
        #expect(reply.status == "ERR" && reply.code == "NOT_FOUND")
    }

    @Test(
        "ADM|DUMPLOG with from or limit out of range (the crash of issue 12) is ARGUMENT_INVALID naming the field",
        arguments: [
            (#"{"from":9223372036854775808}"#, "$.from"), (#"{"from":18446744073709551616}"#, "$.from"),
            (#"{"from":0}"#, "$.from"), (#"{"from":-1}"#, "$.from"), (#"{"from":1e308}"#, "$.from"),
            (#"{"from":"1"}"#, "$.from"), (#"{"from":true}"#, "$.from"), (#"{"limit":9223372036854775808}"#, "$.limit"),
            (#"{"limit":0}"#, "$.limit"), (#"{"limit":1001}"#, "$.limit"), (#"{"limit":1.5}"#, "$.limit"),
        ]
    )
    func dumpLogBody(body: String, path: String) async throws {
        let device = try await EmulatorHarness(transport: .pty)
        defer { Task { await device.close() } }
        _ = try await device.fiscalize(SampleInvoices.sale())
        let payload = try await device.link.exchange(
            DeviceRequest(.dumpLog, body: Array(body.utf8)),
            timeout: .seconds(5)
        )
        let reply = try #require(Self.outcome(payload))
        #expect(reply.status == "ERR" && reply.code == "ARGUMENT_INVALID")
        #expect(String(decoding: payload, as: UTF8.self).contains(path))
        let page = try await device.client.dumpLog(from: 1, limit: 1000)
        #expect(page.entries.count == 1 && page.next == nil && page.headSeq == 1)
    }

    /// Every command's body fields (and `QRY|LOG`'s argument), each replaced by every boundary value.
    static func commandBodies() throws -> [(DeviceCommand, HostileJSON)] {
        let invoice = try HostileJSON(encoding: SampleInvoices.sale(lines: 2))
        func object(_ json: String) throws -> HostileJSON { try HostileJSON(json: json) }
        return [
            (.prepare, invoice),
            (.commit, try object(#"{"nonce":"4b03d412c77de0c8d4e9d0458ef84391"}"#)),
            (.status, try object(#"{"x":1}"#)),
            (.log, try object(#"{"x":1}"#)),
            (.reportX, try object(#"{"x":1}"#)),
            (.reportA, try object(#"{"x":1}"#)),
            (.reportZ, try object(#"{"x":1}"#)),
            (.zReport, try object(#"{"x":1}"#)),
            (.dumpLog, try object(#"{"from":1,"limit":10}"#)),
            (.reset, try object(#"{"token":"not-the-token"}"#)),
            (.setTime, try object(#"{"time":"not a time"}"#)),
            (.initialize, try object(#"{"reset_token":"0123456789","device_id":"DEF-X"}"#)),
        ]
    }

    @Test(
        "every command, every body field and argument, every boundary value: an answer, and the device goes on",
        arguments: EmulatorHarness.Transport.allCases
    )
    func boundaryWalk(transport: EmulatorHarness.Transport) async throws {
        let device = try await EmulatorHarness(transport: transport)
        defer { Task { await device.close() } }
        _ = try await device.fiscalize(SampleInvoices.sale())
        var codes: [String: Int] = [:]
        for (command, body) in try Self.commandBodies() {
            for variant in body.hostileVariants {
                let reply = try await Self.send(device, command, body: variant.json.text)
                codes[reply.code ?? reply.status, default: 0] += 1
                // A PREPARE that went through holds the device until its nonce expires: let it
                // expire, so that the next variant reaches the invoice decoder, not DEVICE_BUSY.
                if command == .prepare, reply.status == "OK" { device.clock.advance(by: .seconds(6)) }
            }
        }
        for argument in HostileJSON.argumentValues {
            let reply = try await Self.send(device, .log, argument: argument)
            codes[reply.code ?? reply.status, default: 0] += 1
            #expect(reply.status == "ERR", "QRY|LOG \(argument.prefix(30))")
        }
        // The walk met the refusals it is about, each answered with its code.
        for code in ["ARGUMENT_INVALID", "JSON_INVALID", "SCHEMA_INVALID", "FRAME_INVALID", "UNAUTHORIZED"] {
            #expect(codes[code, default: 0] > 0, "\(code): \(codes)")
        }
        let status = try await device.client.status()
        #expect(status.journalEntries == 1 && status.nextInvoiceSeq == InvoiceSeq(2))
    }

    @Test(
        "CFG|INIT refuses a device id that could forge a log line or a QR field",
        arguments: ["DEF-1\nforged line", "DEF|1", "DEF-\u{1b}[31m", String(repeating: "D", count: 33), ""]
    )
    func deviceIDCharacters(deviceID: String) async throws {
        let device = try await EmulatorHarness(transport: .pty, initialize: false)
        defer { Task { await device.close() } }
        await expectCode(.argumentInvalid) {
            _ = try await device.client.initialize(deviceID: DeviceID(deviceID), resetToken: EmulatorHarness.resetToken)
        }
        #expect(try await device.client.status().initialized == false)
    }

    @Test(
        "a state directory whose header was edited fails the audit and the emulator's start, without a trap",
        arguments: ["next_seq = 0", "next_seq = -5", "head_hash = x'ff'", "z_count = 'many'", "clock_offset_ms = 9e18"]
    )
    func editedHeader(edit: String) async throws {
        let directory = TemporaryDirectory("hostile-header")
        defer { directory.remove() }
        let device = try await EmulatorHarness(transport: .inProcess, directory: directory)
        _ = try await device.fiscalize(SampleInvoices.sale())
        await device.close(keepFiles: true)
        let database = try DatabaseQueue(path: directory.appending("device.sqlite").path)
        try await database.write { db in try db.execute(sql: "UPDATE device SET \(edit) WHERE id = 1") }
        try database.close()
        // The emulator refuses the file; the audit reports it, unless the edit is one it does not read.
        #expect(throws: (any Error).self) {
            _ = try FiscalDeviceEmulator(configuration: .init(stateDirectory: directory.url))
        }
        if edit.hasPrefix("next_seq") || edit.hasPrefix("head_hash") {
            #expect(throws: FiscalError.self) { _ = try JournalAudit.verify(path: directory.url) }
        }
    }

    @Test("report sums beyond Int64 are VALUE_OUT_OF_RANGE, not a trap in the emulator")
    func reportOverflow() async throws {
        let device = try await EmulatorHarness(transport: .inProcess)
        defer { Task { await device.close() } }
        // 93 invoices of 10^15 CDF each add up past Int64.max minor units.
        for index in 0..<93 {
            let total = Money(units: Money.limit)
            let invoice = Invoice(
                merchantNIF: "A1234567B",
                outletID: "OUTLET-KIN-01",
                posTerminalID: "REG-001",
                cashierID: "CASH-01",
                invoiceType: .sale,
                timestamp: "2026-11-21T10:15:00+01:00",
                client: .init(classification: .individual),
                items: [
                    .init(
                        code: "ART-\(index)",
                        description: "d",
                        quantity: Quantity(units: 1000),
                        unitPrice: total,
                        taxGroup: "A"
                    )
                ],
                taxGroups: [.init(code: "A", rate: TaxRate(units: 0), base: total, amount: .zero)],
                totals: .init(subtotal: total, totalVAT: .zero, total: total, currency: "CDF"),
                payments: [.init(method: .cash, amount: total)]
            )
            _ = try await device.fiscalize(invoice)
        }
        await expectCode(.valueOutOfRange) { _ = try await device.client.report(.x) }
        #expect(try await device.client.status().journalEntries == 93)
    }
}
