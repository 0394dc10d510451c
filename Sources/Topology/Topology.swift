import Configuration
public import FiscalCore
import Foundation
import SystemPackage

/// A deployment: one outlet, its device, its mediator, its terminals, and a load profile to
/// replay against it. Read from a commented YAML file (topology/*.yaml) through
/// swift-configuration; `serve --topology` and `load --topology` read the same file.
///
/// Every problem is a `CONFIG_INVALID` error that names the key (`load.tps_per_terminal: …`).
public struct Topology: Sendable {
    public var name: String
    public var outletID: String
    public var merchantID: String
    public var device: Device
    public var mediator: Mediator
    public var terminals: [Terminal]
    public var load: Load

    public struct Device: Sendable {
        public enum Kind: String, Sendable { case emulator, serial }
        /// Where a terminal's PREPARE holds its sale until COMMIT: `device` (the DEF prepares at
        /// once and waits) or `mediator` (a device-free hold; the DEF's PREPARE and COMMIT run
        /// back to back at COMMIT). docs/PROTOCOL.md, "Two kinds of hold".
        public enum Holds: String, Sendable, CaseIterable { case device, mediator }
        public var kind: Kind
        /// `emulator`: the fiscal memory's directory. `serial`: the device path.
        public var path: String
        /// `emulator`: its speed, e.g. `prepare=15ms,commit=15ms`.
        public var latency: String?
        /// `emulator`: its nonce TTL.
        public var nonceTTL: Duration
        public var holds: Holds = .mediator
    }

    public struct Mediator: Sendable {
        public var endpoint: String
        /// `HOST:PORT` or `off`.
        public var opsHTTP: String
        public var store: String
        public var lease: Duration
        public var roamingGrace: Duration
        /// `default=60s,lane=15s,tablet=5s`
        public var heartbeat: String
        public var selfRegister: Bool
        /// A sale needs a logged-in cashier (`mediator.cashier_login`, default true).
        public var cashierLogin = true
        /// A sale needs an open work period (`mediator.work_periods`, default true).
        public var workPeriods = true
    }

    public struct Terminal: Sendable, Hashable {
        public var code: TerminalID
        public var kind: TerminalKind
        public var lane: Int?
        public var cashier: String
        /// A waiter's tablet that drops out of Wi-Fi range now and then.
        public var roams: Bool
    }

    public struct Load: Sendable {
        public var tpsPerTerminal: Double
        public var duration: Duration
        /// Lines per sale, uniformly from the lower to the upper bound.
        public var basketLines: ClosedRange<Int>
        /// Payment methods and their weights.
        public var paymentMix: [(method: Invoice.Payment.Method, weight: Int)]
        /// Share of sales sent as PREPARE/COMMIT by the terminal (the rest: FISCALIZE).
        public var twoPhaseShare: Double
        /// How a terminal spaces its sales.
        public var arrivals: Arrivals = .poisson
        public var roaming: Roaming?
    }

    /// `poisson`: exponential gaps with the TPS as mean (bursts, as customers arrive);
    /// `paced`: one sale every 1/TPS seconds from a random start (a steady checkout).
    public enum Arrivals: String, Sendable, CaseIterable {
        case poisson, paced
    }

    public struct Roaming: Sendable {
        /// Mean time between two outages of one tablet.
        public var meanInterval: Duration
        /// How long a tablet stays out of range, uniformly between the bounds.
        public var outage: ClosedRange<Duration>
        /// Share of outages that start while the tablet holds the device (between PREPARE and COMMIT).
        public var whileHoldingShare: Double

        public init(meanInterval: Duration, outage: ClosedRange<Duration>, whileHoldingShare: Double) {
            self.meanInterval = meanInterval
            self.outage = outage
            self.whileHoldingShare = whileHoldingShare
        }
    }

    // MARK: Reading

    /// Reads and checks the topology file at `path`.
    public static func load(path: String) async throws(FiscalError) -> Topology {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FiscalError(.configInvalid, "\(path): no such file")
        }
        // The mediator's keys (ConfigSchema), plus a topology's own; nothing else.
        try ConfigSchema.checkKeys(inFile: path, known: ConfigSchema.keys.map(\.key) + ConfigSchema.topologyKeys)
        let provider: FileProvider<YAMLSnapshot>
        do {
            provider = try await FileProvider<YAMLSnapshot>(filePath: FilePath(path))
        } catch {
            throw FiscalError(.configInvalid, "\(path): not a YAML mapping: \(error)")
        }
        do {
            return try parse(ConfigReader(provider: provider))
        } catch let error as FiscalError {
            throw FiscalError(.configInvalid, "\(path): \(error.message)")
        } catch {
            throw FiscalError(.configInvalid, "\(path): \(error)")
        }
    }

    static func parse(_ config: ConfigReader) throws -> Topology {
        let reader = Reader(config: config)
        let outletID = try reader.string("outlet.id", pattern: "A-Z a-z 0-9 - _") {
            !$0.isEmpty && $0.count <= 64
                && $0.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" }
        }
        let device = try readDevice(reader)
        let mediator = try readMediator(reader)
        let terminals = try readTerminals(reader)
        let load = try readLoad(reader, roamers: terminals.contains { $0.roams })
        return Topology(
            name: try reader.string("name") { !$0.isEmpty },
            outletID: outletID,
            merchantID: try reader.string("outlet.merchant_id") { !$0.isEmpty },
            device: device,
            mediator: mediator,
            terminals: terminals,
            load: load
        )
    }

    private static func readDevice(_ reader: Reader) throws -> Device {
        let kindText = try reader.string("device.kind")
        guard let kind = Device.Kind(rawValue: kindText) else {
            throw FiscalError(.configInvalid, "device.kind: '\(kindText)' is not valid (emulator or serial)")
        }
        let path = try reader.string(kind == .emulator ? "device.state" : "device.path") { !$0.isEmpty }
        let latency = try reader.optionalString("device.latency")
        if let latency, kind == .emulator {
            let parts = latency.split(separator: ",").map { $0.split(separator: "=", maxSplits: 1) }
            guard !parts.isEmpty,
                parts.allSatisfy({
                    $0.count == 2 && ["prepare", "commit"].contains($0[0]) && Duration.parsing(String($0[1])) != nil
                })
            else {
                throw FiscalError(.configInvalid, "device.latency: '\(latency)' is not prepare=15ms,commit=15ms")
            }
        }
        let nonceTTL = try reader.duration("device.nonce_ttl", default: .seconds(30))
        // A host refuses a PREPARE reply whose ttl_ms is longer than a day (DEVICE_PROTOCOL.md).
        guard nonceTTL > .zero, nonceTTL <= .seconds(86_400) else {
            throw FiscalError(.configInvalid, "device.nonce_ttl: must be above 0 and at most 1 day")
        }
        let holdsText = try reader.optionalString("device.holds") ?? Device.Holds.mediator.rawValue
        guard let holds = Device.Holds(rawValue: holdsText) else {
            throw FiscalError(.configInvalid, "device.holds: '\(holdsText)' is not valid (device or mediator)")
        }
        return Device(kind: kind, path: path, latency: latency, nonceTTL: nonceTTL, holds: holds)
    }

    private static func readMediator(_ reader: Reader) throws -> Mediator {
        let endpoint = try reader.string("mediator.endpoint", pattern: "tcp://HOST:PORT") {
            $0.hasPrefix("tcp://") && $0.dropFirst(6).contains(":")
        }
        let lease = try reader.duration("mediator.lease", default: .seconds(15))
        let grace = try reader.duration("mediator.roaming_grace", default: min(.seconds(5), lease / 3))
        guard grace < lease else {
            throw FiscalError(.configInvalid, "mediator.roaming_grace: must be shorter than mediator.lease")
        }
        let heartbeat = try reader.optionalString("mediator.heartbeat") ?? "default=60s,lane=15s,tablet=5s"
        let profiles = heartbeat.split(separator: ",").map { $0.split(separator: "=", maxSplits: 1) }
        guard profiles.allSatisfy({ $0.count == 2 && Duration.parsing(String($0[1])).map { $0 > .zero } == true }),
            profiles.contains(where: { $0[0] == "default" })
        else {
            throw FiscalError(
                .configInvalid,
                "mediator.heartbeat: '\(heartbeat)' is not default=60s,lane=15s,tablet=5s"
            )
        }
        return Mediator(
            endpoint: endpoint,
            opsHTTP: try reader.optionalString("mediator.ops_http") ?? "127.0.0.1:8080",
            store: try reader.string("mediator.store") { !$0.isEmpty },
            lease: lease,
            roamingGrace: grace,
            heartbeat: heartbeat,
            selfRegister: try reader.bool("mediator.self_register", default: false),
            cashierLogin: try reader.bool("mediator.cashier_login", default: true),
            workPeriods: try reader.bool("mediator.work_periods", default: true)
        )
    }

    private static func readTerminals(_ reader: Reader) throws -> [Terminal] {
        let codes = try reader.strings("terminals.codes")
        guard (1...64).contains(codes.count) else {
            throw FiscalError(.configInvalid, "terminals.codes: name 1 to 64 terminals")
        }
        guard Set(codes).count == codes.count else {
            throw FiscalError(.configInvalid, "terminals.codes: a code appears twice")
        }
        let firstLane = try reader.optionalInt("terminals.first_lane")
        if let firstLane, !WireRange.lane.contains(firstLane) || firstLane + codes.count - 1 > WireRange.lane.upperBound
        {
            throw FiscalError(
                .configInvalid,
                "terminals.first_lane: \(firstLane) does not number \(codes.count) lanes within 1 to 999"
            )
        }
        let cashiers = try reader.strings("terminals.cashiers")
        guard cashiers.count == 1 || cashiers.count == codes.count, cashiers.allSatisfy({ (1...64).contains($0.count) })
        else {
            throw FiscalError(.configInvalid, "terminals.cashiers: one cashier id for all, or one per code")
        }
        let roaming = Set(try reader.optionalStrings("terminals.roaming") ?? [])
        guard roaming.isSubset(of: codes) else {
            throw FiscalError(
                .configInvalid,
                "terminals.roaming: \(roaming.subtracting(codes).sorted()) are not in terminals.codes"
            )
        }
        return try codes.enumerated().map { index, code in
            let kind: TerminalKind
            do throws(FiscalError) { kind = try TerminalKind.of(code: code) } catch {
                throw FiscalError(.configInvalid, "terminals.codes[\(index)]: \(error.message)")
            }
            return Terminal(
                code: TerminalID(code),
                kind: kind,
                lane: firstLane.map { $0 + index },
                cashier: cashiers.count == 1 ? cashiers[0] : cashiers[index],
                roams: roaming.contains(code)
            )
        }
    }

    private static func readLoad(_ reader: Reader, roamers: Bool) throws -> Load {
        let tps = try reader.double("load.tps_per_terminal")
        guard tps > 0, tps <= 1000 else {
            throw FiscalError(.configInvalid, "load.tps_per_terminal: must be above 0 and at most 1000")
        }
        let lines = try reader.ints("load.basket_lines")
        guard lines.count == 2, lines[0] >= 1, lines[0] <= lines[1], lines[1] <= 100 else {
            throw FiscalError(.configInvalid, "load.basket_lines: [min, max] with 1 <= min <= max <= 100")
        }
        let mixText = try reader.string("load.payment_mix", pattern: "cash=60,mobile_money=30,card=10") { !$0.isEmpty }
        var mix: [(Invoice.Payment.Method, Int)] = []
        for pair in mixText.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let method = Invoice.Payment.Method(rawValue: String(parts[0])),
                let weight = Int(parts[1]), (0...1_000_000).contains(weight)
            else {
                throw FiscalError(
                    .configInvalid,
                    "load.payment_mix: '\(pair)' is not METHOD=WEIGHT (WEIGHT 0 to 1000000) with METHOD one of \(Invoice.Payment.Method.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            mix.append((method, weight))
        }
        guard mix.contains(where: { $0.1 > 0 }) else {
            throw FiscalError(.configInvalid, "load.payment_mix: all weights are 0")
        }
        let share = try reader.double("load.two_phase_share", default: 0)
        guard (0...1).contains(share) else { throw FiscalError(.configInvalid, "load.two_phase_share: must be 0 to 1") }
        let arrivalsText = try reader.optionalString("load.arrivals") ?? Arrivals.poisson.rawValue
        guard let arrivals = Arrivals(rawValue: arrivalsText) else {
            throw FiscalError(
                .configInvalid,
                "load.arrivals: '\(arrivalsText)' is not one of \(Arrivals.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        var roaming: Roaming?
        if roamers {
            let outage = try reader.strings("load.roaming.outage").map { text in
                guard let duration = Duration.parsing(text) else {
                    throw FiscalError(.configInvalid, "load.roaming.outage: '\(text)' is not a duration")
                }
                return duration
            }
            guard outage.count == 2, outage[0] <= outage[1], outage[0] > .zero else {
                throw FiscalError(.configInvalid, "load.roaming.outage: [shortest, longest] such as [1s, 6s]")
            }
            let holding = try reader.double("load.roaming.while_holding_share", default: 0.3)
            guard (0...1).contains(holding) else {
                throw FiscalError(.configInvalid, "load.roaming.while_holding_share: must be 0 to 1")
            }
            roaming = Roaming(
                meanInterval: try reader.duration("load.roaming.mean_interval"),
                outage: outage[0]...outage[1],
                whileHoldingShare: holding
            )
        }
        return Load(
            tpsPerTerminal: tps,
            duration: try reader.duration("load.duration"),
            basketLines: lines[0]...lines[1],
            paymentMix: mix.map { (method: $0.0, weight: $0.1) },
            twoPhaseShare: share,
            arrivals: arrivals,
            roaming: roaming
        )
    }
}

/// Reads keys, turning swift-configuration's errors into messages that name the key.
struct Reader {
    let config: ConfigReader

    private func wrap<T>(_ key: String, _ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as FiscalError { throw error } catch {
            throw FiscalError(.configInvalid, "\(key): \(Self.describe(error))")
        }
    }

    private static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("issing") { return "missing (required)" }
        if text.contains("onvertible") || text.contains("ype") { return "has the wrong type (\(text))" }
        return text
    }

    func string(_ key: String, pattern: String? = nil, valid: (String) -> Bool = { _ in true }) throws -> String {
        let value = try wrap(key) { try config.requiredString(forKey: ConfigKey(key)) }
        guard valid(value) else {
            throw FiscalError(.configInvalid, "\(key): '\(value)' is not valid\(pattern.map { " (\($0))" } ?? "")")
        }
        return value
    }

    func optionalString(_ key: String) throws -> String? {
        try wrap(key) { config.string(forKey: ConfigKey(key)) }
    }

    func strings(_ key: String) throws -> [String] {
        try wrap(key) { try config.requiredStringArray(forKey: ConfigKey(key)) }
    }

    func optionalStrings(_ key: String) throws -> [String]? {
        try wrap(key) { config.stringArray(forKey: ConfigKey(key)) }
    }

    func ints(_ key: String) throws -> [Int] {
        try wrap(key) { try config.requiredIntArray(forKey: ConfigKey(key)) }
    }

    /// An optional integer. swift-configuration answers nil both for a missing key and for a
    /// value that is not an `Int` (2^64, `1.5`, text): the second is an error here.
    func optionalInt(_ key: String) throws -> Int? {
        try wrap(key) {
            if let value = config.int(forKey: ConfigKey(key)) { return value }
            if let text = config.string(forKey: ConfigKey(key)) {
                throw FiscalError(.configInvalid, "\(key): '\(text.prefix(40))' is not an integer")
            }
            return nil
        }
    }

    /// A number; as with ``optionalInt(_:)``, a value that is there but not a number is an
    /// error, not the default.
    func double(_ key: String, default fallback: Double? = nil) throws -> Double {
        try wrap(key) {
            if let value = config.double(forKey: ConfigKey(key)) { return value }
            if let text = config.string(forKey: ConfigKey(key)) {
                throw FiscalError(.configInvalid, "\(key): '\(text.prefix(40))' is not a number")
            }
            if let fallback { return fallback }
            return try config.requiredDouble(forKey: ConfigKey(key))
        }
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        try wrap(key) {
            if let value = config.bool(forKey: ConfigKey(key)) { return value }
            if let text = config.string(forKey: ConfigKey(key)) {
                throw FiscalError(.configInvalid, "\(key): '\(text.prefix(40))' is not true or false")
            }
            return fallback
        }
    }

    func duration(_ key: String, default fallback: Duration? = nil) throws -> Duration {
        guard let text = try optionalString(key) else {
            if let fallback { return fallback }
            throw FiscalError(.configInvalid, "\(key): missing (required)")
        }
        guard let duration = Duration.parsing(text) else {
            throw FiscalError(.configInvalid, "\(key): '\(text)' is not a duration such as 250ms, 15s, 10m")
        }
        return duration
    }
}
