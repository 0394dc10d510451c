public import FiscalCore

/// The DEF command set: five families, each `FAMILY|COMMAND`.
public enum DeviceCommand: String, Hashable, Sendable, CaseIterable {
    case prepare = "TXN|PREPARE"
    case commit = "TXN|COMMIT"
    case status = "QRY|STATUS"
    case log = "QRY|LOG"
    /// `QRY|ZREPORT <n>`: the stored Z report number n, as `RPT|Z` returned it. This emulator's
    /// extension (docs/DEVICE_PROTOCOL.md): a DEF without it answers `UNKNOWN_COMMAND`.
    case zReport = "QRY|ZREPORT"
    case reportZ = "RPT|Z"
    case reportX = "RPT|X"
    case reportA = "RPT|A"
    case dumpLog = "ADM|DUMPLOG"
    case reset = "ADM|RESET"
    case setTime = "CFG|TIME"
    case initialize = "CFG|INIT"
}

/// One request: a command line (`QRY|LOG 105`) and a JSON object body.
///
/// On the wire the payload is the command line, a line feed, then the body:
/// `TXN|COMMIT\n{"nonce":"9f..."}`. A request without a body sends `{}`.
public struct DeviceRequest: Hashable, Sendable {
    public var command: DeviceCommand
    /// The one argument some commands take (`QRY|LOG <seq>`).
    public var argument: String?
    /// A JSON object, UTF-8.
    public var body: [UInt8]

    public init(_ command: DeviceCommand, argument: String? = nil, body: [UInt8] = Array("{}".utf8)) {
        self.command = command
        self.argument = argument
        self.body = body
    }

    public var payload: [UInt8] {
        var line = command.rawValue
        if let argument { line += " " + argument }
        return Array(line.utf8) + [0x0A] + body
    }

    /// Parses a request payload, as the device does.
    ///
    /// Errors: `FRAME_INVALID` for bytes that are not UTF-8, `UNKNOWN_COMMAND` for a command
    /// line naming no command, `JSON_INVALID` when the body is not a JSON object (checked by
    /// the device, which parses the body anyway).
    public static func parse(payload: [UInt8]) throws(FiscalError) -> DeviceRequest {
        guard let text = String(validating: payload, as: UTF8.self) else {
            throw FiscalError(.frameInvalid, "the request is not valid UTF-8")
        }
        let newline = text.firstIndex(of: "\n") ?? text.endIndex
        let line = text[..<newline]
        let body = newline < text.endIndex ? Array(text[text.index(after: newline)...].utf8) : Array("{}".utf8)
        let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard let name = parts.first, let command = DeviceCommand(rawValue: String(name)) else {
            let shown = line.prefix(40)
            throw FiscalError(.unknownCommand, "unknown command '\(shown)'")
        }
        return DeviceRequest(command, argument: parts.count > 1 ? String(parts[1]) : nil, body: body)
    }
}
