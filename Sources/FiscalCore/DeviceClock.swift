public import Foundation

/// ISO 8601 timestamps, parsed and written without Foundation formatters (which cost tens of
/// microseconds per call): `yyyy-MM-ddTHH:mm:ss[.fraction](Z|±hh:mm)`.
public enum DeviceTimestamp {
    /// The device format: UTC with milliseconds, `2026-11-21T09:15:00.123Z`.
    public static func format(_ date: Date) -> String {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        let milliseconds = Int(
            totalMilliseconds - (totalMilliseconds / 1000 - (totalMilliseconds % 1000 < 0 ? 1 : 0)) * 1000
        )
        let seconds = (totalMilliseconds - Int64(milliseconds)) / 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (year, month, day) = civil(fromDays: days)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(milliseconds, 3))Z"
    }

    /// Parses ISO 8601 with a UTC offset (`Z` or `±hh:mm`), with or without a fraction of up
    /// to nine digits; `nil` for anything else, including impossible dates.
    public static func parse(_ text: String) -> Date? {
        let c = Array(text.utf8)
        guard c.count >= 20 else { return nil }
        func digits(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= c.count else { return nil }
            var value = 0
            for index in from..<(from + count) {
                guard c[index] >= 0x30, c[index] <= 0x39 else { return nil }
                value = value * 10 + Int(c[index] - 0x30)
            }
            return value
        }
        guard let year = digits(0, 4), c[4] == UInt8(ascii: "-"), let month = digits(5, 2), c[7] == UInt8(ascii: "-"),
            let day = digits(8, 2), c[10] == UInt8(ascii: "T"), let hour = digits(11, 2), c[13] == UInt8(ascii: ":"),
            let minute = digits(14, 2), c[16] == UInt8(ascii: ":"), let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day), hour < 24, minute < 60,
            second < 60
        else { return nil }
        var index = 19
        var fraction = 0.0
        if c[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            let start = index
            while index < c.count, c[index] >= 0x30, c[index] <= 0x39 {
                fraction += Double(c[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard (1...9).contains(index - start) else { return nil }
        }
        guard index < c.count else { return nil }
        var offsetSeconds = 0
        if c[index] == UInt8(ascii: "Z") {
            guard index + 1 == c.count else { return nil }
        } else if c[index] == UInt8(ascii: "+") || c[index] == UInt8(ascii: "-") {
            guard index + 6 == c.count, let oh = digits(index + 1, 2), c[index + 3] == UInt8(ascii: ":"),
                let om = digits(index + 4, 2), oh < 24, om < 60
            else { return nil }
            offsetSeconds = (oh * 3600 + om * 60) * (c[index] == UInt8(ascii: "-") ? -1 : 1)
        } else {
            return nil
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let monthIndex = Int64(month > 2 ? month - 3 : month + 9)
        let dayOfYear = (153 * monthIndex + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0)), Int(month), Int(day))
    }
}
