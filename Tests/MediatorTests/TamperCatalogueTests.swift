import Audit
import CloudEmulator
import DeviceEmulator
import FiscalCore
import FiscalDevice
import FiscalTestSupport
import Foundation
import GRDB
import Hummingbird
import Logging
import Mediator
import MediatorStore
import TerminalClient
import Testing

/// The tamper catalogue (docs/AUDIT.md): a real outlet, made by real sales through the mediator,
/// uploaded to the cloud emulator and partly pruned, then tampered with in every way the
/// catalogue lists, one copy per tamper. Each tamper must be caught by `verify-journal` or
/// `audit`, naming the first bad record.
@Suite("Tamper catalogue", .serialized, .timeLimit(.minutes(3)))
struct TamperCatalogueTests {
    @Test(
        "the outlet as sold verifies and audits clean; each tamper of the catalogue is caught at its first bad record"
    )
    func catalogue() async throws {
        let outlet = try await Outlet.build()
        defer { outlet.directory.remove() }
        #expect(try JournalAudit.verify(path: outlet.export).entries == 15)
        let untouched = try Workspace(copying: outlet, as: "clean")
        defer { untouched.remove() }
        let clean = try await outlet.audit(untouched)
        #expect(clean.clean, "\(clean.human)")
        #expect(clean.evidence.journalRead && clean.evidence.cloudRecords == 12)
        #expect(clean.evidence.stores.first?.prunedThrough == 5 && clean.evidence.stores.first?.uploaded == 7)

        #expect(Set(Tamper.catalogue.map(\.id)).count == Tamper.catalogue.count)
        #expect(Tamper.catalogue.count >= 40)
        for tamper in Tamper.catalogue {
            let workspace = try Workspace(copying: outlet, as: tamper.id)
            defer { workspace.remove() }
            do {
                try tamper.apply(workspace)
            } catch {
                Issue.record("\(tamper.id) could not be applied: \(error)")
                continue
            }
            let caught = try await outlet.check(tamper, workspace)
            #expect(caught == tamper.expected, "\(tamper.id) \(tamper.title)")
        }
    }

    @Test("the commands as an operator runs them: exit status, the first bad record, JSON, fail closed")
    func commands() async throws {
        let outlet = try await Outlet.build()
        defer { outlet.directory.remove() }
        let server = try await outlet.cloudServer.start(outlet.cloud)
        defer { Task { await server.stop() } }
        let audit = ["audit", "--db", outlet.store.path, "--cloud", server.url, "--json"]

        let clean = try run(audit + ["--journal", outlet.export.path])
        #expect(clean.status == 0, "\(clean.output)")
        let report = try JSONSerialization.jsonObject(with: Data(clean.output.utf8)) as? [String: Any]
        #expect(report?["result"] as? String == "clean" && report?["journal_read"] as? Bool == true)
        #expect(try run(["verify-journal", outlet.export.path]).status == 0)

        // The device itself, through DUMPLOG: exported, verified, audited.
        let exported = outlet.directory.appending("again.json")
        let dump = try run(["device", "dump-log", "--device", "emulator:\(outlet.device.path)", "--out", exported.path])
        #expect(dump.status == 0)
        #expect(try run(["verify-journal", exported.path]).output.hasPrefix("OK: 15 entries"))
        #expect(try run(audit + ["--device", "emulator:\(outlet.device.path)"]).status == 0)

        // A tamper: exit 1, the first bad record named, in JSON and for people.
        let workspace = try Workspace(copying: outlet, as: "commands")
        defer { workspace.remove() }
        let tampered = Tamper.catalogue.first { $0.id == "T45" }
        try tampered?.apply(workspace)
        let found = try run([
            "audit", "--db", workspace.store.path, "--cloud", server.url, "--journal", workspace.export.path,
        ])
        #expect(found.status == 1)
        #expect(
            found.output.contains("CLOUD_CONFIRMS_UPLOADED outbox 13: marked uploaded, but the cloud does not hold 13")
        )
        #expect(found.output.hasSuffix("audit: FAILED, 1 finding (first: outbox 13)\n"))
        try workspace.editExport { $0.entries.removeFirst() }
        let verify = try run(["verify-journal", workspace.export.path])
        #expect(verify.status == 1 && verify.output.hasPrefix("FAILED: entry 1: expected seq 1, found 2"))

        // Evidence that cannot be read: a finding, exit 1, never clean.
        let missing = try run(audit + ["--journal", outlet.directory.appending("nowhere.json").path])
        #expect(missing.status == 1)
        let incomplete = try JSONSerialization.jsonObject(with: Data(missing.output.utf8)) as? [String: Any]
        #expect(incomplete?["result"] as? String == "incomplete" && incomplete?["journal_read"] as? Bool == false)
        let noStore = try run([
            "audit", "--db", outlet.directory.appending("nowhere.sqlite").path, "--journal", outlet.export.path,
        ])
        #expect(noStore.status == 1 && noStore.output.contains("STORE_READ store: the store is unreadable"))
    }

    /// Runs the real executable; returns its exit status and standard output.
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/fiscal-mediator")
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try ChildProcess.run(process)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test("docs/AUDIT.md's catalogue table is the tests' catalogue")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/AUDIT.md"), encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## The tamper catalogue").dropFirst().first)
        let rows = section.split(separator: "\n").filter { $0.hasPrefix("| T") }.map { line in
            line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        let documented = rows.map { $0.joined(separator: " | ") }
        let tested = Tamper.catalogue.map { $0.row.joined(separator: " | ") }
        #expect(documented == tested)
        for (line, row) in zip(documented, tested) where line != row {
            Issue.record("docs/AUDIT.md has\n  \(line)\nthe tests have\n  \(row)")
        }
        // Every check the audit makes is listed too.
        for check in AuditCheck.allCases { #expect(text.contains("`\(check.rawValue)`"), "\(check.rawValue)") }
    }
}
