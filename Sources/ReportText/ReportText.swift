import FiscalCore
public import Foundation
public import Reports

/// A report as 80 mm thermal-printer text: 48 columns, in the layout of the seed spec's §6.1.
///
/// The renderer only formats: every figure comes from the ``ReportRecord`` (its
/// ``ReportFigures`` and ``CashReconciliation``), nothing is added up here but the column
/// totals the record's own lines imply (the cashiers' total and the tax total), so the paper
/// and `report show --format json` never disagree. Amounts carry thousands separators and their
/// currency; a deduction or a negative figure is in parentheses; each currency has its own
/// blocks and nothing is added across currencies. A blind count prints everything: the text is
/// made after the count is stored.
public enum ReportText {
    /// Characters per line on 80 mm paper.
    public static let width = 48

    /// The report as lines of at most ``width`` columns, each ending in a newline.
    ///
    /// - Parameters:
    ///   - terminalName: the terminal's display name, printed after its code.
    ///   - hash: the stored hash; by default the hash of the record's canonical body.
    ///   - taxLabels: a label per tax group code (from the rules file), else `B 16%`.
    ///   - timeZone: the zone times are printed in; by default each timestamp's own offset.
    public static func render(
        _ record: ReportRecord,
        terminalName: String?,
        hash: String? = nil,
        taxLabels: [String: String] = [:],
        timeZone: TimeZone? = nil
    ) -> String {
        var page = Page(timeZone: timeZone, taxLabels: taxLabels)
        page.header(record, terminalName: terminalName)
        // A combined report's figures are the store's totals, with its terminals listed.
        if let figures = record.figures ?? record.combined?.totals {
            page.shift(figures, kind: record.kind)
            page.cashiers(figures, kind: record.kind)
            if let combined = record.combined { page.terminals(combined) }
            let widths = NumberWidths(figures, record.reconciliation)
            if figures.sales.isEmpty {
                page.rule("-")
                page.line("NO SALES IN THIS PERIOD")
            }
            for sales in figures.sales {
                page.sales(sales, width: widths[sales.currency])
                page.payments(sales, width: widths[sales.currency])
                page.taxes(sales)
            }
            page.drawer(figures, record: record, widths: widths)
            page.statistics(figures, widths: widths)
            if let day = record.dayReconciliation { page.deviceDay(record.deviceDay, day) }
        } else {
            page.rule("-")
            page.line("NO FIGURES RECORDED")
        }
        // The stored hash, from the caller: a hash of the record re-encoded here would look
        // right for a tampered record. Without one the text says "unavailable".
        page.footer(record, hash: hash)
        return page.lines.map { $0 + "\n" }.joined()
    }
}

/// The widest amount of each currency, so that a currency's columns line up in every block.
struct NumberWidths {
    var widths: [String: Int] = [:]

    init(_ figures: ReportFigures, _ reconciliation: CashReconciliation?) {
        func see(_ currency: String, _ amounts: [Money]) {
            let widest = amounts.map { ReportText.grouped($0).count }.max() ?? 0
            widths[currency] = max(widths[currency] ?? 4, widest)
        }
        for sales in figures.sales {
            see(
                sales.currency,
                [
                    sales.gross, sales.discounts, sales.refunds, sales.voids, sales.net, sales.vat, sales.grandTotal,
                    sales.paymentsTotal,
                ]
                    + sales.taxGroups.map(\.amount) + sales.payments.flatMap { [$0.received, $0.returned, $0.net] }
            )
        }
        for line in figures.drawer {
            see(
                line.currency,
                [
                    line.openingFloat, line.cashReceived, line.changeGiven, line.cashRefunds, line.payouts, line.payIns,
                    line.expected,
                ]
            )
        }
        for line in reconciliation?.lines ?? [] {
            see(line.currency, [line.expected, line.counted, line.variance])
        }
        for line in figures.lineVoids { see(line.currency, [line.amount]) }
    }

    subscript(currency: String) -> Int { widths[currency] ?? 4 }
}

/// The lines of one report, built top to bottom.
struct Page {
    var timeZone: TimeZone?
    var taxLabels: [String: String]
    var lines: [String] = []

    static let width = ReportText.width
    /// Where a header field's value starts.
    static let valueColumn = 16

    // MARK: Primitives

    mutating func line(_ text: String) {
        var text = text
        while text.hasSuffix(" ") { text.removeLast() }
        precondition(TextColumns.width(text) <= Self.width, "a report line is wider than the paper: \(text)")
        lines.append(text)
    }

    mutating func blank() { lines.append("") }

    mutating func rule(_ character: Character) { lines.append(String(repeating: character, count: Self.width)) }

    /// `text` centered, wrapped first when it is wider than the paper.
    mutating func centered(_ text: String) {
        for part in TextColumns.wrap(text, columns: Self.width) {
            line(String(repeating: " ", count: (Self.width - TextColumns.width(part)) / 2) + part)
        }
    }

    /// `Label:         value`, the value wrapped under itself when it is long.
    mutating func field(_ label: String, _ value: String) {
        let parts = TextColumns.wrap(value, columns: Self.width - Self.valueColumn)
        for (index, part) in (parts.isEmpty ? [""] : parts).enumerated() {
            line(TextColumns.padRight(index == 0 ? label : "", Self.valueColumn) + part)
        }
    }

    /// `  Label:            KES 1,234.00` with the cell flush right; on two lines when both do
    /// not fit on one.
    mutating func row(_ label: String, _ cell: String, indent: Int = 2) {
        let left = String(repeating: " ", count: indent) + TextColumns.prefix(label, columns: Self.width - indent)
        let room = Self.width - TextColumns.width(left) - 1
        if TextColumns.width(cell) <= room {
            line(left + TextColumns.padLeft(cell, Self.width - TextColumns.width(left)))
        } else {
            line(left)
            line(TextColumns.padLeft(cell, Self.width))
        }
    }

    /// An amount cell: ` KES 1,234.00 ` or `(KES 1,234.00)`, the digits padded to `width` so that
    /// a currency's amounts line up whatever their sign.
    static func cell(_ amount: Money, _ currency: String, width: Int) -> String {
        let number = TextColumns.padLeft(ReportText.grouped(amount), width)
        return amount.units < 0 ? "(\(currency) \(number))" : " \(currency) \(number) "
    }

    /// A deduction shown as such: its negative, in parentheses.
    static func deduction(_ amount: Money) -> Money { Money(units: -amount.units) }

    /// A count cell, flush with the amounts' last digit.
    static func countCell(_ count: Int) -> String { ReportText.grouped(count: count) + " " }

    /// The rule above a total, as wide as the amount cells.
    mutating func subtotalRule(width: Int) {
        line(TextColumns.padLeft(String(repeating: "-", count: width + 6), Self.width))
    }

    // MARK: Blocks

    mutating func header(_ record: ReportRecord, terminalName: String?) {
        rule("=")
        let business = TextColumns.clean(record.businessName)
        if !business.isEmpty {
            centered(business.uppercased())
            rule("=")
        }
        centered(Self.title(record))
        if record.kind == .z || record.kind == .cz {
            centered("*** FISCAL DOCUMENT ***")
        }
        rule("-")
        if let terminal = record.terminal {
            let name = terminalName.map(TextColumns.clean).flatMap { $0.isEmpty ? nil : $0 }
            field("Terminal:", TextColumns.clean(terminal) + (name.map { " (\($0))" } ?? ""))
        }
        field("Report #:", record.isPreview ? "PREVIEW - NOT NUMBERED" : TextColumns.clean(record.number))
        if let period = record.periodID { field("Work period:", "#\(period)") }
        let generated = ReportText.stamp(record.generatedAt, timeZone: timeZone)
        field("Date:", generated.date)
        field("Time:", generated.time)
        field("Taken by:", Self.person(record.generatedByName, record.generatedBy))
        if let cashier = record.figures?.cashier {
            let name = record.figures?.sessions.first { $0.cashierID == cashier }?.cashierName
            field("Cashier:", Self.person(name, cashier))
        }
        if record.forced {
            field("Forced:", record.forceReason ?? "no reason recorded")
        }
    }

    static func title(_ record: ReportRecord) -> String {
        switch record.kind {
        case .x: record.figures?.cashier == nil ? "X REPORT - MID-SHIFT" : "X REPORT - CASHIER"
        case .z: record.forced ? "Z REPORT - FORCED CLOSE" : "Z REPORT - END OF SHIFT"
        case .cx: "COMBINED X REPORT - STORE"
        case .cz: record.forced ? "COMBINED Z REPORT - FORCED" : "COMBINED Z REPORT - END OF DAY"
        }
    }

    /// `Sarah Kimani (SUP-01)`, or the id alone when the registry has no name.
    static func person(_ name: String?, _ id: String) -> String {
        let id = TextColumns.clean(id)
        guard let name = name.map(TextColumns.clean), !name.isEmpty, name != id else { return id }
        return "\(name) (\(id))"
    }

    mutating func shift(_ figures: ReportFigures, kind: ReportKind) {
        rule("-")
        let start = ReportText.stamp(figures.shiftStart, timeZone: timeZone)
        let end = ReportText.stamp(figures.shiftEnd, timeZone: timeZone)
        let duration = ReportText.duration(from: start, to: end).map { " (\($0))" } ?? ""
        if start.date == end.date {
            line("SHIFT: \(start.clock) - \(end.clock)\(duration)")
        } else {
            line("SHIFT: \(start.date) \(start.clock) -")
            line("       \(end.date) \(end.clock)\(duration)")
        }
        if kind == .x { line("       (open: figures as of \(end.clock))") }
        if let first = figures.firstSeq, let last = figures.lastSeq {
            field("Fiscal nos:", first == last ? "\(first)" : "\(first) - \(last)")
        }
    }

    mutating func cashiers(_ figures: ReportFigures, kind: ReportKind) {
        guard !figures.sessions.isEmpty else { return }
        blank()
        line(figures.cashier == nil ? "CASHIERS THIS SHIFT:" : "SESSIONS:")
        // Name 13, span 11, count 5, and 15 for the amount with its trailing space or parenthesis.
        line(
            "  " + TextColumns.padRight("Cashier", 13) + " " + TextColumns.padRight("Time", 11)
                + TextColumns.padLeft("Trans", 5) + TextColumns.padLeft("Sales ", Self.width - 32)
        )
        let end = ReportText.stamp(figures.shiftEnd, timeZone: timeZone)
        var totals: [String: (count: Int, units: Int128)] = [:]
        for session in figures.sessions {
            let from = ReportText.stamp(session.openedAt, timeZone: timeZone).clock
            let to =
                session.closedAt.map { ReportText.stamp($0, timeZone: timeZone).clock }
                ?? (kind == .x ? "now" : end.clock)
            let name = TextColumns.clean(session.cashierName ?? session.cashierID)
            let head = "  " + TextColumns.padRight(name, 13) + " " + TextColumns.padRight("\(from)-\(to)", 11)
            if session.sales.isEmpty {
                line(head + TextColumns.padLeft("0", 5))
            }
            for (index, sold) in session.sales.enumerated() {
                let left = index == 0 ? head : String(repeating: " ", count: 27)
                let count = TextColumns.padLeft(ReportText.grouped(count: sold.count), 5)
                cashierAmount(left + count, sold.amount, sold.currency)
                totals[sold.currency, default: (0, 0)].count += sold.count
                totals[sold.currency, default: (0, 0)].units += Int128(sold.amount.units)
            }
        }
        line("  " + String(repeating: "-", count: Self.width - 2))
        for (index, currency) in totals.keys.sorted().enumerated() {
            let total = totals[currency]!
            let left =
                TextColumns.padRight(index == 0 ? "  TOTAL" : "", 27)
                + TextColumns.padLeft(ReportText.grouped(count: total.count), 5)
            // Each session's figure is a Money, so their sum is within Int128; past Money's
            // range it is printed as such rather than trapped.
            if let units = Int64(exactly: total.units), units.magnitude <= UInt64(Money.limit) {
                cashierAmount(left, Money(units: units), currency)
            } else {
                line(left)
                line(TextColumns.padLeft("(beyond range) ", Self.width))
            }
        }
    }

    /// The amount at the end of a cashier line, or on the next line when it does not fit.
    mutating func cashierAmount(_ left: String, _ amount: Money, _ currency: String) {
        let text =
            amount.units < 0
            ? "(\(currency) \(ReportText.grouped(amount)))" : "\(currency) \(ReportText.grouped(amount)) "
        if TextColumns.width(left) + 1 + TextColumns.width(text) <= Self.width {
            line(left + TextColumns.padLeft(text, Self.width - TextColumns.width(left)))
        } else {
            line(left)
            line(TextColumns.padLeft(text, Self.width))
        }
    }

    mutating func sales(_ sales: ReportFigures.CurrencySales, width: Int) {
        let c = sales.currency
        rule("-")
        line("SALES SUMMARY (\(c)):")
        row("Gross Sales:", Self.cell(sales.gross, c, width: width))
        row("Discounts:", Self.cell(Self.deduction(sales.discounts), c, width: width))
        row("Refunds:", Self.cell(Self.deduction(sales.refunds), c, width: width))
        row("Voids:", Self.cell(Self.deduction(sales.voids), c, width: width))
        subtotalRule(width: width)
        row("Net Sales:", Self.cell(sales.net, c, width: width))
        let taxed = sales.taxGroups.filter { $0.rate.units != 0 }
        let rates = taxed.map(\.rate)
        for group in taxed {
            let shared = rates.filter { $0 == group.rate }.count > 1
            let rate = ReportText.percent(group.rate)
            row(shared ? "VAT \(group.code) (\(rate)):" : "VAT (\(rate)):", Self.cell(group.amount, c, width: width))
        }
        if taxed.isEmpty || taxed.reduce(Int128(0), { $0 + Int128($1.amount.units) }) != Int128(sales.vat.units) {
            row(taxed.isEmpty ? "VAT:" : "VAT total:", Self.cell(sales.vat, c, width: width))
        }
        subtotalRule(width: width)
        row("GRAND TOTAL:", Self.cell(sales.grandTotal, c, width: width))
    }

    mutating func payments(_ sales: ReportFigures.CurrencySales, width: Int) {
        let c = sales.currency
        rule("-")
        line("PAYMENT BREAKDOWN (\(c)):")
        // Cash first, then the other methods in the protocol's order, unknown ones last.
        let order = Invoice.Payment.Method.allCases.map(\.rawValue)
        let payments = sales.payments.sorted {
            (order.firstIndex(of: $0.method) ?? order.count, $0.method) < (
                order.firstIndex(of: $1.method) ?? order.count, $1.method
            )
        }
        for payment in payments {
            row(
                "\(ReportText.methodName(payment.method)) (\(ReportText.grouped(count: payment.count))):",
                Self.cell(payment.net, c, width: width)
            )
            if payment.returned.units != 0 {
                row("received:", Self.cell(payment.received, c, width: width), indent: 4)
                row("returned:", Self.cell(Self.deduction(payment.returned), c, width: width), indent: 4)
            }
        }
        subtotalRule(width: width)
        let count = sales.payments.reduce(0) { $0 + $1.count }
        row("TOTAL (\(ReportText.grouped(count: count))):", Self.cell(sales.paymentsTotal, c, width: width))
    }

    mutating func taxes(_ sales: ReportFigures.CurrencySales) {
        rule("-")
        line("TAX SUMMARY (\(sales.currency)):")
        line(
            "  " + TextColumns.padRight("Rate", 14) + TextColumns.padLeft("Taxable ", 16)
                + TextColumns.padLeft("Tax ", 16)
        )
        func amount(_ money: Money) -> String {
            money.units < 0 ? "(\(ReportText.grouped(money)))" : ReportText.grouped(money) + " "
        }
        // The highest rate first, as the spec lists VAT before exempt.
        for group in sales.taxGroups.sorted(by: { ($1.rate.units, $0.code) < ($0.rate.units, $1.code) }) {
            let label = TextColumns.clean(taxLabels[group.code] ?? "\(group.code) \(ReportText.percent(group.rate))")
            let base = amount(group.base)
            let tax = amount(group.amount)
            if TextColumns.width(label) <= 14, base.count <= 16, tax.count <= 15 {
                line(
                    "  " + TextColumns.padRight(label, 14) + TextColumns.padLeft(base, 16)
                        + TextColumns.padLeft(tax, 16)
                )
            } else {
                line("  " + TextColumns.prefix(label, columns: Self.width - 2))
                row("taxable:", base, indent: 4)
                row("tax:", tax, indent: 4)
            }
        }
        line("  " + String(repeating: "-", count: Self.width - 2))
        row("TOTAL TAX", Self.cell(sales.vat, sales.currency, width: 0))
    }

    mutating func drawer(_ figures: ReportFigures, record: ReportRecord, widths: NumberWidths) {
        let reconciliation = record.reconciliation
        let currencies = Set(figures.drawer.map(\.currency)).union(reconciliation?.lines.map(\.currency) ?? []).sorted()
        if currencies.isEmpty {
            rule("-")
            line("CASH RECONCILIATION: NO CASH")
        }
        for currency in currencies {
            let width = widths[currency]
            let drawer = figures.drawer(currency)
            func cell(_ amount: Money?) -> String { Self.cell(amount ?? .zero, currency, width: width) }
            rule("-")
            line("CASH RECONCILIATION (\(currency)):")
            row("Opening Float:", cell(drawer?.openingFloat))
            row("Cash Received:", cell(drawer?.cashReceived))
            row("Change Given:", cell(drawer.map { Self.deduction($0.changeGiven) }))
            row("Cash Refunds:", cell(drawer.map { Self.deduction($0.cashRefunds) }))
            row("Cash Payouts:", cell(drawer.map { Self.deduction($0.payouts) }))
            row("Pay-ins:", cell(drawer?.payIns))
            subtotalRule(width: width)
            row("EXPECTED:", cell(drawer?.expected))
            // A Z counts its drawer; an X, or a combined report (whose counts are in each
            // terminal's Z), stops at the expected cash.
            guard record.kind == .z || reconciliation != nil else { continue }
            guard let counted = reconciliation?.lines.first(where: { $0.currency == currency }) else {
                row("COUNTED:", "NOT COUNTED ")
                line("  STATUS: NO COUNT")
                continue
            }
            row("COUNTED:", cell(counted.counted))
            subtotalRule(width: width)
            row("VARIANCE:", cell(counted.variance))
            line("  STATUS: \(counted.status.rawValue)")
        }
        if record.kind == .z || reconciliation != nil {
            if reconciliation == nil, !currencies.isEmpty {
                line("NO CASH COUNT GIVEN")
            }
            if record.blindCount {
                line("Blind count: the expected cash was shown")
                line("only after the count was stored.")
            }
            if let explanation = reconciliation?.explanation {
                let parts = TextColumns.wrap(explanation, columns: Self.width - 13)
                for (index, part) in parts.enumerated() {
                    line((index == 0 ? "Explanation: " : String(repeating: " ", count: 13)) + part)
                }
            }
        }
    }

    mutating func statistics(_ figures: ReportFigures, widths: NumberWidths) {
        let stats = figures.statistics
        rule("-")
        line("STATISTICS:")
        row("Total Transactions:", Self.countCell(stats.transactions))
        row("Customers Served:", Self.countCell(stats.customers))
        // One currency: its figures are the report's. Several: a block each, since an average
        // or an item count across currencies means nothing.
        let several = figures.sales.count > 1
        for sales in figures.sales {
            if several {
                line("  \(sales.currency):")
                row("Transactions:", Self.countCell(sales.transactions), indent: 4)
            }
            let indent = several ? 4 : 2
            row("Average Transaction:", Self.cell(sales.average, sales.currency, width: 0), indent: indent)
            row("Items Sold:", ReportText.grouped(sales.itemsSold) + " ", indent: indent)
            row("Void Transactions:", Self.countCell(sales.voidCount), indent: indent)
            row("Refund Transactions:", Self.countCell(sales.refundCount), indent: indent)
            row("Discounts Applied:", Self.countCell(sales.discountCount), indent: indent)
        }
        row("Cash Drawer Opens:", Self.countCell(stats.drawerOpens))
        row("No-Sale Opens:", Self.countCell(stats.noSales))
        for voids in figures.lineVoids {
            row(
                "Line Voids (\(voids.currency), \(ReportText.grouped(count: voids.count))):",
                Self.cell(voids.amount, voids.currency, width: 0)
            )
        }
        if !figures.lineVoids.isEmpty {
            line("  (removed before sealing; not deducted)")
        }
    }

    /// A combined report's terminals: the reports each covers and its net sales per currency.
    mutating func terminals(_ combined: CombinedFigures) {
        rule("-")
        line("TERMINALS:")
        for part in combined.terminals {
            let reports = part.reports.map(TextColumns.clean).joined(separator: ", ")
            let parts = TextColumns.wrap(TextColumns.clean(part.terminal) + ": " + reports, columns: Self.width - 4)
            for (index, text) in parts.enumerated() { line((index == 0 ? "  " : "    ") + text) }
            for sales in part.figures.sales {
                row("Net Sales:", Self.cell(sales.net, sales.currency, width: 0), indent: 4)
            }
        }
    }

    /// The end of day's proof: the registers' Zs against the device's own Z.
    mutating func deviceDay(_ device: DeviceDay?, _ day: DayReconciliation) {
        rule("-")
        if let device {
            line("DEVICE Z #\(device.zNumber) (\(TextColumns.clean(device.deviceID))):")
        } else {
            line("DEVICE Z:")
        }
        func span(_ side: DayReconciliation.Side) -> String {
            let range = side.firstSeq.map { first in side.lastSeq.map { "\(first) - \($0)" } ?? "\(first)" } ?? "none"
            return "\(range) (\(side.count))"
        }
        field("  Device:", span(day.device))
        field("  Registers:", span(day.registers))
        line("  VERDICT: \(day.verdict.rawValue.uppercased())")
        for difference in day.differences {
            line("  " + TextColumns.prefix(TextColumns.clean(difference.item), columns: Self.width - 2))
            row("registers:", TextColumns.clean(difference.registers) + " ", indent: 4)
            row("device:", TextColumns.clean(difference.device) + " ", indent: 4)
        }
        for note in day.numbers {
            let parts = TextColumns.wrap("#\(note.seq) \(note.kind): \(note.reason)", columns: Self.width - 4)
            for (index, text) in parts.enumerated() { line((index == 0 ? "  " : "    ") + text) }
        }
    }

    mutating func footer(_ record: ReportRecord, hash: String?) {
        rule("=")
        switch record.kind {
        case .z, .cz:
            centered("*** FISCAL DOCUMENT ***")
            centered("RETAIN FOR TAX COMPLIANCE")
        case .x, .cx:
            centered("X REPORT - WORK PERIOD NOT CLOSED")
        }
        rule("=")
        let generated = ReportText.stamp(record.generatedAt, timeZone: timeZone)
        field("Generated:", "\(generated.date) \(generated.time)")
        if !record.isPreview {
            field("Hash:", hash.map { String($0.prefix(16)) + "..." } ?? "unavailable")
            field("Previous:", record.previousNumber.map(TextColumns.clean) ?? "none (first of its chain)")
        }
        rule("=")
    }
}
