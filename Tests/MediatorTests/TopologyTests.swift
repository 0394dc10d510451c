import FiscalCore
import FiscalTestSupport
import Foundation
import Testing
import Topology

/// Every file in topology/ loads; every file in topology/invalid/ fails with a message naming
/// the key its first line (`# expect: KEY`) says.
@Suite("Topology files")
struct TopologyTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../topology").standardized

    static func files(_ folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
            .filter { $0.hasSuffix(".yaml") }.sorted().map { folder.appendingPathComponent($0).path }
    }

    @Test("the shipped topologies load")
    func shipped() async throws {
        let paths = Self.files(Self.folder)
        #expect(paths.count >= 3)
        for path in paths {
            let topology = try await Topology.load(path: path)
            #expect(!topology.terminals.isEmpty, "\(path)")
            #expect(topology.outletID == "OUTLET-KIN-01")
        }
    }

    @Test("retail-10-lane is ten lanes at 5 TPS; restaurant-waiters has eight roaming tablets")
    func contents() async throws {
        let retail = try await Topology.load(path: Self.folder.appendingPathComponent("retail-10-lane.yaml").path)
        #expect(retail.terminals.map(\.code.rawValue) == (1...10).map { String(format: "REG-%03d", $0) })
        #expect(retail.terminals.map(\.lane) == (1...10).map { $0 })
        #expect(retail.terminals.allSatisfy { $0.kind == .register && !$0.roams })
        #expect(retail.load.tpsPerTerminal == 5 && retail.load.duration == .seconds(600))
        #expect(retail.device.latency == "prepare=5ms,commit=10ms")
        #expect(retail.load.roaming == nil && retail.load.arrivals == .poisson)

        let restaurant = try await Topology.load(
            path: Self.folder.appendingPathComponent("restaurant-waiters.yaml").path
        )
        #expect(
            restaurant.terminals.filter(\.roams).map(\.code.rawValue) == (1...8).map { String(format: "MOB-%03d", $0) }
        )
        #expect(restaurant.terminals.first { !$0.roams }?.kind == .till)
        let roaming = try #require(restaurant.load.roaming)
        #expect(roaming.outage == .milliseconds(500)...(.seconds(4)) && roaming.whileHoldingShare == 0.3)
        #expect(restaurant.mediator.roamingGrace == .seconds(2) && restaurant.mediator.lease == .seconds(4))
        #expect(restaurant.load.paymentMix.map(\.weight) == [40, 40, 20])
        #expect(restaurant.device.holds == .mediator)
        #expect(restaurant.mediator.cashierLogin && restaurant.mediator.workPeriods)
    }

    @Test("a topology's device.holds, mediator.cashier_login and mediator.work_periods are read, not only accepted")
    func terminalRules() async throws {
        let directory = TemporaryDirectory("topology-rules")
        defer { directory.remove() }
        let text = try String(
            contentsOf: Self.folder.appendingPathComponent("restaurant-waiters.yaml"),
            encoding: .utf8
        )
        .replacingOccurrences(of: "  holds: mediator\n", with: "  holds: device\n")
        .replacingOccurrences(of: "  self_register: false\n", with: "")
        .replacingOccurrences(
            of: "  roaming_grace: 2s",
            with: "  cashier_login: false\n  work_periods: false\n  roaming_grace: 2s"
        )
        let path = directory.appending("rules.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let topology = try await Topology.load(path: path)
        #expect(topology.device.holds == .device)
        #expect(!topology.mediator.cashierLogin && !topology.mediator.workPeriods)
    }

    @Test("broken topologies fail with CONFIG_INVALID naming the key")
    func invalid() async throws {
        let paths = Self.files(Self.folder.appendingPathComponent("invalid"))
        #expect(paths.count >= 6)
        for path in paths {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let expected = try #require(text.split(separator: "\n").first?.split(separator: "expect: ").last)
            let error = await #expect(throws: FiscalError.self, "\(path)") { try await Topology.load(path: path) }
            #expect(error?.code == .configInvalid)
            #expect(error?.message.contains(String(expected)) == true, "\(path): \(error?.message ?? "")")
        }
        let missing = await #expect(throws: FiscalError.self) { try await Topology.load(path: "/nonexistent.yaml") }
        #expect(missing?.message.contains("no such file") == true)
    }
}
