import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A reason `serve` (or another command) cannot start, found before anything is initialized.
/// Its message names what is wrong, where (the flag or file, and the value), and how to fix it.
/// It is not a usage error: no usage text follows it, and the exit status is 78 (EX_CONFIG),
/// which the systemd unit lists in `RestartPreventExitStatus=` so a bad setting does not loop.
struct StartupError: Error, CustomStringConvertible {
    static let exitStatus: Int32 = 78

    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }

    /// `strerror` for `code`, as people read it ("Permission denied").
    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}
