/// Range-checked integers at decode time: a value outside its range is a decoding error whose
/// coding path names the field (`$.retry_after_ms`), never a number handed on to code that
/// might trap on it.
extension KeyedDecodingContainer {
    /// Decodes an integer that must lie in `range`.
    package func decode<T: FixedWidthInteger & Decodable>(
        _ type: T.Type,
        forKey key: Key,
        in range: ClosedRange<T>
    ) throws -> T {
        let value: T
        do {
            value = try decode(T.self, forKey: key)
        } catch {
            throw notAnInteger(error, T.self, key, in: range)
        }
        return try Self.check(value, key, in: range, self)
    }

    /// Decodes an optional integer that, when present, must lie in `range`.
    package func decodeIfPresent<T: FixedWidthInteger & Decodable>(
        _ type: T.Type,
        forKey key: Key,
        in range: ClosedRange<T>
    ) throws -> T? {
        let value: T?
        do {
            value = try decodeIfPresent(T.self, forKey: key)
        } catch {
            throw notAnInteger(error, T.self, key, in: range)
        }
        guard let value else { return nil }
        return try Self.check(value, key, in: range, self)
    }

    /// Foundation throws its own error for a number that does not fit `T` (2^64, -1 for an
    /// unsigned, 1.5), which the decoder reports as "not valid JSON" at the document's root.
    /// When the member is a number after all, say so at its own path; otherwise (a string, an
    /// object) keep the decoder's error.
    private func notAnInteger<T: FixedWidthInteger>(
        _ error: any Error,
        _ type: T.Type,
        _ key: Key,
        in range: ClosedRange<T>
    ) -> any Error {
        guard let number = try? decode(Double.self, forKey: key) else { return error }
        return DecodingError.dataCorruptedError(
            forKey: key,
            in: self,
            debugDescription: "\(number) is not an integer from \(range.lowerBound) to \(range.upperBound)"
        )
    }

    private static func check<T: FixedWidthInteger>(
        _ value: T,
        _ key: Key,
        in range: ClosedRange<T>,
        _ container: Self
    ) throws -> T {
        guard range.contains(value) else {
            throw DecodingError.dataCorruptedError(
                forKey: key,
                in: container,
                debugDescription: "\(value) is not an integer from \(range.lowerBound) to \(range.upperBound)"
            )
        }
        return value
    }
}

/// The ranges integers of the protocols are held to.
public enum WireRange {
    /// Milliseconds of a wait, a lease or a TTL: at most a day.
    public static let milliseconds: ClosedRange<Int> = 0...86_400_000
    /// Counts and positions: non-negative, and small enough for any arithmetic on them.
    public static let count: ClosedRange<Int> = 0...Int(Int32.max)
    /// Counters that a device or a store keeps (journal entries, capacity, Z count): they
    /// fit SQLite's signed 64-bit integers.
    public static let counter: ClosedRange<UInt64> = 0...UInt64(Int64.max)
    /// A checkout lane's number.
    public static let lane: ClosedRange<Int> = 1...999
    /// The protocol version field.
    public static let version: ClosedRange<Int> = 0...Int(UInt16.max)
    /// Any `Int`: decoded through the range check only so that a number that does not fit is
    /// refused at its own path (the later checks hold it to its real range, with a violation).
    public static let int: ClosedRange<Int> = Int.min...Int.max
}
