/// A stable error code a terminal, an operator or a device peer can see.
///
/// Codes are part of the protocol: they never change meaning and are never reused.
/// ``ErrorCode/catalog`` lists every one; docs/ERRORS.md is generated from the same list and a
/// test checks that both agree and that no code appears twice.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    /// Where a code comes from.
    public enum Origin: String, Sendable, CaseIterable {
        /// Answered by the fiscal device (the DEF or the emulator).
        case device
        /// Raised on the host side of the device link.
        case link
        /// One violation inside a `SCHEMA_INVALID` answer.
        case validation
        /// Answered by the mediator to a terminal.
        case mediator
        /// Configuration and command-line input.
        case config
        /// Raised by the mediator for the operator (`/alerts`) and, when checkouts must stop, pushed
        /// to every terminal as a DEVICE_ALERT event.
        case alert
    }

    /// One catalog entry.
    public struct Entry: Sendable {
        public var code: ErrorCode
        public var origin: Origin
        /// Whether the same request may succeed if simply sent again later.
        public var retryable: Bool
        public var summary: String
    }

    private init(_ rawValue: String) { self.rawValue = rawValue }

    // MARK: Device answers

    public static let schemaInvalid = ErrorCode("SCHEMA_INVALID")
    public static let storageFull = ErrorCode("STORAGE_FULL")
    public static let clockRollbackDetected = ErrorCode("CLOCK_ROLLBACK_DETECTED")
    public static let deviceRevoked = ErrorCode("DEVICE_REVOKED")
    public static let deviceBusy = ErrorCode("DEVICE_BUSY")
    public static let invalidNonce = ErrorCode("INVALID_NONCE")
    public static let nonceExpired = ErrorCode("NONCE_EXPIRED")
    public static let notFound = ErrorCode("NOT_FOUND")
    public static let notInitialized = ErrorCode("NOT_INITIALIZED")
    public static let alreadyInitialized = ErrorCode("ALREADY_INITIALIZED")
    public static let unauthorized = ErrorCode("UNAUTHORIZED")
    public static let frameInvalid = ErrorCode("FRAME_INVALID")
    public static let jsonInvalid = ErrorCode("JSON_INVALID")
    public static let unknownCommand = ErrorCode("UNKNOWN_COMMAND")
    public static let argumentInvalid = ErrorCode("ARGUMENT_INVALID")

    // MARK: Host side of the link

    public static let deviceTimeout = ErrorCode("DEVICE_TIMEOUT")
    public static let linkDown = ErrorCode("LINK_DOWN")
    public static let replyInvalid = ErrorCode("REPLY_INVALID")
    public static let mediatorTimeout = ErrorCode("MEDIATOR_TIMEOUT")

    // MARK: Mediator answers

    public static let messageInvalid = ErrorCode("MESSAGE_INVALID")
    public static let unsupportedVersion = ErrorCode("UNSUPPORTED_VERSION")
    public static let unknownMessageType = ErrorCode("UNKNOWN_MESSAGE_TYPE")
    public static let terminalMismatch = ErrorCode("TERMINAL_MISMATCH")
    public static let queueFull = ErrorCode("QUEUE_FULL")
    public static let inProgress = ErrorCode("IN_PROGRESS")
    public static let idempotencyConflict = ErrorCode("IDEMPOTENCY_CONFLICT")
    public static let notPrepared = ErrorCode("NOT_PREPARED")
    public static let aborted = ErrorCode("ABORTED")
    public static let deviceUnavailable = ErrorCode("DEVICE_UNAVAILABLE")
    public static let shuttingDown = ErrorCode("SHUTTING_DOWN")
    public static let notRegistered = ErrorCode("NOT_REGISTERED")
    public static let terminalInactive = ErrorCode("TERMINAL_INACTIVE")
    public static let machineMismatch = ErrorCode("MACHINE_MISMATCH")
    public static let notLoggedIn = ErrorCode("NOT_LOGGED_IN")
    public static let cashierMismatch = ErrorCode("CASHIER_MISMATCH")
    public static let storeUnavailable = ErrorCode("STORE_UNAVAILABLE")
    public static let rateLimited = ErrorCode("RATE_LIMITED")

    // MARK: Alerts

    public static let deviceUnreachable = ErrorCode("DEVICE_UNREACHABLE")
    public static let deviceSlow = ErrorCode("DEVICE_SLOW")
    public static let storeFailing = ErrorCode("STORE_FAILING")

    // MARK: Configuration

    public static let configInvalid = ErrorCode("CONFIG_INVALID")
    public static let inUse = ErrorCode("IN_USE")

    // MARK: Validation violations

    public static let fieldMissing = ErrorCode("FIELD_MISSING")
    public static let fieldTooLong = ErrorCode("FIELD_TOO_LONG")
    public static let tooManyEntries = ErrorCode("TOO_MANY_ENTRIES")
    public static let formatInvalid = ErrorCode("FORMAT_INVALID")
    public static let itemsEmpty = ErrorCode("ITEMS_EMPTY")
    public static let quantityNotPositive = ErrorCode("QUANTITY_NOT_POSITIVE")
    public static let amountNegative = ErrorCode("AMOUNT_NEGATIVE")
    public static let unknownTaxGroup = ErrorCode("UNKNOWN_TAX_GROUP")
    public static let taxRateMismatch = ErrorCode("TAX_RATE_MISMATCH")
    public static let taxGroupDuplicate = ErrorCode("TAX_GROUP_DUPLICATE")
    public static let taxGroupMissing = ErrorCode("TAX_GROUP_MISSING")
    public static let taxBaseMismatch = ErrorCode("TAX_BASE_MISMATCH")
    public static let taxAmountMismatch = ErrorCode("TAX_AMOUNT_MISMATCH")
    public static let subtotalMismatch = ErrorCode("SUBTOTAL_MISMATCH")
    public static let totalVATMismatch = ErrorCode("TOTAL_VAT_MISMATCH")
    public static let totalMismatch = ErrorCode("TOTAL_MISMATCH")
    public static let unknownCurrency = ErrorCode("UNKNOWN_CURRENCY")
    public static let paymentsInsufficient = ErrorCode("PAYMENTS_INSUFFICIENT")
    public static let referenceMissing = ErrorCode("REFERENCE_MISSING")
    public static let clientIdentificationMissing = ErrorCode("CLIENT_IDENTIFICATION_MISSING")
    public static let valueOutOfRange = ErrorCode("VALUE_OUT_OF_RANGE")

    /// Every code, with where it comes from and what it means.
    public static let catalog: [Entry] = [
        Entry(
            code: .schemaInvalid,
            origin: .device,
            retryable: false,
            summary: "The invoice failed validation; `violations` lists every problem with its JSON path."
        ),
        Entry(
            code: .storageFull,
            origin: .device,
            retryable: false,
            summary: "The device's fiscal memory is full; no invoice can be sealed until it is serviced."
        ),
        Entry(
            code: .clockRollbackDetected,
            origin: .device,
            retryable: false,
            summary: "The device clock is behind its last journal entry; fix the clock with CFG|TIME."
        ),
        Entry(
            code: .deviceRevoked,
            origin: .device,
            retryable: false,
            summary: "The device was revoked by the tax authority; it seals nothing more."
        ),
        Entry(
            code: .deviceBusy,
            origin: .device,
            retryable: true,
            summary: "Another PREPARE is outstanding; retry after its COMMIT or its nonce's expiry."
        ),
        Entry(
            code: .invalidNonce,
            origin: .device,
            retryable: false,
            summary: "The nonce is not the one outstanding PREPARE's (reused, unknown or replayed)."
        ),
        Entry(
            code: .nonceExpired,
            origin: .device,
            retryable: false,
            summary: "The nonce outlived its TTL; send a new PREPARE with the same payload."
        ),
        Entry(
            code: .notFound,
            origin: .device,
            retryable: false,
            summary:
                "No journal entry or report has that number; to a terminal, no request with that id (RESULT, ABORT) or no sealed invoice with that number (LOG) is held here."
        ),
        Entry(
            code: .notInitialized,
            origin: .device,
            retryable: false,
            summary: "The device has no identity or key yet; run CFG|INIT."
        ),
        Entry(
            code: .alreadyInitialized,
            origin: .device,
            retryable: false,
            summary: "CFG|INIT on a device that already has an identity."
        ),
        Entry(
            code: .unauthorized,
            origin: .device,
            retryable: false,
            summary: "The authorization token is missing or wrong."
        ),
        Entry(
            code: .frameInvalid,
            origin: .device,
            retryable: true,
            summary: "The frame was corrupt, truncated, oversized or not UTF-8."
        ),
        Entry(
            code: .jsonInvalid,
            origin: .device,
            retryable: false,
            summary: "The command's body is not a JSON object."
        ),
        Entry(
            code: .unknownCommand,
            origin: .device,
            retryable: false,
            summary: "The command line names no known FAMILY|COMMAND."
        ),
        Entry(
            code: .argumentInvalid,
            origin: .device,
            retryable: false,
            summary: "A command argument or body field is missing or malformed."
        ),
        Entry(
            code: .deviceTimeout,
            origin: .link,
            retryable: true,
            summary: "The device did not answer in time; the outcome of a COMMIT is in doubt."
        ),
        Entry(
            code: .linkDown,
            origin: .link,
            retryable: true,
            summary: "The serial link could not be opened, or was closed or lost."
        ),
        Entry(
            code: .replyInvalid,
            origin: .link,
            retryable: true,
            summary: "The device's reply was corrupt or not the expected JSON."
        ),
        Entry(
            code: .mediatorTimeout,
            origin: .link,
            retryable: true,
            summary:
                "(Terminal side) the mediator did not answer in time; ask RESULT for the request before sending it again."
        ),
        Entry(
            code: .messageInvalid,
            origin: .mediator,
            retryable: false,
            summary: "The message is not one UTF-8 JSON object with `v`, `type` and the fields its type needs."
        ),
        Entry(
            code: .unsupportedVersion,
            origin: .mediator,
            retryable: false,
            summary: "The message's `v` is not a protocol version this mediator speaks (it speaks 1)."
        ),
        Entry(
            code: .unknownMessageType,
            origin: .mediator,
            retryable: false,
            summary: "The message's `type` is not a command of the terminal protocol."
        ),
        Entry(
            code: .terminalMismatch,
            origin: .mediator,
            retryable: false,
            summary:
                "A terminal or outlet id in the message (HELLO's, the invoice's pos_terminal_id or outlet_id) is not the sender's or this mediator's."
        ),
        Entry(
            code: .queueFull,
            origin: .mediator,
            retryable: true,
            summary:
                "Too many requests wait for the device (globally or from this terminal); retry after `retry_after_ms`."
        ),
        Entry(
            code: .inProgress,
            origin: .mediator,
            retryable: true,
            summary: "This request id is still being worked on; ask RESULT later instead of sending it again."
        ),
        Entry(
            code: .idempotencyConflict,
            origin: .mediator,
            retryable: false,
            summary: "This request id was used before with another invoice; use a new request id for a new sale."
        ),
        Entry(
            code: .notPrepared,
            origin: .mediator,
            retryable: false,
            summary:
                "COMMIT for a request that holds no nonce: never prepared, still waiting for the device, or finished without being sealed. PREPARE it again with the same request id."
        ),
        Entry(
            code: .aborted,
            origin: .mediator,
            retryable: true,
            summary:
                "The request was aborted (by the terminal, a disconnect, a lost device reply or a restart); send it again with the same request id."
        ),
        Entry(
            code: .deviceUnavailable,
            origin: .mediator,
            retryable: true,
            summary:
                "The device does not answer (unplugged, silent, a dead line) or recovery is not done yet; send the same request again after `retry_after_ms`."
        ),
        Entry(
            code: .shuttingDown,
            origin: .mediator,
            retryable: true,
            summary:
                "The mediator is stopping; the request was not taken (or, if it was waiting, is `failed`): send it again with the same request id once it is back."
        ),
        Entry(
            code: .notRegistered,
            origin: .mediator,
            retryable: false,
            summary:
                "The terminal id is not in the outlet's registry; an admin adds it (`fiscal-mediator terminals add`)."
        ),
        Entry(
            code: .terminalInactive,
            origin: .mediator,
            retryable: false,
            summary: "The terminal is registered but deactivated; an admin reactivates it."
        ),
        Entry(
            code: .machineMismatch,
            origin: .mediator,
            retryable: false,
            summary:
                "HELLO came from another machine than the one this terminal id is bound to; an admin rebinds it."
        ),
        Entry(
            code: .notLoggedIn,
            origin: .mediator,
            retryable: false,
            summary: "No cashier is logged in at this terminal; send LOGIN first."
        ),
        Entry(
            code: .cashierMismatch,
            origin: .mediator,
            retryable: false,
            summary: "The invoice's cashier_id is not the cashier logged in at this terminal."
        ),
        Entry(
            code: .configInvalid,
            origin: .config,
            retryable: false,
            summary: "A configuration file, flag or value is invalid; the message names the key."
        ),
        Entry(
            code: .fieldMissing,
            origin: .validation,
            retryable: false,
            summary: "A required field is absent or empty."
        ),
        Entry(
            code: .fieldTooLong,
            origin: .validation,
            retryable: false,
            summary: "A text field is longer than the limit."
        ),
        Entry(
            code: .tooManyEntries,
            origin: .validation,
            retryable: false,
            summary: "Too many items or payments in one invoice."
        ),
        Entry(
            code: .formatInvalid,
            origin: .validation,
            retryable: false,
            summary: "A field has the wrong format (timestamp, lane number, characters)."
        ),
        Entry(
            code: .itemsEmpty,
            origin: .validation,
            retryable: false,
            summary: "The invoice has no items."
        ),
        Entry(
            code: .quantityNotPositive,
            origin: .validation,
            retryable: false,
            summary: "An item's quantity is zero or negative."
        ),
        Entry(
            code: .amountNegative,
            origin: .validation,
            retryable: false,
            summary: "A price or payment amount is negative (or a payment is zero)."
        ),
        Entry(
            code: .unknownTaxGroup,
            origin: .validation,
            retryable: false,
            summary: "A tax group code is not in the configured table."
        ),
        Entry(
            code: .taxRateMismatch,
            origin: .validation,
            retryable: false,
            summary: "A breakdown row's rate differs from the table's rate for its group."
        ),
        Entry(
            code: .taxGroupDuplicate,
            origin: .validation,
            retryable: false,
            summary: "The breakdown lists the same group twice."
        ),
        Entry(
            code: .taxGroupMissing,
            origin: .validation,
            retryable: false,
            summary: "An item's tax group has no row in the breakdown."
        ),
        Entry(
            code: .taxBaseMismatch,
            origin: .validation,
            retryable: false,
            summary: "A breakdown row's base is not the sum of its items' amounts."
        ),
        Entry(
            code: .taxAmountMismatch,
            origin: .validation,
            retryable: false,
            summary: "A breakdown row's amount is not base × rate, rounded half away from zero."
        ),
        Entry(
            code: .subtotalMismatch,
            origin: .validation,
            retryable: false,
            summary: "totals.subtotal is not the sum of the breakdown's bases."
        ),
        Entry(
            code: .totalVATMismatch,
            origin: .validation,
            retryable: false,
            summary: "totals.total_vat is not the sum of the breakdown's amounts."
        ),
        Entry(
            code: .totalMismatch,
            origin: .validation,
            retryable: false,
            summary: "totals.total is not subtotal + total_vat."
        ),
        Entry(
            code: .unknownCurrency,
            origin: .validation,
            retryable: false,
            summary: "totals.currency is not an accepted ISO 4217 code."
        ),
        Entry(
            code: .paymentsInsufficient,
            origin: .validation,
            retryable: false,
            summary: "The payments add up to less than the total."
        ),
        Entry(
            code: .referenceMissing,
            origin: .validation,
            retryable: false,
            summary: "A refund or credit note does not name the invoice it corrects."
        ),
        Entry(
            code: .clientIdentificationMissing,
            origin: .validation,
            retryable: false,
            summary: "A company, professional, commercial individual or embassy client lacks a name or NIF."
        ),
        Entry(
            code: .valueOutOfRange,
            origin: .validation,
            retryable: false,
            summary: "A computed amount exceeds what the device can represent."
        ),
        Entry(
            code: .inUse,
            origin: .config,
            retryable: false,
            summary:
                "The store, the device or the emulator's state directory is held by another process (the message names its PID): one mediator per device and per store."
        ),
        Entry(
            code: .storeUnavailable,
            origin: .mediator,
            retryable: true,
            summary:
                "The mediator's store refuses writes (a full disk, an I/O error); the sale was not taken. Send it again after `retry_after_ms`."
        ),
        Entry(
            code: .rateLimited,
            origin: .mediator,
            retryable: true,
            summary:
                "This terminal sends faster than the mediator takes (50 messages a second, 100 at once, by default); the message was not read: send it again after `retry_after_ms`."
        ),
        Entry(
            code: .deviceUnreachable,
            origin: .alert,
            retryable: true,
            summary:
                "The device does not answer (unplugged, powered off, a dead line): sales get DEVICE_UNAVAILABLE until it answers again."
        ),
        Entry(
            code: .deviceSlow,
            origin: .alert,
            retryable: true,
            summary: "The device answers, but slower than `device.slow_exchange`; shown to the operator only."
        ),
        Entry(
            code: .storeFailing,
            origin: .alert,
            retryable: true,
            summary:
                "The store refuses writes: new sales are refused (STORE_UNAVAILABLE) until it takes them; sealed invoices are kept and written then."
        ),
    ]

    /// The catalog entry of this code, if it has one.
    public var entry: Entry? { Self.catalog.first { $0.code == self } }
}
