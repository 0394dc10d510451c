public import FiscalCore
import Synchronization

/// A link to a device in the same process (the emulator), through the same frames a serial
/// line carries, so framing, corruption and lost replies behave as they would on a wire.
public final class InProcessDeviceLink: FiscalDeviceLink {
    public let name: String
    private let handler: any DeviceFrameHandler
    private let state = Mutex(State())

    private struct State {
        var nextExchangeID: UInt32 = 1
        var closed = false
    }

    public init(handler: any DeviceFrameHandler, name: String = "emulator (in-process)") {
        self.handler = handler
        self.name = name
    }

    public func exchange(_ request: DeviceRequest, timeout: Duration) async throws(FiscalError) -> [UInt8] {
        let exchangeID: UInt32? = state.withLock { state in
            guard !state.closed else { return nil }
            defer { state.nextExchangeID &+= 1 }
            return state.nextExchangeID
        }
        guard let exchangeID else { throw FiscalError(.linkDown, "\(name): the link is closed") }
        let frame = DeviceFrame(kind: .request, exchangeID: exchangeID, payload: request.payload)
        let outcome = await ReplyWait.wait(timeout: timeout) { deliver in
            handler.receive(frame.encoded(), reply: deliver)
        }
        guard let bytes = outcome else {
            throw FiscalError(.deviceTimeout, "\(name): no reply to \(request.command.rawValue) within \(timeout)")
        }
        var decoder = DeviceFrameDecoder()
        let replies = decoder.feed(bytes).filter { $0.kind == .reply && $0.exchangeID == exchangeID }
        guard let reply = replies.first else {
            if bytes.isEmpty {
                // The device wrote nothing: as on a wire, the host only learns it at the deadline.
                throw FiscalError(.deviceTimeout, "\(name): no reply to \(request.command.rawValue)")
            }
            throw FiscalError(.replyInvalid, "\(name): the reply to \(request.command.rawValue) was corrupt")
        }
        return reply.payload
    }

    public func close() async {
        state.withLock { $0.closed = true }
    }
}

/// Waits for a callback's value or a deadline, whichever comes first; the loser is ignored.
enum ReplyWait {
    static func wait(
        timeout: Duration,
        start: (@escaping @Sendable ([UInt8]) -> Void) -> Void
    ) async -> [UInt8]? {
        let slot = Slot()
        return await withCheckedContinuation { (continuation: CheckedContinuation<[UInt8]?, Never>) in
            slot.install(continuation)
            let timer = Task {
                try? await Task.sleep(for: timeout)
                slot.resume(nil)
            }
            slot.setTimer(timer)
            start { bytes in
                // An empty reply means "the device said nothing": let the deadline decide.
                if !bytes.isEmpty { slot.resume(bytes) }
            }
        }
    }

    private final class Slot: Sendable {
        private struct State {
            var continuation: CheckedContinuation<[UInt8]?, Never>?
            var timer: Task<Void, Never>?
            var done = false
        }
        private let state = Mutex(State())

        func install(_ continuation: CheckedContinuation<[UInt8]?, Never>) {
            state.withLock { $0.continuation = continuation }
        }

        func setTimer(_ timer: Task<Void, Never>) {
            let cancelNow = state.withLock { state -> Bool in
                if state.done { return true }
                state.timer = timer
                return false
            }
            if cancelNow { timer.cancel() }
        }

        func resume(_ value: [UInt8]?) {
            let (continuation, timer) = state.withLock { state in
                guard !state.done else {
                    return (nil, nil) as (CheckedContinuation<[UInt8]?, Never>?, Task<Void, Never>?)
                }
                state.done = true
                defer {
                    state.continuation = nil
                    state.timer = nil
                }
                return (state.continuation, state.timer)
            }
            timer?.cancel()
            continuation?.resume(returning: value)
        }
    }
}
