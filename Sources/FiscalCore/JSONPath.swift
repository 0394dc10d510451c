/// A JSON path such as `$.items[2].quantity`, the address every validation violation carries.
public struct JSONPath: Hashable, Sendable, CustomStringConvertible {
    public private(set) var description: String

    public static let root = JSONPath(description: "$")

    private init(description: String) { self.description = description }

    /// The path of a Codable coding path.
    public init(_ codingPath: [any CodingKey]) {
        var path = JSONPath.root
        for key in codingPath {
            if let index = key.intValue {
                path = path[index]
            } else {
                path = path[key.stringValue]
            }
        }
        self = path
    }

    public subscript(key: String) -> JSONPath { JSONPath(description: description + "." + key) }
    public subscript(index: Int) -> JSONPath { JSONPath(description: description + "[\(index)]") }
}
