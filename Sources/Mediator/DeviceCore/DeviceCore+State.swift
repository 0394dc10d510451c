import FiscalCore
import FiscalDevice
import MediatorStore

extension DeviceCore {
    /// Where the mediator is in its life.
    enum Lifecycle: Sendable {
        /// Before ``start(now:)``.
        case idle
        /// Settling what a previous run left unfinished; no sale is admitted yet.
        case starting(Startup)
        case running
        /// Refusing new work; the exchange at the device and the writes finish.
        case stopping(drainedSent: Bool)
    }

    enum Startup: Sendable {
        /// Reading the unfinished requests from the store.
        case loading
        /// Resolving them one at a time at the device (committing and in-doubt ones).
        case settling([RequestKey])
        /// Storing every journal entry the store lacks.
        case checkingJournal
    }

    /// Who is at the device. At most one exchange is in flight: the one this names.
    enum Slot: Sendable {
        case idle
        /// A request holds the lock (and its phase says whether an exchange is in flight).
        case holder(Holder)
        /// An exchange the mediator makes for itself, with no request holding the lock.
        case errand(Exchange, Errand)
        /// An operator's report has its turn: no sale is at the device, and none starts until
        /// the report is done.
        case report(ReportRun)
    }

    enum Errand: Sendable, Hashable {
        /// QRY|STATUS after an idle spell, or while the device does not answer.
        case probe
        /// QRY|STATUS to learn how far the journal goes, before looking for entries the store lacks.
        case journalStatus
        /// QRY|LOG of an entry the store lacks.
        case adopt(InvoiceSeq)
        /// QRY|STATUS for an unresolved Z: did the device's `z_count` move past the intent's?
        case zStatus
        /// QRY|ZREPORT of the Z an unresolved intent stands for.
        case zReadBack(UInt64)
    }

    /// A report request waiting for its turn.
    struct ReportRequest: Sendable {
        var kind: DeviceReport.Kind
        var ticket: Ticket
    }

    /// The report at the device and how far it got.
    struct ReportRun: Sendable {
        var kind: DeviceReport.Kind
        var tickets: [Ticket]
        var phase: ReportPhase
        var attempts: Attempts

        /// The exchange in flight for it, if any.
        var exchange: Exchange? {
            switch phase {
            case .counting(let exchange), .asking(let exchange, _): exchange
            case .recording, .waiting: nil
            }
        }
    }

    enum ReportPhase: Sendable {
        /// Z: QRY|STATUS for the device's `z_count` before, which the intent records.
        case counting(Exchange)
        /// Z: the intent's write is in the line; RPT|Z goes out once it is on disk.
        case recording(zCountBefore: UInt64)
        /// RPT|Z (with the intent's `z_count`) or RPT|X at the device.
        case asking(Exchange, zCountBefore: UInt64?)
        /// The device answered DEVICE_BUSY: ask again at `until`.
        case waiting(until: Instant, zCountBefore: UInt64?)
    }

    /// A Z intent whose outcome the device must tell: its `z_count` first, then the Z read back.
    struct ZResolution: Sendable, Hashable {
        enum Step: Sendable, Hashable {
            case status
            /// The device's `z_count` moved to `seen`: QRY|ZREPORT the intent's Z.
            case readBack(seen: UInt64)
        }
        var zCountBefore: UInt64
        var step: Step = .status
        /// Replies to QRY|ZREPORT that could not be taken (garbled, or not the Z asked for).
        var unreadable = 0
    }

    /// The request holding the lock, if one does.
    var holderKey: RequestKey? {
        if case .holder(let holder) = slot { return holder.key }
        return nil
    }

    /// The lock holder and how far its request got.
    struct Holder: Sendable {
        var key: RequestKey
        var phase: Phase
    }

    /// A holder's phase. Each phase that talks to the device carries its exchange.
    enum Phase: Sendable {
        /// TXN|PREPARE is at the device. An ABORT (or a lease or roaming end) that arrives now
        /// is recorded in `abort` and applied when the PREPARE returns.
        case preparing(Exchange, Attempts, abort: AbortIntent?)
        /// The device was busy (or its reply unreadable): PREPARE again at `until`.
        case waitingToPrepare(until: Instant, Attempts)
        /// A terminal-driven PREPARE holds the device; the terminal's COMMIT is awaited.
        case prepared(Held)
        /// TXN|COMMIT is at the device. Nothing releases the lock now but its answer.
        case committing(Commit, Exchange)
        /// COMMIT's outcome is unknown; only the device's journal can say.
        case inDoubt(Commit, Doubt)
    }

    struct Attempts: Sendable {
        var first: Instant
        var count = 0
        var garbled = 0
    }

    struct AbortIntent: Sendable {
        var tickets: [Ticket]
        var error: FiscalError
    }

    /// A terminal-driven PREPARE the device holds for its terminal.
    struct Held: Sendable {
        var nonce: Nonce
        var expectedSeq: InvoiceSeq
        var leaseUntil: Instant
        /// When the device itself drops the PREPARE (its nonce TTL), as far as we can tell.
        var deviceExpiry: Instant
        /// Set while the terminal is disconnected: when its roaming grace ends.
        var roamingUntil: Instant?

        var commit: Commit { Commit(nonce: nonce, expectedSeq: expectedSeq) }
    }

    /// What a COMMIT needs, and where to look when its outcome is in doubt.
    struct Commit: Sendable, Hashable {
        /// Nil for a request recovered without its nonce: it can be looked up, not committed again.
        var nonce: Nonce?
        /// The fiscal number the device announced at PREPARE.
        var expectedSeq: InvoiceSeq
    }

    enum Doubt: Sendable {
        case asking(Exchange, DoubtStep, pause: Duration)
        case waiting(until: Instant, pause: Duration)
    }

    enum DoubtStep: Sendable, Hashable {
        case status
        case log
    }

    /// A request the core holds: admitted and not yet finished on disk.
    struct Live: Sendable {
        var mode: RequestRecord.Mode
        var digest: String
        /// The canonical invoice bytes PREPARE sends.
        var payload: [UInt8]
        /// Every message of its terminal still owed a reply about it.
        var waiters: [Waiter]
        var stage: Stage
        /// The queue position last pushed to the terminal (QUEUED events go out on change).
        var position: Int?
        /// A device-free hold whose COMMIT was taken with this (the mediator's) nonce: it goes
        /// through the device like a FISCALIZE, and its COMMIT waits for the seal.
        var committedNonce: Nonce?

        var isReserved: Bool {
            if case .reserved = stage { return true }
            return false
        }
    }

    struct Waiter: Sendable, Hashable {
        enum Kind: Sendable, Hashable {
            /// FISCALIZE or PREPARE.
            case sale
            case commit
            case abort
        }
        var ticket: Ticket
        var kind: Kind
    }

    enum Stage: Sendable {
        /// Its store write is in the line; nothing reaches the device before it is on disk.
        /// An ABORT that arrives now is recorded; `claimed` is a journal entry found to be this
        /// very sale (sealed before, never stored), which it takes instead of the device.
        case admitting(abort: [Ticket], claimed: JournalEntry?)
        case queued
        /// A device-free hold: reserved at the mediator with its own nonce, waiting for COMMIT
        /// until the lease ends; nothing is at the device.
        case reserved(Nonce, leaseUntil: Instant)
        /// The lock holder (``Slot/holder(_:)`` has its phase).
        case holding
        /// Left unfinished by a previous run; waits its turn to be resolved at the device.
        case settling(Commit)
        /// The device sealed it; the sealed invoice's write is in the line.
        case sealing(JournalEntry)
        /// Aborted or failed; the outcome's write is in the line.
        case finishing(RequestRecord.State, FiscalError)
    }

    /// The store writes, in the order they were asked for, one batch at a time.
    struct WriteLine: Sendable {
        var pending: [StoreWrite] = []
        var inFlight: StoreBatch?
        var nextBatch: UInt64 = 1
        /// Set while the store refuses writes: new sales are refused, the writes are retried.
        var failing: Failing?
        var reading: StoreRead?

        var isBusy: Bool { inFlight != nil || !pending.isEmpty || reading != nil }
    }

    struct Failing: Sendable {
        var since: Instant
        var retryAt: Instant
        var pause: Duration
        var error: FiscalError
    }

    /// Looking for journal entries the store lacks (after a restart, an in-doubt entry that was
    /// someone else's, a gap the upload line found, or a device that sealed behind our back).
    enum JournalCheck: Sendable, Hashable {
        case none
        case wanted
        case reading
        case adopting([InvoiceSeq])
    }

    /// What the mediator knows of the device's health.
    struct Health: Sendable {
        var halt: Halt?
        var unreachable: (since: Instant, reason: String)?
        var slow = false
        var garbledInARow = 0
        var deviceID: DeviceID?
        var emulated = false
        /// The highest fiscal number the mediator knows the device gave.
        var lastSeq: InvoiceSeq?
        /// The alerts raised now, and since when.
        var raised: [ErrorCode: Instant] = [:]
    }

    struct Halt: Sendable {
        var code: ErrorCode
        var message: String
        var recheckAt: Instant
    }
}
