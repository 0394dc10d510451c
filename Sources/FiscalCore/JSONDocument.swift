public import Foundation

/// Any JSON value, decoded and encoded as it is: how a reply carries a document whose type lives
/// in a module above this one (a report record), and how a client reads it back.
public enum JSONDocument: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case integer(Int64)
    /// A number that is not an integer, kept as its exact decimal (amounts are never `Double`).
    case number(Decimal)
    case string(String)
    case array([JSONDocument])
    case object([String: JSONDocument])

    /// Tries each JSON type in turn. The `try?` here swallows no result: Foundation throws
    /// different errors for "another type" (a type mismatch, or data corrupted for a string
    /// asked as a number), so each probe is only a question; the last one decodes an object and
    /// throws whatever a value that is none of them gives.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Decimal.self) {
            // One form per value, so a document read, written and read again is the same:
            // an integral decimal that fits is an integer (`1e2`, `10.0`).
            if let integer = Self.integer(value) { self = .integer(integer) } else { self = .number(value) }
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONDocument].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONDocument].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The document of an encodable value (its JSON form, read back).
    public init(encoding value: some Encodable) throws {
        let data = try JSONEncoder().encode(value)
        self = try JSONDecoder().decode(JSONDocument.self, from: data)
    }

    /// The value this document holds, as `T`.
    public func decode<T: Decodable>(as type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: JSONEncoder().encode(self))
    }

    private static func integer(_ value: Decimal) -> Int64? {
        Int64(value.description)
    }
}
