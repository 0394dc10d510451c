// swift-format-ignore-file
// Generated from Sources/FiscalCore/ErrorCatalog.json by `make errors`; do not edit.

extension ErrorCode {
    public static let schemaInvalid = ErrorCode(rawValue: "SCHEMA_INVALID")
    public static let storageFull = ErrorCode(rawValue: "STORAGE_FULL")
    public static let clockRollbackDetected = ErrorCode(rawValue: "CLOCK_ROLLBACK_DETECTED")
    public static let deviceRevoked = ErrorCode(rawValue: "DEVICE_REVOKED")
    public static let deviceBusy = ErrorCode(rawValue: "DEVICE_BUSY")
    public static let invalidNonce = ErrorCode(rawValue: "INVALID_NONCE")
    public static let nonceExpired = ErrorCode(rawValue: "NONCE_EXPIRED")
    public static let notFound = ErrorCode(rawValue: "NOT_FOUND")
    public static let notInitialized = ErrorCode(rawValue: "NOT_INITIALIZED")
    public static let alreadyInitialized = ErrorCode(rawValue: "ALREADY_INITIALIZED")
    public static let unauthorized = ErrorCode(rawValue: "UNAUTHORIZED")
    public static let frameInvalid = ErrorCode(rawValue: "FRAME_INVALID")
    public static let jsonInvalid = ErrorCode(rawValue: "JSON_INVALID")
    public static let unknownCommand = ErrorCode(rawValue: "UNKNOWN_COMMAND")
    public static let argumentInvalid = ErrorCode(rawValue: "ARGUMENT_INVALID")
    public static let deviceTimeout = ErrorCode(rawValue: "DEVICE_TIMEOUT")
    public static let linkDown = ErrorCode(rawValue: "LINK_DOWN")
    public static let replyInvalid = ErrorCode(rawValue: "REPLY_INVALID")
    public static let mediatorTimeout = ErrorCode(rawValue: "MEDIATOR_TIMEOUT")
    public static let messageInvalid = ErrorCode(rawValue: "MESSAGE_INVALID")
    public static let unsupportedVersion = ErrorCode(rawValue: "UNSUPPORTED_VERSION")
    public static let unknownMessageType = ErrorCode(rawValue: "UNKNOWN_MESSAGE_TYPE")
    public static let terminalMismatch = ErrorCode(rawValue: "TERMINAL_MISMATCH")
    public static let queueFull = ErrorCode(rawValue: "QUEUE_FULL")
    public static let inProgress = ErrorCode(rawValue: "IN_PROGRESS")
    public static let idempotencyConflict = ErrorCode(rawValue: "IDEMPOTENCY_CONFLICT")
    public static let notPrepared = ErrorCode(rawValue: "NOT_PREPARED")
    public static let aborted = ErrorCode(rawValue: "ABORTED")
    public static let deviceUnavailable = ErrorCode(rawValue: "DEVICE_UNAVAILABLE")
    public static let shuttingDown = ErrorCode(rawValue: "SHUTTING_DOWN")
    public static let notRegistered = ErrorCode(rawValue: "NOT_REGISTERED")
    public static let terminalInactive = ErrorCode(rawValue: "TERMINAL_INACTIVE")
    public static let keyNotPaired = ErrorCode(rawValue: "KEY_NOT_PAIRED")
    public static let pairingRefused = ErrorCode(rawValue: "PAIRING_REFUSED")
    public static let machineMismatch = ErrorCode(rawValue: "MACHINE_MISMATCH")
    public static let notLoggedIn = ErrorCode(rawValue: "NOT_LOGGED_IN")
    public static let cashierMismatch = ErrorCode(rawValue: "CASHIER_MISMATCH")
    public static let configInvalid = ErrorCode(rawValue: "CONFIG_INVALID")
    public static let fieldMissing = ErrorCode(rawValue: "FIELD_MISSING")
    public static let fieldTooLong = ErrorCode(rawValue: "FIELD_TOO_LONG")
    public static let tooManyEntries = ErrorCode(rawValue: "TOO_MANY_ENTRIES")
    public static let formatInvalid = ErrorCode(rawValue: "FORMAT_INVALID")
    public static let itemsEmpty = ErrorCode(rawValue: "ITEMS_EMPTY")
    public static let quantityNotPositive = ErrorCode(rawValue: "QUANTITY_NOT_POSITIVE")
    public static let amountNegative = ErrorCode(rawValue: "AMOUNT_NEGATIVE")
    public static let unknownTaxGroup = ErrorCode(rawValue: "UNKNOWN_TAX_GROUP")
    public static let taxRateMismatch = ErrorCode(rawValue: "TAX_RATE_MISMATCH")
    public static let taxGroupDuplicate = ErrorCode(rawValue: "TAX_GROUP_DUPLICATE")
    public static let taxGroupMissing = ErrorCode(rawValue: "TAX_GROUP_MISSING")
    public static let taxBaseMismatch = ErrorCode(rawValue: "TAX_BASE_MISMATCH")
    public static let taxAmountMismatch = ErrorCode(rawValue: "TAX_AMOUNT_MISMATCH")
    public static let subtotalMismatch = ErrorCode(rawValue: "SUBTOTAL_MISMATCH")
    public static let totalVATMismatch = ErrorCode(rawValue: "TOTAL_VAT_MISMATCH")
    public static let totalMismatch = ErrorCode(rawValue: "TOTAL_MISMATCH")
    public static let unknownCurrency = ErrorCode(rawValue: "UNKNOWN_CURRENCY")
    public static let paymentsInsufficient = ErrorCode(rawValue: "PAYMENTS_INSUFFICIENT")
    public static let referenceMissing = ErrorCode(rawValue: "REFERENCE_MISSING")
    public static let clientIdentificationMissing = ErrorCode(rawValue: "CLIENT_IDENTIFICATION_MISSING")
    public static let valueOutOfRange = ErrorCode(rawValue: "VALUE_OUT_OF_RANGE")
    public static let inUse = ErrorCode(rawValue: "IN_USE")
    public static let storeUnavailable = ErrorCode(rawValue: "STORE_UNAVAILABLE")
    public static let replyUnencodable = ErrorCode(rawValue: "REPLY_UNENCODABLE")
    public static let rateLimited = ErrorCode(rawValue: "RATE_LIMITED")
    public static let deviceUnreachable = ErrorCode(rawValue: "DEVICE_UNREACHABLE")
    public static let deviceSlow = ErrorCode(rawValue: "DEVICE_SLOW")
    public static let storeFailing = ErrorCode(rawValue: "STORE_FAILING")
    public static let diskLow = ErrorCode(rawValue: "DISK_LOW")
    public static let deviceHalted = ErrorCode(rawValue: "DEVICE_HALTED")
    public static let terminalOffline = ErrorCode(rawValue: "TERMINAL_OFFLINE")
    public static let printerUnavailable = ErrorCode(rawValue: "PRINTER_UNAVAILABLE")
    public static let drawerUnavailable = ErrorCode(rawValue: "DRAWER_UNAVAILABLE")
    public static let syncQuarantined = ErrorCode(rawValue: "SYNC_QUARANTINED")
    public static let syncUnauthorized = ErrorCode(rawValue: "SYNC_UNAUTHORIZED")
    public static let syncFailing = ErrorCode(rawValue: "SYNC_FAILING")
    public static let syncProtocol = ErrorCode(rawValue: "SYNC_PROTOCOL")
    public static let syncLate = ErrorCode(rawValue: "SYNC_LATE")
    public static let syncGap = ErrorCode(rawValue: "SYNC_GAP")
    public static let staffUnknown = ErrorCode(rawValue: "STAFF_UNKNOWN")
    public static let workPeriodClosed = ErrorCode(rawValue: "WORK_PERIOD_CLOSED")
    public static let workPeriodOpen = ErrorCode(rawValue: "WORK_PERIOD_OPEN")
    public static let floatInvalid = ErrorCode(rawValue: "FLOAT_INVALID")
    public static let cashEventInvalid = ErrorCode(rawValue: "CASH_EVENT_INVALID")
    public static let saleContextInvalid = ErrorCode(rawValue: "SALE_CONTEXT_INVALID")
    public static let discountExceedsLine = ErrorCode(rawValue: "DISCOUNT_EXCEEDS_LINE")
    public static let tenderInsufficient = ErrorCode(rawValue: "TENDER_INSUFFICIENT")
    public static let changeExceedsTender = ErrorCode(rawValue: "CHANGE_EXCEEDS_TENDER")
    public static let rateInvalid = ErrorCode(rawValue: "RATE_INVALID")
    public static let referenceUnknown = ErrorCode(rawValue: "REFERENCE_UNKNOWN")
    public static let referenceInvalid = ErrorCode(rawValue: "REFERENCE_INVALID")
    public static let refundExceedsOriginal = ErrorCode(rawValue: "REFUND_EXCEEDS_ORIGINAL")
    public static let periodBusy = ErrorCode(rawValue: "PERIOD_BUSY")
    public static let cashCountInvalid = ErrorCode(rawValue: "CASH_COUNT_INVALID")
    public static let varianceExplanationRequired = ErrorCode(rawValue: "VARIANCE_EXPLANATION_REQUIRED")
    public static let roleRequired = ErrorCode(rawValue: "ROLE_REQUIRED")
    public static let reportNotFound = ErrorCode(rawValue: "REPORT_NOT_FOUND")
    public static let reportMismatch = ErrorCode(rawValue: "REPORT_MISMATCH")
    public static let dayNotClosed = ErrorCode(rawValue: "DAY_NOT_CLOSED")
    public static let dayAlreadyClosed = ErrorCode(rawValue: "DAY_ALREADY_CLOSED")

    /// Every code, with where it comes from and what it means.
    public static let catalog: [Entry] = [
        Entry(code: .schemaInvalid, origin: .device, retryable: false, summary: "The invoice failed validation; `violations` lists every problem with its JSON path."),
        Entry(code: .storageFull, origin: .device, retryable: false, summary: "The device's fiscal memory is full; no invoice can be sealed until it is serviced."),
        Entry(code: .clockRollbackDetected, origin: .device, retryable: false, summary: "The device clock is behind its last journal entry; fix the clock with CFG|TIME."),
        Entry(code: .deviceRevoked, origin: .device, retryable: false, summary: "The device was revoked by the tax authority; it seals nothing more."),
        Entry(code: .deviceBusy, origin: .device, retryable: true, summary: "Another PREPARE is outstanding; retry after its COMMIT or its nonce's expiry."),
        Entry(code: .invalidNonce, origin: .device, retryable: false, summary: "The nonce is not the one outstanding PREPARE's (reused, unknown or replayed)."),
        Entry(code: .nonceExpired, origin: .device, retryable: false, summary: "The nonce outlived its TTL; send a new PREPARE with the same payload."),
        Entry(code: .notFound, origin: .device, retryable: false, summary: "No journal entry or report has that number; to a terminal, no request with that id (RESULT, ABORT) or no sealed invoice with that number (LOG) is held here."),
        Entry(code: .notInitialized, origin: .device, retryable: false, summary: "The device has no identity or key yet; run CFG|INIT."),
        Entry(code: .alreadyInitialized, origin: .device, retryable: false, summary: "CFG|INIT on a device that already has an identity."),
        Entry(code: .unauthorized, origin: .device, retryable: false, summary: "The authorization token is missing or wrong."),
        Entry(code: .frameInvalid, origin: .device, retryable: true, summary: "The frame was corrupt, truncated, oversized or not UTF-8."),
        Entry(code: .jsonInvalid, origin: .device, retryable: false, summary: "The command's body is not a JSON object."),
        Entry(code: .unknownCommand, origin: .device, retryable: false, summary: "The command line names no known FAMILY|COMMAND."),
        Entry(code: .argumentInvalid, origin: .device, retryable: false, summary: "A command argument or body field is missing or malformed."),
        Entry(code: .deviceTimeout, origin: .link, retryable: true, summary: "The device did not answer in time; the outcome of a COMMIT is in doubt."),
        Entry(code: .linkDown, origin: .link, retryable: true, summary: "The serial link could not be opened, or was closed or lost."),
        Entry(code: .replyInvalid, origin: .link, retryable: true, summary: "The device's reply was corrupt or not the expected JSON."),
        Entry(code: .mediatorTimeout, origin: .link, retryable: true, summary: "(Terminal side) the mediator did not answer in time; ask RESULT for the request before sending it again."),
        Entry(code: .messageInvalid, origin: .mediator, retryable: false, summary: "The message is not one UTF-8 JSON object with `v`, `type` and the fields its type needs."),
        Entry(code: .unsupportedVersion, origin: .mediator, retryable: false, summary: "The message's `v` is not a protocol version this mediator speaks (it speaks 1)."),
        Entry(code: .unknownMessageType, origin: .mediator, retryable: false, summary: "The message's `type` is not a command of the terminal protocol."),
        Entry(code: .terminalMismatch, origin: .mediator, retryable: false, summary: "A terminal or outlet id in the message (HELLO's, the invoice's pos_terminal_id or outlet_id) is not the sender's or this mediator's."),
        Entry(code: .queueFull, origin: .mediator, retryable: true, summary: "Too many requests wait for the device (globally or from this terminal); retry after `retry_after_ms`."),
        Entry(code: .inProgress, origin: .mediator, retryable: true, summary: "This request id is still being worked on; ask RESULT later instead of sending it again."),
        Entry(code: .idempotencyConflict, origin: .mediator, retryable: false, summary: "This request id was used before with another invoice; use a new request id for a new sale."),
        Entry(code: .notPrepared, origin: .mediator, retryable: false, summary: "COMMIT for a request that holds no nonce: never prepared, still waiting for the device, or finished without being sealed. PREPARE it again with the same request id."),
        Entry(code: .aborted, origin: .mediator, retryable: true, summary: "The request was aborted (by the terminal, a disconnect, a lost device reply or a restart); send it again with the same request id."),
        Entry(code: .deviceUnavailable, origin: .mediator, retryable: true, summary: "The device does not answer (unplugged, silent, a dead line) or recovery is not done yet; send the same request again after `retry_after_ms`."),
        Entry(code: .shuttingDown, origin: .mediator, retryable: true, summary: "The mediator is stopping; the request was not taken (or, if it was waiting, is `failed`): send it again with the same request id once it is back."),
        Entry(code: .notRegistered, origin: .mediator, retryable: false, summary: "The terminal id is not in the outlet's registry; an admin adds it (`fiscal-mediator terminals add`)."),
        Entry(code: .terminalInactive, origin: .mediator, retryable: false, summary: "The terminal is registered but deactivated; an admin reactivates it."),
        Entry(code: .keyNotPaired, origin: .mediator, retryable: false, summary: "The connection's CURVE key is no longer pinned to any terminal (revoked or rotated since it connected); pair again (`fiscal-mediator terminals pair`)."),
        Entry(code: .pairingRefused, origin: .mediator, retryable: false, summary: "The pairing code is unknown, already used or expired (one answer for all three), or the key is pinned to another terminal; ask the technician for a new code."),
        Entry(code: .machineMismatch, origin: .mediator, retryable: false, summary: "HELLO came from another machine than the one this terminal id is bound to; an admin rebinds it."),
        Entry(code: .notLoggedIn, origin: .mediator, retryable: false, summary: "No cashier is logged in at this terminal; send LOGIN first."),
        Entry(code: .cashierMismatch, origin: .mediator, retryable: false, summary: "The invoice's cashier_id is not the cashier logged in at this terminal."),
        Entry(code: .configInvalid, origin: .config, retryable: false, summary: "A configuration file, flag or value is invalid; the message names the key."),
        Entry(code: .fieldMissing, origin: .validation, retryable: false, summary: "A required field is absent or empty."),
        Entry(code: .fieldTooLong, origin: .validation, retryable: false, summary: "A text field is longer than the limit."),
        Entry(code: .tooManyEntries, origin: .validation, retryable: false, summary: "Too many items or payments in one invoice."),
        Entry(code: .formatInvalid, origin: .validation, retryable: false, summary: "A field has the wrong format (timestamp, lane number, characters)."),
        Entry(code: .itemsEmpty, origin: .validation, retryable: false, summary: "The invoice has no items."),
        Entry(code: .quantityNotPositive, origin: .validation, retryable: false, summary: "An item's quantity is zero or negative."),
        Entry(code: .amountNegative, origin: .validation, retryable: false, summary: "A price or payment amount is negative (or a payment is zero)."),
        Entry(code: .unknownTaxGroup, origin: .validation, retryable: false, summary: "A tax group code is not in the configured table."),
        Entry(code: .taxRateMismatch, origin: .validation, retryable: false, summary: "A breakdown row's rate differs from the table's rate for its group."),
        Entry(code: .taxGroupDuplicate, origin: .validation, retryable: false, summary: "The breakdown lists the same group twice."),
        Entry(code: .taxGroupMissing, origin: .validation, retryable: false, summary: "An item's tax group has no row in the breakdown."),
        Entry(code: .taxBaseMismatch, origin: .validation, retryable: false, summary: "A breakdown row's base is not the sum of its items' amounts."),
        Entry(code: .taxAmountMismatch, origin: .validation, retryable: false, summary: "A breakdown row's amount is not base × rate, rounded half away from zero."),
        Entry(code: .subtotalMismatch, origin: .validation, retryable: false, summary: "totals.subtotal is not the sum of the breakdown's bases."),
        Entry(code: .totalVATMismatch, origin: .validation, retryable: false, summary: "totals.total_vat is not the sum of the breakdown's amounts."),
        Entry(code: .totalMismatch, origin: .validation, retryable: false, summary: "totals.total is not subtotal + total_vat."),
        Entry(code: .unknownCurrency, origin: .validation, retryable: false, summary: "totals.currency is not an accepted ISO 4217 code."),
        Entry(code: .paymentsInsufficient, origin: .validation, retryable: false, summary: "The payments add up to less than the total."),
        Entry(code: .referenceMissing, origin: .validation, retryable: false, summary: "A refund or credit note does not name the invoice it corrects."),
        Entry(code: .clientIdentificationMissing, origin: .validation, retryable: false, summary: "A company, professional, commercial individual or embassy client lacks a name or NIF."),
        Entry(code: .valueOutOfRange, origin: .validation, retryable: false, summary: "A computed amount exceeds what the device can represent."),
        Entry(code: .inUse, origin: .config, retryable: false, summary: "The store, the device or the emulator's state directory is held by another process (the message names its PID): one mediator per device and per store."),
        Entry(code: .storeUnavailable, origin: .mediator, retryable: true, summary: "The mediator's store refuses writes (a full disk, an I/O error); the sale was not taken. Send it again after `retry_after_ms`."),
        Entry(code: .replyUnencodable, origin: .mediator, retryable: true, summary: "The mediator could not encode its answer (a fault of the mediator, never of the terminal); nothing about the request changed: ask RESULT, or send the same request again."),
        Entry(code: .rateLimited, origin: .mediator, retryable: true, summary: "This terminal sends faster than the mediator takes (50 messages a second, 100 at once, by default); the message was not read: send it again after `retry_after_ms`."),
        Entry(code: .deviceUnreachable, origin: .alert, retryable: true, summary: "The device does not answer (unplugged, powered off, a dead line): sales get DEVICE_UNAVAILABLE until it answers again."),
        Entry(code: .deviceSlow, origin: .alert, retryable: true, summary: "The device answers, but slower than `device.slow_exchange`; shown to the operator only."),
        Entry(code: .storeFailing, origin: .alert, retryable: true, summary: "The store refuses writes: new sales are refused (STORE_UNAVAILABLE) until it takes them; sealed invoices are kept and written then."),
        Entry(code: .diskLow, origin: .alert, retryable: true, summary: "Free space on the store's file system is below the threshold (`serve --disk-low`); free space before the store refuses writes and sales stop with STORE_FAILING."),
        Entry(code: .deviceHalted, origin: .alert, retryable: true, summary: "The device refuses to seal (`code`: STORAGE_FULL, DEVICE_REVOKED, CLOCK_ROLLBACK_DETECTED): checkouts stop until it seals again."),
        Entry(code: .terminalOffline, origin: .alert, retryable: true, summary: "A terminal has been offline (no heartbeat, or its connection dropped) for 5 minutes; cleared by its next heartbeat or HELLO."),
        Entry(code: .printerUnavailable, origin: .alert, retryable: true, summary: "A terminal's heartbeat reports its printer unavailable; cleared when one reports it back."),
        Entry(code: .drawerUnavailable, origin: .alert, retryable: true, summary: "A terminal's heartbeat reports its cash drawer unavailable; cleared when one reports it back."),
        Entry(code: .syncQuarantined, origin: .alert, retryable: true, summary: "The cloud rejected an item; the upload line stops there until `sync retry` and the item goes through."),
        Entry(code: .syncUnauthorized, origin: .alert, retryable: true, summary: "The cloud refuses the outlet's token; cleared by the next acknowledged upload."),
        Entry(code: .syncFailing, origin: .alert, retryable: true, summary: "Several upload attempts in a row failed (unreachable, timeouts, 5xx, 429, or the store refusing the result); cleared by the next acknowledged upload."),
        Entry(code: .syncProtocol, origin: .alert, retryable: true, summary: "The cloud answered something that is not an answer to what was sent; cleared by the next acknowledged upload."),
        Entry(code: .syncLate, origin: .alert, retryable: true, summary: "The oldest invoice not uploaded has waited more than a day; cleared when the backlog catches up."),
        Entry(code: .syncGap, origin: .alert, retryable: true, summary: "The next number to upload (the last confirmed + 1) is missing from the store; the line sends nothing after it and recovery stores it from the device journal."),
        Entry(code: .staffUnknown, origin: .mediator, retryable: false, summary: "The staff registry is in use and the id is not in it, or is deactivated; an admin adds it with `fiscal-mediator staff add`."),
        Entry(code: .workPeriodClosed, origin: .mediator, retryable: false, summary: "The terminal has no open work period (or the period named is closed); send OPEN_PERIOD first."),
        Entry(code: .workPeriodOpen, origin: .mediator, retryable: false, summary: "The terminal already has an open work period; one is open per terminal at a time."),
        Entry(code: .floatInvalid, origin: .mediator, retryable: false, summary: "The opening float is malformed: a currency not accepted, or a negative amount; `violations` names each."),
        Entry(code: .cashEventInvalid, origin: .mediator, retryable: false, summary: "The cash event is malformed: a negative or missing amount, a currency not accepted, an unknown kind; `violations` names each."),
        Entry(code: .saleContextInvalid, origin: .mediator, retryable: false, summary: "The sale's context (discounts, tender, change) does not agree with its invoice; `violations` names each rule broken."),
        Entry(code: .discountExceedsLine, origin: .validation, retryable: false, summary: "A line's discount is negative, names no line of the invoice, or is more than the line was before it."),
        Entry(code: .tenderInsufficient, origin: .validation, retryable: false, summary: "What was tendered, converted at its rates, does not cover the invoice's total plus the change given."),
        Entry(code: .changeExceedsTender, origin: .validation, retryable: false, summary: "The change given back is more than was tendered in excess of the total."),
        Entry(code: .rateInvalid, origin: .validation, retryable: false, summary: "A tender in another currency than the invoice's has no rate, or a rate that is not positive; a tender in the invoice's currency has a rate other than 1."),
        Entry(code: .referenceUnknown, origin: .mediator, retryable: false, summary: "A refund or credit note's `reference` is not the fiscal number of an invoice sealed here."),
        Entry(code: .referenceInvalid, origin: .mediator, retryable: false, summary: "A refund or credit note's `reference` is an invoice of another outlet, another currency, or not a sale."),
        Entry(code: .refundExceedsOriginal, origin: .mediator, retryable: false, summary: "The refund or credit note, with the earlier ones of the same invoice, is more than that invoice's total."),
        Entry(code: .periodBusy, origin: .mediator, retryable: true, summary: "The terminal has requests queued, prepared, committing or in doubt, and a Z waits for them (`message` names each); or a combined Z is closing the day and a sale waits a moment. Send it again."),
        Entry(code: .cashCountInvalid, origin: .validation, retryable: false, summary: "The cash count is missing, negative, in a currency not accepted, or names a denomination that is not configured; `violations` names each."),
        Entry(code: .varianceExplanationRequired, origin: .mediator, retryable: false, summary: "The variance between expected and counted cash is above the configured threshold and no explanation was given."),
        Entry(code: .roleRequired, origin: .mediator, retryable: false, summary: "The staff member named (`closed_by`, `taken_by`) lacks the role the action needs: supervisor or manager for a Z, manager for a combined Z, admin for a forced close."),
        Entry(code: .reportNotFound, origin: .mediator, retryable: false, summary: "No report has that number."),
        Entry(code: .reportMismatch, origin: .alert, retryable: false, summary: "A combined Z found that the registers' Zs and the device's own Z disagree; the record names the differences."),
        Entry(code: .dayNotClosed, origin: .mediator, retryable: false, summary: "A combined Z needs every terminal that sold since the device's last Z to have taken its Z; `message` names the open ones."),
        Entry(code: .dayAlreadyClosed, origin: .mediator, retryable: false, summary: "The device's day has no Z and no sale since the last combined Z: there is nothing to close."),
    ]
}
