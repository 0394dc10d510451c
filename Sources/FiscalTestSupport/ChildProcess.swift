public import Foundation
import Synchronization

/// Starts child processes one at a time. Foundation's `Process.run()` on Linux crashed once
/// (a bad read inside it) while several suites started children at the same moment; tests
/// run in parallel, so every test that starts a child goes through here.
public enum ChildProcess {
    private static let spawning = Mutex(())

    public static func run(_ process: Process) throws {
        try spawning.withLock { _ in try process.run() }
    }
}
