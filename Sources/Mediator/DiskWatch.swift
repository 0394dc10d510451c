public import FiscalCore
public import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Free space on the file system that holds the store, against the DISK_LOW threshold: the
/// warning that comes before SQLite refuses a write and sales stop with STORE_FAILING.
///
/// `check()` is a `statvfs` call (no file I/O), run by the service's monitor tick and by
/// `/health`; the alert and its start time live behind a mutex.
public final class DiskWatch: Sendable {
    /// The file system's space as `statvfs` reports it for an unprivileged user.
    public struct Space: Sendable, Hashable {
        public var freeBytes: Int64
        public var totalBytes: Int64
    }

    /// The directory whose file system is watched (the store's).
    public let directory: String
    /// DISK_LOW is raised below this many free bytes; nil watches nothing.
    public let thresholdBytes: Int64?
    private let raised = Mutex<Date?>(nil)

    public init(directory: String, thresholdBytes: Int64?) {
        self.directory = directory
        self.thresholdBytes = thresholdBytes
    }

    /// The space now, or nil when `statvfs` fails (the directory is gone).
    public func space() -> Space? {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return nil }
        let block = Int64(clamping: info.f_frsize)
        return Space(
            freeBytes: Int64(clamping: info.f_bavail).multipliedReportingOverflow(by: block).partialValue,
            totalBytes: Int64(clamping: info.f_blocks).multipliedReportingOverflow(by: block).partialValue
        )
    }

    /// A DISK_LOW alert: its message and since when.
    public struct Alert: Sendable, Hashable {
        public var code: ErrorCode { .diskLow }
        public var since: Date
        public var message: String
    }

    /// What changed since the last check.
    public enum Change: Sendable, Equatable {
        case none
        case raised(Alert)
        case cleared
    }

    /// Measures, raises or clears DISK_LOW, and says whether that changed.
    @discardableResult
    public func check(now: Date = Date()) -> (alert: Alert?, change: Change) {
        guard let thresholdBytes, let space = space() else { return (nil, .none) }
        let low = space.freeBytes < thresholdBytes
        let message =
            "\(Self.megabytes(space.freeBytes)) free on the store's file system (\(directory)), below \(Self.megabytes(thresholdBytes)); free space before the store refuses writes"
        return raised.withLock { since in
            switch (since, low) {
            case (nil, true):
                since = now
                let alert = Alert(since: now, message: message)
                return (alert, .raised(alert))
            case (let start?, true):
                return (Alert(since: start, message: message), .none)
            case (.some, false):
                since = nil
                return (nil, .cleared)
            case (nil, false):
                return (nil, .none)
            }
        }
    }

    static func megabytes(_ bytes: Int64) -> String {
        bytes >= 10 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
    }
}
