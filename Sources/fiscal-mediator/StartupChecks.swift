import FiscalCore
import Foundation
import Glibc

/// The checks `serve` runs on its settings and on the host before it initializes anything:
/// each failure is a ``StartupError`` naming the flag, the value and the fix.
enum StartupChecks {
    // MARK: Values

    /// `text` as a duration within `range`. A value that is not a duration and one out of
    /// range get different messages; both say what is allowed.
    static func duration(
        _ flag: String,
        _ text: String,
        in range: ClosedRange<Duration>
    ) throws(StartupError)
        -> Duration
    {
        guard let value = Duration.parsing(text) else {
            throw StartupError(
                "\(flag): '\(text)' is not a duration: write a whole number and a unit (us, ms, s, m, h, d), such as \(format(range.upperBound < .seconds(1) ? range.lowerBound : .seconds(15)))"
            )
        }
        guard range.contains(value) else {
            throw StartupError("\(flag): '\(text)' is out of range: allowed \(describe(range))")
        }
        return value
    }

    /// `from 0s to 1h`, `from 1ms to 10m`.
    static func describe(_ range: ClosedRange<Duration>) -> String {
        "from \(format(range.lowerBound)) to \(format(range.upperBound))"
    }

    /// A duration in the largest unit that writes it whole: `15s`, `250ms`, `90d`.
    static func format(_ duration: Duration) -> String {
        let microseconds = duration.wholeNanoseconds / 1000
        if microseconds == 0 { return "0s" }
        let units: [(String, Int64)] = [
            ("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1000),
        ]
        for (suffix, size) in units where microseconds % size == 0 { return "\(microseconds / size)\(suffix)" }
        return "\(microseconds)us"
    }

    /// One of `valid`, or an error listing them.
    static func oneOf<Value>(_ flag: String, _ text: String, _ valid: [(String, Value)]) throws(StartupError) -> Value {
        if let found = valid.first(where: { $0.0 == text }) { return found.1 }
        throw StartupError("\(flag): '\(text)' is not one of \(valid.map(\.0).joined(separator: ", "))")
    }

    // MARK: Endpoints and ports

    /// A ZeroMQ endpoint a terminal can reach: `tcp://HOST:PORT` (PORT may be `*`) or `ipc://PATH`.
    static func endpoint(_ flag: String, _ text: String) throws(StartupError) {
        guard let scheme = text.range(of: "://") else {
            throw StartupError("\(flag): '\(text)' has no scheme: write tcp://\(text)")
        }
        switch text[..<scheme.lowerBound] {
        case "tcp":
            let rest = text[scheme.upperBound...]
            guard let colon = rest.lastIndex(of: ":"), colon != rest.startIndex,
                rest[rest.index(after: colon)...] == "*" || UInt16(rest[rest.index(after: colon)...]) != nil
            else {
                throw StartupError(
                    "\(flag): '\(text)' needs a host and a port: tcp://HOST:PORT, such as tcp://0.0.0.0:5555"
                )
            }
        case "ipc": return
        default:
            throw StartupError(
                "\(flag): '\(text)' has the scheme '\(text[..<scheme.lowerBound])': use tcp:// (or ipc:// on this host)"
            )
        }
    }

    /// Tries to bind `host:port` (TCP, with SO_REUSEADDR as libzmq and NIO bind) and lets it go
    /// at once, so a port that is taken is named before anything starts. A host that is not
    /// an IPv4 address or `*` (an interface name, IPv6) and port 0 or `*` are left to the real bind.
    static func probe(_ flag: String, shown: String, host: String, port: String) throws(StartupError) {
        guard let number = UInt16(port), number != 0 else { return }
        let address: in_addr_t
        switch host {
        case "*", "0.0.0.0": address = INADDR_ANY
        case "localhost": address = inet_addr("127.0.0.1")
        default:
            var parsed = in_addr()
            guard inet_pton(AF_INET, host, &parsed) == 1 else { return }
            address = parsed.s_addr
        }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_port = number.bigEndian
        socketAddress.sin_addr.s_addr = address
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound != 0 else { return }
        throw bindFailure(flag, shown: shown, port: number, errno: errno)
    }

    /// The message for a bind that failed with `code`, naming the holder of the port when
    /// /proc can tell.
    static func bindFailure(_ flag: String, shown: String, port: UInt16, errno code: Int32) -> StartupError {
        switch code {
        case EADDRINUSE:
            let holder = PortHolder.find(port: port).map { " (by \($0))" } ?? ""
            return StartupError(
                "\(flag): \(shown): the address is already in use\(holder); stop that process or choose another port"
            )
        case EADDRNOTAVAIL:
            return StartupError(
                "\(flag): \(shown): the address is not one of this host's; use one of its addresses, 127.0.0.1 or 0.0.0.0"
            )
        case EACCES:
            return StartupError("\(flag): \(shown): ports below 1024 need privileges; choose a port from 1024 up")
        default:
            return StartupError("\(flag): \(shown): cannot bind: \(StartupError.reason(code))")
        }
    }

    // MARK: Files

    /// Creates `directory` and its parents, or says why not.
    static func makeDirectory(_ directory: String) -> String? {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            return isDirectory.boolValue ? nil : "\(directory) exists and is not a directory"
        }
        let parent = (directory as NSString).deletingLastPathComponent
        if !parent.isEmpty, parent != directory, let problem = makeDirectory(parent) { return problem }
        if mkdir(directory, 0o750) != 0, errno != EEXIST {
            return "cannot create \(directory): \(StartupError.reason(errno))"
        }
        return nil
    }

    /// The store's path: its directory exists (or is made) and is writable (SQLite writes its
    /// WAL beside it), and the path is a file this user may read and write.
    static func storePath(_ flag: String, _ path: String) throws(StartupError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        if let problem = makeDirectory(directory) {
            throw StartupError("\(flag) \(path): \(problem); choose another path or fix it")
        }
        guard access(directory, W_OK | X_OK) == 0 else {
            throw StartupError(
                "\(flag) \(path): the directory \(directory) is not writable by this user (uid \(getuid())): \(StartupError.reason(errno)); give it to the service's user (chown) or choose another path"
            )
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else {
                throw StartupError(
                    "\(flag) \(path): is a directory; name a file in it, such as \(path)/mediator.sqlite"
                )
            }
            guard access(path, R_OK | W_OK) == 0 else {
                throw StartupError(
                    "\(flag) \(path): not readable and writable by this user (uid \(getuid())): \(StartupError.reason(errno)); chown it to the service's user"
                )
            }
        }
    }

    /// A serial device path: if it is there, it must be a character device this user may open.
    /// A path that is not there yet is not an error: the device may be unplugged, and the
    /// mediator starts with DEVICE_UNREACHABLE until it appears.
    static func serialPath(_ flag: String, shown: String, _ path: String) throws(StartupError) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0 else {
            if errno == ENOENT { return false }
            throw StartupError("\(flag) \(shown): cannot inspect \(path): \(StartupError.reason(errno))")
        }
        guard status.st_mode & S_IFMT == S_IFCHR else {
            throw StartupError(
                "\(flag) \(shown): \(path) is not a character device (a serial port such as /dev/ttyACM0)"
            )
        }
        guard access(path, R_OK | W_OK) == 0 else {
            let group = getgrgid(status.st_gid).map { String(cString: $0.pointee.gr_name) } ?? "gid \(status.st_gid)"
            throw StartupError(
                "\(flag) \(shown): permission denied on \(path) for this user (uid \(getuid())); add the user to the group '\(group)' (usermod -aG \(group) USER) or install deploy/99-fiscal-device.rules"
            )
        }
        return true
    }
}
