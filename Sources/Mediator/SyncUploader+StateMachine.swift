public import FiscalCore

extension SyncUploader {
    /// The upload line's decisions, as a value: events in (the store's view of the line, the
    /// cloud's answer, the outcome of a store write, recovery starting and finishing), actions
    /// out. ``SyncUploader`` runs the actions (SQLite, HTTP, alerts, the gap hook) and feeds the
    /// results back; nothing here does I/O or reads a clock.
    ///
    /// The rule it owns: **the head of the line is the last confirmed number + 1, or nothing is
    /// sent.** The store says how far the cloud confirmed an unbroken run
    /// (``Line/confirmedThrough``); only a contiguous run of pending items starting right after
    /// it is sent. If the store lacks that number the line halts on a gap (`SYNC_GAP`) and hands
    /// the number to recovery, which adopts it from the device journal; the next read sees it
    /// and the line resumes by itself. A gap is the mediator's own doing: it never quarantines.
    ///
    /// Races, named:
    /// - A gap filled between two reads: the next ``lineRead(_:now:)`` sees it; nothing is kept
    ///   between reads but the time the gap was last handed over.
    /// - Recovery running while a batch is out: the answer is still recorded (the items were
    ///   confirmed); the next read is refused until recovery finishes.
    /// - A store write that fails after the cloud answered: the line pauses (backoff) and reads
    ///   again; the cloud answers a re-send with `duplicate`, so nothing is lost or doubled.
    public struct StateMachine: Sendable {
        public struct Configuration: Sendable {
            /// Items per request at most.
            public var batchSize: Int
            /// Consecutive failed attempts before SYNC_FAILING is raised.
            public var failuresBeforeAlert: Int
            /// How often a gap that is still there is handed to recovery again.
            public var gapSignalEvery: Duration
            /// Whether nothing is sent until ``StateMachine/recoveryFinished()``.
            public var waitForRecovery: Bool

            public init(
                batchSize: Int = 100,
                failuresBeforeAlert: Int = 3,
                gapSignalEvery: Duration = .seconds(5),
                waitForRecovery: Bool = false
            ) {
                self.batchSize = batchSize
                self.failuresBeforeAlert = failuresBeforeAlert
                self.gapSignalEvery = gapSignalEvery
                self.waitForRecovery = waitForRecovery
            }
        }

        /// The line as the store holds it (``MediatorStore/UploadLine``, without the payloads).
        public struct Line: Sendable, Hashable {
            /// One item not yet uploaded.
            public struct Item: Sendable, Hashable {
                public var seq: UInt64
                public var quarantined: Bool
                public init(seq: UInt64, quarantined: Bool = false) {
                    self.seq = seq
                    self.quarantined = quarantined
                }
            }
            /// Every number up to this one is confirmed by the cloud (pruned or uploaded).
            public var confirmedThrough: UInt64
            /// The highest number in the outbox, whatever its state.
            public var lastStored: UInt64?
            /// The first items not yet uploaded, in fiscal-number order.
            public var head: [Item]

            public init(confirmedThrough: UInt64, lastStored: UInt64?, head: [Item]) {
                self.confirmedThrough = confirmedThrough
                self.lastStored = lastStored
                self.head = head
            }
        }

        /// What to do after a read of the line.
        public enum LineAction: Sendable, Hashable {
            /// Recovery has not finished: send nothing yet.
            case waitForRecovery
            /// Nothing to send.
            case idle
            /// Send these numbers, every one of them pending, in this order.
            case send(ClosedRange<UInt64>)
            /// The next number is missing from the store: raise SYNC_GAP; with `signal`, hand it
            /// to recovery (first sight, or `gapSignalEvery` since the last hand-over).
            case gap(missing: UInt64, signal: Bool)
            /// The next number was rejected by the cloud: the line waits for `sync retry`.
            case quarantined(UInt64)
        }

        /// The cloud's answer to the batch that was sent.
        public enum Answer: Sendable, Hashable {
            /// One acknowledgement per item from the first on, in order (checked by the caller
            /// against the idempotency keys sent).
            public enum Ack: Sendable, Hashable {
                case confirmed(receipt: String?)
                case rejected(reason: String)
                case skipped
            }
            /// A 2xx with per-item results that answer what was sent.
            case acknowledged([Ack])
            /// A 2xx whose results do not answer what was sent (other keys, other order, none).
            case misaligned(String)
            /// A 2xx whose body is not a results object.
            case malformed(bytes: Int)
            /// Any other HTTP status, with the error body's text and Retry-After (if any).
            case status(Int, detail: String, retryAfter: Duration?)
            /// No answer: connection refused, reset, timed out.
            case unreachable(String)
            /// The batch could not be encoded.
            case unencodable(String)
        }

        /// Why an attempt failed, for the counters and the alert.
        public enum FailureKind: String, Sendable, Hashable {
            case network
            case server
            case auth
            case protocolError = "protocol"
            case store
        }

        /// A failed attempt: what to count, what to say, whether to raise `alert`, and the
        /// attempt number the pause grows with.
        public struct Failure: Sendable, Hashable {
            public var kind: FailureKind
            public var message: String
            public var alert: ErrorCode
            public var raiseAlert: Bool
            public var attempt: Int
            public var atLeast: Duration?
        }

        /// An item the cloud confirmed (accepted, or a duplicate of what it has), with its receipt.
        public struct Confirmation: Sendable, Hashable {
            public var seq: UInt64
            public var receipt: String?
            public init(seq: UInt64, receipt: String?) {
                self.seq = seq
                self.receipt = receipt
            }
        }

        /// An item the cloud rejected, with its reason.
        public struct Rejection: Sendable, Hashable {
            public var seq: UInt64
            public var reason: String
            public init(seq: UInt64, reason: String) {
                self.seq = seq
                self.reason = reason
            }
        }

        /// What to do with the cloud's answer.
        public enum AnswerAction: Sendable, Hashable {
            /// Mark `confirmed` uploaded, then quarantine `rejected` (if any), then report with
            /// ``StateMachine/recorded(_:confirmed:rejected:)``.
            case record(confirmed: [Confirmation], rejected: Rejection?)
            /// The batch as a whole was refused: send item by item to find the one to blame.
            case retryItemByItem(reason: String)
            /// Count the failure, raise its alert if due, pause.
            case backOff(Failure)
        }

        /// What the store writes of ``AnswerAction/record(confirmed:rejected:)`` did.
        public enum Recorded: Sendable, Hashable {
            /// Both writes done.
            case done
            /// Marking the confirmed items uploaded failed.
            case markFailed(String)
            /// The confirmed items are marked, but the quarantine write failed.
            case quarantineFailed(seq: UInt64, String)
        }

        /// What to do after the writes: go on at once, or back off.
        public enum RecordedAction: Sendable, Hashable {
            /// Go on at once; `confirmed` items count as progress (clear the failure alerts).
            case proceed(confirmed: Int, quarantined: UInt64?)
            case backOff(Failure)
        }

        private enum Phase: Sendable, Hashable {
            /// Nothing is sent before recovery says it is done.
            case awaitingRecovery
            case running
        }

        public let configuration: Configuration
        private var phase: Phase
        /// Recoveries under way (the service may start one while the line runs).
        private var recoveries = 0
        /// Items per request now: the configured size, or 1 while looking for the item to blame.
        public private(set) var batchLimit: Int
        public private(set) var consecutiveFailures = 0
        /// The batch sent and not yet answered.
        public private(set) var inFlight: ClosedRange<UInt64>?
        /// The last gap handed to recovery, and when.
        private var gapSignal: (seq: UInt64, at: Duration)?

        public init(configuration: Configuration) {
            precondition(configuration.batchSize >= 1, "batchSize must be at least 1")
            self.configuration = configuration
            phase = configuration.waitForRecovery ? .awaitingRecovery : .running
            batchLimit = configuration.batchSize
        }

        // MARK: Recovery

        /// Recovery (adopting journal entries the store lacks) has started: send nothing until
        /// it finishes.
        public mutating func recoveryStarted() { recoveries += 1 }

        /// Recovery has finished: the line may send, after it reads the store again.
        public mutating func recoveryFinished() {
            recoveries = max(0, recoveries - 1)
            phase = .running
            gapSignal = nil
        }

        public var waitingForRecovery: Bool { phase == .awaitingRecovery || recoveries > 0 }

        // MARK: The line

        /// Decides on a fresh read of the line. `now` is monotonic time (any origin).
        public mutating func lineRead(_ line: Line, now: Duration) -> LineAction {
            precondition(inFlight == nil, "the line was read again before the batch in flight was answered")
            if waitingForRecovery { return .waitForRecovery }
            // A pending item below the watermark: one a store adopted after later numbers were
            // confirmed (by a cloud that does not check order, before the line checked it
            // either). Everything below it is confirmed: it is the head.
            let next: UInt64
            if let first = line.head.first, first.seq <= line.confirmedThrough {
                next = first.seq
            } else {
                next = line.confirmedThrough + 1
            }
            guard let first = line.head.first, first.seq == next else {
                // The store holds something after `next` but not `next`: a gap.
                let beyond = max(line.head.first?.seq ?? 0, line.lastStored ?? 0)
                guard beyond > next else {
                    gapSignal = nil
                    return .idle
                }
                let signal: Bool
                if let last = gapSignal, last.seq == next, now - last.at < configuration.gapSignalEvery {
                    signal = false
                } else {
                    signal = true
                    gapSignal = (next, now)
                }
                return .gap(missing: next, signal: signal)
            }
            gapSignal = nil
            if first.quarantined { return .quarantined(first.seq) }
            var end = first.seq
            for item in line.head.dropFirst().prefix(batchLimit - 1) {
                guard item.seq == end + 1, !item.quarantined else { break }
                end = item.seq
            }
            inFlight = first.seq...end
            return .send(first.seq...end)
        }

        /// Decides on the cloud's answer to the batch in flight.
        public mutating func answered(_ answer: Answer) -> AnswerAction {
            guard let batch = inFlight else {
                preconditionFailure("an answer came with no batch in flight")
            }
            inFlight = nil
            switch answer {
            case .acknowledged(let acks):
                guard !acks.isEmpty, acks.count <= batch.count else {
                    return .backOff(
                        fail(.protocolError, "the cloud answered \(acks.count) results for \(batch.count) items")
                    )
                }
                var confirmed: [Confirmation] = []
                var rejected: Rejection?
                for (ack, seq) in zip(acks, batch) {
                    if case .confirmed(let receipt) = ack {
                        confirmed.append(Confirmation(seq: seq, receipt: receipt))
                        continue
                    }
                    if case .rejected(let reason) = ack { rejected = Rejection(seq: seq, reason: reason) }
                    break
                }
                if confirmed.isEmpty, rejected == nil {
                    return .backOff(fail(.protocolError, "the cloud skipped every item without rejecting one"))
                }
                return .record(confirmed: confirmed, rejected: rejected)
            case .misaligned(let message):
                return .backOff(fail(.protocolError, message))
            case .malformed(let bytes):
                return .backOff(
                    fail(.protocolError, "the cloud's answer is not a valid batch response (\(bytes) bytes)")
                )
            case .unreachable(let message):
                return .backOff(fail(.network, "the cloud is unreachable: \(message)"))
            case .unencodable(let message):
                return .backOff(fail(.protocolError, "cannot encode the batch: \(message)"))
            case .status(let status, let detail, let retryAfter):
                return answered(status: status, detail: detail, retryAfter: retryAfter, batch: batch)
            }
        }

        private mutating func answered(
            status: Int,
            detail: String,
            retryAfter: Duration?,
            batch: ClosedRange<UInt64>
        ) -> AnswerAction {
            let said = "HTTP \(status)\(detail)"
            switch status {
            case 401, 403:
                return .backOff(fail(.auth, "the cloud refused the outlet's token (\(said)); check the token"))
            case 408, 409, 425, 429, 500...599:
                // 409: another request with the same Idempotency-Key is still being processed
                // (docs/CLOUD_API.md). Like 429 and 5xx it says "later", never "this item is bad".
                return .backOff(
                    fail(.server, "the cloud answered \(said)", atLeast: retryAfter.map { min($0, .seconds(3600)) })
                )
            case 400...499:
                if batch.count > 1 {
                    batchLimit = 1
                    return .retryItemByItem(reason: said)
                }
                return .record(confirmed: [], rejected: Rejection(seq: batch.lowerBound, reason: said))
            default:
                // 1xx, 3xx and the like: not an answer this protocol has; never grounds to
                // quarantine a valid item.
                return .backOff(fail(.protocolError, "the cloud answered \(said), which is not a batch answer"))
            }
        }

        /// Decides after the store writes that followed an answer.
        public mutating func recorded(_ outcome: Recorded, confirmed: Int, rejected: UInt64?) -> RecordedAction {
            switch outcome {
            case .done:
                if confirmed > 0 {
                    consecutiveFailures = 0
                    batchLimit = configuration.batchSize
                }
                return .proceed(confirmed: confirmed, quarantined: rejected)
            case .markFailed(let message):
                return .backOff(fail(.store, "cannot mark items uploaded: \(message)"))
            case .quarantineFailed(let seq, let message):
                // Without this pause the next read finds the item still pending, sends it, and
                // the cloud rejects it again, in a loop as fast as HTTP goes.
                return .backOff(fail(.store, "invoice \(seq) was rejected but cannot be quarantined: \(message)"))
            }
        }

        private mutating func fail(_ kind: FailureKind, _ message: String, atLeast: Duration? = nil) -> Failure {
            consecutiveFailures += 1
            let alert: ErrorCode
            let immediate: Bool
            switch kind {
            case .network, .server:
                alert = .syncFailing
                immediate = false
            case .auth:
                alert = .syncUnauthorized
                immediate = true
            case .protocolError:
                alert = .syncProtocol
                immediate = true
            case .store:
                alert = .syncFailing
                immediate = false
            }
            return Failure(
                kind: kind,
                message: message,
                alert: alert,
                raiseAlert: (immediate || consecutiveFailures >= configuration.failuresBeforeAlert),
                attempt: consecutiveFailures,
                atLeast: kind == .auth ? nil : atLeast
            )
        }
    }
}
