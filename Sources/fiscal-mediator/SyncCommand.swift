import ArgumentParser
import FiscalCore
import Foundation
import MediatorStore

/// `fiscal-mediator sync ...`: the upload backlog, seen and handled from the store (beside a
/// running `serve`, whose uploader picks up what `retry` releases).
struct SyncCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "The cloud upload backlog: status, quarantined items, retry.",
        subcommands: [Status.self, Show.self, Retry.self]
    )

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Backlog size, age of the oldest item, last success and error, quarantined items."
        )
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Flag(help: "One JSON object instead of text.") var json = false

        func run() throws {
            let database = try store.open()
            let summary = try database.outboxSummary()
            let meta = try database.syncMeta()
            let age = summary.oldestPendingAt.flatMap(DeviceTimestamp.parse).map { Int(Date().timeIntervalSince($0)) }
            if json {
                let object: [String: Any] = [
                    "backlog": summary.pending + summary.quarantined.count, "pending": summary.pending,
                    "uploaded": summary.uploaded, "oldest_pending_at": summary.oldestPendingAt as Any? ?? NSNull(),
                    "oldest_pending_age_s": age as Any? ?? NSNull(),
                    "last_uploaded_seq": summary.lastUploadedSeq.map { Int($0) } as Any? ?? NSNull(),
                    "pruned_through": Int(summary.prunedThrough),
                    "last_success_at": meta["last_success_at"] as Any? ?? NSNull(),
                    "last_error": meta["last_error"] as Any? ?? NSNull(),
                    "last_error_at": meta["last_error_at"] as Any? ?? NSNull(),
                    "quarantined": summary.quarantined.map {
                        ["invoice_seq": Int($0.seq), "reason": $0.lastError ?? ""]
                    },
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print(
                "backlog:          \(summary.pending + summary.quarantined.count) (\(summary.pending) pending, \(summary.quarantined.count) quarantined)"
            )
            print("oldest pending:   \(summary.oldestPendingAt.map { "\($0) (\(age ?? 0) s ago)" } ?? "-")")
            print(
                "uploaded:         \(summary.uploaded) kept locally, through invoice \(summary.lastUploadedSeq.map(String.init) ?? "-"); pruned through \(summary.prunedThrough)"
            )
            print("last success:     \(meta["last_success_at"] ?? "-")")
            print("last error:       \(meta["last_error"].map { "\($0) at \(meta["last_error_at"] ?? "?")" } ?? "-")")
            for item in summary.quarantined {
                print(
                    "QUARANTINED       invoice \(item.seq): \(item.lastError ?? "no reason")  (fiscal-mediator sync retry \(item.seq))"
                )
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One outbox item: its state and what is uploaded.")
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Argument(help: "The fiscal number.") var seq: UInt64

        func run() throws {
            guard let item = try store.open().outboxItem(seq) else {
                throw FiscalError(.notFound, "invoice \(seq) is not in the outbox (never sealed here, or pruned)")
            }
            print(
                "invoice \(item.seq): \(item.state.rawValue), \(item.attempts) attempt(s), enqueued \(item.enqueuedAt)"
            )
            if let error = item.lastError { print("last error: \(error)") }
            if let receipt = item.receipt { print("cloud receipt: \(receipt) at \(item.uploadedAt ?? "?")") }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(item.item), as: UTF8.self))
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send quarantined items back to the upload line (after fixing the cause in the cloud)."
        )
        @OptionGroup var store: TerminalsCommand.StoreOptions
        @Argument(help: "The fiscal number (default: every quarantined item).") var seq: UInt64?

        func run() throws {
            let count = try store.open().retryQuarantined(seq)
            print(
                count == 0
                    ? "nothing quarantined\(seq.map { " as invoice \($0)" } ?? "")" : "\(count) item(s) back in line"
            )
        }
    }
}
