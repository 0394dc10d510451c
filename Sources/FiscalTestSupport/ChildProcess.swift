public import Foundation
import Synchronization

/// Starts child processes one at a time, in a test process that holds few file descriptors.
///
/// Foundation's `Process.run()` on Linux (Swift 6.3) lists `/proc/self/fd` and copies each
/// entry's whole 256-byte name field, reading past the end of glibc's readdir buffer
/// (swift-corelibs-foundation#5472, fixed after 6.3). It crashes only once the listing outgrows
/// that 32 KB buffer, about 1,300 descriptors: the full parallel pass holds over 3,000 (every
/// suite's ZeroMQ contexts, SQLite pools, servers), and two runs crashed there. So suites that
/// start children run in a pass of their own (`make test`'s child-process pass), and a spawn from
/// a process holding too many descriptors fails here, saying so, instead of crashing at random.
public enum ChildProcess {
    private static let spawning = Mutex(())

    /// Below this many open descriptors the listing fits glibc's buffer with room to spare.
    public static let descriptorLimit = 1000

    public static func run(_ process: Process) throws {
        try spawning.withLock { _ in
            let open: Int
            do {
                open = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
            } catch {
                open = 0  // no /proc: nothing to over-read either
            }
            guard open < descriptorLimit else {
                throw CocoaError(
                    .executableLoad,
                    userInfo: [
                        NSLocalizedDescriptionKey:
                            "\(open) descriptors are open: Process.run() may crash past ~1,300 (swift-corelibs-foundation#5472); run this suite in the child-process pass (Makefile CHILD_SUITES)"
                    ]
                )
            }
            try process.run()
        }
    }
}
