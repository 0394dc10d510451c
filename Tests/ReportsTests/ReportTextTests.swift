import FiscalCore
import Foundation
import ReportText
import Reports
import Testing

/// The 80 mm text: the spec's Z and the worked shift against golden files, and every line of
/// every kind of report within 48 columns.
///
/// To regenerate the golden files after an intended change of layout:
/// `UPDATE_GOLDEN=1 swift test --filter ReportTextTests`, then read the diff by eye.
@Suite("80 mm report text")
struct ReportTextTests {
    static let specHash = "7a3f2b1c9e8d4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f90"

    static func specZ() throws -> ReportRecord {
        let rules = try kenyanRules()
        let figures = try ReportFigures.compute(SpecSamples.z(rules: rules), asOf: SpecSamples.zTakenAt)
        return ReportRecord(
            number: ReportNumber.format(.z, year: 2026, terminal: "REG-001", sequence: 156),
            kind: .z,
            sequence: 156,
            terminal: "REG-001",
            periodID: 1247,
            generatedAt: SpecSamples.zTakenAt,
            generatedBy: "SUP-01",
            generatedByName: "Sarah Kimani",
            businessName: SpecSamples.zSettings.businessName,
            previousNumber: "Z-2026-REG001-0155",
            previousHash: String(repeating: "ab", count: 32),
            figures: figures,
            reconciliation: try CashReconciliation.reconcile(
                figures,
                count: SpecSamples.zCount,
                settings: SpecSamples.zSettings,
                explanation: "Coin counting rounding"
            )
        )
    }

    static func specX() throws -> ReportRecord {
        let rules = try kenyanRules()
        return ReportRecord(
            number: ReportNumber.format(.x, year: 2026, terminal: "REG-001", sequence: 42),
            kind: .x,
            sequence: 42,
            terminal: "REG-001",
            periodID: 1247,
            generatedAt: SpecSamples.xTakenAt,
            generatedBy: "SUP-01",
            generatedByName: "Sarah Kimani",
            businessName: "SuperMart Nairobi",
            previousNumber: "X-2026-REG001-0041",
            figures: try ReportFigures.compute(SpecSamples.x(rules: rules), asOf: SpecSamples.xTakenAt)
        )
    }

    static func workedZ() throws -> ReportRecord {
        let figures = try ReportFigures.compute(WorkedShift.input(), asOf: WorkedShift.closedAt)
        return ReportRecord(
            number: ReportNumber.format(.z, year: 2026, terminal: "REG-001", sequence: 7),
            kind: .z,
            sequence: 7,
            terminal: "REG-001",
            periodID: 12,
            generatedAt: WorkedShift.closedAt,
            generatedBy: "SUP-01",
            generatedByName: "Sifa M.",
            businessName: "Alimentation La Grâce",
            previousNumber: "Z-2026-REG001-0006",
            previousHash: String(repeating: "cd", count: 32),
            figures: figures,
            reconciliation: try CashReconciliation.reconcile(
                figures,
                count: WorkedShift.count,
                settings: ReportSettings(),
                explanation: nil
            ),
            blindCount: true
        )
    }

    static var kenyanLabels: [String: String] {
        get throws { Dictionary(uniqueKeysWithValues: try kenyanRules().taxGroups.map { ($0.code, $0.label) }) }
    }

    /// Compares `text` with the golden file `name`, or writes it there under UPDATE_GOLDEN=1.
    static func expectGolden(_ text: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
                "Fixtures/\(name)"
            )
            try text.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let golden = try fixture(name)
        let want = golden.split(separator: "\n", omittingEmptySubsequences: false)
        let have = text.split(separator: "\n", omittingEmptySubsequences: false)
        let first = zip(want, have).enumerated().first { $0.element.0 != $0.element.1 }
        #expect(
            text == golden,
            "\(name) differs at line \((first?.offset ?? min(want.count, have.count)) + 1): \(first.map { "want \"\($0.element.0)\", have \"\($0.element.1)\"" } ?? "lengths \(want.count) and \(have.count)")",
            sourceLocation: sourceLocation
        )
    }

    /// Every line within 48 columns, the rules exactly 48, no trailing spaces, no tabs or
    /// control characters, and a newline after each line.
    static func expectPrintable(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(text.hasSuffix("\n"), sourceLocation: sourceLocation)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            #expect(displayWidth(line) <= 48, "too wide: \(line)", sourceLocation: sourceLocation)
            #expect(!line.hasSuffix(" "), "trailing space: \(line)", sourceLocation: sourceLocation)
            #expect(
                !line.unicodeScalars.contains {
                    $0.properties.generalCategory == .control || $0.properties.isBidiControl
                },
                "control character: \(line.debugDescription)",
                sourceLocation: sourceLocation
            )
            if line.first == "=" || line.first == "-" {
                #expect(line.count == 48 && Set(line).count == 1, "rule: \(line)", sourceLocation: sourceLocation)
            }
        }
    }

    /// Columns on a fixed-width device, counted independently of the renderer: wide East Asian
    /// and emoji two, combining marks none, everything else one.
    static func displayWidth(_ line: Substring) -> Int {
        line.reduce(0) { sum, character in
            let scalars = character.unicodeScalars
            if scalars.allSatisfy({
                [.nonspacingMark, .enclosingMark, .format].contains($0.properties.generalCategory)
            }) {
                return sum
            }
            let first = scalars.first!.value
            let wide =
                (0x1100...0x115F).contains(first) || (0x2E80...0xA4CF).contains(first)
                || (0xAC00...0xD7A3).contains(first)
                || (0xF900...0xFAFF).contains(first) || (0xFF00...0xFF60).contains(first)
                || (0x1F300...0x1FAFF).contains(first) || (0x20000...0x3FFFD).contains(first)
                || scalars.contains { $0.properties.isEmojiPresentation }
            return sum + (wide ? 2 : 1)
        }
    }

    @Test("the spec's Z (§4.6.3) prints as its golden text")
    func specZGolden() throws {
        let text = ReportText.render(
            try Self.specZ(),
            terminalName: "Register 1",
            hash: Self.specHash,
            taxLabels: try Self.kenyanLabels
        )
        Self.expectPrintable(text)
        try Self.expectGolden(text, "spec-z.txt")
        for expected in [
            "Z REPORT - END OF SHIFT", "Terminal:       REG-001 (Register 1)", "Report #:       Z-2026-REG001-0156",
            "SHIFT: 08:00 - 20:15 (12h 15m)", "  Gross Sales:", "KES 215,680.00", "(KES  10,450.00)", "KES 232,000.00",
            "  VAT (16%):", "  STATUS: SHORT", "Explanation: Coin counting rounding", "*** FISCAL DOCUMENT ***",
            "Hash:           7a3f2b1c9e8d4f5a...", "Previous:       Z-2026-REG001-0155",
        ] {
            #expect(text.contains(expected), "\(expected)")
        }
    }

    @Test("the worked shift's Z (docs/REPORTS.md) prints as its golden text: two currencies, a blind count")
    func workedShiftGolden() throws {
        let text = ReportText.render(
            try Self.workedZ(),
            terminalName: "Caisse 1",
            hash: String(repeating: "5e", count: 32)
        )
        Self.expectPrintable(text)
        try Self.expectGolden(text, "worked-shift-z.txt")
        #expect(text.contains("SALES SUMMARY (CDF):"))
        #expect(text.contains("SALES SUMMARY (USD):"))
        #expect(text.contains("CASH RECONCILIATION (USD):"))
        #expect(text.contains("Blind count"))
    }

    @Test("the X says it closes nothing, lists the open session as now, and has no count")
    func specX() throws {
        let text = ReportText.render(try Self.specX(), terminalName: "Register 1")
        Self.expectPrintable(text)
        #expect(text.contains("X REPORT - MID-SHIFT"))
        #expect(text.contains("X REPORT - WORK PERIOD NOT CLOSED"))
        #expect(!text.contains("FISCAL DOCUMENT"))
        #expect(text.contains("12:00-now"))
        #expect(text.contains("SHIFT: 08:00 - 14:30 (6h 30m)"))
        #expect(!text.contains("COUNTED"))
        #expect(text.contains("  EXPECTED:                      KES  68,800.00\n"))
        // The hash printed is only the one the caller gives (the stored one), never recomputed.
        #expect(text.contains("Hash:           unavailable"))
        let stored = String(repeating: "ab", count: 32)
        let given = ReportText.render(try Self.specX(), terminalName: "Register 1", hash: stored)
        #expect(given.contains("Hash:           abababababababab..."))
    }

    @Test("a cashier's X, a forced Z without a count, a preview and a combined report without figures")
    func otherKinds() throws {
        var cashier = try Self.specX()
        cashier.figures = try ReportFigures.compute(
            SpecSamples.x(rules: try kenyanRules()),
            scope: .cashier(SpecSamples.jane),
            asOf: SpecSamples.xTakenAt
        )
        let cashierText = ReportText.render(cashier, terminalName: nil)
        Self.expectPrintable(cashierText)
        #expect(cashierText.contains("X REPORT - CASHIER"))
        #expect(cashierText.contains("Cashier:        Jane Wanjiku (CASH-02)"))
        #expect(!cashierText.contains("John Mwangi"))

        var forced = try Self.workedZ()
        forced.forced = true
        forced.forceReason = "the register's screen broke; count tomorrow"
        forced.reconciliation = nil
        forced.blindCount = false
        let forcedText = ReportText.render(forced, terminalName: "Caisse 1")
        Self.expectPrintable(forcedText)
        #expect(forcedText.contains("Z REPORT - FORCED CLOSE"))
        #expect(forcedText.contains("Forced:         the register's screen broke;"))
        #expect(forcedText.contains("NOT COUNTED"))
        #expect(forcedText.contains("NO CASH COUNT GIVEN"))

        var preview = try Self.specX()
        preview.number = ""
        let previewText = ReportText.render(preview, terminalName: nil)
        Self.expectPrintable(previewText)
        #expect(previewText.contains("PREVIEW - NOT NUMBERED"))
        #expect(!previewText.contains("Hash:"))

        let combined = ReportRecord(
            number: "CZ-2026-0007",
            kind: .cz,
            sequence: 7,
            terminal: nil,
            periodID: nil,
            generatedAt: "2026-11-21T22:00:00.000Z",
            generatedBy: "MGR-01"
        )
        let combinedText = ReportText.render(combined, terminalName: nil)
        Self.expectPrintable(combinedText)
        #expect(combinedText.contains("COMBINED Z REPORT - END OF DAY"))
        #expect(combinedText.contains("NO FIGURES RECORDED"))
        #expect(combinedText.contains("Time:           22:00:00 UTC"))
        #expect(!combinedText.contains("Terminal:"))
    }

    @Test("a combined Z: the store's totals, each terminal's reports, the device's Z against the registers'")
    func combined() throws {
        let figures = try ReportFigures.compute(WorkedShift.input(), asOf: WorkedShift.closedAt)
        let combined = try CombinedFigures.combine(
            [
                CombinedFigures.TerminalPart(terminal: "REG-001", reports: ["Z-2026-REG001-0007"], figures: figures),
                CombinedFigures.TerminalPart(terminal: "REG-002", reports: ["Z-2026-REG002-0003"], figures: figures),
            ],
            asOf: WorkedShift.closedAt
        )
        let device = DeviceDay(
            zNumber: 12,
            deviceID: "DEF-KIN-0001",
            firstSeq: 41,
            lastSeq: 48,
            invoiceCount: 8,
            generatedAt: WorkedShift.closedAt,
            types: [DeviceDay.TypeLine(currency: "CDF", invoiceType: "sale", count: 3, total: whole(50_064))],
            taxGroups: [],
            reportHash: nil
        )
        let day = DayReconciliation.compare(zs: [figures], seqs: Array(41...47), device: device) { _ in
            "not sealed here"
        }
        var record = ReportRecord(
            number: "CZ-2026-0007",
            kind: .cz,
            sequence: 7,
            terminal: nil,
            periodID: nil,
            generatedAt: WorkedShift.closedAt,
            generatedBy: "MGR-01",
            businessName: "Alimentation La Grâce"
        )
        record.combined = combined
        record.deviceDay = device
        record.dayReconciliation = day
        let text = ReportText.render(record, terminalName: nil)
        Self.expectPrintable(text)
        #expect(text.contains("COMBINED Z REPORT - END OF DAY"))
        #expect(text.contains("  REG-002: Z-2026-REG002-0003"))
        #expect(text.contains("SALES SUMMARY (CDF):"))
        // The store's totals: twice the worked shift.
        #expect(text.contains("  GRAND TOTAL:                   CDF  83,308.00\n"))
        #expect(text.contains("DEVICE Z #12 (DEF-KIN-0001):"))
        #expect(text.contains("  VERDICT: MISMATCH"))
        #expect(!text.contains("NOT COUNTED"))
    }

    @Test("an empty period prints zeros and the float, and times can be shown in a time zone")
    func emptyAndZoned() throws {
        let figures = try ReportFigures.compute(
            FiguresTests.period([], float: ["CDF": whole(50_000)]),
            asOf: "2026-11-21T11:00:00.000Z"
        )
        let record = ReportRecord(
            number: "X-2026-REG001-0001",
            kind: .x,
            sequence: 1,
            terminal: "REG-001",
            periodID: 1,
            generatedAt: "2026-11-21T11:00:00.000Z",
            generatedBy: "SUP-01",
            figures: figures
        )
        let text = ReportText.render(record, terminalName: nil, timeZone: TimeZone(identifier: "Africa/Kinshasa"))
        Self.expectPrintable(text)
        #expect(text.contains("NO SALES IN THIS PERIOD"))
        #expect(text.contains("  EXPECTED:                       CDF 50,000.00\n"))
        #expect(text.contains("Time:           12:00:00\n"))
        #expect(text.contains("SHIFT: 08:00 - 12:00 (4h 00m)"))
    }

    @Test("hostile text: wide, combining, control and bidi characters and huge amounts stay within 48 columns")
    func hostile() throws {
        var record = try Self.workedZ()
        record.businessName = "超级市场 Nairobi 🛒🛒 " + String(repeating: "Très-longue-enseigne ", count: 6)
        record.generatedByName = "Sifa\u{202E}evil\u{202C} M.\nsecond line\t\u{7}"
        record.forced = true
        record.forceReason = String(repeating: "é\u{301}", count: 200)
        record.figures?.sessions[0].cashierName = "王小明王小明王小明王小明"
        record.figures?.sessions[1].cashierName = "B\u{0}o\u{1B}[2Jb"
        let limit = Money(units: Money.limit)
        record.figures?.sales[0].gross = limit
        record.figures?.sales[0].net = Money(units: -Money.limit)
        record.figures?.sales[0].payments[0].net = limit
        record.figures?.drawer[0].expected = Money(units: -Money.limit)
        record.figures?.sessions[0].sales[0].amount = limit
        record.figures?.lineVoids[0].amount = limit
        let text = ReportText.render(
            record,
            terminalName: "Caisse\r\n1 \u{200F}\u{2067}",
            taxLabels: ["B": String(repeating: "TVA ", count: 20)]
        )
        Self.expectPrintable(text)
        #expect(text.contains("(CDF 1,000,000,000,000,000.00)"))
        #expect(!text.contains("\u{1B}"))
    }

    @Test("amounts: thousands separators, negatives in parentheses, quantities and rates without noise")
    func formatting() throws {
        var record = try Self.workedZ()
        record.figures?.sales[0].gross = money("1234567.89")
        record.figures?.sales[0].discounts = money("0.05")
        let text = ReportText.render(record, terminalName: nil)
        #expect(text.contains(" CDF 1,234,567.89\n"))
        #expect(text.contains("(CDF         0.05)\n"))
        #expect(text.contains("  Items Sold:                            12.5\n"))
        #expect(text.contains("  VAT (8%):"))
        // Bob's negative session total.
        #expect(text.contains("(CDF 2,250.00)"))
    }
}
