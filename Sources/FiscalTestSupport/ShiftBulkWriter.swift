import FiscalCore
import Foundation
import GRDB
import SampleData

/// Fills an open work period of a mediator store with sealed sales, straight in SQLite, for
/// tests and benchmarks of reports that need a large shift fast (20,000 invoices in about a
/// second): one transaction, request rows as the device core leaves them once sealed (payload,
/// sale context, period, session, fiscal number) and their sealed-invoice rows.
///
/// Tests and benchmarks only: nothing real is signed. The mediator must not be running on the
/// store. Invoices cycle through a few hundred templates in CDF and USD, every tenth with a
/// discount, every fifth paid by mobile money, every fiftieth a refund of the one before it.
public enum ShiftBulkWriter {
    /// Appends `count` sealed invoices to the open period of `terminal` (which must have one,
    /// with a cashier session), after the store's highest fiscal number; returns the last one.
    @discardableResult
    public static func append(_ count: Int, to storePath: String, terminal: String = "REG-001") throws -> UInt64 {
        let database = try DatabaseQueue(path: storePath)
        return try database.write { db in
            guard
                let period = try Int64.fetchOne(
                    db,
                    sql: "SELECT id FROM work_period WHERE terminal_id = ? AND closed_at IS NULL",
                    arguments: [terminal]
                ),
                let session = try Row.fetchOne(
                    db,
                    sql: "SELECT id, cashier_id FROM cashier_session WHERE terminal_id = ? AND closed_at IS NULL",
                    arguments: [terminal]
                )
            else { throw FiscalError(.workPeriodClosed, "\(terminal) needs an open period and session") }
            let cashier = session["cashier_id"] as String
            let sessionID = session["id"] as Int64
            var seq = UInt64(try Int64.fetchOne(db, sql: "SELECT MAX(invoice_seq) FROM request") ?? 0)
            let encoder = JSONEncoder()
            let templates = try (0..<200).map { index -> (Data, String, Invoice) in
                let currency = index % 7 == 0 ? "USD" : "CDF"
                let invoice = SampleInvoices.sale(
                    lines: 1 + index % 4,
                    terminal: terminal,
                    cashier: cashier,
                    lane: nil,
                    currency: currency,
                    seed: index,
                    payment: index % 5 == 0 ? .mobileMoney : .cash
                )
                let context = SaleContext(
                    discounts: index % 10 == 0 ? [.init(item: 0, amount: Money(units: 100))] : [],
                    tendered: [
                        .init(
                            method: index % 5 == 0 ? .mobileMoney : .cash,
                            currency: currency,
                            amount: invoice.totals.total
                        )
                    ]
                )
                return (try encoder.encode(invoice), context.storedJSON(), invoice)
            }
            let now = "2026-12-02T10:00:00.000Z"
            for index in 0..<count {
                seq += 1
                var (payload, context, invoice) = templates[index % templates.count]
                var reference: Int64?
                if index % 50 == 49 {
                    // A refund of the previous invoice's first line.
                    let original = templates[(index - 1) % templates.count].2
                    invoice = SampleInvoices.build(
                        type: .refund,
                        reference: String(seq - 1),
                        items: [original.items[0]],
                        terminal: terminal,
                        cashier: cashier,
                        lane: nil,
                        currency: original.totals.currency
                    )
                    payload = try encoder.encode(invoice)
                    context = SaleContext(
                        tendered: [
                            .init(method: .cash, currency: invoice.totals.currency, amount: invoice.totals.total)
                        ]
                    ).storedJSON()
                    reference = Int64(seq - 1)
                }
                let requestID = "bulk-\(seq)"
                try db.execute(
                    sql: """
                        INSERT INTO request (terminal_id, request_id, payload_digest, payload, outlet_id, cashier_id,
                            mode, state, invoice_seq, attempts, created_at, updated_at, period_id, session_id,
                            sale_context, reference_seq)
                        VALUES (?, ?, ?, ?, ?, ?, 'fiscalize', 'sealed', ?, 1, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        terminal, requestID, "bulk", payload, invoice.outletID, cashier, Int64(seq), now, now, period,
                        sessionID, context, reference,
                    ]
                )
                try db.execute(
                    sql: """
                        INSERT INTO sealed_invoice (invoice_seq, device_id, terminal_id, request_id, outlet_id,
                            cashier_id, payload_digest, entry, sealed_at, period_id, session_id, sale_context)
                        VALUES (?, 'DEF-BULK', ?, ?, ?, ?, 'bulk', '{}', ?, ?, ?, ?)
                        """,
                    arguments: [
                        Int64(seq), terminal, requestID, invoice.outletID, cashier, now, period, sessionID, context,
                    ]
                )
            }
            return seq
        }
    }
}
