public import Foundation

/// Checks an invoice against ``FiscalRules`` and reports every violation at once.
///
/// Arithmetic rules: an item's amount is `quantity × unit_price` rounded half away from zero
/// to the minor unit; a breakdown row's base is the sum of its items' amounts and its amount
/// is `base × rate` rounded the same way; `subtotal` is the sum of bases, `total_vat` the sum
/// of amounts, `total` their sum; payments must add up to at least `total` (cash change).
public struct InvoiceValidator: Sendable {
    public var rules: FiscalRules

    public init(rules: FiscalRules = .default) { self.rules = rules }

    /// Every violation in `invoice`; empty when it is valid.
    public func violations(in invoice: Invoice) -> [Violation] {
        var found: [Violation] = []
        let root = JSONPath.root
        let limits = rules.limits

        func requireIdentifier(_ value: String, _ key: String, at path: JSONPath) {
            if value.trimmingCharacters(in: .whitespaces).isEmpty {
                found.append(Violation(.fieldMissing, at: path, "\(key) is required"))
            } else if value.count > limits.maxIdentifierLength {
                found.append(
                    Violation(.fieldTooLong, at: path, "\(key) exceeds \(limits.maxIdentifierLength) characters")
                )
            } else if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
                found.append(Violation(.formatInvalid, at: path, "\(key) contains control characters"))
            }
        }
        func limitText(_ value: String?, _ key: String, at path: JSONPath) {
            if let value, value.count > limits.maxTextLength {
                found.append(Violation(.fieldTooLong, at: path, "\(key) exceeds \(limits.maxTextLength) characters"))
            }
        }

        // Traceability and merchant ids.
        requireIdentifier(invoice.merchantNIF, "merchant_nif", at: root["merchant_nif"])
        requireIdentifier(invoice.outletID, "outlet_id", at: root["outlet_id"])
        requireIdentifier(invoice.posTerminalID, "pos_terminal_id", at: root["pos_terminal_id"])
        requireIdentifier(invoice.cashierID, "cashier_id", at: root["cashier_id"])
        if let lane = invoice.laneNumber, !(1...999).contains(lane) {
            found.append(Violation(.formatInvalid, at: root["lane_number"], "lane_number must be 1 to 999"))
        }
        if invoice.invoiceType.needsReference {
            if (invoice.reference ?? "").isEmpty {
                found.append(
                    Violation(
                        .referenceMissing,
                        at: root["reference"],
                        "a \(invoice.invoiceType.rawValue) must name the invoice it corrects"
                    )
                )
            }
        }
        if let reference = invoice.reference { limitText(reference, "reference", at: root["reference"]) }
        if invoice.timestamp.isEmpty {
            found.append(Violation(.fieldMissing, at: root["timestamp"], "timestamp is required"))
        } else if Self.parseTimestamp(invoice.timestamp) == nil {
            found.append(
                Violation(
                    .formatInvalid,
                    at: root["timestamp"],
                    "timestamp must be ISO 8601 with a UTC offset, e.g. 2026-11-21T10:15:00+01:00"
                )
            )
        }

        // Client.
        let client = invoice.client
        limitText(client.name, "client.name", at: root["client"]["name"])
        if let nif = client.nif, nif.count > limits.maxIdentifierLength {
            found.append(
                Violation(
                    .fieldTooLong,
                    at: root["client"]["nif"],
                    "client.nif exceeds \(limits.maxIdentifierLength) characters"
                )
            )
        }
        if client.classification.needsIdentification {
            if (client.name ?? "").isEmpty || (client.nif ?? "").isEmpty {
                found.append(
                    Violation(
                        .clientIdentificationMissing,
                        at: root["client"],
                        "a \(client.classification.rawValue) client needs both name and nif"
                    )
                )
            }
        }

        // Items, and the per-group sums they imply.
        var baseByGroup: [String: Int128] = [:]
        if invoice.items.isEmpty {
            found.append(Violation(.itemsEmpty, at: root["items"], "an invoice needs at least one item"))
        } else if invoice.items.count > limits.maxItems {
            found.append(Violation(.tooManyEntries, at: root["items"], "at most \(limits.maxItems) items"))
        }
        for (index, item) in invoice.items.enumerated() {
            let path = root["items"][index]
            if item.code.isEmpty { found.append(Violation(.fieldMissing, at: path["code"], "item code is required")) }
            if item.code.count > limits.maxIdentifierLength {
                found.append(
                    Violation(
                        .fieldTooLong,
                        at: path["code"],
                        "item code exceeds \(limits.maxIdentifierLength) characters"
                    )
                )
            }
            if item.description.isEmpty {
                found.append(Violation(.fieldMissing, at: path["description"], "item description is required"))
            }
            limitText(item.description, "description", at: path["description"])
            if item.quantity.units <= 0 {
                found.append(
                    Violation(.quantityNotPositive, at: path["quantity"], "quantity must be greater than zero")
                )
            }
            if item.unitPrice.units < 0 {
                found.append(Violation(.amountNegative, at: path["unit_price"], "unit_price must not be negative"))
            }
            if rules.taxGroup(item.taxGroup) == nil {
                found.append(Violation(.unknownTaxGroup, at: path["tax_group"], "unknown tax group '\(item.taxGroup)'"))
            }
            let amount = item.exactAmount
            if amount.magnitude > UInt128(Money.limit) {
                found.append(
                    Violation(.valueOutOfRange, at: path, "quantity × unit_price exceeds the device's range")
                )
            }
            baseByGroup[item.taxGroup, default: 0] += amount
        }

        // The breakdown.
        var seenGroups = Set<String>()
        var subtotal: Int128 = 0
        var totalVAT: Int128 = 0
        for (index, line) in invoice.taxGroups.enumerated() {
            let path = root["tax_groups"][index]
            subtotal += Int128(line.base.units)
            totalVAT += Int128(line.amount.units)
            guard let group = rules.taxGroup(line.code) else {
                found.append(Violation(.unknownTaxGroup, at: path["code"], "unknown tax group '\(line.code)'"))
                continue
            }
            if !seenGroups.insert(line.code).inserted {
                found.append(Violation(.taxGroupDuplicate, at: path["code"], "tax group \(line.code) appears twice"))
            }
            if line.rate != group.rate {
                found.append(
                    Violation(
                        .taxRateMismatch,
                        at: path["rate"],
                        "group \(line.code) has rate \(group.rate), not \(line.rate)"
                    )
                )
            }
            let expectedBase = baseByGroup[line.code] ?? 0
            if Int128(line.base.units) != expectedBase {
                found.append(
                    Violation(
                        .taxBaseMismatch,
                        at: path["base"],
                        "group \(line.code): base is \(line.base) but its items add up to \(Self.text(expectedBase))"
                    )
                )
            }
            let expectedAmount = FixedPoint.divideRounded(
                Int128(line.base.units) * Int128(group.rate.units),
                by: 10_000
            )
            if Int128(line.amount.units) != expectedAmount {
                found.append(
                    Violation(
                        .taxAmountMismatch,
                        at: path["amount"],
                        "group \(line.code): \(line.base) × \(group.rate) % is \(Self.text(expectedAmount)), not \(line.amount)"
                    )
                )
            }
            if line.base.units < 0 || line.amount.units < 0 {
                found.append(Violation(.amountNegative, at: path, "base and amount must not be negative"))
            }
        }
        for group in baseByGroup.keys.sorted() where !seenGroups.contains(group) && rules.taxGroup(group) != nil {
            found.append(
                Violation(
                    .taxGroupMissing,
                    at: root["tax_groups"],
                    "items use group \(group) but the breakdown has no row for it"
                )
            )
        }

        // Totals.
        let totals = invoice.totals
        if Int128(totals.subtotal.units) != subtotal {
            found.append(
                Violation(
                    .subtotalMismatch,
                    at: root["totals"]["subtotal"],
                    "subtotal is \(totals.subtotal), the bases add up to \(Self.text(subtotal))"
                )
            )
        }
        if Int128(totals.totalVAT.units) != totalVAT {
            found.append(
                Violation(
                    .totalVATMismatch,
                    at: root["totals"]["total_vat"],
                    "total_vat is \(totals.totalVAT), the tax amounts add up to \(Self.text(totalVAT))"
                )
            )
        }
        let expectedTotal = Int128(totals.subtotal.units) + Int128(totals.totalVAT.units)
        if Int128(totals.total.units) != expectedTotal {
            found.append(
                Violation(
                    .totalMismatch,
                    at: root["totals"]["total"],
                    "total is \(totals.total), subtotal + total_vat is \(Self.text(expectedTotal))"
                )
            )
        }
        if abs(subtotal) > Int128(Money.limit) || abs(expectedTotal) > Int128(Money.limit) {
            found.append(
                Violation(.valueOutOfRange, at: root["totals"], "the invoice's amounts exceed the device's range")
            )
        }
        if !rules.currencies.contains(totals.currency) {
            found.append(
                Violation(
                    .unknownCurrency,
                    at: root["totals"]["currency"],
                    "currency '\(totals.currency)' is not one of \(rules.currencies.joined(separator: ", "))"
                )
            )
        }

        // Payments.
        if invoice.payments.count > limits.maxPayments {
            found.append(Violation(.tooManyEntries, at: root["payments"], "at most \(limits.maxPayments) payments"))
        }
        var paid: Int128 = 0
        for (index, payment) in invoice.payments.enumerated() {
            let path = root["payments"][index]
            if payment.amount.units <= 0 {
                found.append(Violation(.amountNegative, at: path["amount"], "a payment must be greater than zero"))
            }
            limitText(payment.reference, "reference", at: path["reference"])
            paid += Int128(payment.amount.units)
        }
        if paid < Int128(totals.total.units) {
            found.append(
                Violation(
                    .paymentsInsufficient,
                    at: root["payments"],
                    "payments add up to \(Self.text(paid)), the total is \(totals.total)"
                )
            )
        }
        return found
    }

    /// Throws `SCHEMA_INVALID` carrying every violation, if there are any.
    public func validate(_ invoice: Invoice) throws(FiscalError) {
        let found = violations(in: invoice)
        guard found.isEmpty else {
            throw FiscalError(.schemaInvalid, "the invoice has \(found.count) violation(s)", violations: found)
        }
    }

    /// Parses ISO 8601 with a UTC offset (`Z` or `±hh:mm`), with or without fractional seconds.
    public static func parseTimestamp(_ text: String) -> Date? { DeviceTimestamp.parse(text) }

    private static func text(_ units: Int128) -> String {
        guard let small = Int64(exactly: units) else { return String(units) }
        return FixedPoint.format(small, scale: Money.scale)
    }
}
