import FiscalCore
import Foundation

extension ReportText {
    /// `1234567.5` as `1,234,567.50`: the magnitude of `money` with thousands separators.
    static func grouped(_ money: Money) -> String {
        var text = money.canonicalText
        if text.hasPrefix("-") { text.removeFirst() }
        return grouped(text)
    }

    /// A count as `1,247`.
    static func grouped(count: Int) -> String { grouped(String(count.magnitude)) }

    /// A quantity as `1,247` when whole, `1,247.5` otherwise.
    static func grouped(_ quantity: Quantity) -> String {
        var text = quantity.canonicalText
        let negative = text.hasPrefix("-")
        if negative { text.removeFirst() }
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return (negative ? "-" : "") + grouped(text)
    }

    /// Inserts a comma every three digits of the integer part of `digits` (`1234.50`).
    static func grouped(_ digits: String) -> String {
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let integer = Array(parts[0])
        var result = ""
        for (index, digit) in integer.enumerated() {
            if index > 0, (integer.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return parts.count > 1 ? result + "." + parts[1] : result
    }

    /// A tax rate as `16%` or `8.5%`.
    static func percent(_ rate: TaxRate) -> String {
        var text = rate.canonicalText
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text + "%"
    }

    /// What the method is called on paper.
    static func methodName(_ method: String) -> String {
        switch Invoice.Payment.Method(rawValue: method) {
        case .cash: "Cash"
        case .card: "Card"
        case .mobileMoney: "Mobile money"
        case .bankTransfer: "Bank transfer"
        case .cheque: "Cheque"
        case .credit: "Credit"
        case .voucher: "Voucher"
        case .other: "Other"
        case nil: TextColumns.clean(method)
        }
    }

    /// A timestamp's parts as printed: `24/01/2026` and `20:15:00`, in `timeZone` when one is
    /// given, else in the offset the timestamp was written with (`UTC` said when it is `Z`).
    struct Stamp {
        var date: String
        var time: String
        /// `20:15`, for spans.
        var clock: String
        var instant: Date?
    }

    static func stamp(_ text: String, timeZone: TimeZone?) -> Stamp {
        let instant = DeviceTimestamp.parse(text)
        if let timeZone, let instant {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timeZone
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: instant)
            return Stamp(
                date: "\(pad(c.day ?? 0, 2))/\(pad(c.month ?? 0, 2))/\(pad(c.year ?? 0, 4))",
                time: "\(pad(c.hour ?? 0, 2)):\(pad(c.minute ?? 0, 2)):\(pad(c.second ?? 0, 2))",
                clock: "\(pad(c.hour ?? 0, 2)):\(pad(c.minute ?? 0, 2))",
                instant: instant
            )
        }
        let c = Array(text)
        guard instant != nil, c.count >= 19 else {
            let cleaned = TextColumns.clean(text)
            return Stamp(date: cleaned, time: "", clock: TextColumns.prefix(cleaned, columns: 5), instant: nil)
        }
        let utc = text.hasSuffix("Z") ? " UTC" : ""
        return Stamp(
            date: "\(String(c[8..<10]))/\(String(c[5..<7]))/\(String(c[0..<4]))",
            time: String(c[11..<19]) + utc,
            clock: String(c[11..<16]),
            instant: instant
        )
    }

    /// `12h 15m` from `start` to `end`; nil when either is not a timestamp.
    static func duration(from start: Stamp, to end: Stamp) -> String? {
        guard let from = start.instant, let to = end.instant, to >= from else { return nil }
        let minutes = Int((to.timeIntervalSince(from) / 60).rounded(.down))
        return "\(minutes / 60)h \(pad(minutes % 60, 2))m"
    }

    static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
