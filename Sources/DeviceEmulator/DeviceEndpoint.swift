public import FiscalCore
public import FiscalDevice
public import Foundation

/// Where the device is, as an operator writes it:
/// `serial:/dev/ttyACM0`, `serial:/dev/pts/4?baud=115200`, or `emulator:DIR` for a software
/// device in this process whose fiscal memory is in DIR.
public enum DeviceEndpoint: Hashable, Sendable, CustomStringConvertible {
    case serial(path: String, baudRate: Int)
    case emulator(stateDirectory: String)

    public init(parsing text: String) throws(FiscalError) {
        if text.hasPrefix("serial:") {
            var rest = String(text.dropFirst("serial:".count))
            var baud = 115_200
            if let query = rest.firstIndex(of: "?") {
                let options = rest[rest.index(after: query)...]
                rest = String(rest[..<query])
                for option in options.split(separator: "&") {
                    let pair = option.split(separator: "=", maxSplits: 1)
                    guard pair.count == 2, pair[0] == "baud", let value = Int(pair[1]) else {
                        throw FiscalError(.configInvalid, "device: unknown serial option '\(option)' (only baud=N)")
                    }
                    baud = value
                }
            }
            guard rest.hasPrefix("/") else {
                throw FiscalError(.configInvalid, "device: serial needs an absolute path, e.g. serial:/dev/ttyACM0")
            }
            self = .serial(path: rest, baudRate: baud)
        } else if text.hasPrefix("emulator:") {
            let directory = String(text.dropFirst("emulator:".count))
            guard !directory.isEmpty else {
                throw FiscalError(
                    .configInvalid,
                    "device: emulator needs a state directory, e.g. emulator:var/emulator"
                )
            }
            self = .emulator(stateDirectory: directory)
        } else {
            throw FiscalError(.configInvalid, "device: '\(text)' is neither serial:PATH nor emulator:DIR")
        }
    }

    public var description: String {
        switch self {
        case .serial(let path, let baud): "serial:\(path)?baud=\(baud)"
        case .emulator(let directory): "emulator:\(directory)"
        }
    }

    /// Opens a link. For `emulator:`, also returns the emulator so the caller can shut it down.
    public func open(
        emulatorConfiguration: (URL) -> FiscalDeviceEmulator.Configuration = {
            FiscalDeviceEmulator.Configuration(stateDirectory: $0)
        }
    ) throws -> (link: any FiscalDeviceLink, emulator: FiscalDeviceEmulator?) {
        switch self {
        case .serial(let path, let baud):
            return (try SerialDeviceLink(path: path, baudRate: baud), nil)
        case .emulator(let directory):
            let emulator = try FiscalDeviceEmulator(
                configuration: emulatorConfiguration(URL(fileURLWithPath: directory, isDirectory: true))
            )
            return (InProcessDeviceLink(handler: emulator), emulator)
        }
    }
}
