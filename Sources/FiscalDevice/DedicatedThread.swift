import Foundation

/// A thread of its own that runs submitted jobs one after another.
///
/// Blocking work (serial I/O, SQLite writes of the emulator, the emulator's modelled latency)
/// runs here, never on Swift's cooperative pool; `run` bridges back with a continuation.
///
/// `@unchecked Sendable`: `jobs` and `stopping` are only touched under `condition`.
package final class DedicatedThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var stopping = false
    private var finished = false

    package init(name: String) {
        let thread = Thread { [self] in loop() }
        thread.name = name
        thread.start()
    }

    /// Queues `job`; jobs run in submission order.
    package func submit(_ job: @escaping @Sendable () -> Void) {
        condition.lock()
        defer { condition.unlock() }
        guard !stopping else { return }
        jobs.append(job)
        condition.signal()
    }

    /// Runs `body` on the thread and returns its result.
    package func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            submit { continuation.resume(returning: Result { () throws(E) -> T in try body() }) }
        }
        return try result.get()
    }

    /// Runs `body` on the thread and blocks the calling thread until it returns. Only for
    /// callers that are themselves dedicated threads, never the cooperative pool.
    package func runBlocking<T>(_ body: @escaping @Sendable () -> T) -> T {
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var result: T?
        submit {
            result = body()
            done.signal()
        }
        done.wait()
        return result!
    }

    /// Lets queued jobs finish, then ends the thread; waits until it has ended.
    package func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopping { condition.wait() }
            if jobs.isEmpty && stopping {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            condition.unlock()
            for job in batch { job() }
        }
    }
}
