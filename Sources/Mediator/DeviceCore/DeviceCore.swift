public import FiscalCore
public import FiscalDevice
public import MediatorStore

/// The device's rules as one value: who holds the device and for what, who waits, which nonce is
/// out, what is in doubt, what the store still has to write, and whether the outlet may sell.
///
/// Synchronous, no I/O, no `await`: every input is an event (a terminal's message, a device
/// exchange that returned, a store write that finished, the time), every output an ``Action``
/// for ``DeviceActor`` to perform. Time is an input (`now`, a ``DeviceInstant``), so the seeded
/// simulation drives it with logical time.
///
/// The states carry their data (``Slot``, ``Holder/Phase``, ``Live/Stage``), so the invariants
/// hold by construction where they can:
/// - at most one exchange is at the device: the one in ``slot``;
/// - an ABORT, a lease expiry or a disconnect never releases the lock under a live exchange: they
///   are recorded in the phase and take effect when the exchange returns;
/// - every admitted request is in ``requests`` until its final state is written, with the
///   tickets of every terminal message still owed a reply;
/// - store writes leave in one ordered line, so nothing sealed is stored after a later number,
///   and a seal the store refused halts new sales until it is stored (``WriteLine/failing``).
public struct DeviceCore: Sendable {
    public typealias Configuration = DeviceConfiguration
    public typealias Instant = DeviceInstant

    public let configuration: Configuration

    var lifecycle: Lifecycle = .idle
    var slot: Slot = .idle
    var requests: [RequestKey: Live] = [:]
    var queue: FairQueue<RequestKey>
    var nonces = NonceTracker()
    var line = WriteLine()
    var journal: JournalCheck = .none
    /// Reports the operator asked for (RPT|Z, RPT|X), waiting for their turn at the device.
    var reports: [ReportRequest] = []
    /// A report had the device since the last sale was granted: the next turn is a sale's.
    var reportTurnTaken = false
    /// A Z whose intent is on disk and whose outcome is unknown (its RPT|Z's reply was lost, or a
    /// previous run ended before storing it): resolved at the device before the next report.
    var unresolvedZ: ZResolution?
    /// Z reports the device made whose write is in the line, and the requests owed them.
    var storingZ: [UInt64: (report: DeviceReport, tickets: [Ticket])] = [:]
    /// The last journal check found a full batch of missing numbers: check again after them.
    var moreMissing = false
    /// How many missing fiscal numbers one journal check reads at most.
    public static let adoptionBatch = 1000
    var health = Health()
    /// Terminals whose connection dropped, since when.
    var away: [TerminalID: Instant] = [:]
    /// The DEF keeps an abandoned PREPARE until its own nonce TTL (it has no abort): until then
    /// it answers DEVICE_BUSY, so the next PREPARE waits for exactly this.
    var abandonedPrepareUntil: Instant?
    var nextToken: UInt64 = 1
    /// Device-free holds (``DeviceConfiguration/Holds/mediator``) that wait for their COMMIT,
    /// and when each one's lease ends.
    var reservations: [RequestKey: Instant] = [:]
    /// The secret the mediator's own nonces are drawn from, and how many were drawn.
    let nonceSeed: [UInt8]
    var noncesDrawn: UInt64 = 0
    /// When the device last finished an exchange (the liveness probe runs after an idle spell).
    var lastActivity: Instant?
    /// Which (state, event) pairs this value has seen: the simulation's coverage measure.
    public internal(set) var visited: Set<String> = []

    /// `nonceSeed` keys the mediator's own nonces (device-free holds): random by default; the
    /// simulation gives its own, to replay a schedule exactly.
    public init(configuration: Configuration = Configuration(), nonceSeed: [UInt8]? = nil) {
        self.configuration = configuration
        self.nonceSeed = nonceSeed ?? Array(Nonce.random().rawValue.utf8)
        queue = FairQueue(limit: configuration.queueLimit, perTerminalLimit: configuration.perTerminalQueueLimit)
    }

    // MARK: Inputs that are not terminal messages

    /// What came back from the device for an exchange.
    public enum DeviceResult: Sendable, Hashable {
        case prepared(DeviceReply.Prepared)
        case sealed(JournalEntry)
        case status(DeviceReply.Status)
        case logged(JournalEntry)
        /// The device answered `ERR` with this code: it did not do what was asked.
        case refused(FiscalError)
        /// No answer that could be read (timeout, link down, a corrupt reply): the outcome is unknown.
        case lost(FiscalError)
        /// RPT|Z or RPT|X, or a Z read back with QRY|ZREPORT.
        case report(DeviceReport)
    }

    /// What the core asks of the device.
    public enum Command: Sendable, Hashable {
        case prepare(payload: [UInt8])
        case commit(Nonce)
        case status
        case log(InvoiceSeq)
        /// RPT|Z, RPT|X or RPT|A: an operator's report, in its turn between sales.
        case report(DeviceReport.Kind)
        /// QRY|ZREPORT: a Z the device made whose RPT|Z reply the mediator never stored.
        case zReport(UInt64)

        public var name: String {
            switch self {
            case .prepare: "TXN|PREPARE"
            case .commit: "TXN|COMMIT"
            case .status: "QRY|STATUS"
            case .log: "QRY|LOG"
            case .report(let kind): "RPT|\(kind.rawValue)"
            case .zReport: "QRY|ZREPORT"
            }
        }
    }

    /// One exchange at the device; its reply is matched by `token` (a stale reply is dropped).
    public struct Exchange: Sendable, Hashable {
        public var token: UInt64
        public var command: Command
        var started: Instant
    }

    // MARK: Outputs

    public enum Action: Sendable {
        /// Send this command to the device; report with ``exchangeReturned(_:_:now:)``.
        case exchange(Exchange)
        /// Apply these writes in one transaction; report with ``written(_:_:now:)`` or
        /// ``writeFailed(_:_:now:)``.
        case write(StoreBatch)
        /// Read from the store; report with ``loaded(_:now:)`` or ``found(missing:now:)``.
        case read(StoreRead)
        /// Answer the terminal message that holds this ticket.
        case reply(Ticket, Reply)
        /// Push an event to one terminal, or to every connected terminal (`nil`).
        case push(TerminalID?, Push)
        case log(Note)
        /// Recovery is done: the mediator is ready (the upload line may start).
        case ready
        /// Shutdown: nothing is at the device and nothing is left to write.
        case drained
    }

    /// A terminal message owed a reply.
    public struct Ticket: Hashable, Sendable, CustomStringConvertible {
        public var rawValue: UInt64
        public init(_ rawValue: UInt64) { self.rawValue = rawValue }
        public var description: String { "#\(rawValue)" }
    }

    public enum Reply: Sendable, Hashable {
        /// Sealed: the security elements come from this entry. `replayed` when stored before.
        case sealed(JournalEntry, replayed: Bool)
        /// A terminal-driven PREPARE holds the device (or, with device-free holds, a reservation
        /// at the mediator, which promises no fiscal number: `nextInvoiceSeq` is nil): COMMIT
        /// with this nonce within `lease`.
        case prepared(Nonce, nextInvoiceSeq: InvoiceSeq?, lease: Duration, replayed: Bool)
        /// ABORT and RESULT: the request's state, with the error of an aborted or failed one and
        /// the journal entry of a sealed one (RESULT from the store).
        case state(RequestRecord.State, FiscalError?, sealed: JournalEntry? = nil)
        case refused(FiscalError, retryAfter: Duration?)
        /// The core does not hold the request: the answer comes from the store
        /// (``DeviceCore/answer(_:record:sealed:)``).
        case lookUp(Lookup, RequestKey)
        /// The answer to ``DeviceCore/requestReport(_:ticket:now:)``: the device's report (a Z
        /// only once it is stored). Never sent to a terminal.
        case report(DeviceReport)
    }

    /// Which message a store lookup answers.
    public enum Lookup: String, Sendable, Hashable {
        case commit, abort, result
    }

    public enum Push: Sendable, Hashable {
        case queued(RequestID, position: Int)
        case lockGranted(RequestID)
        case leaseExpired(RequestID)
        /// Checkouts must stop: the device or the store refuses (`code`).
        case alert(ErrorCode, String)
        /// Every alert that stopped checkouts has cleared.
        case recovered
    }

    public enum StoreRead: Sendable, Hashable {
        /// The requests a previous run left unfinished.
        case unfinished
        /// The fiscal numbers up to `upTo` the store holds no sealed invoice for.
        case missing(upTo: InvoiceSeq)
    }

    /// A log line, with dot-keyed metadata.
    public struct Note: Sendable, Hashable {
        public enum Level: Sendable, Hashable { case debug, info, notice, warning, error, critical }
        public var level: Level
        public var message: String
        public var metadata: [String: String]
    }
}

/// The device core's settings.
public struct DeviceConfiguration: Sendable {
    /// Where a terminal-driven PREPARE holds its sale until COMMIT.
    public enum Holds: String, Sendable, CaseIterable {
        /// At the device: the DEF's PREPARE runs at once and the device waits for the COMMIT
        /// (the fiscal number is known at PREPARE; a vanished tablet stalls every lane).
        case device
        /// At the mediator: PREPARE is validated and reserved with the mediator's own nonce and
        /// lease; at COMMIT the sale queues like a FISCALIZE and the DEF's PREPARE and COMMIT run
        /// back to back. Nobody waits for a person at the device.
        case mediator
    }

    /// Where terminal-driven holds live (docs/PROTOCOL.md, "Two kinds of hold").
    public var holds: Holds = .mediator
    /// The longest a terminal-driven holder may keep the device between PREPARE and COMMIT
    /// (also capped by the device's nonce TTL).
    public var lease: Duration = .seconds(15)
    /// Waiting requests in all, and per terminal (beyond them: QUEUE_FULL).
    public var queueLimit = 256
    /// Operator reports waiting for the device (beyond it: QUEUE_FULL).
    public var reportQueueLimit = 4
    public var perTerminalQueueLimit = 4
    /// How long PREPARE keeps retrying a busy device whose PREPARE the mediator does not know
    /// before the request fails with DEVICE_UNAVAILABLE.
    public var prepareRetryWindow: Duration = .seconds(5)
    /// How long after a halt (STORAGE_FULL, ...) the device is tried again.
    public var haltRecheck: Duration = .seconds(10)
    /// First and largest pause between retries (PREPARE, in-doubt resolution, the store).
    public var retryBackoff: (first: Duration, max: Duration) = (.milliseconds(20), .seconds(1))
    /// How long a terminal-driven holder whose connection dropped keeps the lock before its
    /// request is aborted. Shorter than the lease; zero aborts at once.
    public var roamingGrace: Duration = .seconds(5)
    /// After this long without an exchange, the device is asked QRY|STATUS (liveness).
    public var probeInterval: Duration = .seconds(3)
    /// How often an unreachable device is asked again.
    public var unreachableProbeInterval: Duration = .seconds(1)
    /// An exchange that takes longer than this raises DEVICE_SLOW.
    public var slowExchange: Duration = .seconds(1)
    /// What `retry_after_ms` says when the device or the store is unavailable.
    public var unavailableRetryAfter: Duration = .seconds(1)
    /// What `retry_after_ms` says for QUEUE_FULL and IN_PROGRESS.
    public var busyRetryAfter: Duration = .milliseconds(500)

    public init() {}

    /// What is wrong with these settings, if anything.
    public func problems() -> [String] {
        var found: [String] = []
        if lease <= .zero { found.append("device.lease must be positive") }
        if roamingGrace < .zero || roamingGrace >= lease {
            found.append("device.roaming_grace must be at least 0 and shorter than device.lease")
        }
        if queueLimit < 1 || perTerminalQueueLimit < 1 || perTerminalQueueLimit > queueLimit {
            found.append("queue limits must be at least 1, per terminal no more than in all")
        }
        if probeInterval <= .zero { found.append("device.probe_interval must be positive") }
        if retryBackoff.first <= .zero || retryBackoff.max < retryBackoff.first {
            found.append("device retry backoff must be positive, its maximum no less than its first pause")
        }
        return found
    }
}

/// A point on the mediator's monotonic time line: how long after an arbitrary origin (the
/// device actor's start; a logical zero in the simulation). Concrete rather than generic, so the
/// core costs no generic dispatch in a debug build's simulation.
public struct DeviceInstant: InstantProtocol, Hashable, Sendable, CustomStringConvertible {
    public var sinceOrigin: Duration
    public init(sinceOrigin: Duration) { self.sinceOrigin = sinceOrigin }
    public func advanced(by duration: Duration) -> DeviceInstant { DeviceInstant(sinceOrigin: sinceOrigin + duration) }
    public func duration(to other: DeviceInstant) -> Duration { other.sinceOrigin - sinceOrigin }
    public static func < (lhs: DeviceInstant, rhs: DeviceInstant) -> Bool { lhs.sinceOrigin < rhs.sinceOrigin }
    public var description: String { "t+\(sinceOrigin.wholeMilliseconds)ms" }
}
