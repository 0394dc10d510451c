import AsyncHTTPClient
import FiscalCore
import FiscalTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// The ops API's admin routes and their token, and the CLI reaching a running mediator through
/// them: `serve` as a child, real HTTP.
@Suite("Ops API authentication", .serialized, .timeLimit(.minutes(3)))
struct OpsAuthTests {
    static func get(_ url: String, token: String? = nil) async throws -> (status: Int, body: String) {
        var request = HTTPClientRequest(url: url)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(5))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 1 << 20)))
    }

    @Test(
        "a 0600 admin token made at first start; /admin needs it, read routes on loopback do not; failures rate-limited"
    )
    func adminToken() async throws {
        let directory = TemporaryDirectory("ops-auth")
        defer { directory.remove() }
        let database = directory.appending("mediator.sqlite").path
        let device = "emulator:\(directory.appending("def").path)"
        let child = try ServeProcess([
            "serve", "--db", database, "--device", device, "--endpoint", "tcp://127.0.0.1:*", "--ops-http",
            "127.0.0.1:0",
        ])
        defer { Task { await child.terminate() } }
        let base = String(try await child.waitForLog(#"http://127\.0\.0\.1:[0-9]+"#))
        let tokenFile = directory.appending("ops-admin.token").path
        let attributes = try FileManager.default.attributesOfItem(atPath: tokenFile)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines
        )
        #expect(token.count == 64)
        #expect(!child.errors.withLock { $0.contains(token) })

        #expect(try await Self.get(base + "/health").status == 200)
        #expect(try await Self.get(base + "/admin/device/status").status == 401)
        #expect(try await Self.get(base + "/admin/device/status", token: String(token.reversed())).status == 401)
        let (status, body) = try await Self.get(base + "/admin/device/status", token: token)
        #expect(status == 200)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(json["source"] as? String == "the running mediator")
        #expect((json["device_id"] as? String)?.isEmpty == false)
        _ = try await child.waitForLog("ops API: authentication failed")

        // The CLI goes through the running mediator, and says so.
        let through = try await ServeProcess.run([
            "device", "status", "--device", device, "--db", database, "--mediator", base,
        ])
        #expect(through.status == 0, "\(through.errors)")
        #expect(through.errors.hasPrefix("via the running mediator at \(base)"))
        #expect(through.output.contains(#""source":"the running mediator""#))

        // Past the budget (10 a minute), failures are answered 429 (2 failed above).
        var statuses: [Int] = []
        for _ in 0..<9 { statuses.append(try await Self.get(base + "/admin/device/status", token: "wrong").status) }
        #expect(statuses.prefix(8).allSatisfy { $0 == 401 } && statuses.last == 429)
        // A valid token still passes.
        #expect(try await Self.get(base + "/admin/device/status", token: token).status == 200)

        await child.terminate()
        let direct = try await ServeProcess.run(["device", "status", "--device", device, "--db", database])
        #expect(direct.status == 0, "\(direct.errors)")
        #expect(direct.errors.hasPrefix("direct: opened \(device)"))
        #expect(direct.output.contains("device_id"))
    }
}
