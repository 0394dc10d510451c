import ArgumentParser
import FiscalCore
import Foundation
import MediatorStore

/// `fiscal-mediator staff ...`: the outlet's staff registry (docs/SHOP_DAY.md). Once it holds
/// anyone, LOGIN and OPEN_PERIOD of an id not in it (or deactivated) get STAFF_UNKNOWN; an
/// empty registry lets terminals name anyone, as before.
struct StaffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "staff",
        abstract: "Add, list, show and deactivate the outlet's staff.",
        subcommands: [Add.self, List.self, Show.self, Deactivate.self, Activate.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a member of staff.")
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Argument(help: "The staff id the POS sends as cashier_id, e.g. CASH-07.") var id: String
        @Option(help: "The name reports print.") var name: String
        @Option(help: "cashier, supervisor, manager or admin.") var role = "cashier"

        func run() async throws {
            guard let role = StaffRole(rawValue: role) else {
                throw ValidationError("--role: '\(self.role)' is not cashier, supervisor, manager or admin")
            }
            let added = try store.open().addStaff(StaffRecord(id: id, displayName: name, role: role))
            print("added \(added.id) '\(added.displayName)' (\(added.role.rawValue))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the staff.")
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Flag(help: "JSON lines instead of a table.") var json = false

        func run() async throws {
            let staff = try await store.open().staff()
            if json {
                for member in staff { print(try Self.json(member)) }
                return
            }
            var rows = [["ID", "NAME", "ROLE", "ACTIVE"]]
            for member in staff {
                rows.append([member.id, member.displayName, member.role.rawValue, member.active ? "yes" : "no"])
            }
            printTable(rows)
        }

        static func json(_ value: some Encodable) throws -> String {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return String(decoding: try encoder.encode(value), as: UTF8.self)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One member of staff, as JSON.")
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Argument var id: String

        func run() async throws {
            guard let member = try await store.open().staffMember(id) else {
                throw FiscalError(.staffUnknown, "staff \(id) is not registered")
            }
            print(try List.json(member))
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a member of staff: their LOGIN gets STAFF_UNKNOWN; reports keep their name."
        )
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Argument var id: String

        func run() async throws {
            let member = try store.open().setStaffActive(id, false)
            print("\(member.id) deactivated")
        }
    }

    struct Activate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a deactivated member of staff work again.")
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Argument var id: String

        func run() async throws {
            let member = try store.open().setStaffActive(id, true)
            print("\(member.id) active")
        }
    }
}

/// Columns padded to their widest cell, two spaces apart.
func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    let widths = first.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
        print(
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                separator: "  "
            )
        )
    }
}

/// `fiscal-mediator period ...`: work periods per terminal (docs/SHOP_DAY.md). Closing comes
/// with the Z report.
struct PeriodCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "period",
        abstract: "List and show work periods per terminal; force-close one in an emergency.",
        subcommands: [List.self, Show.self, PeriodForceClose.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Work periods, newest first.")
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Option(help: "Only this terminal's.") var terminal: String?
        @Option(help: "At most this many.") var limit = 50
        @Flag(help: "JSON lines instead of a table.") var json = false

        func run() async throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit: 1 to 10000") }
            let periods = try await store.open().workPeriods(at: terminal.map { TerminalID($0) }, limit: limit)
            if json {
                for period in periods { print(try StaffCommand.List.json(period)) }
                return
            }
            var rows = [["ID", "TERMINAL", "OPENED", "BY", "CLOSED", "BY", "FLOAT"]]
            for period in periods {
                let float = period.openingFloat.currencies.map { "\(period.openingFloat[$0] ?? .zero) \($0)" }
                rows.append([
                    "\(period.id)", period.terminalID, period.openedAt, period.openedBy, period.closedAt ?? "open",
                    period.closedBy ?? "-", float.joined(separator: ", "),
                ])
            }
            printTable(rows)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One work period: its cashier sessions (handovers), cash events and sealed invoices."
        )
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Argument(help: "The period's id.") var id: Int64

        func run() async throws {
            let database = try store.open()
            guard id > 0, let detail = try await database.workPeriod(WorkPeriodID(id)) else {
                throw FiscalError(.notFound, "no work period \(id)")
            }
            var names: [String: String] = [:]
            for member in try await database.staff() { names[member.id] = member.displayName }
            func named(_ id: String) -> String { names[id].map { "\(id) (\($0))" } ?? id }
            print(try StaffCommand.List.json(detail.period))
            print("opened by \(named(detail.period.openedBy))")
            print("cashier sessions:")
            for session in detail.sessions {
                print(
                    "  #\(session.id) \(named(session.cashierID))  \(session.openedAt) -> \(session.closedAt ?? "open")  \(session.closeReason ?? "")"
                )
            }
            print("cash events:")
            for event in detail.cashEvents {
                let amount = event.amount.map { " \($0) \(event.currency ?? "")" } ?? ""
                print(
                    "  \(event.recordedAt)  \(event.kind)\(amount)  by \(named(event.cashierID)) (session #\(event.sessionID))  \(event.reason ?? "")"
                )
            }
            print("sealed invoices: \(detail.invoiceSeqs.count)")
            if let first = detail.invoiceSeqs.first, let last = detail.invoiceSeqs.last {
                print("  fiscal numbers \(first) ... \(last)")
            }
        }
    }
}
