public import FiscalCore

/// A byte-level path to one fiscal device: sends one request frame, returns the payload of
/// the reply frame that echoes its exchange id.
///
/// One exchange at a time: a caller must not start an exchange before the previous one
/// returned (the mediator's device actor guarantees that). Errors are ``FiscalError``s with
/// the link codes `DEVICE_TIMEOUT`, `LINK_DOWN` and `REPLY_INVALID`.
public protocol FiscalDeviceLink: Sendable {
    /// A short description for logs and STATUS: `emulator (in-process)`, `serial:/dev/ttyACM0`.
    var name: String { get }
    /// Sends `request` and waits at most `timeout` for its reply's payload.
    func exchange(_ request: DeviceRequest, timeout: Duration) async throws(FiscalError) -> [UInt8]
    /// Releases the link; later exchanges fail with `LINK_DOWN`.
    func close() async
}

/// The device side of an in-process link: something that takes the bytes of request frames
/// and answers with reply bytes, the way a device on a serial line would.
public protocol DeviceFrameHandler: Sendable {
    /// Handles `bytes` (possibly garbage, possibly several frames) and calls `reply` once with
    /// the bytes the device writes back, which may be empty when it answers nothing.
    func receive(_ bytes: [UInt8], reply: @escaping @Sendable ([UInt8]) -> Void)
}
