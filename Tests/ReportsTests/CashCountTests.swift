import FiscalCore
import Foundation
import Reports
import Testing

/// A cash count's problems, each with a stable code and a JSON path under `$.count`.
@Suite("Cash counts")
struct CashCountTests {
    static let settings = ReportSettings()
    static let currencies = ["CDF", "USD"]
    static let expected = ["CDF": whole(39_654), "USD": whole(64)]

    static func problems(_ pieces: [String: [String: Int64]], expected: [String: Money] = expected) -> [String] {
        CashCount(pieces).violations(settings: settings, currencies: currencies, expected: expected)
            .map { "\($0.code.rawValue) \($0.path)" }
    }

    @Test("a valid count has no problems and totals per currency")
    func valid() {
        #expect(Self.problems(WorkedShift.count.pieces).isEmpty)
        #expect(WorkedShift.count.totals() == ["CDF": whole(39_650), "USD": whole(64)])
        // Coins and zero pieces are fine; "0.50" and "0.5" are the same coin.
        let coins = CashCount(["USD": ["0.25": 4, "0.5": 2, "20": 0]])
        #expect(
            coins.violations(settings: Self.settings, currencies: Self.currencies, expected: ["USD": whole(2)]).isEmpty
        )
        #expect(coins.totals() == ["USD": whole(2)])
    }

    @Test(
        "bad counts: stable codes with paths",
        arguments: [
            (["CDF": ["1000": -1], "USD": ["20": 3]], ["CASH_COUNT_INVALID $.count.CDF.1000"]),
            (["CDF": ["3000": 1], "USD": ["20": 3]], ["CASH_COUNT_INVALID $.count.CDF.3000"]),
            (["CDF": ["abc": 1], "USD": ["20": 3]], ["CASH_COUNT_INVALID $.count.CDF.abc"]),
            (["CDF": ["1000": 1], "USD": ["20": 3], "EUR": ["10": 1]], ["UNKNOWN_CURRENCY $.count.EUR"]),
            (["CDF": ["1000": 1]], ["FIELD_MISSING $.count.USD"]),
            (
                ["CDF": ["20000": 10_000_001], "USD": ["100": Int64.max]],
                [
                    "CASH_COUNT_INVALID $.count.CDF.20000", "CASH_COUNT_INVALID $.count.USD.100",
                ]
            ),
            ([:], ["FIELD_MISSING $.count.CDF", "FIELD_MISSING $.count.USD"]),
        ] as [([String: [String: Int64]], [String])]
    )
    func invalid(pieces: [String: [String: Int64]], problems: [String]) {
        #expect(Self.problems(pieces) == problems)
    }

    @Test("an empty drawer need not be counted; a counted currency the drawer does not hold is fine")
    func emptyDrawer() {
        #expect(Self.problems(["CDF": ["1000": 1]], expected: ["CDF": whole(1_000), "USD": .zero]).isEmpty)
        #expect(Self.problems(["USD": ["1": 1]], expected: [:]).isEmpty)
    }

    @Test("a currency with no denominations configured cannot be counted")
    func unconfigured() {
        let settings = ReportSettings(denominations: ["CDF": [whole(1_000)]])
        let found = CashCount(["USD": ["20": 1]]).violations(
            settings: settings,
            currencies: Self.currencies,
            expected: [:]
        )
        #expect(found.map { "\($0.code.rawValue) \($0.path)" } == ["CASH_COUNT_INVALID $.count.USD"])
    }

    @Test("a count beyond what an amount holds is VALUE_OUT_OF_RANGE, and totals() never traps")
    func hugeCount() {
        // A configured 10^14 note, 10^7 of them: 10^21, beyond Money and Int64.
        let settings = ReportSettings(denominations: ["USD": [whole(100_000_000_000_000)]])
        let count = CashCount(["USD": ["100000000000000": CashCount.maxPieces]])
        let found = count.violations(settings: settings, currencies: Self.currencies, expected: [:])
        #expect(found.map { "\($0.code.rawValue) \($0.path)" } == ["VALUE_OUT_OF_RANGE $.count.USD"])
        #expect(count.totals()["USD"] == Money(units: Int64.max))
        let many = CashCount(Dictionary(uniqueKeysWithValues: (0..<9).map { ("C\($0)", ["1": 1]) }))
        let tooMany = many.violations(settings: Self.settings, currencies: Self.currencies, expected: [:])
        #expect(tooMany.map { "\($0.code.rawValue) \($0.path)" } == ["TOO_MANY_ENTRIES $.count"])
    }

    @Test("the count decodes from CLOSE_PERIOD's JSON, and pieces that are not integers do not decode")
    func decoding() throws {
        let count = try JSONDecoder().decode(
            CashCount.self,
            from: Data(#"{"CDF":{"20000":5,"500":12},"USD":{"20":3}}"#.utf8)
        )
        #expect(count.pieces == ["CDF": ["20000": 5, "500": 12], "USD": ["20": 3]])
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(CashCount.self, from: Data(#"{"CDF":{"500":1.5}}"#.utf8))
        }
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode(CashCount.self, from: Data(#"{"CDF":{"500":99999999999999999999}}"#.utf8))
        }
    }

    @Test("the settings decode from the configuration's `reports` keys, with defaults")
    func settings() throws {
        let decoded = try JSONDecoder().decode(
            ReportSettings.self,
            from: Data(
                #"{"business_name":"SuperMart Nairobi","denominations":{"KES":["1000","500"]},"variance_threshold":{"KES":"20"},"blind_count":true}"#
                    .utf8
            )
        )
        #expect(decoded.businessName == "SuperMart Nairobi")
        #expect(decoded.denominations("KES") == [whole(1_000), whole(500)])
        #expect(decoded.threshold("KES") == whole(20))
        #expect(decoded.threshold("USD") == .zero)
        #expect(decoded.blindCount)
        let defaults = try JSONDecoder().decode(ReportSettings.self, from: Data("{}".utf8))
        #expect(defaults == ReportSettings())
        #expect(defaults.threshold("CDF") == whole(2_000))
        #expect(defaults.denominations("CDF").first == whole(20_000))
        #expect(defaults.denominations("USD").last == money("0.01"))
    }

    @Test("reconciling: variance is counted − expected; OVER and BALANCED; a currency only counted is OVER")
    func reconcileSigns() throws {
        let figures = try ReportFigures.compute(WorkedShift.input(), asOf: WorkedShift.closedAt)
        let over = try CashReconciliation.reconcile(
            figures,
            count: CashCount(["CDF": ["20000": 2], "USD": ["20": 3, "1": 4]]),
            settings: Self.settings,
            explanation: "a 20,000 note from the safe was not paid in"
        )
        #expect(
            over.lines.map { "\($0.currency) \($0.variance) \($0.status.rawValue)" } == [
                "CDF 346.00 OVER", "USD 0.00 BALANCED",
            ]
        )
        let extra = try CashReconciliation.reconcile(
            try ReportFigures.compute(FiguresTests.period([]), asOf: "2026-11-21T12:00:00+01:00"),
            count: CashCount(["USD": ["1": 1]]),
            settings: Self.settings,
            explanation: nil
        )
        #expect(
            extra.lines.map { "\($0.currency) \($0.expected) \($0.counted) \($0.status.rawValue)" } == [
                "USD 0.00 1.00 OVER"
            ]
        )
    }

    @Test("an explanation is one bounded line of text: too long or with control characters is refused")
    func explanationText() throws {
        let figures = try ReportFigures.compute(WorkedShift.input(), asOf: WorkedShift.closedAt)
        let long = String(repeating: "x", count: CashReconciliation.maxExplanationLength + 1)
        for (text, code) in [
            (long, ErrorCode.fieldTooLong), ("short\nby one", .formatInvalid), ("ok \u{202E}reversed", .formatInvalid),
        ] {
            let error = #expect(throws: FiscalError.self) {
                try CashReconciliation.reconcile(
                    figures,
                    count: WorkedShift.count,
                    settings: Self.settings,
                    explanation: text
                )
            }
            #expect(error?.code == code)
        }
        let kept = try CashReconciliation.reconcile(
            figures,
            count: WorkedShift.count,
            settings: Self.settings,
            explanation: String(repeating: "é", count: CashReconciliation.maxExplanationLength)
        )
        #expect(kept.explanation?.count == CashReconciliation.maxExplanationLength)
    }
}
