import Foundation

/// A JSON document as a tree whose leaves are raw JSON text, so that any field can be swapped
/// for a value no `Encodable` would write (2^64, a 1 MiB string, 10,000 levels of nesting).
///
/// Boundary-value walks build a valid message, then replace one field at a time with each of
/// ``HostileJSON/values`` and feed the text to the real decoder.
public indirect enum HostileJSON: Sendable {
    case object([(key: String, value: HostileJSON)])
    case array([HostileJSON])
    case raw(String)

    /// One step of a path: a member name or an array index.
    public enum Step: Hashable, Sendable, CustomStringConvertible {
        case key(String)
        case index(Int)

        public var description: String {
            switch self {
            case .key(let key): ".\(key)"
            case .index(let index): "[\(index)]"
            }
        }
    }

    /// The boundary values of the walk, as JSON text, each with a name for failure messages.
    public static let values: [(name: String, json: HostileJSON)] = [
        ("0", .raw("0")),
        ("-1", .raw("-1")),
        ("2^31", .raw("2147483648")),
        ("2^53", .raw("9007199254740992")),
        ("2^63", .raw("9223372036854775808")),
        ("-2^63-1", .raw("-9223372036854775809")),
        ("2^64", .raw("18446744073709551616")),
        ("1e308", .raw("1e308")),
        ("1.5", .raw("1.5")),
        ("1 MiB string", .raw("\"" + String(repeating: "x", count: 1 << 20) + "\"")),
        ("nesting 10,000 deep", .raw(String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000))),
        ("true", .raw("true")),
        ("null", .raw("null")),
        ("a string", .raw("\"text\"")),
        ("an object", .raw("{}")),
        ("an array", .raw("[]")),
        ("control characters", .raw(#""line\nbreak\u0000\u001b[31m""#)),
    ]

    /// The same values as bare text, for command-line arguments (`QRY|LOG <seq>`).
    public static let argumentValues: [String] = [
        "0", "-1", "2147483648", "9007199254740992", "9223372036854775808", "9223372036854775807",
        "18446744073709551616", "1e308", "1.5", "+1", " 1", "0x10", String(repeating: "9", count: 1 << 20),
        String(repeating: "[", count: 10_000), "",
    ]

    /// The tree of an encodable value, as `JSONEncoder` writes it.
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self.init(parsed: try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]))
    }

    /// The tree of JSON text.
    public init(json: String) throws {
        self.init(parsed: try JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed]))
    }

    private init(parsed: Any) {
        switch parsed {
        case let object as [String: Any]:
            self = .object(object.keys.sorted().map { (key: $0, value: HostileJSON(parsed: object[$0] as Any)) })
        case let array as [Any]:
            self = .array(array.map { HostileJSON(parsed: $0) })
        case let text as String:
            self = .raw(Self.quoted(text))
        case let number as NSNumber:
            // Foundation on Linux hands booleans over as NSNumbers of objCType "c".
            self = .raw(String(cString: number.objCType) == "c" ? (number.boolValue ? "true" : "false") : "\(number)")
        default:
            self = .raw("null")
        }
    }

    private static func quoted(_ text: String) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: [text])) ?? Data("[\"\"]".utf8)
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }

    /// The JSON text.
    public var text: String {
        var out = ""
        write(into: &out)
        return out
    }

    private func write(into out: inout String) {
        switch self {
        case .raw(let text): out += text
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                out += Self.quoted(member.key) + ":"
                member.value.write(into: &out)
            }
            out += "}"
        }
    }

    /// Every path to a member or element, parents before children.
    public var paths: [[Step]] {
        var found: [[Step]] = []
        collect(prefix: [], into: &found)
        return found
    }

    private func collect(prefix: [Step], into found: inout [[Step]]) {
        switch self {
        case .raw: return
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                found.append(prefix + [.index(index)])
                element.collect(prefix: prefix + [.index(index)], into: &found)
            }
        case .object(let members):
            for member in members {
                found.append(prefix + [.key(member.key)])
                member.value.collect(prefix: prefix + [.key(member.key)], into: &found)
            }
        }
    }

    /// This tree with the node at `path` replaced by `value` (unchanged if there is none).
    public func replacing(_ path: some Collection<Step>, with value: HostileJSON) -> HostileJSON {
        guard let step = path.first else { return value }
        let rest = path.dropFirst()
        switch (self, step) {
        case (.object(let members), .key(let key)):
            return .object(members.map { $0.key == key ? ($0.key, $0.value.replacing(rest, with: value)) : $0 })
        case (.array(let elements), .index(let index)) where elements.indices.contains(index):
            var elements = elements
            elements[index] = elements[index].replacing(rest, with: value)
            return .array(elements)
        default:
            return self
        }
    }

    /// This object with the member `key` added or replaced.
    public func setting(_ key: String, _ value: HostileJSON) -> HostileJSON {
        guard case .object(var members) = self else { return self }
        members.removeAll { $0.key == key }
        members.append((key, value))
        return .object(members)
    }

    /// Every variant of this tree with one node replaced by one of ``values``, with a label
    /// naming the path and the value; the whole document replaced too.
    public var hostileVariants: [(label: String, json: HostileJSON)] { hostileVariants { _ in true } }

    /// The variants of the nodes whose paths `include` accepts (and of the whole document).
    public func hostileVariants(where include: ([Step]) -> Bool) -> [(label: String, json: HostileJSON)] {
        var variants = Self.values.map { (label: "$ = \($0.name)", json: $0.json) }
        for path in paths where include(path) {
            let where_ = "$" + path.map(\.description).joined()
            for value in Self.values {
                variants.append((label: "\(where_) = \(value.name)", json: replacing(path, with: value.json)))
            }
        }
        return variants
    }
}
