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

/// One way to tamper with an outlet's evidence, and what must catch it.
struct Tamper: Sendable {
    enum Evidence: String, Sendable {
        case export, device, store, cloud
    }

    enum Tool: Sendable, Equatable {
        enum Target: Sendable { case export, device }
        case verifyJournal(Target)
        case audit

        var name: String {
            switch self {
            case .verifyJournal: "verify-journal"
            case .audit: "audit"
            }
        }
    }

    /// What a tool reported first.
    enum Caught: Equatable, CustomStringConvertible {
        case nothing
        case verifyJournal(seq: UInt64, kind: JournalVerifier.Failure.Kind)
        case audit(check: AuditCheck, record: String)

        var description: String {
            switch self {
            case .nothing: "nothing"
            case .verifyJournal(let seq, let kind): "entry \(seq) (\(kind.rawValue))"
            case .audit(let check, let record): "\(record) (\(check.rawValue))"
            }
        }
    }

    let id: String
    let title: String
    let evidence: Evidence
    let caughtBy: Tool
    let expected: Caught
    let apply: @Sendable (Workspace) throws -> Void

    /// The row of docs/AUDIT.md's table.
    var row: [String] { [id, title, evidence.rawValue, "`\(caughtBy.name)`", "\(expected)"] }

    init(
        _ id: String,
        _ title: String,
        _ evidence: Evidence,
        _ caughtBy: Tool,
        _ expected: Caught,
        _ apply: @escaping @Sendable (Workspace) throws -> Void
    ) {
        self.id = id
        self.title = title
        self.evidence = evidence
        self.caughtBy = caughtBy
        self.expected = expected
        self.apply = apply
    }

    static let catalogue: [Tamper] = exportTampers + deviceTampers + storeTampers + cloudTampers

    /// A flipped character in each field of entry 7 of the export, then its structure.
    static let exportTampers: [Tamper] =
        [
            ("seq", Caught.verifyJournal(seq: 7, kind: .sequence)),
            ("device_id", .verifyJournal(seq: 7, kind: .device)),
            ("previous_hash", .verifyJournal(seq: 7, kind: .chain)),
            ("payload_digest", .verifyJournal(seq: 7, kind: .hash)),
            ("pos_terminal_id", .verifyJournal(seq: 7, kind: .hash)),
            ("cashier_id", .verifyJournal(seq: 7, kind: .hash)),
            ("invoice_type", .verifyJournal(seq: 7, kind: .unreadable)),
            ("total", .verifyJournal(seq: 7, kind: .hash)),
            ("currency", .verifyJournal(seq: 7, kind: .hash)),
            ("device_timestamp", .verifyJournal(seq: 7, kind: .hash)),
            ("auth_code", .verifyJournal(seq: 7, kind: .hash)),
            ("entry_hash", .verifyJournal(seq: 7, kind: .hash)),
        ].enumerated().map { index, field in
            Tamper(
                "T\(String(format: "%02d", index + 1))",
                "a flipped character in `\(field.0)` of entry 7",
                .export,
                .verifyJournal(.export),
                field.1
            ) { try $0.flip(entry: 7, field: field.0) }
        } + [
            Tamper(
                "T13",
                "the first entry deleted",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 1, kind: .sequence)
            ) {
                try $0.editExport { $0.entries.removeFirst() }
            },
            Tamper(
                "T14",
                "a middle entry (8) deleted",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 8, kind: .sequence)
            ) {
                try $0.editExport { $0.entries.remove(at: 7) }
            },
            Tamper(
                "T15",
                "the last entry deleted",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 15, kind: .head)
            ) {
                try $0.editExport { $0.entries.removeLast() }
            },
            Tamper(
                "T16",
                "the last 3 entries deleted, the chain intact (the signed head anchors the end)",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 13, kind: .head)
            ) { try $0.editExport { $0.entries.removeLast(3) } },
            Tamper(
                "T17",
                "entries 4 and 5 swapped",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 4, kind: .sequence)
            ) {
                try $0.editExport { $0.entries.swapAt(3, 4) }
            },
            Tamper(
                "T18",
                "entry 6 duplicated",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 7, kind: .sequence)
            ) {
                try $0.editExport { $0.entries.insert($0.entries[5], at: 6) }
            },
            Tamper(
                "T19",
                "entry 9 altered and re-signed with another key, the chain and head hash recomputed",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 9, kind: .signature)
            ) {
                try $0.editExport { dump in
                    dump.entries[8].total = Money(units: 1)
                    Workspace.reseal(&dump, from: 8, with: Ed25519.PrivateKey(), signHead: false)
                }
            },
            Tamper(
                "T20",
                "a forged head: the last 3 entries cut and the head moved to 12, its signature kept",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 12, kind: .head)
            ) {
                try $0.editExport { dump in
                    dump.entries.removeLast(3)
                    dump.headSeq = 12
                    dump.headHash = dump.entries[11].entryHash
                }
            },
            Tamper(
                "T21",
                "the head re-signed with another key",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 15, kind: .head)
            ) {
                try $0.editExport { dump in
                    let input = DeviceReply.DumpLog.headSigningInput(
                        deviceID: dump.deviceID,
                        seq: 15,
                        hash: dump.headHash
                    )
                    dump.headSignature = Base64URL.encode(Ed25519.PrivateKey().signature(for: input))
                }
            },
            Tamper(
                "T22",
                "the export truncated inside entry 8",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 8, kind: .unreadable)
            ) { workspace in
                let lines = try workspace.exportLines()
                let kept = lines.prefix(8).joined(separator: "\n") + "\n" + lines[8].prefix(200)
                try Data(kept.utf8).write(to: workspace.export)
            },
            Tamper(
                "T23",
                "the device clock moved back at entry 10, re-signed with the device's own key",
                .export,
                .verifyJournal(.export),
                .verifyJournal(seq: 10, kind: .clock)
            ) { workspace in
                try workspace.editExport { dump in
                    dump.entries[9].deviceTimestamp = "2020-01-01T00:00:00.000Z"
                    Workspace.reseal(&dump, from: 9, with: workspace.realKey, signHead: true)
                }
            },
            Tamper(
                "T24",
                "an export from another device (same id, its own key) replayed as this one's",
                .export,
                .audit,
                .audit(check: .sealedMatchesJournal, record: "sealed_invoice 6")
            ) { workspace in
                try FileManager.default.removeItem(at: workspace.export)
                try FileManager.default.copyItem(at: workspace.otherExport, to: workspace.export)
            },
            Tamper(
                "T25",
                "the whole journal re-signed with another key, its public key replaced",
                .export,
                .audit,
                .audit(check: .sealedMatchesJournal, record: "sealed_invoice 6")
            ) {
                try $0.editExport { dump in
                    let forger = Ed25519.PrivateKey()
                    dump.publicKey = Hex.encode(forger.publicKey.rawRepresentation)
                    Workspace.reseal(&dump, from: 0, with: forger, signHead: true)
                }
            },
        ]

    /// The device's fiscal memory (its state directory).
    static let deviceTampers: [Tamper] = [
        Tamper(
            "T26",
            "entry 4's total edited in the device's memory",
            .device,
            .verifyJournal(.device),
            .verifyJournal(seq: 4, kind: .hash)
        ) { workspace in
            let entry: String = try #require(
                try workspace.value(workspace.deviceDatabase, "SELECT entry FROM journal WHERE seq = 4")
            )
            let edited = entry.replacingOccurrences(of: #""total":"#, with: #""total":1"#)
            try workspace.sql(workspace.deviceDatabase, "UPDATE journal SET entry = ? WHERE seq = 4", [edited])
        },
        Tamper(
            "T27",
            "entry 8 deleted from the device's memory",
            .device,
            .audit,
            .audit(check: .journalSequence, record: "journal 8")
        ) { workspace in
            try workspace.sql(workspace.deviceDatabase, "DELETE FROM journal WHERE seq = 8")
        },
        Tamper(
            "T28",
            "the last 2 entries deleted from the device's memory, its counter left",
            .device,
            .audit,
            .audit(check: .journalHead, record: "journal 14")
        ) { workspace in
            try workspace.sql(workspace.deviceDatabase, "DELETE FROM journal WHERE seq >= 14")
        },
        Tamper(
            "T29",
            "the device rolled back to 12: entries, counter and head rewound together",
            .device,
            .audit,
            .audit(check: .sealedInJournal, record: "sealed_invoice 13")
        ) { workspace in
            let head: String = try #require(
                try workspace.value(
                    workspace.deviceDatabase,
                    "SELECT json_extract(entry, '$.entry_hash') FROM journal WHERE seq = 12"
                )
            )
            try workspace.sql(
                workspace.deviceDatabase,
                "DELETE FROM journal WHERE seq > 12; UPDATE device SET next_seq = 13, head_hash = ?",
                [head]
            )
        },
    ]

    /// The mediator's store.
    static let storeTampers: [Tamper] = [
        Tamper(
            "T30",
            "sealed invoice 8's stored entry edited (its total)",
            .store,
            .audit,
            .audit(check: .sealedMatchesJournal, record: "sealed_invoice 8")
        ) { workspace in
            try workspace.sql(
                workspace.store,
                "UPDATE sealed_invoice SET entry = json_set(entry, '$.total', 1) WHERE invoice_seq = 8"
            )
        },
        Tamper(
            "T31",
            "sealed invoice 9's terminal_id edited",
            .store,
            .audit,
            .audit(check: .sealedMatchesJournal, record: "sealed_invoice 9")
        ) { try $0.sql($0.store, "UPDATE sealed_invoice SET terminal_id = 'REG-009' WHERE invoice_seq = 9") },
        Tamper(
            "T32",
            "sealed invoice 6's payload_digest edited",
            .store,
            .audit,
            .audit(check: .sealedMatchesJournal, record: "sealed_invoice 6")
        ) {
            try $0.sql(
                $0.store,
                "UPDATE sealed_invoice SET payload_digest = 'ffff' || substr(payload_digest, 5) WHERE invoice_seq = 6"
            )
        },
        Tamper(
            "T33",
            "sealed invoice 9's entry replaced by something that is not an entry",
            .store,
            .audit,
            .audit(check: .storeRead, record: "sealed_invoice 9")
        ) { try $0.sql($0.store, "UPDATE sealed_invoice SET entry = '{\"seq\":9}' WHERE invoice_seq = 9") },
        Tamper(
            "T34",
            "sealed invoice 10 deleted with its upload-line row",
            .store,
            .audit,
            .audit(check: .journalInStore, record: "sealed_invoice 10")
        ) {
            try $0.sql(
                $0.store,
                "DELETE FROM outbox WHERE invoice_seq = 10; DELETE FROM sealed_invoice WHERE invoice_seq = 10"
            )
        },
        Tamper(
            "T35",
            "a sealed invoice 16 the device never sealed, with its request and upload-line row",
            .store,
            .audit,
            .audit(check: .sealedInJournal, record: "sealed_invoice 16")
        ) { workspace in
            try workspace.sql(
                workspace.store,
                """
                INSERT INTO sealed_invoice (invoice_seq, device_id, terminal_id, request_id, outlet_id, cashier_id, lane_number,
                                            payload_digest, entry, sealed_at)
                SELECT 16, device_id, terminal_id, 's16', outlet_id, cashier_id, lane_number, payload_digest,
                       json_set(entry, '$.seq', 16), sealed_at FROM sealed_invoice WHERE invoice_seq = 15;
                INSERT INTO outbox (invoice_seq, enqueued_at) SELECT 16, enqueued_at FROM outbox WHERE invoice_seq = 15;
                INSERT INTO request SELECT terminal_id, 's16', payload_digest, payload, outlet_id, cashier_id, lane_number,
                       mode, state, expected_seq, nonce, 16, error_code, error_message, attempts, created_at, updated_at,
                       period_id, session_id, sale_context, reference_seq
                FROM request WHERE request_id = 's15';
                """
            )
        },
        Tamper(
            "T36",
            "the same fiscal number (9) in a second store",
            .store,
            .audit,
            .audit(check: .storesDisjoint, record: "sealed_invoice 9")
        ) { workspace in
            try FileManager.default.copyItem(at: workspace.store, to: workspace.secondStore)
            try workspace.sql(
                workspace.secondStore,
                """
                DELETE FROM outbox WHERE invoice_seq != 9; DELETE FROM sealed_invoice WHERE invoice_seq != 9;
                DELETE FROM request WHERE request_id != 's9'; DELETE FROM sync_meta;
                """
            )
        },
        Tamper(
            "T37",
            "request s13 (fiscal number 13) made to name 12, another request's entry",
            .store,
            .audit,
            .audit(check: .requestOneNumber, record: "request REG-002/s13")
        ) { try $0.sql($0.store, "UPDATE request SET invoice_seq = 12 WHERE request_id = 's13'") },
        Tamper(
            "T38",
            "sealed invoice 14 given to request s13 too: one request with two numbers",
            .store,
            .audit,
            .audit(check: .requestOneNumber, record: "request REG-002/s13")
        ) { workspace in
            // The table's UNIQUE (terminal_id, request_id) is dropped first, as a tamperer could.
            try workspace.sql(
                workspace.store,
                """
                CREATE TABLE copy AS SELECT * FROM sealed_invoice; DROP TABLE sealed_invoice;
                ALTER TABLE copy RENAME TO sealed_invoice;
                UPDATE sealed_invoice SET request_id = 's13' WHERE invoice_seq = 14;
                """
            )
        },
        Tamper(
            "T39",
            "the request of sealed invoice 11 deleted",
            .store,
            .audit,
            .audit(check: .requestForSealed, record: "sealed_invoice 11")
        ) { try $0.sql($0.store, "DELETE FROM request WHERE request_id = 's11'") },
        Tamper(
            "T40",
            "the request of sealed invoice 7 set back to aborted",
            .store,
            .audit,
            .audit(check: .requestOneNumber, record: "request MOB-01/s7")
        ) { try $0.sql($0.store, "UPDATE request SET state = 'aborted' WHERE request_id = 's7'") },
        Tamper(
            "T41",
            "request s12's canonical invoice edited: it no longer matches the sealed digest",
            .store,
            .audit,
            .audit(check: .requestPayload, record: "request REG-001/s12")
        ) { workspace in
            try workspace.sql(
                workspace.store,
                "UPDATE request SET payload = CAST(replace(CAST(payload AS TEXT), 'CASH-01', 'CASH-02') AS BLOB) WHERE request_id = 's12'"
            )
        },
        Tamper(
            "T42",
            "request s6's payload_digest edited",
            .store,
            .audit,
            .audit(check: .requestPayload, record: "request REG-001/s6")
        ) {
            try $0.sql(
                $0.store,
                "UPDATE request SET payload_digest = 'ffff' || substr(payload_digest, 5) WHERE request_id = 's6'"
            )
        },
        Tamper(
            "T43",
            "the upload-line row of sealed invoice 10 deleted: it would never be uploaded",
            .store,
            .audit,
            .audit(check: .outboxCoversSealed, record: "sealed_invoice 10")
        ) { try $0.sql($0.store, "DELETE FROM outbox WHERE invoice_seq = 10") },
        Tamper(
            "T44",
            "invoice 14 marked uploaded while 13 waits: out of order",
            .store,
            .audit,
            .audit(check: .outboxOrder, record: "outbox 14")
        ) {
            try $0.sql($0.store, "UPDATE outbox SET state = 'uploaded', receipt = 'CLD-made-up' WHERE invoice_seq = 14")
        },
    ]

    /// The upload line against the cloud's records.
    static let cloudTampers: [Tamper] = [
        Tamper(
            "T45",
            "invoice 13 marked uploaded, which the cloud never acknowledged",
            .store,
            .audit,
            .audit(check: .cloudConfirmsUploaded, record: "outbox 13")
        ) {
            try $0.sql($0.store, "UPDATE outbox SET state = 'uploaded', receipt = 'CLD-made-up' WHERE invoice_seq = 13")
        },
        Tamper(
            "T46",
            "the receipt of uploaded invoice 9 replaced",
            .store,
            .audit,
            .audit(check: .cloudConfirmsUploaded, record: "outbox 9")
        ) { try $0.sql($0.store, "UPDATE outbox SET receipt = 'CLD-made-up' WHERE invoice_seq = 9") },
        Tamper(
            "T47",
            "invoices 6 to 13 pruned, though the cloud never confirmed 13",
            .store,
            .audit,
            .audit(check: .cloudConfirmsPruned, record: "pruned 13")
        ) { workspace in
            try workspace.sql(
                workspace.store,
                """
                DELETE FROM outbox WHERE invoice_seq <= 13; DELETE FROM sealed_invoice WHERE invoice_seq <= 13;
                UPDATE sync_meta SET value = '13' WHERE key = 'pruned_through';
                """
            )
        },
        Tamper(
            "T48",
            "the cloud's record of pruned invoice 3 deleted",
            .cloud,
            .audit,
            .audit(check: .cloudConfirmsPruned, record: "pruned 3")
        ) { try $0.sql($0.cloud, "DELETE FROM received WHERE invoice_seq = 3") },
        Tamper(
            "T49",
            "the cloud's record of invoice 8 holding another entry hash",
            .cloud,
            .audit,
            .audit(check: .cloudConfirmsUploaded, record: "outbox 8")
        ) {
            try $0.sql(
                $0.cloud,
                "UPDATE received SET entry_hash = 'ffff' || substr(entry_hash, 5) WHERE invoice_seq = 8"
            )
        },
        Tamper(
            "T50",
            "a cloud record for invoice 16, which the device never sealed",
            .cloud,
            .audit,
            .audit(check: .cloudMatchesJournal, record: "cloud 16")
        ) { workspace in
            try workspace.sql(
                workspace.cloud,
                """
                INSERT INTO received (outlet_id, device_id, invoice_seq, idempotency_key, entry_hash, receipt, item, received_at)
                SELECT outlet_id, device_id, 16, device_id || ':16', entry_hash, 'CLD-made-up', item, received_at
                FROM received WHERE invoice_seq = 12
                """
            )
        },
    ]
}

extension Workspace {
    var deviceDatabase: URL { device.appendingPathComponent("device.sqlite") }
}
