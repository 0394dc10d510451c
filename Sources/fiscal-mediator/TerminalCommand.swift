import ArgumentParser
import FiscalCore
import Foundation
import TerminalClient

/// `fiscal-mediator terminal ...`: a terminal from the command line, built on TerminalClient.
struct TerminalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "terminal",
        abstract: "Act as a POS terminal against a running mediator.",
        discussion: """
            The terminal speaks CURVE (protocol version 2) with the key pair in --key-file (made there, \
            0600, on first use). Pair it once with the code and server key `fiscal-mediator terminals pair` \
            printed: `--pair CODE --server-key KEY` (or `--pair-text 'FMPAIR2 ...'`, the QR's text); the \
            server key is then kept beside the key file. --insecure-plaintext talks to a mediator run with \
            `serve --insecure-plaintext` (version 1: the terminal id is the routing id).
            """,
        subcommands: [
            Pair.self, Fiscalize.self, PrepareCommit.self, Status.self, Result.self, OpenPeriod.self,
            CashEventCommand.self,
        ]
    )

    struct Connection: ParsableArguments {
        @Option(help: "The mediator's endpoint.") var connect = "tcp://127.0.0.1:5555"
        @Option(help: "This terminal's id.") var terminalID = "REG-001"
        @Option(help: "Seconds to wait for a reply.") var timeout = 30
        @Option(help: "This machine's identifier (bound to the terminal id at its first HELLO).") var machineID: String?
        @Option(help: "This terminal's CURVE key file (default: var/terminal-keys/TERMINAL-ID.key).") var keyFile:
            String?
        @Option(help: "The mediator's public key (Z85, from the pairing printout); kept beside the key file.")
        var serverKey: String?
        @Option(help: "Pair first with this one-time code (from `fiscal-mediator terminals pair`).") var pair: String?
        @Option(help: "Pair first from the QR's text: 'FMPAIR2 ENDPOINT SERVER-KEY CODE'.") var pairText: String?
        @Option(help: "The mediator's pairing endpoint.") var pairingEndpoint = "tcp://127.0.0.1:5556"
        @Flag(help: "No CURVE: the terminal id as routing id (a mediator run with --insecure-plaintext).")
        var insecurePlaintext = false

        var keyPath: String { keyFile ?? "var/terminal-keys/\(terminalID).key" }
        var serverKeyPath: String { keyPath + ".server" }

        /// The CURVE settings: the key file (made on first use) and the server key (given, from
        /// the QR text, or saved by an earlier pairing); pairs first when a code is given.
        func curve(_ context: ClientContext) async throws -> CurveSettings? {
            if insecurePlaintext { return nil }
            var code = pair
            var endpoint = pairingEndpoint
            var serverKey = self.serverKey
            if let pairText {
                let parts = pairText.split(separator: " ").map(String.init)
                guard parts.count == 4, parts[0] == "FMPAIR2" else {
                    throw ValidationError("--pair-text: expected 'FMPAIR2 ENDPOINT SERVER-KEY CODE'")
                }
                (endpoint, serverKey, code) = (parts[1], parts[2], parts[3])
            }
            if serverKey == nil, let saved = FileManager.default.contents(atPath: serverKeyPath) {
                serverKey = String(decoding: saved, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard let serverKey else {
                throw ValidationError(
                    "no server key: pair with --pair CODE --server-key KEY (from `fiscal-mediator terminals pair`)"
                )
            }
            let keys = try TerminalKeys.loadOrCreate(file: keyPath).keys
            guard let curve = CurveSettings(keys: keys, serverKey: serverKey) else {
                throw ValidationError("--server-key: not a 40-character Z85 key")
            }
            if let code {
                let paired = try await MediatorClient.pair(
                    context: context,
                    endpoint: endpoint,
                    code: code,
                    curve: curve
                )
                guard paired.rawValue == terminalID else {
                    throw ValidationError("the code paired this key as \(paired), not --terminal-id \(terminalID)")
                }
                try Data((serverKey + "\n").utf8).write(to: URL(fileURLWithPath: serverKeyPath))
                printError("paired: \(paired) is this key (\(keyPath)) from now on")
            }
            return curve
        }

        func withClient<T: Encodable & Sendable>(_ body: (MediatorClient) async throws -> T) async throws {
            var configuration = MediatorClient.Configuration(endpoint: connect, terminalID: TerminalID(terminalID))
            configuration.requestTimeout = .seconds(timeout)
            configuration.machineID = machineID
            do {
                let context = ClientContext()
                configuration.curve = try await curve(context)
                let result = try await MediatorClient.withClient(
                    context: context,
                    configuration: configuration,
                    body
                )
                try printJSON(result)
            } catch let error as FiscalError {
                printError("error: \(error.code): \(error.message)")
                for violation in error.violations { printError("  \(violation)") }
                throw ExitCode(2)
            }
        }
    }

    struct Pair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pair this terminal's key (--pair CODE --server-key KEY, or --pair-text), then PING."
        )
        @OptionGroup var connection: Connection
        func run() async throws {
            guard connection.pair != nil || connection.pairText != nil else {
                throw ValidationError("give --pair CODE --server-key KEY, or --pair-text 'FMPAIR2 ...'")
            }
            try await connection.withClient { try await $0.send(TerminalRequest(.ping)) }
        }
    }

    struct Fiscalize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fiscalize an invoice file (FISCALIZE, then RESULT on retry)."
        )
        @OptionGroup var connection: Connection
        @Argument(help: "An invoice JSON file; its pos_terminal_id must be --terminal-id.") var file: String
        @Option(help: "The request id (keep it to retry safely); default: a new UUID.") var requestID = UUID()
            .uuidString
        func run() async throws {
            let requestID = self.requestID
            let invoice = try readInvoice(file)
            try await connection.withClient { client in
                // The invoice's cashier logs in at this terminal first (HELLO opens the session).
                let hello = try await client.hello(cashierID: invoice.cashierID)
                try await client.ensurePeriod(after: hello, openedBy: invoice.cashierID)
                return try await client.fiscalizeReliably(requestID: requestID, invoice: invoice)
            }
        }
    }

    struct PrepareCommit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prepare-commit",
            abstract: "Fiscalize an invoice file by PREPARE and COMMIT, holding the device in between.",
            discussion: """
                Prints {"prepared": NONCE, "lease_ms": N} once the device is held, waits --hold (a POS \
                showing the total; the first time only), then COMMITs. A lost lock, nonce or reply (a \
                tablet out of range) is settled the way docs/PROTOCOL.md says: RESULT, then PREPARE again \
                under the same request id.
                """
        )
        @OptionGroup var connection: Connection
        @Argument(help: "An invoice JSON file; its pos_terminal_id must be --terminal-id.") var file: String
        @Option(help: "The request id (keep it to retry safely); default: a new UUID.") var requestID = UUID()
            .uuidString
        @Option(help: "How long to hold the device between PREPARE and COMMIT, e.g. 2s.") var hold = "0s"
        @Option(help: "Give up settling the sale after this long, e.g. 2m.") var deadline = "2m"

        func run() async throws {
            guard let hold = Duration.parsing(hold), hold >= .zero else {
                throw ValidationError("--hold: '\(self.hold)' is not a duration such as 2s")
            }
            guard let deadline = Duration.parsing(deadline), deadline > .zero else {
                throw ValidationError("--deadline: '\(self.deadline)' is not a duration such as 2m")
            }
            let requestID = self.requestID
            let invoice = try readInvoice(file)
            try await connection.withClient { client in
                let hello = try await client.hello(cashierID: invoice.cashierID)
                try await client.ensurePeriod(after: hello, openedBy: invoice.cashierID)
                var firstPrepare = true
                return try await MediatorClient.twoPhaseReliably(
                    requestID: requestID,
                    invoice: invoice,
                    deadline: deadline,
                    client: { client },
                    afterPrepare: { nonce, leaseMs in
                        printLine(#"{"prepared":"\#(nonce)","lease_ms":\#(leaseMs)}"#)
                        // The total is shown once; a sale prepared again after a lost lock
                        // goes straight on to COMMIT.
                        if firstPrepare {
                            firstPrepare = false
                            try? await Task.sleep(for: hold)
                        }
                    }
                )
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "STATUS: lock holder, queue depth, last fiscal number, device state."
        )
        @OptionGroup var connection: Connection
        func run() async throws { try await connection.withClient { try await $0.status() } }
    }

    struct OpenPeriod: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "open-period",
            abstract: "OPEN_PERIOD: open this terminal's work period with a float per currency (docs/SHOP_DAY.md)."
        )
        @OptionGroup var connection: Connection
        @Option(help: "The staff id who opens it.") var openedBy: String
        @Option(help: "An opening float as CUR=AMOUNT, e.g. CDF=50000 (repeatable).") var float: [String] = []
        func run() async throws {
            var amounts: [String: Money] = [:]
            for entry in float {
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                guard parts.count == 2, let amount = Money(decimalText: parts[1]) else {
                    throw ValidationError("--float: '\(entry)' is not CUR=AMOUNT such as CDF=50000.00")
                }
                amounts[parts[0]] = amount
            }
            let openedBy = self.openedBy
            let opening = CurrencyAmounts(amounts)
            try await connection.withClient { client in
                _ = try await client.hello()
                return try await client.openPeriod(openedBy: openedBy, openingFloat: opening)
            }
        }
    }

    struct CashEventCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cash-event",
            abstract: "CASH_EVENT: payout, pay_in, drawer_open, no_sale or line_void at this terminal."
        )
        @OptionGroup var connection: Connection
        @Argument(help: "payout, pay_in, drawer_open, no_sale or line_void.") var kind: String
        @Option(help: "The event's id (keep it to retry safely); default: a new UUID.") var eventID = UUID().uuidString
        @Option(help: "The amount, e.g. 15000.00.") var amount: String?
        @Option(help: "The amount's currency, e.g. CDF.") var currency: String?
        @Option(help: "Why.") var reason: String?
        func run() async throws {
            guard let kind = CashEvent.Kind(rawValue: kind) else {
                throw ValidationError("'\(self.kind)' is not payout, pay_in, drawer_open, no_sale or line_void")
            }
            let amount = try self.amount.map { text in
                guard let money = Money(decimalText: text) else {
                    throw ValidationError("--amount: '\(text)' is not an amount such as 15000.00")
                }
                return money
            }
            let event = CashEvent(eventID: eventID, kind: kind, amount: amount, currency: currency, reason: reason)
            try await connection.withClient { try await $0.cashEvent(event) }
        }
    }

    struct Result: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "RESULT: the stored outcome of a request id.")
        @OptionGroup var connection: Connection
        @Argument var requestID: String
        func run() async throws {
            let id = requestID
            try await connection.withClient { try await $0.result(requestID: id) }
        }
    }
}

/// An invoice JSON file, or a clear error naming it.
private func readInvoice(_ file: String) throws -> Invoice {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
        throw ValidationError("\(file): \(error.localizedDescription)")
    }
    return try Invoice.decode(json: Array(data))
}
