public import FiscalCore
public import FiscalDevice
public import Foundation
import Synchronization

/// A software DEF: the same frames, commands, replies and failures as the real device, with
/// its fiscal memory in a SQLite file of its own.
///
/// Owns: the durable state (identity, key pair, counter, hash-chained journal, Z reports) and,
/// in RAM only, the one outstanding PREPARE. Invariants: the counter moves only inside COMMIT,
/// in the same transaction that journals the entry; at most one PREPARE is outstanding; a
/// nonce is accepted once, before its TTL. All device work runs on the emulator's own thread,
/// one request at a time, as on a single-threaded device.
///
/// `@unchecked Sendable`: mutable state lives in `core`, touched only on `thread`; the fault
/// plan is behind a `Mutex`.
public final class FiscalDeviceEmulator: DeviceFrameHandler, @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Where the fiscal memory lives; created if missing.
        public var stateDirectory: URL
        /// How long a PREPARE's nonce stays valid.
        public var nonceTTL: Duration = .seconds(30)
        public var latency = EmulatorLatency()
        public var rules: FiscalRules = .default
        public var firmware = "emulator-1.0"
        /// The largest payload accepted in one frame.
        public var maxPayload = DeviceFrame.defaultMaxPayload
        /// Whether it answers QRY|ZREPORT (this emulator's extension); false plays a DEF without
        /// it, which answers UNKNOWN_COMMAND (the mediator then fails closed on a lost Z).
        public var answersZReportQuery = true

        public init(stateDirectory: URL) { self.stateDirectory = stateDirectory }
    }

    public let configuration: Configuration
    private let thread: DedicatedThread
    private let lock: ProcessLock
    private let core: Core
    private let faults: FaultPlan
    private let statistics: Statistics

    /// How long the device has spent working on commands (modelled latency included) since
    /// start: device utilization is busy time over wall time.
    public var busyTime: Duration { .nanoseconds(statistics.busyNanoseconds.load(ordering: .relaxed)) }

    public init(configuration: Configuration, clock: any EmulatorClock = SystemEmulatorClock()) throws {
        self.configuration = configuration
        faults = FaultPlan()
        statistics = Statistics()
        try FileManager.default.createDirectory(at: configuration.stateDirectory, withIntermediateDirectories: true)
        // One process per fiscal memory, as one mediator per device.
        lock = try ProcessLock(
            path: configuration.stateDirectory.appendingPathComponent(".lock").path,
            guarding: "the emulated device in \(configuration.stateDirectory.path)"
        )
        core = try Core(configuration: configuration, clock: clock, faults: faults, statistics: statistics)
        thread = DedicatedThread(name: "device-emulator")
    }

    deinit {
        thread.shutdown()
        lock.release()
    }

    // MARK: DeviceFrameHandler

    public func receive(_ bytes: [UInt8], reply: @escaping @Sendable ([UInt8]) -> Void) {
        thread.submit { [core] in reply(core.receive(bytes)) }
    }

    /// Bytes from a stream transport (the pty server's thread); blocks that thread until the
    /// device has answered every complete frame among them.
    func receiveStream(_ bytes: [UInt8]) -> [UInt8] {
        thread.runBlocking { [core] in core.receiveStream(bytes) }
    }

    /// The stream went quiet in the middle of a frame: give up on it (`FRAME_INVALID`).
    func streamWentQuiet() -> [UInt8] {
        thread.runBlocking { [core] in core.hasPartialFrame ? core.abandonPartialFrame() : [] }
    }

    // MARK: Fault injection

    /// Arms `fault` to fire at the `occurrence`-th COMMIT (power loss) or command (reply
    /// faults) from now.
    public func arm(_ fault: EmulatorFault, at occurrence: Int = 1) {
        faults.arm(fault, at: occurrence)
    }

    /// Faults armed and not yet fired.
    public var pendingFaults: Int { faults.pendingCount }

    /// Moves the RTC back, as a flat backup battery or a tampered clock would.
    public func jumpClockBack(by duration: Duration) async throws {
        try await thread.run { [core] in try core.moveClock(by: .zero - duration) }
    }

    /// Makes the fiscal memory full from now on: the capacity becomes the journal's size.
    public func fillStorage() async throws {
        try await thread.run { [core] in try core.fillStorage() }
    }

    /// Revokes the device, as the tax authority would; persists across restarts.
    public func revoke() async throws {
        try await thread.run { [core] in try core.setRevoked(true) }
    }

    /// Sets the journal capacity (entries).
    public func setCapacity(_ capacity: UInt64) async throws {
        try await thread.run { [core] in try core.setCapacity(capacity) }
    }

    /// Finishes queued work and stops the emulator's thread.
    public func shutdown() {
        thread.shutdown()
        lock.release()
    }
}

/// Counters the device thread adds to and anyone may read.
final class Statistics: Sendable {
    let busyNanoseconds = Atomic<Int64>(0)
}

/// Faults waiting to fire, counted down per COMMIT or per command.
final class FaultPlan: Sendable {
    private struct Armed {
        var fault: EmulatorFault
        var remaining: Int
    }
    private let armed = Mutex<[Armed]>([])

    func arm(_ fault: EmulatorFault, at occurrence: Int) {
        armed.withLock { $0.append(Armed(fault: fault, remaining: max(1, occurrence))) }
    }

    var pendingCount: Int { armed.withLock { $0.count } }

    /// Counts one command (and one COMMIT if `isCommit`); returns the faults that fire now.
    func tick(isCommit: Bool) -> [EmulatorFault] {
        armed.withLock { list in
            var firing: [EmulatorFault] = []
            for index in list.indices where !list[index].fault.triggersOnCommit || isCommit {
                list[index].remaining -= 1
                if list[index].remaining == 0 { firing.append(list[index].fault) }
            }
            list.removeAll { $0.remaining <= 0 }
            return firing
        }
    }
}
