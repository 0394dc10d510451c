import Foundation

extension Invoice {
    /// The canonical encoding: fields in protocol order, optional fields left out when absent,
    /// the tax-group breakdown sorted by code, money with two fraction digits, quantities with
    /// three, rates with two. Item and payment order is kept: it is part of the invoice.
    public func canonicalJSON() -> [UInt8] {
        var json = CanonicalJSON()
        json.beginObject()
        json.field("merchant_nif", merchantNIF)
        json.field("outlet_id", outletID)
        json.field("pos_terminal_id", posTerminalID)
        json.field("cashier_id", cashierID)
        if let laneNumber { json.field("lane_number", laneNumber) }
        json.field("invoice_type", invoiceType.rawValue)
        json.field("reference", reference)
        json.field("timestamp", timestamp)
        json.key("client")
        json.beginObject()
        json.field("name", client.name)
        json.field("nif", client.nif)
        json.field("classification", client.classification.rawValue)
        json.endObject()
        json.key("items")
        json.beginArray()
        for item in items {
            json.beginObject()
            json.field("code", item.code)
            json.field("description", item.description)
            json.field("quantity", item.quantity)
            json.field("unit_price", item.unitPrice)
            json.field("tax_group", item.taxGroup)
            json.endObject()
        }
        json.endArray()
        json.key("tax_groups")
        json.beginArray()
        for line in taxGroups.sorted(by: { $0.code.utf8.lexicographicallyPrecedes($1.code.utf8) }) {
            json.beginObject()
            json.field("code", line.code)
            json.field("rate", line.rate)
            json.field("base", line.base)
            json.field("amount", line.amount)
            json.endObject()
        }
        json.endArray()
        json.key("totals")
        json.beginObject()
        json.field("subtotal", totals.subtotal)
        json.field("total_vat", totals.totalVAT)
        json.field("total", totals.total)
        json.field("currency", totals.currency)
        json.endObject()
        json.key("payments")
        json.beginArray()
        for payment in payments {
            json.beginObject()
            json.field("method", payment.method.rawValue)
            json.field("amount", payment.amount)
            json.field("reference", payment.reference)
            json.endObject()
        }
        json.endArray()
        json.endObject()
        return json.bytes
    }

    /// SHA-256 of the canonical encoding, as 64 lowercase hex digits: the payload digest the
    /// device journals and the mediator matches requests by.
    public func payloadDigest() -> String { Hex.encode(SHA256.hash(canonicalJSON())) }

    /// Decodes an invoice from JSON bytes.
    ///
    /// Throws `SCHEMA_INVALID` with one violation naming the JSON path when the structure is
    /// wrong (a missing object, a wrong type, a number with too many decimals); field-level
    /// rules are ``InvoiceValidator``'s.
    public static func decode(json: some Collection<UInt8>) throws(FiscalError) -> Invoice {
        do {
            return try JSONDecoder().decode(Invoice.self, from: Data(json))
        } catch let error as DecodingError {
            let code: ErrorCode =
                switch error {
                case .keyNotFound: .fieldMissing
                default: .formatInvalid
                }
            let violation = Violation(code: code, path: error.jsonPath, message: error.fiscalDescription)
            throw FiscalError(.schemaInvalid, "the invoice is not well-formed", violations: [violation])
        } catch {
            throw FiscalError(.schemaInvalid, "the invoice is not well-formed: \(error)")
        }
    }
}
