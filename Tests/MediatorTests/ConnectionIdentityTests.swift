import FiscalCore
import FiscalTestSupport
import Foundation
import MediatorStore
import Testing
import ZeroMQ

@testable import Mediator

/// A connection is known by a number the socket loop never gives twice, so a drop reported
/// late for an old connection cannot mark the terminal's new one offline, even when the kernel
/// gave the new one the old one's descriptor.
@Suite("Connection identity")
struct ConnectionIdentityTests {
    @Test("two connections in a row: the first one's late drop leaves the terminal connected; the second's ends it")
    func lateDropOfOldConnection() async throws {
        let directory = TemporaryDirectory("identity")
        defer { directory.remove() }
        let store = try MediatorDatabase(path: directory.appending("mediator.sqlite").path)
        let session = TerminalSession(terminal: TerminalID("REG-001"), store: store)
        let old = SocketLoop.Connection(7)
        let new = SocketLoop.Connection(8)
        _ = await session.heard(on: old)
        let back = await session.heard(on: new)
        #expect(!back.returned)
        #expect(await session.dropped(old) == false)
        #expect(await session.connected)
        // A message from the old connection, read late, does not take the newer one's place.
        _ = await session.heard(on: old)
        #expect(await session.connection == new)
        #expect(await session.dropped(new) == true)
        #expect(await session.connected == false)
    }
}
