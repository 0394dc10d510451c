import FiscalCore
import FiscalDevice
import MediatorStore

@testable import Mediator

typealias Core = DeviceCore
typealias SimInstant = DeviceInstant

/// SplitMix64: a small, fast, seedable generator, so a seed replays exactly.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func millis(_ range: ClosedRange<Int>) -> Duration { .milliseconds(int(range)) }
    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &self)] }
}

/// A model of the DEF with the emulator's rules: one PREPARE outstanding (RAM, lost with
/// power) until its nonce TTL, the counter moving only inside COMMIT, the journal durable.
struct SimDevice {
    var journal: [JournalEntry] = []
    /// `known`: the PREPARE's reply reached the current mediator (the core knows the DEF holds it).
    var pending: (nonce: Nonce, digest: String, terminal: String, expires: SimInstant, known: Bool)?
    /// The Z reports the device made, by number − 1 (durable, like the journal).
    var zReports: [DeviceReport] = []
    /// The last fiscal number the last Z covered.
    var lastZSeq = 0
    /// Whether it answers QRY|ZREPORT (this emulator's extension); a DEF without it says UNKNOWN_COMMAND.
    var readsZBack = true
    /// Reports that reached the device while a PREPARE the mediator knew of was outstanding: a
    /// report inside a sale's PREPARE → COMMIT (must stay 0).
    var reportsInsidePrepare = 0
    var ttl: Duration
    var nextNonce = 1
    /// STORAGE_FULL while set (a fault the schedule turns on and off).
    var full = false
    /// How many exchanges reached the device while another was being processed (must stay 0).
    var overlapping = 0

    init(ttl: Duration) { self.ttl = ttl }

    /// The sale a PREPARE payload stands for: `terminal|digest` (`!` marks one the device refuses).
    static func payload(terminal: TerminalID, digest: String) -> [UInt8] { Array("\(terminal)|\(digest)".utf8) }

    var nextSeq: InvoiceSeq { InvoiceSeq(UInt64(journal.count + 1)) }

    mutating func process(_ command: Core.Command, now: SimInstant) -> Core.DeviceResult {
        switch command {
        case .prepare(let payload):
            if let pending, pending.expires > now {
                return .refused(FiscalError(.deviceBusy, "another PREPARE is outstanding"))
            }
            pending = nil
            if full { return .refused(FiscalError(.storageFull, "the fiscal memory is full")) }
            let parts = String(decoding: payload, as: UTF8.self).split(separator: "|").map(String.init)
            guard parts.count == 2 else { return .refused(FiscalError(.jsonInvalid, "not an invoice")) }
            if parts[1].hasPrefix("!") {
                return .refused(FiscalError(.schemaInvalid, "the invoice has 1 violation(s)"))
            }
            let nonce = Nonce("n\(nextNonce)")
            nextNonce += 1
            pending = (nonce, parts[1], parts[0], now.advanced(by: ttl), false)
            return .prepared(
                DeviceReply.Prepared(
                    nonce: nonce,
                    payloadDigest: parts[1],
                    nextInvoiceSeq: nextSeq,
                    ttlMs: Int(ttl.wholeMilliseconds),
                    expiresAt: ""
                )
            )
        case .commit(let nonce):
            guard let pending, pending.nonce == nonce else {
                return .refused(FiscalError(.invalidNonce, "not the outstanding PREPARE's nonce"))
            }
            self.pending = nil
            guard pending.expires > now else { return .refused(FiscalError(.nonceExpired, "the nonce expired")) }
            if full { return .refused(FiscalError(.storageFull, "the fiscal memory is full")) }
            let entry = JournalEntry(
                seq: nextSeq,
                deviceID: DeviceID("SIM-DEF"),
                previousHash: journal.last?.entryHash ?? JournalEntry.genesisHash,
                payloadDigest: pending.digest,
                posTerminalID: pending.terminal,
                cashierID: "CASH-01",
                invoiceType: .sale,
                total: .zero,
                currency: "CDF",
                deviceTimestamp: "\(now)",
                authCode: "sig-\(nextSeq)",
                entryHash: "hash-\(nextSeq)-\(pending.digest)"
            )
            journal.append(entry)
            return .sealed(entry)
        case .status:
            return .status(
                DeviceReply.Status(
                    deviceID: DeviceID("SIM-DEF"),
                    initialized: true,
                    emulated: true,
                    firmware: "sim",
                    revoked: false,
                    nextInvoiceSeq: nextSeq,
                    lastEntryHash: journal.last?.entryHash ?? JournalEntry.genesisHash,
                    journalEntries: UInt64(journal.count),
                    capacity: 1_000_000,
                    zCount: UInt64(zReports.count),
                    deviceTime: "\(now)",
                    preparePending: pending.map { $0.expires > now } ?? false,
                    publicKey: nil
                )
            )
        case .log(let seq):
            guard seq.rawValue >= 1, seq.rawValue <= UInt64(journal.count) else {
                return .refused(FiscalError(.notFound, "no journal entry \(seq)"))
            }
            return .logged(journal[Int(seq.rawValue) - 1])
        case .report(let kind):
            // The emulator's rule, strictest form: no report while a PREPARE is outstanding.
            if let pending, pending.expires > now {
                if pending.known { reportsInsidePrepare += 1 }
                return .refused(FiscalError(.deviceBusy, "another PREPARE is outstanding"))
            }
            let covered = journal[lastZSeq...]
            var report = DeviceReport(
                kind: kind,
                deviceID: DeviceID("SIM-DEF"),
                zNumber: UInt64(zReports.count + 1),
                firstSeq: covered.first?.seq.rawValue,
                lastSeq: covered.last?.seq.rawValue,
                invoiceCount: UInt64(covered.count),
                periodStart: nil,
                generatedAt: "\(now)",
                byType: [],
                byTaxGroup: [],
                byPayment: [],
                articles: nil
            )
            if kind == .z {
                report.reportHash = SHA256.hex(report.canonicalJSON)
                report.signature = "zsig-\(report.zNumber)"
                zReports.append(report)
                lastZSeq = journal.count
            }
            return .report(report)
        case .zReport(let number):
            guard readsZBack else { return .refused(FiscalError(.unknownCommand, "unknown command 'QRY|ZREPORT'")) }
            guard number >= 1, number <= UInt64(zReports.count) else {
                return .refused(FiscalError(.notFound, "no Z report \(number)"))
            }
            return .report(zReports[Int(number) - 1])
        }
    }
}

/// A model of the mediator's store with SQLite's durability: a durable batch (fsynced) survives
/// everything; a batch written with `synchronous = NORMAL` survives a killed process but not a
/// host power loss. Its rules are MediatorDatabase's (admit, progress, outcome, seal, adopt).
struct SimStore {
    struct Tables: Equatable {
        var requests: [RequestKey: RequestRecord] = [:]
        var sealed: [UInt64: JournalEntry] = [:]
        var order: [RequestKey] = []
        var zReports: [UInt64: StoredDeviceZ] = [:]
        var intents: [DeviceZIntent] = []
    }

    /// What MediatorDatabase would refuse (a second pending intent, another Z under a stored
    /// number): the core must never ask it (must stay empty).
    var refusals: [String] = []

    var current = Tables()
    var durable = Tables()

    mutating func apply(_ batch: StoreBatch) -> [StoreWriteResult] {
        let results = batch.writes.map { apply($0) }
        if batch.isDurable { durable = current }
        return results
    }

    mutating func powerLoss() { current = durable }

    private mutating func apply(_ write: StoreWrite) -> StoreWriteResult {
        switch write {
        case .admit(let record):
            if var existing = current.requests[record.key] {
                let reopenable: Set<RequestRecord.State> = [.aborted, .failed, .queued, .prepared]
                guard existing.payloadDigest == record.payloadDigest, reopenable.contains(existing.state) else {
                    let sealed = existing.invoiceSeq.flatMap { current.sealed[$0] }
                    return .existing(existing, sealed: existing.state == .sealed ? sealed : nil)
                }
                existing.state = .queued
                existing.mode = record.mode
                existing.nonce = nil
                existing.expectedSeq = nil
                existing.errorCode = nil
                existing.errorMessage = nil
                existing.attempts += 1
                current.requests[record.key] = existing
                return .admitted
            }
            current.requests[record.key] = record
            current.order.append(record.key)
            return .admitted
        case .progress(let key, let state, let nonce, let expected):
            guard var row = current.requests[key], row.state.isActive else { return .done }
            row.state = state
            row.nonce = nonce?.rawValue
            row.expectedSeq = expected?.rawValue
            current.requests[key] = row
        case .outcome(let key, let state, let error):
            guard var row = current.requests[key], row.state != .sealed else { return .done }
            row.state = state
            row.nonce = nil
            row.errorCode = error.code.rawValue
            row.errorMessage = error.message
            current.requests[key] = row
        case .seal(let key, let entry):
            seal(key, entry)
        case .zIntent(let before, let deviceID):
            if current.intents.contains(where: { $0.state == .pending }) {
                refusals.append("a second pending Z intent (z_count \(before))")
            }
            current.intents.append(
                DeviceZIntent(id: Int64(current.intents.count + 1), deviceID: deviceID?.rawValue, zCountBefore: before)
            )
        case .zReport(let z, let seen):
            if let stored = current.zReports[z.zNumber], stored.reportHash != z.reportHash {
                refusals.append("Z \(z.zNumber) stored twice with different reports")
            }
            if !z.hashMatches { refusals.append("Z \(z.zNumber)'s hash does not cover its JSON") }
            current.zReports[z.zNumber] = z
            if let index = current.intents.firstIndex(where: { $0.state == .pending }) {
                current.intents[index].state = .done
                current.intents[index].zNumber = z.zNumber
                current.intents[index].zCountSeen = max(seen, z.zNumber)
            }
        case .zIntentClosed(let state, let seen, let error):
            if let index = current.intents.firstIndex(where: { $0.state == .pending }) {
                current.intents[index].state = state
                current.intents[index].zCountSeen = seen
                current.intents[index].errorCode = error?.code.rawValue
            }
        case .adopt(let entry, let live):
            let terminal = TerminalID(entry.posTerminalID)
            let owner = current.order.reversed().first { key in
                guard key.terminal == terminal, !live.contains(key.request), let row = current.requests[key] else {
                    return false
                }
                return row.payloadDigest == entry.payloadDigest && row.state != .sealed
            }
            if let owner {
                seal(owner, entry)
            } else {
                let key = RequestKey(terminal, RequestID("journal-\(entry.seq)"))
                if current.requests[key] == nil {
                    current.requests[key] = RequestRecord(
                        terminalID: terminal,
                        requestID: key.request,
                        payloadDigest: entry.payloadDigest,
                        payload: [],
                        outletID: "",
                        cashierID: entry.cashierID,
                        laneNumber: nil,
                        mode: .fiscalize,
                        state: .committing
                    )
                    current.order.append(key)
                }
                seal(key, entry)
            }
        }
        return .done
    }

    private mutating func seal(_ key: RequestKey, _ entry: JournalEntry) {
        if let stored = current.sealed[entry.seq.rawValue] {
            precondition(stored == entry, "the store was handed another entry for fiscal number \(entry.seq)")
        }
        guard var row = current.requests[key] else { preconditionFailure("sealing \(key), which is not stored") }
        current.sealed[entry.seq.rawValue] = entry
        row.state = .sealed
        row.invoiceSeq = entry.seq.rawValue
        row.nonce = nil
        row.errorCode = nil
        row.errorMessage = nil
        current.requests[key] = row
    }

    var pendingZ: DeviceZIntent? { current.intents.first { $0.state == .pending } }

    func unfinished() -> [RequestRecord] {
        current.order.compactMap { current.requests[$0] }.filter(\.state.isActive)
    }

    func missing(upTo last: InvoiceSeq) -> [InvoiceSeq] {
        guard last.rawValue >= 1 else { return [] }
        return (1...last.rawValue).filter { current.sealed[$0] == nil }.map { InvoiceSeq($0) }
    }

    func lookUp(_ key: RequestKey) -> (RequestRecord?, JournalEntry?) {
        guard let row = current.requests[key] else { return (nil, nil) }
        return (row, row.state == .sealed ? row.invoiceSeq.flatMap { current.sealed[$0] } : nil)
    }
}
