import AsyncHTTPClient
import FiscalCore
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The cloud emulator echoes peer-chosen text (the outlet in the path, the batch's outlet_id)
/// only inside JSON written by `JSONEncoder`: one line, every control character escaped.
@Suite("Cloud emulator output of peer text", .timeLimit(.minutes(1)))
struct CloudEmulatorHostileTests {
    @Test("an outlet id with a newline, quotes and an escape sequence comes back escaped, on one line")
    func outletMismatchIsEscaped() async throws {
        let cloud = try await CloudSyncTests.Cloud()
        defer { Task { await cloud.close() } }
        let forged = "OUT\n2026-12-02T00:00:00Z accepted everything \"\u{1b}[2J"
        let body = try JSONEncoder().encode(CloudProtocol.Batch(outletID: forged, items: []))
        var request = HTTPClientRequest(url: cloud.url + "/v1/outlets/OUTLET-KIN-01/invoices")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer outlet-token")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await CloudSyncTests.http.execute(request, timeout: .seconds(10))
        let bytes = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
        #expect(response.status.code == 400)
        // No raw control byte reaches the peer or a log that records the body.
        #expect(!bytes.contains { $0 < 0x20 })
        let error = try JSONDecoder().decode(CloudProtocol.ErrorBody.self, from: Data(bytes))
        #expect(error.code == CloudProtocol.Code.outletMismatch && error.message.contains(forged))
    }

    @Test("a batch that is not one (a 1 MiB string, 10,000 levels of nesting) is BAD_REQUEST, and the cloud goes on")
    func hostileBodies() async throws {
        let cloud = try await CloudSyncTests.Cloud()
        defer { Task { await cloud.close() } }
        let bodies = [
            "\"" + String(repeating: "x", count: 1 << 20) + "\"",
            String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000),
            #"{"outlet_id":"OUTLET-KIN-01","items":[{"entry":{"seq":9223372036854775808}}]}"#,
        ]
        for text in bodies + [#"{"outlet_id":"OUTLET-KIN-01","items":[]}"#] {
            var request = HTTPClientRequest(url: cloud.url + "/v1/outlets/OUTLET-KIN-01/invoices")
            request.method = .POST
            request.headers.add(name: "Authorization", value: "Bearer outlet-token")
            request.body = .bytes(ByteBuffer(string: text))
            let response = try await CloudSyncTests.http.execute(request, timeout: .seconds(10))
            _ = try await response.body.collect(upTo: 1 << 20)
            #expect(response.status.code == (text.hasSuffix(#""items":[]}"#) ? 200 : 400))
        }
    }
}
