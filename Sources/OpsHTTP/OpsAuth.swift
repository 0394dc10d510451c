public import FiscalCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Who may call the ops API: bearer tokens, each with a scope.
///
/// `/admin/…` routes always need a token of the `admin` scope. The read routes (`/health`,
/// `/alerts`, …) need a `read` (or `admin`) token only when `requireForRead` is set, which
/// `serve` does for any address but loopback. Failed attempts are logged and rate-limited: past
/// ``failureBudget`` failures in a ``failureWindow`` they are answered 429 and logged once per
/// window, so a flood cannot fill the journal. A valid token is never refused by the limit: a
/// token is 256 random bits, so the limit is about the log and the CPU, not guessing.
public struct OpsAuth: Sendable {
    public enum Scope: String, Sendable, Comparable {
        case read, admin
        public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs == .read && rhs == .admin }
    }

    public struct Token: Sendable {
        public var secret: Secret
        public var scope: Scope
        public init(secret: Secret, scope: Scope) {
            self.secret = secret
            self.scope = scope
        }
    }

    public var tokens: [Token]
    public var requireForRead: Bool
    public var failureBudget = 10
    public var failureWindow: Duration = .seconds(60)

    public init(tokens: [Token], requireForRead: Bool) {
        self.tokens = tokens
        self.requireForRead = requireForRead
    }

    /// The scope `authorization` (an `Authorization` header's value) grants, if any.
    func scope(of authorization: String?) -> Scope? {
        guard let authorization, authorization.hasPrefix("Bearer ") else { return nil }
        let presented = Array(authorization.dropFirst("Bearer ".count).utf8)
        var granted: Scope?
        // Every token compared in full, in constant time for its length.
        for token in tokens {
            let expected = Array(token.secret.value.utf8)
            var difference = UInt8(expected.count == presented.count ? 0 : 1)
            for index in expected.indices {
                difference |= expected[index] ^ (index < presented.count ? presented[index] : 0)
            }
            if difference == 0, granted.map({ $0 < token.scope }) ?? true { granted = token.scope }
        }
        return granted
    }

    /// Creates a 0600 token file at `path` holding a new random token, unless one is there;
    /// returns the token. The CLI on the same host reads it to reach the admin routes.
    public static func tokenFile(at path: String) throws -> Secret {
        if FileManager.default.fileExists(atPath: path) {
            let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text.count >= 32 else { throw FiscalError(.configInvalid, "\(path): not an ops token (too short)") }
            return Secret(text)
        }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw FiscalError(
                .configInvalid,
                "\(path): cannot create the ops token file: \(String(cString: strerror(errno)))"
            )
        }
        defer { close(descriptor) }
        let bytes = Array((token + "\n").utf8)
        guard bytes.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == bytes.count else {
            throw FiscalError(.configInvalid, "\(path): cannot write the ops token file")
        }
        return Secret(token)
    }
}

/// The failed attempts of the current window.
final class AuthFailures: Sendable {
    private let state = Mutex<(windowStart: ContinuousClock.Instant, count: Int, suppressed: Int)>(
        (ContinuousClock.now, 0, 0)
    )

    /// Counts one failure; says whether it is within the budget, and how many were suppressed
    /// in the window that just ended (to log once).
    func record(budget: Int, window: Duration) -> (allowed: Bool, suppressedBefore: Int) {
        state.withLock { state in
            let now = ContinuousClock.now
            var suppressedBefore = 0
            if now - state.windowStart >= window {
                suppressedBefore = state.suppressed
                state = (now, 0, 0)
            }
            state.count += 1
            if state.count > budget { state.suppressed += 1 }
            return (state.count <= budget, suppressedBefore)
        }
    }
}

/// Checks each request's bearer token against ``OpsAuth`` for `needed`. The router attaches it
/// to the routes it guards (every route for `read`, the `/admin` group for `admin`), so the
/// routes it applies to are the ones the router matched: no path prefix test that `//admin`
/// or `%61dmin` could slip past.
struct OpsAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let auth: OpsAuth
    let needed: OpsAuth.Scope
    let failures: AuthFailures
    let logger: Logger

    func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let granted = auth.scope(of: request.headers[.authorization])
        if let granted, granted >= needed { return try await next(request, context) }
        let (allowed, suppressed) = failures.record(budget: auth.failureBudget, window: auth.failureWindow)
        if suppressed > 0 {
            logger.warning("ops API: failed authentications suppressed", metadata: ["count": "\(suppressed)"])
        }
        guard allowed else {
            return Response(
                status: .tooManyRequests,
                headers: [.retryAfter: "\(auth.failureWindow.components.seconds)"]
            )
        }
        logger.warning(
            "ops API: authentication failed",
            metadata: [
                "path": "\(request.uri.path)", "needed": "\(needed.rawValue)",
                "presented":
                    "\(request.headers[.authorization] == nil ? "none" : (granted?.rawValue ?? "unknown token"))",
            ]
        )
        return Response(
            status: granted == nil ? .unauthorized : .forbidden,
            headers: [.wwwAuthenticate: "Bearer realm=\"fiscal-mediator\"", .contentType: "application/json"],
            body: ResponseBody(
                byteBuffer: ByteBuffer(
                    bytes: Array(
                        #"{"code":"UNAUTHORIZED","message":"this route needs a bearer token of the \#(needed.rawValue) scope"}"#
                            .utf8
                    )
                )
            )
        )
    }
}
