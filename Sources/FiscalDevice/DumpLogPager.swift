public import FiscalCore

/// How a host walks the journal with `ADM|DUMPLOG`, one page at a time, whatever its size
/// (docs/DEVICE_PROTOCOL.md, "Exporting the journal").
///
/// A value-type state machine: ``next`` says which page to ask for, ``received(_:)`` takes a
/// page that arrived whole, ``failed(_:)`` one that did not. It asks for as many entries as fit
/// one frame with room to spare (``initialLimit(maxPayload:)``), and halves that count and asks
/// again when a page does not arrive whole (`REPLY_INVALID`: corrupt or larger than a frame;
/// `DEVICE_TIMEOUT`: too big for the line's speed), so it works with a device that does not
/// bound its pages by bytes. A page must belong to the same device, never move the head back,
/// and move `next` forward: a device that answers otherwise cannot stall the walk.
public struct DumpLogPager: Sendable {
    /// What to do next.
    public enum Next: Hashable, Sendable {
        /// Send `ADM|DUMPLOG {"from": from, "limit": limit}`.
        case ask(from: UInt64, limit: Int)
        /// The last page reached the head.
        case done
    }

    /// The largest `limit` the protocol allows.
    public static let maxLimit = 1000
    /// A bound on one entry's JSON in a page: every field at its longest (identifiers of 64
    /// characters, device id of 32), with room for escaped characters. A typical entry is
    /// about 560 bytes.
    public static let entryBytesBound = 1600
    /// What a page needs besides its entries (device id, key, head, signature, keys).
    public static let pageOverheadBound = 4096

    /// The count that fits one frame of `maxPayload` bytes even when every entry is as long as
    /// it can be: 161 for the 256 KiB frame.
    public static func initialLimit(maxPayload: Int = DeviceFrame.defaultMaxPayload) -> Int {
        min(maxLimit, max(1, (maxPayload - pageOverheadBound) / entryBytesBound))
    }

    public private(set) var next: Next
    /// The count asked for now.
    public private(set) var limit: Int
    /// Pages received whole.
    public private(set) var pages = 0
    /// Pages asked again with half the count.
    public private(set) var halvings = 0
    private var identity: (deviceID: DeviceID, publicKey: String)?
    private var headSeq: UInt64 = 0

    public init(from: UInt64 = 1, maxPayload: Int = DeviceFrame.defaultMaxPayload) {
        limit = Self.initialLimit(maxPayload: maxPayload)
        next = .ask(from: max(1, from), limit: limit)
    }

    /// A page arrived whole: checks that it continues this walk and moves on.
    public mutating func received(_ page: DeviceReply.DumpLog) throws(FiscalError) {
        guard case .ask(let from, let asked) = next else {
            throw FiscalError(.replyInvalid, "a DUMPLOG page arrived after the walk was done")
        }
        if let identity {
            guard identity.deviceID == page.deviceID, identity.publicKey == page.publicKey else {
                throw FiscalError(
                    .replyInvalid,
                    "the DUMPLOG page is device \(page.deviceID)'s, the walk began on \(identity.deviceID)'s"
                )
            }
        }
        guard page.entries.count <= asked else {
            throw FiscalError(
                .replyInvalid,
                "the DUMPLOG page holds \(page.entries.count) entries, \(asked) were asked for"
            )
        }
        guard page.headSeq >= headSeq else {
            throw FiscalError(.replyInvalid, "the device's head moved back from \(headSeq) to \(page.headSeq)")
        }
        if let continueAt = page.next {
            let afterEntries = page.entries.last.map { continueAt > $0.seq.rawValue } ?? true
            guard continueAt > from, continueAt <= page.headSeq, afterEntries else {
                throw FiscalError(
                    .replyInvalid,
                    "the DUMPLOG page from \(from) says to continue at \(continueAt) (head \(page.headSeq)): it does not advance"
                )
            }
            next = .ask(from: continueAt, limit: limit)
        } else {
            next = .done
        }
        identity = (page.deviceID, page.publicKey)
        headSeq = page.headSeq
        pages += 1
    }

    /// The page did not arrive whole: asks for half as many entries, or rethrows `error` when
    /// it is not about the page's size or a single entry already failed.
    public mutating func failed(_ error: FiscalError) throws(FiscalError) {
        guard case .ask(let from, _) = next else { throw error }
        guard [.replyInvalid, .deviceTimeout].contains(error.code), limit > 1 else { throw error }
        limit /= 2
        halvings += 1
        next = .ask(from: from, limit: limit)
    }
}
