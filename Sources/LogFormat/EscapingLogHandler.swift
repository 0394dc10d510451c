import Foundation
public import Logging
import Synchronization

/// A log handler that writes one line per event, in logfmt (`key=value`, the default) or JSON,
/// with every value escaped: a terminal's routing id holding a newline, a quote or an `=` can
/// never forge a second line or a field. journald takes either format from stderr.
public struct EscapingLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case logfmt
        case json
    }

    /// Where finished lines go (each ends with a newline).
    public typealias Sink = @Sendable (String) -> Void

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: Format
    private let sink: Sink

    public init(label: String, format: Format = .logfmt, sink: @escaping Sink = EscapingLogHandler.standardError) {
        self.label = label
        self.format = format
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        if let error = event.error { merged["error"] = .string("\(error)") }
        let time = Self.timestamp()
        let source = event.source
        var fields: [(String, String)] = [
            ("time", time), ("level", event.level.rawValue), ("logger", label), ("msg", event.message.description),
        ]
        for key in merged.keys.sorted() { fields.append((key, Self.flatten(merged[key]!))) }
        fields.append(("source", source))
        switch format {
        case .logfmt:
            sink(fields.map { "\(Self.logfmtKey($0.0))=\(Self.logfmtValue($0.1))" }.joined(separator: " ") + "\n")
        case .json:
            sink(
                "{" + fields.map { "\(Self.jsonString($0.0)):\(Self.jsonString($0.1))" }.joined(separator: ",") + "}\n"
            )
        }
    }

    /// Writes a line to standard error in one `write`, so lines of concurrent events never mix.
    public static let standardError: Sink = { line in
        let bytes = Array(line.utf8)
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }

    // MARK: Escaping

    static func flatten(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): "[" + values.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let values):
            "{" + values.keys.sorted().map { "\($0):\(flatten(values[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// A logfmt key: anything but `[A-Za-z0-9_.-]` becomes `_`.
    static func logfmtKey(_ key: String) -> String {
        let allowed = key.unicodeScalars.map { scalar -> Character in
            let ascii =
                scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "_.-".unicodeScalars.contains(scalar))
            return ascii ? Character(scalar) : "_"
        }
        return allowed.isEmpty ? "_" : String(allowed)
    }

    /// A logfmt value: bare when it is plain, else quoted with `\"`, `\\` and control
    /// characters escaped (`\n`, `\t`, `\u{1b}` …).
    static func logfmtValue(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && value.unicodeScalars.allSatisfy { scalar in
                scalar.value > 0x20 && scalar.value != 0x7F && scalar != "\"" && scalar != "=" && scalar != "\\"
                    && !(0x80...0x9F).contains(scalar.value) && scalar.value != 0x2028 && scalar.value != 0x2029
            }
        return plain ? value : "\"" + escaped(value, json: false) + "\""
    }

    static func jsonString(_ value: String) -> String { "\"" + escaped(value, json: true) + "\"" }

    private static func escaped(_ value: String, json: Bool) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count + 2)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (0x80...0x9F).contains(scalar.value)
                    || scalar.value == 0x2028 || scalar.value == 0x2029
                {
                    out += json ? String(format: "\\u%04x", scalar.value) : "\\u{\(String(scalar.value, radix: 16))}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var seconds = time_t(now.tv_sec)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            parts.tm_year + 1900,
            parts.tm_mon + 1,
            parts.tm_mday,
            parts.tm_hour,
            parts.tm_min,
            parts.tm_sec,
            now.tv_nsec / 1_000_000
        )
    }
}
