import AsyncHTTPClient
import FiscalCore
import FiscalTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
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
        // The router decides which routes are admin ones: no path spelling slips past the token.
        for spelling in [
            "//admin/device/status", "/admin//device/status", "/%61dmin/device/status", "/admin/device/status/",
        ] {
            #expect(try await Self.get(base + spelling).status != 200, "\(spelling)")
        }

        await child.terminate()
        let direct = try await ServeProcess.run(["device", "status", "--device", device, "--db", database])
        #expect(direct.status == 0, "\(direct.errors)")
        #expect(direct.errors.hasPrefix("direct: opened \(device)"))
        #expect(direct.output.contains("device_id"))
    }
}

/// The ops API bound to a LAN address: TLS with a certificate made at first start, its
/// fingerprint in the log, and a token for every route.
@Suite("Ops API over TLS", .serialized, .timeLimit(.minutes(3)))
struct OpsTLSTests {
    @Test(
        "a non-loopback bind: HTTPS only, a pinned self-signed certificate, a read token for /health, admin for /admin"
    )
    func lan() async throws {
        let directory = TemporaryDirectory("ops-tls")
        defer { directory.remove() }
        let child = try ServeProcess([
            "serve", "--db", directory.appending("mediator.sqlite").path, "--device",
            "emulator:\(directory.appending("def").path)", "--endpoint", "tcp://127.0.0.1:*", "--ops-http", "0.0.0.0:0",
        ])
        defer { Task { await child.terminate() } }
        let listening = try await child.waitForLog(#"https://0\.0\.0\.0:[0-9]+"#)
        let port = try #require(listening.split(separator: ":").last)
        let pem = try String(contentsOfFile: directory.appending("ops-tls.crt").path, encoding: .utf8)
        let fingerprint = try #require(SelfSignedCertificate.fingerprint(ofPEM: pem))
        #expect(child.errors.withLock { $0.contains("fingerprint=\(fingerprint)") })
        for file in ["ops-tls.key", "ops-read.token", "ops-admin.token"] {
            let attributes = try FileManager.default.attributesOfItem(atPath: directory.appending(file).path)
            #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600, "\(file)")
        }
        let read = try String(contentsOfFile: directory.appending("ops-read.token").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let admin = try String(contentsOfFile: directory.appending("ops-admin.token").path, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)

        // A client that trusts only this certificate (pinned; no host name in a self-signed one).
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
        tls.certificateVerification = .noHostnameVerification
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
        func get(_ path: String, _ token: String?) async throws -> Int {
            var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)\(path)")
            if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
            let response = try await client.execute(request, timeout: .seconds(5))
            _ = try await response.body.collect(upTo: 1 << 20)
            return Int(response.status.code)
        }
        do {
            #expect(try await get("/health", nil) == 401)
            #expect(try await get("/health", read) == 200)
            #expect(try await get("/admin/device/status", read) == 403)
            #expect(try await get("/admin/device/status", admin) == 200)
            // Plain HTTP to the TLS port gets no answer.
            await #expect(throws: (any Error).self) { try await OpsAuthTests.get("http://127.0.0.1:\(port)/health") }
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
        // doctor reaches it the same way: HTTPS, the pinned certificate, the read token.
        let doctor = try await MaintenanceTests.doctor(
            [
                "--db", directory.appending("mediator.sqlite").path, "--device",
                "serial:\(directory.appending("none").path)",
            ],
            environment: ["FISCAL_MEDIATOR_OPS_HTTP": "0.0.0.0:\(port)"]
        )
        #expect(doctor.path == "daemon")
        #expect(doctor.findings["device"]?.0 == "ok", "\(doctor.findings["device"]?.1 ?? "")")
        #expect(doctor.findings["ops TLS certificate"]?.1.hasSuffix(fingerprint) == true)
        // A restart keeps the certificate (clients pinned it).
        await child.terminate()
        let again = try ServeProcess([
            "serve", "--db", directory.appending("mediator.sqlite").path, "--device",
            "emulator:\(directory.appending("def").path)", "--endpoint", "tcp://127.0.0.1:*", "--ops-http", "0.0.0.0:0",
        ])
        defer { Task { await again.terminate() } }
        _ = try await again.waitForLog("fingerprint=\(fingerprint)")
    }
}
