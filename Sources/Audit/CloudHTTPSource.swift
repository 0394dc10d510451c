public import AsyncHTTPClient
public import FiscalCore
import Foundation
public import NIOCore
import NIOHTTP1

/// The cloud's records of an outlet, read over HTTP: `GET /v1/outlets/{outlet}/invoices`
/// (docs/CLOUD_API.md), answered by the cloud emulator and by a cloud that offers the read
/// endpoint.
public struct CloudHTTPSource: CloudSource {
    public let baseURL: String
    public let outletID: String
    public let token: Secret?
    public let client: HTTPClient
    public var timeout: TimeAmount = .seconds(60)
    /// The largest answer accepted (about 2 500 000 invoices).
    public var maxBytes = 512 << 20

    public var name: String { "\(baseURL) (outlet \(outletID))" }

    public init(baseURL: String, outletID: String, token: Secret?, client: HTTPClient = .shared) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.outletID = outletID
        self.token = token
        self.client = client
    }

    public func records() async throws -> [CloudRecord] {
        let outlet = outletID.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? outletID
        var request = HTTPClientRequest(url: "\(baseURL)/v1/outlets/\(outlet)/invoices")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token.value)") }
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: maxBytes)
        guard response.status == .ok else {
            throw FiscalError(.replyInvalid, "GET \(request.url) answered \(response.status.code)")
        }
        do {
            return try JSONDecoder().decode([CloudRecord].self, from: Data(body.readableBytesView))
        } catch {
            throw FiscalError(
                .replyInvalid,
                "the cloud's records are not a list of invoices: \(DecodingError.describe(error))"
            )
        }
    }
}
