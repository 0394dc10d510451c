import FiscalCore
import Foundation
import Reports
import Testing

@Suite("Report numbers")
struct ReportNumberTests {
    @Test(
        "numbers: kind, year, terminal without its dash, at least four digits",
        arguments: [
            (ReportKind.x, 2026, "REG-001" as String?, Int64(42), "X-2026-REG001-0042"),
            (.z, 2026, "REG-001", 156, "Z-2026-REG001-0156"),
            (.z, 2026, "TILL-001", 1, "Z-2026-TILL001-0001"),
            (.x, 2027, "REG-001", 9_999, "X-2027-REG001-9999"),
            (.x, 2027, "REG-001", 10_000, "X-2027-REG001-10000"),
            (.z, 2030, "REG-001", 1_234_567, "Z-2030-REG001-1234567"),
            (.cz, 2026, nil, 7, "CZ-2026-0007"),
            (.cx, 2026, nil, 12_345, "CX-2026-12345"),
            // A store-wide kind ignores a terminal.
            (.cz, 2026, "REG-001", 7, "CZ-2026-0007"),
        ]
    )
    func format(kind: ReportKind, year: Int, terminal: String?, sequence: Int64, number: String) {
        #expect(ReportNumber.format(kind, year: year, terminal: terminal, sequence: sequence) == number)
        #expect(ReportNumber.isWellFormed(number))
    }

    @Test("REG-001 and TILL-001 never collide; neither do X and Z of one terminal")
    func noCollisions() {
        let numbers = [
            ReportNumber.format(.x, year: 2026, terminal: "REG-001", sequence: 1),
            ReportNumber.format(.z, year: 2026, terminal: "REG-001", sequence: 1),
            ReportNumber.format(.x, year: 2026, terminal: "TILL-001", sequence: 1),
            ReportNumber.format(.z, year: 2026, terminal: "TILL-001", sequence: 1),
        ]
        #expect(Set(numbers).count == 4)
    }

    @Test(
        "malformed numbers are refused",
        arguments: [
            "", "X", "X-2026", "X-2026-REG001", "X-2026-REG001-042", "X-26-REG001-0042", "Y-2026-REG001-0042",
            "x-2026-REG001-0042", "CZ-2026-REG001-0007", "Z-2026-0007", "Z-2026-REG-001-0007", "Z-2026-RÉG001-0007",
            "Z-2026-REG001-00４2", "Z-2026-REG001-0042 ", "Z-2026-REG001-" + String(repeating: "1", count: 60),
            "Z-2026-REG001-00-42",
        ]
    )
    func malformed(text: String) {
        #expect(!ReportNumber.isWellFormed(text))
    }
}

@Suite("Report chains")
struct ReportChainTests {
    /// Three chained Zs of REG-001 (and an X chain beside them), as the store would hold them.
    static func chain() throws -> [StoredReport] {
        let figures = try ReportFigures.compute(WorkedShift.input(), asOf: WorkedShift.closedAt)
        var stored: [StoredReport] = []
        var previous: (number: String, hash: String)?
        for sequence in Int64(1)...3 {
            let number = ReportNumber.format(.z, year: 2026, terminal: "REG-001", sequence: sequence)
            var record = ReportRecord(
                number: number,
                kind: .z,
                sequence: sequence,
                terminal: "REG-001",
                periodID: 10 + sequence,
                generatedAt: WorkedShift.closedAt,
                generatedBy: "SUP-01",
                businessName: "Boutique Kin",
                previousNumber: previous?.number,
                figures: figures
            )
            if let previous { record.previousHash = previous.hash }
            let body = try record.body()
            let hash = ReportRecord.hash(of: body)
            stored.append(
                StoredReport(number: number, kind: .z, terminal: "REG-001", sequence: sequence, body: body, hash: hash)
            )
            previous = (number, hash)
        }
        let x = ReportRecord(
            number: "X-2026-REG001-0001",
            kind: .x,
            sequence: 1,
            terminal: "REG-001",
            periodID: 11,
            generatedAt: WorkedShift.closedAt,
            generatedBy: "SUP-01"
        )
        let body = try x.body()
        stored.append(
            StoredReport(
                number: x.number,
                kind: .x,
                terminal: "REG-001",
                sequence: 1,
                body: body,
                hash: ReportRecord.hash(of: body)
            )
        )
        return stored
    }

    static func first(_ findings: [ReportFinding]) -> String? {
        findings.first.map { "\($0.number) \($0.problem.rawValue)" }
    }

    @Test("an intact chain has no findings; the first Z follows the genesis hash")
    func intact() throws {
        let stored = try Self.chain()
        #expect(ReportChain.verify(stored).isEmpty)
        let first = try ReportRecord.decode(body: stored[0].body)
        #expect(first.previousHash == JournalEntry.genesisHash)
        #expect(first.previousNumber == nil)
        #expect(try ReportRecord.decode(body: stored[2].body).previousHash == stored[1].hash)
        // Order in the input does not matter.
        #expect(ReportChain.verify(Array(stored.reversed())).isEmpty)
    }

    @Test("an edited body is a hash mismatch at that report")
    func editedBody() throws {
        var stored = try Self.chain()
        stored[1].body = stored[1].body.replacingOccurrences(of: #""grand_total":41654"#, with: #""grand_total":31654"#)
        #expect(stored[1].body != (try Self.chain())[1].body)
        let findings = ReportChain.verify(stored)
        #expect(Self.first(findings) == "Z-2026-REG001-0002 hash_mismatch")
        #expect(findings.allSatisfy { $0.number == "Z-2026-REG001-0002" })
    }

    @Test("an edited body whose hash was recomputed breaks the chain at the next report")
    func rehashedBody() throws {
        var stored = try Self.chain()
        stored[1].body = stored[1].body.replacingOccurrences(of: #""grand_total":41654"#, with: #""grand_total":31654"#)
        stored[1].hash = ReportRecord.hash(of: stored[1].body)
        #expect(Self.first(ReportChain.verify(stored)) == "Z-2026-REG001-0003 chain_broken")
    }

    @Test("a deleted report: a gap and a broken chain at the one after it")
    func deleted() throws {
        var stored = try Self.chain()
        stored.remove(at: 1)
        let findings = ReportChain.verify(stored)
        #expect(Self.first(findings) == "Z-2026-REG001-0003 gap")
        #expect(findings.map(\.problem) == [.gap, .chainBroken])
        #expect(findings.first?.detail.contains("sequence 2 missing") == true)
    }

    @Test("a swapped pair (two rows' bodies and hashes exchanged) is named at the first of them")
    func swapped() throws {
        var stored = try Self.chain()
        (stored[1].body, stored[2].body) = (stored[2].body, stored[1].body)
        (stored[1].hash, stored[2].hash) = (stored[2].hash, stored[1].hash)
        let findings = ReportChain.verify(stored)
        #expect(Self.first(findings) == "Z-2026-REG001-0002 columns_mismatch")
        #expect(findings.contains { $0.number == "Z-2026-REG001-0002" && $0.problem == .chainBroken })
        #expect(findings.contains { $0.number == "Z-2026-REG001-0003" && $0.problem == .columnsMismatch })
    }

    @Test("an edited column (number, terminal) disagrees with the hashed body")
    func editedColumn() throws {
        var stored = try Self.chain()
        stored[1].number = "Z-2026-REG001-0099"
        #expect(Self.first(ReportChain.verify(stored)) == "Z-2026-REG001-0099 columns_mismatch")
        #expect(ReportChain.verify(stored).first?.detail.contains("Z-2026-REG001-0002") == true)

        var moved = try Self.chain()
        moved[1].terminal = "REG-002"
        let findings = ReportChain.verify(moved)
        #expect(findings.contains { $0.number == "Z-2026-REG001-0002" && $0.problem == .columnsMismatch })
        #expect(findings.contains { $0.number == "Z-2026-REG001-0003" && $0.problem == .gap })
    }

    @Test("a body that is not a record, and a missing first report")
    func undecodableAndMissingHead() throws {
        var stored = try Self.chain()
        stored[0].body = "{}"
        stored[0].hash = ReportRecord.hash(of: "{}")
        #expect(Self.first(ReportChain.verify(stored)) == "Z-2026-REG001-0001 undecodable")

        var headless = try Self.chain()
        headless.remove(at: 0)
        #expect(Self.first(ReportChain.verify(headless)) == "Z-2026-REG001-0002 gap")
    }
}
