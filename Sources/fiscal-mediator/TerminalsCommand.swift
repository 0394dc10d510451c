import ArgumentParser
import FiscalCore
import Foundation
import Mediator
import MediatorStore
import QRText

/// `fiscal-mediator terminals ...`: the outlet's terminal registry (works beside a running
/// `serve`: both open the same SQLite file, and the mediator reads the registry on every request).
struct TerminalsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminals",
        abstract: "Register, bind, activate and inspect the outlet's terminals.",
        discussion: """
            Codes follow the naming convention PREFIX-SUFFIX: REG (checkout register), TILL (service \
            point), ADMIN (back office), KDS (kitchen display), MOB (waiter tablet), SCO (self-checkout); \
            SUFFIX is 1 to 16 of A-Z, 0-9. A terminal added without --machine-id is bound to the machine \
            of its first HELLO; another machine then gets MACHINE_MISMATCH until `bind` moves it.
            """,
        subcommands: [
            Add.self, List.self, Show.self, Bind.self, Unbind.self, Activate.self, Deactivate.self, Pair.self,
            Revoke.self, RotateKey.self,
        ]
    )

    /// Where a pairing code sends the terminal.
    struct PairingOptions: ParsableArguments {
        @Option(
            help: "The pairing endpoint as the terminal reaches it (serve's --pairing-endpoint, with the LAN address)."
        )
        var pairingEndpoint = "tcp://127.0.0.1:5556"
        @Option(help: "How long the code is valid, e.g. 15m.") var expires = "15m"
        @Option(help: "The mediator's server key file (default: curve-server.key beside the store).")
        var serverKeyFile: String?
        @Flag(inversion: .prefixedNo, help: "Also draw the QR text as a QR code, for a tablet's camera.") var qr = true
    }

    /// Issues a pairing code for `code` and prints what the technician gives the terminal.
    static func printPairing(_ code: TerminalID, database: MediatorDatabase, db: String, options: PairingOptions) throws
    {
        guard let lifetime = Duration.parsing(options.expires), lifetime > .zero, lifetime <= .seconds(86_400) else {
            throw ValidationError("--expires: '\(options.expires)' is not a duration up to a day, such as 15m")
        }
        let keyFile = options.serverKeyFile ?? ServerKeys.defaultPath(store: db)
        let serverKey = try ServerKeys.loadOrCreate(file: keyFile).keys.publicKey
        let pairing = try database.issuePairingCode(for: code, lifetime: lifetime)
        let qrText = "FMPAIR2 \(options.pairingEndpoint) \(serverKey) \(pairing.text)"
        print(
            """
            pairing code:     \(pairing.text)   (for \(code); single use; expires \(DeviceTimestamp.format(pairing.expiresAt)))
            server key:       \(serverKey)
            pairing endpoint: \(options.pairingEndpoint)
            QR text:          \(qrText)
            on the terminal:  fiscal-mediator terminal pair --terminal-id \(code) --pair \(pairing.text) --server-key '\(serverKey)' --pairing-endpoint \(options.pairingEndpoint)
            """
        )
        if options.qr, let lines = QRText.render(qrText) { print(lines.joined(separator: "\n")) }
    }

    struct StoreOptions: ParsableArguments {
        @Option(help: "The mediator's SQLite store.")
        var db = "var/mediator.sqlite"

        func open() throws -> MediatorDatabase { try MediatorDatabase(path: db) }
    }

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register (pre-register) a terminal.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The terminal code, e.g. REG-001.") var code: String
        @Option(help: "A friendly name (default: the code).") var name: String?
        @Option(help: "The checkout lane number.") var lane: Int?
        @Option(help: "supermarket, restaurant or admin (default: from the code's prefix).") var businessMode: String?
        @Option(help: "Bind to this machine now instead of at the first HELLO.") var machineID: String?
        @Option(help: "The heartbeat profile: default, lane, tablet (default: from the code's prefix).")
        var heartbeatProfile: String?
        @Flag(help: "Also issue a pairing code (as `terminals pair`).") var pair = false
        @OptionGroup var pairing: PairingOptions

        func run() throws {
            if let lane, !WireRange.lane.contains(lane) {
                throw ValidationError("--lane: \(lane) is not a lane number from 1 to 999")
            }
            let mode = try businessMode.map { text in
                guard let mode = BusinessMode(rawValue: text) else {
                    throw ValidationError("--business-mode: '\(text)' is not supermarket, restaurant or admin")
                }
                return mode
            }
            let record = try TerminalRecord(
                code: TerminalID(code),
                name: name,
                businessMode: mode,
                laneNumber: lane,
                machineID: machineID,
                heartbeatProfile: heartbeatProfile
            )
            let database = try store.open()
            let added = try database.addTerminal(record)
            print("registered \(added.code) (\(added.kind.rawValue), \(added.businessMode.rawValue))")
            if pair {
                try TerminalsCommand.printPairing(added.code, database: database, db: store.db, options: pairing)
            }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered terminals.")
        @OptionGroup var store: StoreOptions
        @Flag(help: "JSON lines instead of a table.") var json = false

        func run() throws {
            let database = try store.open()
            let terminals = try database.terminals()
            if json {
                for terminal in terminals {
                    print(Self.json(terminal, cashier: try database.currentSession(at: terminal.code)))
                }
                return
            }
            let header = ["CODE", "NAME", "TYPE", "LANE", "ACTIVE", "MACHINE", "KEY", "CASHIER"]
            var rows = [header]
            for terminal in terminals {
                rows.append([
                    terminal.code.rawValue, terminal.name, terminal.kind.rawValue,
                    terminal.laneNumber.map(String.init) ?? "-",
                    terminal.active ? "yes" : "no", terminal.machineID ?? "(unbound)",
                    terminal.curveKey.map { String($0.prefix(8)) + "…" } ?? "(unpaired)",
                    try database.currentSession(at: terminal.code)?.cashierID ?? "-",
                ])
            }
            let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                print(
                    row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(
                        separator: "  "
                    )
                )
            }
        }

        static func json(_ terminal: TerminalRecord, cashier: CashierSession?) -> String {
            let fields: [String: Any] = [
                "code": terminal.code.rawValue, "name": terminal.name, "type": terminal.kind.rawValue,
                "business_mode": terminal.businessMode.rawValue, "lane_number": terminal.laneNumber as Any? ?? NSNull(),
                "machine_id": terminal.machineID as Any? ?? NSNull(), "active": terminal.active,
                "heartbeat_profile": terminal.heartbeatProfile, "created_at": terminal.createdAt,
                "modified_at": terminal.modifiedAt, "cashier_id": cashier?.cashierID as Any? ?? NSNull(),
                "curve_key": terminal.curveKey as Any? ?? NSNull(),
            ]
            let data = (try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One terminal: its registration, cashier sessions and recent events."
        )
        @OptionGroup var store: StoreOptions
        @Argument var code: String

        func run() throws {
            let database = try store.open()
            guard let terminal = try database.terminal(TerminalID(code)) else {
                throw FiscalError(.notRegistered, "terminal \(code) is not registered")
            }
            print(List.json(terminal, cashier: try database.currentSession(at: terminal.code)))
            print("cashier sessions (newest first):")
            for session in try database.cashierSessions(at: terminal.code, limit: 20) {
                print(
                    "  \(session.cashierID)  \(session.openedAt) -> \(session.closedAt ?? "open")  \(session.closeReason ?? "")"
                )
            }
            print("events (newest first):")
            for event in try database.terminalEvents(of: terminal.code, limit: 30) {
                print("  \(event.at)  \(event.kind)  \(event.detail)")
            }
        }
    }

    struct Bind: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bind (or move) a terminal to a machine.")
        @OptionGroup var store: StoreOptions
        @Argument var code: String
        @Argument(help: "The machine identifier (MAC address or GUID).") var machineID: String

        func run() throws {
            let record = try store.open().rebindTerminal(TerminalID(code), to: machineID)
            print("\(record.code) bound to \(record.machineID ?? "")")
        }
    }

    struct Unbind: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unbind a terminal: the next machine to say HELLO under its code is bound."
        )
        @OptionGroup var store: StoreOptions
        @Argument var code: String

        func run() throws {
            let record = try store.open().rebindTerminal(TerminalID(code), to: nil)
            print("\(record.code) unbound")
        }
    }

    struct Activate: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a deactivated terminal work again.")
        @OptionGroup var store: StoreOptions
        @Argument var code: String

        func run() throws {
            let record = try store.open().setTerminalActive(TerminalID(code), true)
            print("\(record.code) active")
        }
    }

    struct Deactivate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop a terminal: its requests get TERMINAL_INACTIVE and never reach the device."
        )
        @OptionGroup var store: StoreOptions
        @Argument var code: String

        func run() throws {
            let record = try store.open().setTerminalActive(TerminalID(code), false)
            print("\(record.code) deactivated")
        }
    }

    struct Pair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a one-time pairing code: the terminal pins its CURVE key with it.",
            discussion: """
                Prints the code (single use, 15 minutes unless --expires), the mediator's public key and \
                the pairing endpoint, and the same as one line of QR text. Give them to the terminal out \
                of band (screen, paper, QR): the server key must never come over the network. A new code \
                voids the terminal's earlier unused one; the key pinned now stays until the code is used.
                """
        )
        @OptionGroup var store: StoreOptions
        @Argument var code: String
        @OptionGroup var pairing: PairingOptions

        func run() throws {
            try TerminalsCommand.printPairing(
                TerminalID(code),
                database: try store.open(),
                db: store.db,
                options: pairing
            )
        }
    }

    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unpin a terminal's key: its connections are refused from their next message on."
        )
        @OptionGroup var store: StoreOptions
        @Argument var code: String

        func run() throws {
            let record = try store.open().revokeKey(of: TerminalID(code))
            print("\(record.code): key revoked; pair it again to let it work")
        }
    }

    struct RotateKey: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Revoke a terminal's key and issue a pairing code for its new one."
        )
        @OptionGroup var store: StoreOptions
        @Argument var code: String
        @OptionGroup var pairing: PairingOptions

        func run() throws {
            let database = try store.open()
            _ = try database.revokeKey(of: TerminalID(code))
            print("\(code): old key revoked")
            try TerminalsCommand.printPairing(TerminalID(code), database: database, db: store.db, options: pairing)
        }
    }
}
