public import FiscalCore
import Foundation

/// The kinds of numbered report.
public enum ReportKind: String, Hashable, Sendable, Codable, CaseIterable {
    /// A terminal's (or one cashier's) mid-shift report, taken and numbered.
    case x = "X"
    /// A terminal's end of shift: closes the work period.
    case z = "Z"
    /// The store's combined X over several terminals.
    case cx = "CX"
    /// The store's end of day: every terminal's Z, reconciled with the device's own Z.
    case cz = "CZ"

    /// Whether the kind is numbered per terminal (X and Z) or per store (CX and CZ).
    public var perTerminal: Bool { self == .x || self == .z }
}

/// A report number: `X-2026-REG001-0042`, `Z-2026-REG001-0156`, `CZ-2026-0007`.
///
/// TID is the terminal code without its dash, so REG-001 and TILL-001 never collide; the year
/// is the year of generation; the counter runs per terminal and kind, never resets, and has at
/// least four digits.
public enum ReportNumber {
    public static func format(_ kind: ReportKind, year: Int, terminal: String?, sequence: Int64) -> String {
        let counter = String(sequence)
        let padded = String(repeating: "0", count: max(0, 4 - counter.count)) + counter
        if let terminal, kind.perTerminal {
            return "\(kind.rawValue)-\(year)-\(terminal.filter { $0 != "-" })-\(padded)"
        }
        return "\(kind.rawValue)-\(year)-\(padded)"
    }

    /// Whether `text` has the shape of a report number (what `report show` accepts).
    public static func isWellFormed(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (3...4).contains(parts.count), text.count <= 64,
            let kind = ReportKind(rawValue: String(parts[0])),
            parts[1].count == 4, parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber),
            let last = parts.last, last.count >= 4, last.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return false }
        return kind.perTerminal == (parts.count == 4)
            && (parts.count == 3 || parts[2].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) })
    }
}

/// A numbered report as stored: immutable, hashed, chained to the previous report of the same
/// kind and terminal. Its canonical body (``body()``) is what is stored and hashed.
public struct ReportRecord: Codable, Hashable, Sendable {
    public var number: String
    public var kind: ReportKind
    /// Per terminal and kind (X, Z), or per store (CX, CZ): 1, 2, 3… without gaps.
    public var sequence: Int64
    public var terminal: String?
    public var periodID: Int64?
    public var generatedAt: String
    /// Staff id of who took the report.
    public var generatedBy: String
    public var generatedByName: String?
    public var businessName: String
    /// The previous report of the chain (nil for the first) and its hash (64 zeros for the first).
    public var previousNumber: String?
    public var previousHash: String
    public var figures: ReportFigures?
    /// A Z's count and its reconciliation; nil for an X, and for a forced Z given no count.
    public var reconciliation: CashReconciliation?
    /// Whether the count was blind.
    public var blindCount: Bool
    /// A Z closed by an admin's `period force-close`, with the reason.
    public var forced: Bool
    public var forceReason: String?
    /// A combined report's figures: each terminal's and the store's.
    public var combined: CombinedFigures?
    /// The Zs a combined report covers, by number.
    public var includedReports: [String]?
    /// A combined Z: the device's own Z, and the proof that the registers' Zs add up to it.
    public var deviceDay: DeviceDay?
    public var dayReconciliation: DayReconciliation?

    public init(
        number: String,
        kind: ReportKind,
        sequence: Int64,
        terminal: String?,
        periodID: Int64?,
        generatedAt: String,
        generatedBy: String,
        generatedByName: String? = nil,
        businessName: String = "",
        previousNumber: String? = nil,
        previousHash: String = JournalEntry.genesisHash,
        figures: ReportFigures? = nil,
        reconciliation: CashReconciliation? = nil,
        blindCount: Bool = false,
        forced: Bool = false,
        forceReason: String? = nil
    ) {
        self.number = number
        self.kind = kind
        self.sequence = sequence
        self.terminal = terminal
        self.periodID = periodID
        self.generatedAt = generatedAt
        self.generatedBy = generatedBy
        self.generatedByName = generatedByName
        self.businessName = businessName
        self.previousNumber = previousNumber
        self.previousHash = previousHash
        self.figures = figures
        self.reconciliation = reconciliation
        self.blindCount = blindCount
        self.forced = forced
        self.forceReason = forceReason
    }

    enum CodingKeys: String, CodingKey {
        case number, kind, sequence, terminal
        case periodID = "period_id"
        case generatedAt = "generated_at"
        case generatedBy = "generated_by"
        case generatedByName = "generated_by_name"
        case businessName = "business_name"
        case previousNumber = "previous_number"
        case previousHash = "previous_hash"
        case figures, reconciliation
        case blindCount = "blind_count"
        case forced
        case forceReason = "force_reason"
        case combined
        case includedReports = "included_reports"
        case deviceDay = "device_day"
        case dayReconciliation = "day_reconciliation"
    }

    /// The canonical body: JSON with sorted keys. The stored text is what is hashed, so a later
    /// encoder that wrote the same value differently would not break an old record's hash.
    public func body() throws(FiscalError) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(self), as: UTF8.self)
        } catch {
            throw FiscalError(.replyUnencodable, "report \(number) cannot be encoded: \(error)")
        }
    }

    /// Whether this is an unnumbered preview (`X-PREVIEW`, `Z-PREVIEW`, `CX-PREVIEW`).
    public var isPreview: Bool { number.isEmpty || number.hasSuffix("-PREVIEW") }

    /// SHA-256 of `body`, hex.
    public static func hash(of body: String) -> String { SHA256.hex(Array(body.utf8)) }

    /// The record a stored body holds.
    public static func decode(body: String) throws(FiscalError) -> ReportRecord {
        do {
            return try JSONDecoder().decode(ReportRecord.self, from: Data(body.utf8))
        } catch {
            throw FiscalError(.formatInvalid, "a stored report body does not decode: \(error)")
        }
    }
}
