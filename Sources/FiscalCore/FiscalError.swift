/// The error of the fiscal domain: a stable ``ErrorCode``, a human message and, for
/// `SCHEMA_INVALID`, every violation found.
public struct FiscalError: Error, Hashable, Sendable, CustomStringConvertible {
    public var code: ErrorCode
    public var message: String
    public var violations: [Violation]

    public init(_ code: ErrorCode, _ message: String, violations: [Violation] = []) {
        self.code = code
        self.message = message
        self.violations = violations
    }

    public var description: String {
        violations.isEmpty ? "\(code): \(message)" : "\(code): \(message) \(violations.map(\.description))"
    }
}

/// One problem validation found, with where it is and a stable code.
public struct Violation: Hashable, Sendable, Codable, CustomStringConvertible {
    public var code: ErrorCode
    /// Where in the invoice, e.g. `$.items[1].quantity`.
    public var path: String
    public var message: String

    public init(_ code: ErrorCode, at path: JSONPath, _ message: String) {
        self.code = code
        self.path = path.description
        self.message = message
    }

    public init(code: ErrorCode, path: String, message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String { "\(code) at \(path): \(message)" }
}

extension FiscalError {
    /// The same error with each violation's path put under `root` (`$.items[0]` under
    /// `$.invoice` is `$.invoice.items[0]`): the device and the validator see the invoice as
    /// the document, a terminal sees it inside its message.
    public func rooted(at root: String) -> FiscalError {
        guard !violations.isEmpty else { return self }
        var copy = self
        copy.violations = violations.map { violation in
            var moved = violation
            if violation.path.hasPrefix("$."), !violation.path.hasPrefix(root) {
                moved.path = root + violation.path.dropFirst(1)
            } else if violation.path == "$" {
                moved.path = root
            }
            return moved
        }
        return copy
    }
}
