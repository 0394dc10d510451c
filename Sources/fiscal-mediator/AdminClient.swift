import AsyncHTTPClient
import FiscalCore
import Foundation
import NIOCore
import NIOHTTP1

/// The CLI's way to a running mediator: its ops API's admin routes, with the admin token that
/// `serve` keeps (0600) beside its store.
struct AdminClient {
    let base: String
    let tokenFile: String

    /// The body of `GET path`, or a ``StartupError`` that says what went wrong and what to do.
    func get(_ path: String) async throws -> String {
        try await send(.GET, path, timeout: .seconds(10))
    }

    /// The body of `POST path` (no body sent), or a ``StartupError``. `timeout` covers a device
    /// report that waits for its turn between sales.
    func post(_ path: String, timeout: TimeAmount = .seconds(60)) async throws -> String {
        try await send(.POST, path, timeout: timeout)
    }

    private func send(_ method: HTTPMethod, _ path: String, timeout: TimeAmount) async throws -> String {
        let token: String
        do {
            token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(
                in: .whitespacesAndNewlines
            )
        } catch {
            throw StartupError(
                "cannot read the mediator's admin token \(tokenFile): \(error.localizedDescription); run as the service's user (sudo -u fiscal-mediator) or name the store with --db"
            )
        }
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        let response: HTTPClientResponse
        do { response = try await HTTPClient.shared.execute(request, timeout: timeout) } catch {
            throw StartupError(
                "the mediator's ops API at \(base) does not answer: \(error); is mediator.ops_http right?"
            )
        }
        let body = String(buffer: try await response.body.collect(upTo: 16 << 20))
        guard response.status == .ok else {
            throw StartupError("the mediator at \(base) answered \(response.status.code) to \(path): \(body)")
        }
        return body
    }
}
