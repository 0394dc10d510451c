public import Foundation

/// The device timestamp format: UTC with milliseconds, `2026-11-21T09:15:00.123Z`.
public enum DeviceTimestamp {
    public static func format(_ date: Date) -> String {
        date.formatted(
            Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: TimeZone(secondsFromGMT: 0)!)
        )
    }

    public static func parse(_ text: String) -> Date? {
        InvoiceValidator.parseTimestamp(text)
    }
}
