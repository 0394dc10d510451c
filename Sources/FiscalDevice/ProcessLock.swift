public import FiscalCore
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive lock a process holds on a file for as long as it lives (a POSIX record lock,
/// `fcntl(F_SETLK)`), so a second process is refused at once and told who holds it.
///
/// `serve` holds one beside its store; the emulator holds one in its state directory; the
/// serial link holds one on its port. The kernel drops a lock when its holder dies, however it
/// dies: a killed mediator never leaves a stale lock behind. A record lock belongs to the
/// process, not to a file descriptor a child inherits across `fork`, so a process that spawns
/// others (the tests, a shell-out) never lends its lock to them.
public final class ProcessLock: Sendable {
    public let path: String
    private let descriptor: Int32
    private let released = Atomic<Bool>(false)

    /// Takes the lock at `path` (created if needed). `what` names what it guards, for the error.
    public init(path: String, guarding what: String) throws(FiscalError) {
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw FiscalError(.configInvalid, "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard Self.lock(descriptor) else {
            let holder = Self.holder(of: descriptor)
            Glibc.close(descriptor)
            throw FiscalError(
                .inUse,
                "\(what) is in use by another process\(holder.map { " (pid \($0))" } ?? "") holding \(path); stop it first"
            )
        }
        _ = ftruncate(descriptor, 0)
        let text = Array("\(getpid())\n".utf8)
        _ = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        self.path = path
        self.descriptor = descriptor
    }

    deinit { release() }

    /// Gives the lock up (closing the file releases it).
    public func release() {
        guard !released.exchange(true, ordering: .acquiringAndReleasing) else { return }
        Glibc.close(descriptor)
    }

    /// Takes a write lock on the whole of `descriptor`'s file, without waiting.
    public static func lock(_ descriptor: Int32) -> Bool {
        var request = flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        return fcntl(descriptor, F_SETLK, &request) == 0
    }

    /// The PID of the process holding a conflicting lock on `descriptor`'s file, if any.
    public static func holder(of descriptor: Int32) -> Int? {
        var request = flock()
        request.l_type = Int16(F_WRLCK)
        request.l_whence = Int16(SEEK_SET)
        guard fcntl(descriptor, F_GETLK, &request) == 0, request.l_type != Int16(F_UNLCK) else { return nil }
        return Int(request.l_pid)
    }

    /// The processes that have `path` open, by PID (from /proc; best effort, for error messages).
    public static func holders(of path: String) -> [Int] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [Int] = []
        for entry in entries {
            guard let pid = Int(entry), pid != Int(getpid()) else { continue }
            let fds = "/proc/\(entry)/fd"
            guard let links = try? FileManager.default.contentsOfDirectory(atPath: fds) else { continue }
            if links.contains(where: {
                (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fds)/\($0)")) == path
            }) {
                found.append(pid)
            }
        }
        return found
    }
}
