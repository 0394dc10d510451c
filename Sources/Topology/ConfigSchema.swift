public import FiscalCore
import Foundation
import Yams

/// The keys a mediator configuration file (`/etc/fiscal-mediator/mediator.yaml`) may hold, the
/// `serve` flag and environment variable that override each, and its default. A topology
/// (topology/*.yaml) uses the same keys and adds `name`, `terminals:` and `load:`.
///
/// A key the schema does not know is an error naming the key and the file, with a "did you
/// mean" for a near miss: a typo such as `mediator.leese` must not be silently ignored.
public enum ConfigSchema {
    /// One setting.
    public struct Key: Sendable, Hashable {
        /// The dotted key in the file: `mediator.lease`.
        public var key: String
        /// The `serve` flag that overrides it.
        public var flag: String
        /// What is used when neither flag, environment nor file sets it.
        public var defaultValue: String?
        /// Never printed (`config show` redacts it).
        public var secret: Bool

        /// The environment variable that overrides the file: `FISCAL_` and the key in capitals,
        /// dots as underscores (`FISCAL_MEDIATOR_LEASE`).
        public var environment: String {
            "FISCAL_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
        }
    }

    /// The mediator's keys, in the order `config show` prints them.
    public static let keys: [Key] = [
        Key(key: "outlet.id", flag: "--outlet-id", defaultValue: nil, secret: false),
        Key(key: "device.kind", flag: "--device", defaultValue: "emulator", secret: false),
        Key(key: "device.path", flag: "--device", defaultValue: nil, secret: false),
        Key(key: "device.state", flag: "--device", defaultValue: "var/emulator", secret: false),
        Key(key: "device.latency", flag: "--emulator-latency", defaultValue: nil, secret: false),
        Key(key: "device.nonce_ttl", flag: "--emulator-nonce-ttl", defaultValue: "30s", secret: false),
        Key(
            key: "device.timeout",
            flag: "--device-timeout",
            defaultValue: "prepare=2s,commit=3s,query=1s",
            secret: false
        ),
        Key(key: "device.probe_interval", flag: "--probe-interval", defaultValue: "3s", secret: false),
        Key(key: "device.holds", flag: "--holds", defaultValue: "mediator", secret: false),
        Key(key: "mediator.endpoint", flag: "--endpoint", defaultValue: "tcp://127.0.0.1:5555", secret: false),
        Key(key: "mediator.ops_http", flag: "--ops-http", defaultValue: "127.0.0.1:8080", secret: false),
        Key(key: "mediator.store", flag: "--db", defaultValue: "var/mediator.sqlite", secret: false),
        Key(key: "mediator.lease", flag: "--lease", defaultValue: "15s", secret: false),
        Key(key: "mediator.roaming_grace", flag: "--roaming-grace", defaultValue: nil, secret: false),
        Key(
            key: "mediator.heartbeat",
            flag: "--heartbeat",
            defaultValue: "default=60s,lane=15s,tablet=5s",
            secret: false
        ),
        Key(key: "mediator.self_register", flag: "--self-register", defaultValue: "false", secret: false),
        Key(key: "mediator.cashier_login", flag: "--cashier-login", defaultValue: "true", secret: false),
        Key(key: "mediator.work_periods", flag: "--work-periods", defaultValue: "true", secret: false),
        Key(key: "mediator.disk_low", flag: "--disk-low", defaultValue: "256MB", secret: false),
        Key(key: "mediator.rules", flag: "--rules", defaultValue: nil, secret: false),
        Key(key: "mediator.reports", flag: "--reports", defaultValue: nil, secret: false),
        Key(key: "log.level", flag: "--log-level", defaultValue: "info", secret: false),
        Key(key: "log.format", flag: "--log-format", defaultValue: "logfmt", secret: false),
        Key(key: "sync.url", flag: "--cloud-url", defaultValue: nil, secret: false),
        Key(key: "sync.token_file", flag: "--cloud-token-file", defaultValue: nil, secret: false),
        Key(key: "sync.token", flag: "--cloud-token-file", defaultValue: nil, secret: true),
        Key(key: "sync.batch", flag: "--sync-batch", defaultValue: "100", secret: false),
        Key(key: "sync.retention", flag: "--sync-retention", defaultValue: "90d", secret: false),
    ]

    /// What a topology adds: its name, its outlet's merchant, its terminals and its load.
    public static let topologyKeys: [String] = [
        "name", "outlet.merchant_id", "terminals.codes", "terminals.first_lane", "terminals.cashiers",
        "terminals.roaming", "load.tps_per_terminal", "load.duration", "load.basket_lines", "load.payment_mix",
        "load.two_phase_share", "load.arrivals", "load.roaming.mean_interval", "load.roaming.outage",
        "load.roaming.while_holding_share",
    ]

    /// The dotted keys of the YAML file at `path` (a sequence or a scalar ends a key), and
    /// whether it has a `load:` section.
    public static func keys(inFile path: String) throws(FiscalError) -> [String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw FiscalError(.configInvalid, "\(path): cannot read: \(error.localizedDescription)")
        }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch {
            throw FiscalError(.configInvalid, "\(path): not YAML: \(error)")
        }
        guard let node else { return [] }
        guard node.mapping != nil else { throw FiscalError(.configInvalid, "\(path): not a YAML mapping") }
        var found: [String] = []
        func walk(_ node: Node, _ prefix: String) {
            guard let mapping = node.mapping else {
                found.append(prefix)
                return
            }
            for (key, value) in mapping {
                let name = key.string ?? "\(key)"
                walk(value, prefix.isEmpty ? name : "\(prefix).\(name)")
            }
        }
        walk(node, "")
        return found
    }

    /// Throws for the first key of the file at `path` that is not in `known`, naming it, the
    /// file, and the nearest known key when it is a near miss.
    public static func checkKeys(inFile path: String, known: [String]) throws(FiscalError) {
        let knownSet = Set(known)
        for key in try keys(inFile: path) where !knownSet.contains(key) {
            var message = "\(path): unknown key '\(key)'"
            if let near = nearest(key, in: known) {
                message += "; did you mean '\(near)'?"
            } else {
                message += "; known keys: \(known.sorted().joined(separator: ", "))"
            }
            throw FiscalError(.configInvalid, message)
        }
    }

    /// The known key closest to `key` by edit distance, if it is close (a typo, not another word).
    static func nearest(_ key: String, in known: [String]) -> String? {
        let scored = known.map { ($0, distance(key, $0)) }.min { $0.1 < $1.1 }
        guard let (best, score) = scored, score <= max(2, key.count / 4) else { return nil }
        return best
    }

    /// Levenshtein distance over characters.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                )
            }
            previous = current
        }
        return previous[b.count]
    }
}
