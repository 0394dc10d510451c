import FiscalCore
import FiscalTestSupport
import Foundation
import Testing
import Topology

/// Topology files are input too: whatever a file holds, loading it answers CONFIG_INVALID
/// naming the key, or a topology; it never traps.
@Suite("Hostile topology files")
struct TopologyHostileTests {
    static let valid = """
        name: hostile
        outlet: {id: OUTLET-KIN-01, merchant_id: MERCH-0042}
        device: {kind: emulator, state: var/x, nonce_ttl: 30s}
        mediator: {endpoint: "tcp://127.0.0.1:5555", store: var/x.sqlite, lease: 15s}
        terminals: {codes: [REG-001, REG-002], first_lane: 1, cashiers: [CASH-01]}
        load: {tps_per_terminal: 1, duration: 30s, basket_lines: [1, 2], payment_mix: cash=1}

        """

    static func load(_ text: String) async throws(FiscalError) -> Topology {
        let directory = TemporaryDirectory("hostile-topology")
        defer { directory.remove() }
        let path = directory.appending("topology.yaml").path
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return try await Topology.load(path: path)
    }

    @Test(
        "boundary values in every numeric key are CONFIG_INVALID naming the key",
        arguments: [
            ("first_lane: 1", "first_lane: 9223372036854775807", "terminals.first_lane"),
            ("first_lane: 1", "first_lane: 999", "terminals.first_lane"),
            ("first_lane: 1", "first_lane: 1.5", "terminals.first_lane"),
            ("first_lane: 1", "first_lane: -1", "terminals.first_lane"),
            ("first_lane: 1", "first_lane: 18446744073709551616", "terminals.first_lane"),
            ("tps_per_terminal: 1", "tps_per_terminal: 1e308", "load.tps_per_terminal"),
            ("tps_per_terminal: 1", "tps_per_terminal: .nan", "load.tps_per_terminal"),
            ("basket_lines: [1, 2]", "basket_lines: [1, 9223372036854775807]", "load.basket_lines"),
            ("duration: 30s", "duration: 9223372036854775807s", "load.duration"),
            ("lease: 15s", "lease: 106751991167301d", "mediator.lease"),
            ("nonce_ttl: 30s", "nonce_ttl: 2d", "device.nonce_ttl"),
            ("payment_mix: cash=1", "payment_mix: cash=-1", "load.payment_mix"),
            ("payment_mix: cash=1", "payment_mix: cash=1, two_phase_share: lots", "load.two_phase_share"),
            ("lease: 15s", "lease: 15s, self_register: maybe", "mediator.self_register"),
        ]
    )
    func numbers(original: String, replacement: String, key: String) async throws {
        let text = Self.valid.replacingOccurrences(of: original, with: replacement)
        let error = await #expect(throws: FiscalError.self) { try await Self.load(text) }
        #expect(error?.code == .configInvalid && error?.message.contains(key) == true, "\(error?.message ?? "")")
    }

    @Test("10,000 levels of nesting and a 1 MiB value are CONFIG_INVALID")
    func nestingAndSize() async throws {
        let deep = Self.valid.replacingOccurrences(
            of: "name: hostile",
            with: "name: " + String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        )
        await #expect(throws: FiscalError.self) { try await Self.load(deep) }
        let large = Self.valid.replacingOccurrences(
            of: "payment_mix: cash=1",
            with: "payment_mix: " + String(repeating: "x", count: 1 << 20)
        )
        await #expect(throws: FiscalError.self) { try await Self.load(large) }
        #expect(try await Self.load(Self.valid).terminals.map(\.lane) == [1, 2])
    }
}
