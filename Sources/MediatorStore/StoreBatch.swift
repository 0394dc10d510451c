public import FiscalCore

/// The key of exactly-once: a terminal and the request id it chose for one sale.
public struct RequestKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var terminal: TerminalID
    public var request: RequestID

    public init(_ terminal: TerminalID, _ request: RequestID) {
        self.terminal = terminal
        self.request = request
    }

    public var description: String { "\(terminal)/\(request)" }

    public static func < (lhs: RequestKey, rhs: RequestKey) -> Bool {
        (lhs.terminal.rawValue, lhs.request.rawValue) < (rhs.terminal.rawValue, rhs.request.rawValue)
    }
}

/// One write the device core asks of the store. The core keeps them in one ordered line and
/// the store applies a batch of them in one transaction, in order: so an outcome can never be
/// overwritten by an older progress mark, and no sealed invoice is stored ahead of an earlier one.
public enum StoreWrite: Sendable, Hashable {
    /// A new request (state `queued`), or an aborted or failed one reopened with the same payload.
    case admit(RequestRecord)
    /// How far a request got at the device: `prepared`, `committing`, `in_doubt` (with the nonce
    /// and the fiscal number the device announced, for recovery).
    case progress(RequestKey, RequestRecord.State, nonce: Nonce?, expectedSeq: InvoiceSeq?)
    /// A final state that is not `sealed`: `aborted` or `failed`, with its code and message.
    case outcome(RequestKey, RequestRecord.State, FiscalError)
    /// The device sealed this request as `entry`: the sealed invoice, its outbox row and the
    /// request's state, together.
    case seal(RequestKey, JournalEntry)
    /// A journal entry the store lacks and no live request claims: stored for the unsealed request
    /// of its terminal with the same payload digest (not one of `live`), or under `journal-<seq>`.
    case adopt(JournalEntry, live: Set<RequestID>)
    /// Before RPT|Z: the device's `z_count` now, so that a mediator killed before the Z is stored
    /// finds out at its next start whether the device made it.
    case zIntent(zCountBefore: UInt64, deviceID: DeviceID?)
    /// The device's Z, stored, and the pending intent marked done (`zCountSeen`: the device's
    /// counter when it was read).
    case zReport(StoredDeviceZ, zCountSeen: UInt64)
    /// The pending intent ends without a Z to store: `dropped` or `unrecoverable`.
    case zIntentClosed(DeviceZIntent.State, zCountSeen: UInt64?, FiscalError?)

    /// Whether the write carries a promise (a request reaches the device only once stored; a
    /// terminal is told only once its invoice is stored; RPT|Z goes out only once its intent is
    /// stored, and its report is stored before the operator is told): then the batch is fsynced.
    public var isDurable: Bool {
        switch self {
        case .admit, .seal, .adopt, .zIntent, .zReport, .zIntentClosed: true
        case .progress, .outcome: false
        }
    }
}

/// What a write did.
public enum StoreWriteResult: Sendable, Hashable {
    /// The request was stored new or reopened, as `queued`.
    case admitted
    /// A request with this key is already there: the caller replays it or refuses. `sealed` is
    /// its journal entry when it is sealed and still held here (not pruned).
    case existing(RequestRecord, sealed: JournalEntry?)
    /// The store would not take it, and stored nothing: the work period it was attributed to
    /// closed (its Z was taken) between the intake's read and this write.
    case refused(FiscalError)
    case done
}

/// Writes applied in one transaction, in order.
public struct StoreBatch: Sendable, Hashable {
    public var id: UInt64
    public var writes: [StoreWrite]

    public init(id: UInt64, writes: [StoreWrite]) {
        self.id = id
        self.writes = writes
    }

    /// Fsynced at commit when any write in it carries a promise.
    public var isDurable: Bool { writes.contains(where: \.isDurable) }
}
