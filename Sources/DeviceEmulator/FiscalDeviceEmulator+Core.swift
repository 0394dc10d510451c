import FiscalCore
import FiscalDevice
import Foundation
import Synchronization

extension FiscalDeviceEmulator {
    /// The device's logic. Confined to the emulator's thread.
    ///
    /// `@unchecked Sendable`: every use is a job on `FiscalDeviceEmulator.thread`, which runs
    /// them one at a time; no two threads ever touch a `Core` at once.
    final class Core: @unchecked Sendable {
        private let configuration: Configuration
        private let clock: any EmulatorClock
        private let faults: FaultPlan
        private let statistics: Statistics
        private let store: EmulatorStore
        private let validator: InvoiceValidator
        private var header: EmulatorStore.Header
        private var key: Ed25519.PrivateKey?
        private var pending: Pending?
        private var usedNonces: [Nonce] = []
        private var decoder: DeviceFrameDecoder
        private var firing: [EmulatorFault] = []

        /// The outstanding PREPARE: RAM only, lost with power.
        private struct Pending {
            var nonce: Nonce
            var invoice: Invoice
            var canonical: [UInt8]
            var digest: String
            var expiresAt: Duration
        }

        init(configuration: Configuration, clock: any EmulatorClock, faults: FaultPlan, statistics: Statistics) throws {
            self.configuration = configuration
            self.clock = clock
            self.faults = faults
            self.statistics = statistics
            store = try EmulatorStore(directory: configuration.stateDirectory)
            validator = InvoiceValidator(rules: configuration.rules)
            header = try store.header()
            key = header.privateKey.flatMap(Ed25519.PrivateKey.init(rawRepresentation:))
            decoder = DeviceFrameDecoder(maxPayload: configuration.maxPayload)
        }

        // MARK: Bytes in, bytes out

        /// Raw bytes from an in-process host: decodes whatever frames they hold.
        func receive(_ bytes: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            for frame in decoder.feed(bytes) where frame.kind == .request {
                out += handle(frame)
            }
            out += rejectionReplies()
            // The in-process host writes whole frames: what is left is a broken one.
            while decoder.hasPartialFrame { out += abandonPartialFrame() }
            return out
        }

        /// `FRAME_INVALID` for every frame the decoder refused, echoing its exchange id.
        func rejectionReplies() -> [UInt8] {
            decoder.takeRejections().flatMap { rejection in
                Self.frame(rejection.exchangeID, Self.error(FiscalError(.frameInvalid, rejection.reason)))
            }
        }

        /// For a stream transport: the partial frame stopped arriving; drop it and carry on.
        func abandonPartialFrame() -> [UInt8] {
            var out: [UInt8] = []
            for frame in decoder.abandonPartialFrame() where frame.kind == .request { out += handle(frame) }
            return out + rejectionReplies()
        }

        /// For a stream transport: bytes as they arrive.
        func receiveStream(_ bytes: [UInt8]) -> [UInt8] {
            var out: [UInt8] = []
            for frame in decoder.feed(bytes) where frame.kind == .request { out += handle(frame) }
            return out + rejectionReplies()
        }

        var hasPartialFrame: Bool { decoder.hasPartialFrame }

        /// One request frame in, the reply frame's bytes out (empty when nothing is sent).
        func handle(_ frame: DeviceFrame) -> [UInt8] {
            let started = ContinuousClock.now
            defer {
                let elapsed = ContinuousClock.now - started
                statistics.busyNanoseconds.add(
                    elapsed.wholeNanoseconds,
                    ordering: .relaxed
                )
            }
            let request: DeviceRequest
            do {
                request = try DeviceRequest.parse(payload: frame.payload)
            } catch {
                return Self.frame(frame.exchangeID, Self.error(error))
            }
            firing = faults.tick(isCommit: request.command == .commit)
            defer { firing = [] }
            let latency =
                switch request.command {
                case .prepare: configuration.latency.prepare
                case .commit: configuration.latency.commit
                default: configuration.latency.other
                }
            // The modelled latency is the command's whole time at the device, its own work
            // (signing, the journal write) included: a "15 ms device" answers in 15 ms.
            defer {
                let remaining = started + latency - ContinuousClock.now
                if remaining > .zero { Thread.sleep(forTimeInterval: remaining.inSeconds) }
            }

            let body: [UInt8]
            do {
                body = try dispatch(request)
            } catch PowerLoss.lost {
                // The device died mid-COMMIT: RAM is gone, nothing is written to the line.
                pending = nil
                return []
            } catch let error as FiscalError {
                body = Self.error(error)
            } catch {
                body = Self.error(FiscalError(.argumentInvalid, "\(error)"))
            }
            var reply = Self.frame(frame.exchangeID, body)
            if firing.contains(.noReply) { return [] }
            if firing.contains(.truncatedReply) { reply = Array(reply.prefix(reply.count / 2)) }
            if firing.contains(.garbledReply) {
                for index in stride(from: DeviceFrame.headerSize, to: reply.count - 4, by: 7) { reply[index] ^= 0x5A }
            }
            return reply
        }

        private enum PowerLoss: Error { case lost }

        private func dispatch(_ request: DeviceRequest) throws -> [UInt8] {
            // PREPARE's body is the invoice, decoded once by its own decoder; every other body
            // must be a JSON object (JSON_INVALID otherwise), whether the command reads it or not.
            let body = request.command == .prepare ? [:] : try Self.jsonObject(request.body)
            switch request.command {
            case .status: return try Self.ok(status())
            case .initialize: return try Self.ok(initialize(body))
            case .setTime: return try Self.ok(setTime(body))
            case .log: return try Self.ok(log(request.argument))
            case .zReport: return try Self.ok(encoded: storedZReport(request.argument))
            case .prepare: return try Self.ok(prepare(request.body))
            case .commit: return try Self.ok(commit(body))
            case .reportZ: return try Self.ok(encoded: closeDay())
            case .reportX: return try Self.ok(report(.x))
            case .reportA: return try Self.ok(report(.a))
            case .dumpLog: return try dumpLog(request.body)
            case .reset: return try Self.ok(reset(body))
            }
        }

        // MARK: Commands

        private func status() throws -> DeviceReply.Status {
            DeviceReply.Status(
                deviceID: header.deviceID,
                initialized: key != nil,
                emulated: true,
                firmware: configuration.firmware,
                revoked: header.revoked,
                nextInvoiceSeq: header.nextSeq,
                lastEntryHash: header.headHash,
                journalEntries: header.journalCount,
                capacity: header.capacity,
                zCount: header.zCount,
                deviceTime: DeviceTimestamp.format(deviceNow()),
                preparePending: pending.map { $0.expiresAt > clock.monotonicNow() } ?? false,
                publicKey: key.map { Hex.encode($0.publicKey.rawRepresentation) }
            )
        }

        private func initialize(_ body: [String: Any]) throws -> DeviceReply.Initialized {
            guard key == nil else { throw FiscalError(.alreadyInitialized, "the device already has an identity") }
            guard let token = body["reset_token"] as? String, token.count >= 8 else {
                throw FiscalError(.argumentInvalid, "reset_token (at least 8 characters) is required")
            }
            let deviceID: DeviceID
            if let given = body["device_id"] as? String {
                // The id goes into every journal entry, QR payload (`|`-separated) and the
                // host's logs: letters, digits, `-`, `_` and `.` only.
                guard (1...32).contains(given.utf8.count),
                    given.utf8.allSatisfy({
                        (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0)
                            || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
                    })
                else {
                    throw FiscalError(
                        .argumentInvalid,
                        "device_id must be 1 to 32 of A-Z, a-z, 0-9, '-', '_', '.'"
                    )
                }
                deviceID = DeviceID(given)
            } else {
                deviceID = DeviceID("DEF-" + Nonce.random().rawValue.prefix(10).uppercased())
            }
            let newKey = Ed25519.PrivateKey()
            try store.initialize(deviceID: deviceID, key: newKey, resetTokenHash: SHA256.hex(Array(token.utf8)))
            header = try store.header()
            key = newKey
            return DeviceReply.Initialized(
                deviceID: deviceID,
                publicKey: Hex.encode(newKey.publicKey.rawRepresentation)
            )
        }

        private func setTime(_ body: [String: Any]) throws -> DeviceReply.TimeSet {
            guard let text = body["time"] as? String, let time = DeviceTimestamp.parse(text) else {
                throw FiscalError(.argumentInvalid, "time must be ISO 8601 with a UTC offset")
            }
            let milliseconds = Self.milliseconds(time)
            guard milliseconds >= header.highWaterMs else {
                throw FiscalError(
                    .clockRollbackDetected,
                    "\(text) is before the last journal time \(DeviceTimestamp.format(Self.date(header.highWaterMs)))"
                )
            }
            let offset = milliseconds - Self.milliseconds(clock.wallNow())
            try store.setClockOffset(offset)
            header.clockOffsetMs = offset
            return DeviceReply.TimeSet(deviceTime: DeviceTimestamp.format(deviceNow()))
        }

        private func log(_ argument: String?) throws -> DeviceReply.Sealed {
            guard let argument, let seq = InvoiceSeq(text: argument) else {
                throw FiscalError(
                    .argumentInvalid,
                    "QRY|LOG needs a fiscal number from 1 to \(InvoiceSeq.range.upperBound): QRY|LOG <seq>"
                )
            }
            guard let entry = try store.entry(seq) else {
                throw FiscalError(.notFound, "no journal entry \(seq); the next fiscal number is \(header.nextSeq)")
            }
            return DeviceReply.Sealed(entry: entry)
        }

        /// `QRY|ZREPORT <n>`: the Z report the device stored under number n, byte for byte as
        /// `RPT|Z` sent it (this emulator's extension: a host that lost RPT|Z's reply reads the Z
        /// back instead of guessing whether the day was closed).
        private func storedZReport(_ argument: String?) throws -> [UInt8] {
            guard configuration.answersZReportQuery else {
                throw FiscalError(.unknownCommand, "unknown command 'QRY|ZREPORT'")
            }
            guard let argument, let number = InvoiceSeq(text: argument)?.rawValue else {
                throw FiscalError(
                    .argumentInvalid,
                    "QRY|ZREPORT needs a Z number from 1 to \(InvoiceSeq.range.upperBound): QRY|ZREPORT <n>"
                )
            }
            guard let text = try store.zReportText(number) else {
                throw FiscalError(.notFound, "no Z report \(number); the device has made \(header.zCount)")
            }
            return Array(text.utf8)
        }

        private func prepare(_ body: [UInt8]) throws -> DeviceReply.Prepared {
            try requireOperational()
            let now = clock.monotonicNow()
            if let pending, pending.expiresAt > now {
                let remaining = pending.expiresAt - now
                throw FiscalError(
                    .deviceBusy,
                    "another PREPARE is outstanding for \(Int(remaining.inSeconds * 1000)) ms more"
                )
            }
            pending = nil
            let invoice: Invoice
            do {
                invoice = try Invoice.decode(json: body)
            } catch {
                // Tell "not JSON at all" from "JSON, but not an invoice".
                _ = try Self.jsonObject(body)
                throw error
            }
            try validator.validate(invoice)
            try requireSpace()
            try requireClock()
            let canonical = invoice.canonicalJSON()
            let prepared = Pending(
                nonce: Nonce.random(),
                invoice: invoice,
                canonical: canonical,
                digest: SHA256.hex(canonical),
                expiresAt: now + configuration.nonceTTL
            )
            pending = prepared
            let ttl = configuration.nonceTTL
            return DeviceReply.Prepared(
                nonce: prepared.nonce,
                payloadDigest: prepared.digest,
                nextInvoiceSeq: header.nextSeq,
                ttlMs: Int(ttl.inSeconds * 1000),
                expiresAt: DeviceTimestamp.format(deviceNow().addingTimeInterval(ttl.inSeconds))
            )
        }

        private func commit(_ body: [String: Any]) throws -> DeviceReply.Sealed {
            try requireOperational()
            guard let text = body["nonce"] as? String, !text.isEmpty else {
                throw FiscalError(.argumentInvalid, "COMMIT needs the nonce PREPARE returned")
            }
            let nonce = Nonce(text)
            guard let prepared = pending, prepared.nonce == nonce else {
                let why = usedNonces.contains(nonce) ? "was already used" : "is not the outstanding PREPARE's"
                throw FiscalError(.invalidNonce, "the nonce \(why)")
            }
            guard prepared.expiresAt > clock.monotonicNow() else {
                pending = nil
                throw FiscalError(.nonceExpired, "the nonce expired; send PREPARE again")
            }
            try requireSpace()
            try requireClock()
            guard let key, let deviceID = header.deviceID else { throw FiscalError(.notInitialized, "run CFG|INIT") }
            if firing.contains(.powerLossBeforeCommit) { throw PowerLoss.lost }

            let now = deviceNow()
            guard let following = header.nextSeq.next else {
                throw FiscalError(.storageFull, "the fiscal counter is at its last number")
            }
            var entry = JournalEntry(
                seq: header.nextSeq,
                deviceID: deviceID,
                previousHash: header.headHash,
                payloadDigest: prepared.digest,
                posTerminalID: prepared.invoice.posTerminalID,
                cashierID: prepared.invoice.cashierID,
                invoiceType: prepared.invoice.invoiceType,
                total: prepared.invoice.totals.total,
                currency: prepared.invoice.totals.currency,
                deviceTimestamp: DeviceTimestamp.format(now)
            )
            entry.seal(with: key)
            let milliseconds = Self.milliseconds(now)
            try store.append(entry, next: following, payload: prepared.canonical, highWaterMs: milliseconds)
            header.nextSeq = following
            header.headHash = entry.entryHash
            header.journalCount += 1
            header.highWaterMs = max(header.highWaterMs, milliseconds)
            pending = nil
            usedNonces.append(nonce)
            if usedNonces.count > 1024 { usedNonces.removeFirst(512) }

            if firing.contains(.powerLossAfterCommit) { throw PowerLoss.lost }
            return DeviceReply.Sealed(entry: entry)
        }

        /// `RPT|Z`: the Z, encoded once, stored as those bytes and sent as them, so QRY|ZREPORT
        /// sends back exactly what RPT|Z sent (JSON key order is not stable across encodings).
        private func closeDay() throws -> [UInt8] {
            let (_, encoded) = try makeReport(.z)
            return encoded
        }

        private func report(_ kind: DeviceReport.Kind) throws -> DeviceReport {
            try makeReport(kind).report
        }

        private func makeReport(_ kind: DeviceReport.Kind) throws -> (report: DeviceReport, encoded: [UInt8]) {
            guard let key, let deviceID = header.deviceID else { throw FiscalError(.notInitialized, "run CFG|INIT") }
            let sealed = try store.payloads(after: header.lastZSeq)
            var report = try EmulatorReportBuilder.build(
                kind: kind,
                deviceID: deviceID,
                zNumber: header.zCount + 1,
                periodStart: header.lastZAt,
                generatedAt: DeviceTimestamp.format(deviceNow()),
                sealed: sealed
            )
            if kind == .z {
                let hash = SHA256.hex(report.canonicalJSON)
                report.reportHash = hash
                report.signature = Base64URL.encode(key.signature(for: Array(hash.utf8)))
                let lastSeq = sealed.last?.entry.seq.rawValue ?? header.lastZSeq
                let encoded = Array(try JSONEncoder().encode(report))
                try store.storeZ(report, encoded: encoded, lastSeq: lastSeq)
                header.zCount = report.zNumber
                header.lastZSeq = lastSeq
                header.lastZAt = report.generatedAt
                return (report, encoded)
            }
            return (report, [])
        }

        /// One page of the journal: at most `limit` entries from `from`, and no more than fit
        /// one frame; `next` says where to continue. The head is signed on every page.
        private func dumpLog(_ body: [UInt8]) throws -> [UInt8] {
            guard let key, let deviceID = header.deviceID else { throw FiscalError(.notInitialized, "run CFG|INIT") }
            let asked = try Self.arguments(DumpLogPage.self, body)
            // Each entry as the fiscal memory holds it: its JSON, copied into the page as is.
            let entries = try store.entryTexts(from: asked.from ?? InvoiceSeq(1), limit: asked.limit ?? 500)
            let headSeq = header.nextSeq.rawValue - 1
            let headInput = DeviceReply.DumpLog.headSigningInput(
                deviceID: deviceID,
                seq: headSeq,
                hash: header.headHash
            )
            let encoder = JSONEncoder()
            func json(_ value: some Encodable) throws -> [UInt8] { Array(try encoder.encode(value)) }
            let opening =
                Array(#"{"status":"OK","device_id":"#.utf8) + (try json(deviceID.rawValue))
                + Array(#","public_key":"#.utf8) + (try json(Hex.encode(key.publicKey.rawRepresentation)))
                + Array(#","entries":["#.utf8)
            let closing =
                Array(#"],"head_seq":\#(headSeq),"head_hash":"#.utf8) + (try json(header.headHash))
                + Array(#","head_signature":"#.utf8)
                + (try json(Base64URL.encode(key.signature(for: headInput)))) + Array(#","next":"#.utf8)
            // What the entries may take: the frame, less the rest of the page with the longest `next`.
            let budget = configuration.maxPayload - opening.count - closing.count - String(UInt64.max).utf8.count - 1
            var page = opening
            page.reserveCapacity(configuration.maxPayload)
            var included = 0
            for entry in entries {
                let encoded = Array(entry.json.utf8)
                let separator = included == 0 ? 0 : 1
                guard page.count - opening.count + separator + encoded.count <= budget else { break }
                if separator == 1 { page.append(UInt8(ascii: ",")) }
                page += encoded
                included += 1
            }
            if included == 0, let first = entries.first {
                throw FiscalError(.argumentInvalid, "journal entry \(first.seq) does not fit one frame")
            }
            let next: UInt64? =
                included < entries.count
                ? entries[included].seq
                : entries.last.flatMap { $0.seq < headSeq ? $0.seq + 1 : nil }
            page += closing
            page += Array((next.map(String.init) ?? "null").utf8) + [UInt8(ascii: "}")]
            return page
        }

        /// A non-negative integer body field, range-checked (JSON numbers arrive as NSNumber).
        private static func integer(_ value: Any?, default fallback: Int64) throws -> Int64 {
            guard let value else { return fallback }
            guard let number = value as? NSNumber, let integer = Int64(exactly: number.doubleValue),
                Double(integer) == number.doubleValue
            else {
                throw FiscalError(.argumentInvalid, "from and limit must be integers")
            }
            return integer
        }

        private func reset(_ body: [String: Any]) throws -> DeviceReply.ResetDone {
            guard let expected = header.resetTokenHash else { throw FiscalError(.notInitialized, "run CFG|INIT") }
            guard let token = body["token"] as? String, SHA256.hex(Array(token.utf8)) == expected else {
                throw FiscalError(.unauthorized, "ADM|RESET needs the authorization token given at CFG|INIT")
            }
            let erased = try store.erase()
            header = try store.header()
            key = nil
            pending = nil
            return DeviceReply.ResetDone(erasedEntries: erased)
        }

        /// `ADM|DUMPLOG`'s body: every number held to its range at decode time.
        private struct DumpLogPage: Decodable {
            var from: InvoiceSeq?
            var limit: Int?

            enum CodingKeys: String, CodingKey { case from, limit }

            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                from = try c.decodeIfPresent(InvoiceSeq.self, forKey: .from)
                limit = try c.decodeIfPresent(Int.self, forKey: .limit, in: 1...1000)
            }
        }

        /// Decodes a command's body as `T`: a field of the wrong type or out of its range is
        /// `ARGUMENT_INVALID` naming its JSON path.
        private static func arguments<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws(FiscalError) -> T {
            do {
                return try JSONDecoder().decode(T.self, from: Data(body))
            } catch let error as DecodingError {
                throw FiscalError(.argumentInvalid, error.fiscalDescription)
            } catch {
                throw FiscalError(.argumentInvalid, "\(error)")
            }
        }

        // MARK: Faults and administration

        func moveClock(by duration: Duration) throws {
            let offset = header.clockOffsetMs + Int64(duration.inSeconds * 1000)
            try store.setClockOffset(offset)
            header.clockOffsetMs = offset
        }

        func fillStorage() throws { try setCapacity(header.journalCount) }

        func setCapacity(_ capacity: UInt64) throws {
            try store.setCapacity(capacity)
            header.capacity = capacity
        }

        func setRevoked(_ revoked: Bool) throws {
            try store.setRevoked(revoked)
            header.revoked = revoked
        }

        // MARK: Checks

        private func requireOperational() throws {
            guard key != nil else { throw FiscalError(.notInitialized, "the device has no identity; run CFG|INIT") }
            guard !header.revoked else {
                throw FiscalError(.deviceRevoked, "the device was revoked; it seals nothing more")
            }
        }

        private func requireSpace() throws {
            guard header.journalCount < header.capacity else {
                throw FiscalError(
                    .storageFull,
                    "the fiscal memory holds \(header.journalCount) of \(header.capacity) entries"
                )
            }
        }

        private func requireClock() throws {
            guard Self.milliseconds(deviceNow()) >= header.highWaterMs else {
                throw FiscalError(
                    .clockRollbackDetected,
                    "the clock reads \(DeviceTimestamp.format(deviceNow())), before the last journal time "
                        + DeviceTimestamp.format(Self.date(header.highWaterMs))
                )
            }
        }

        private func deviceNow() -> Date {
            clock.wallNow().addingTimeInterval(Double(header.clockOffsetMs) / 1000)
        }

        // MARK: Encoding

        static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
        static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }

        static func frame(_ exchangeID: UInt32, _ body: [UInt8]) -> [UInt8] {
            DeviceFrame(kind: .reply, exchangeID: exchangeID, payload: body).encoded()
        }

        private static func jsonObject(_ body: [UInt8]) throws -> [String: Any] {
            guard let object = try? JSONSerialization.jsonObject(with: Data(body)),
                let dictionary = object as? [String: Any]
            else {
                throw FiscalError(.jsonInvalid, "the body must be a JSON object")
            }
            return dictionary
        }

        static func ok(_ value: some Encodable) throws -> [UInt8] {
            try ok(encoded: Array(JSONEncoder().encode(value)))
        }

        /// An OK reply around an object already encoded (a stored report, sent as it was stored).
        static func ok(encoded: [UInt8]) throws -> [UInt8] {
            guard encoded.first == UInt8(ascii: "{") else {
                throw EmulatorStore.CorruptRecord(description: "a stored reply is not a JSON object")
            }
            let status = Array(#"{"status":"OK""#.utf8)
            // Splice the status into the encoded object: `{` + status + (`,` + rest | `}`).
            let rest = encoded.dropFirst()
            return rest.first == UInt8(ascii: "}") ? status + [UInt8(ascii: "}")] : status + [UInt8(ascii: ",")] + rest
        }

        static func error(_ error: FiscalError) -> [UInt8] {
            struct Body: Encodable {
                var status = "ERR"
                var code: ErrorCode
                var message: String
                var violations: [Violation]?
            }
            let body = Body(
                code: error.code,
                message: error.message,
                violations: error.violations.isEmpty ? nil : error.violations
            )
            return (try? Array(JSONEncoder().encode(body))) ?? Array(#"{"status":"ERR","code":"FRAME_INVALID"}"#.utf8)
        }
    }
}
