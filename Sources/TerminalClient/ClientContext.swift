public import ZeroMQ

/// The messaging context a process's terminal clients share (one per process is plenty). The
/// load generator and the `terminal` command hold one of these, not a ZeroMQ type.
public final class ClientContext: Sendable {
    let zmq: ZMQContext

    public init() { zmq = ZMQContext() }

    /// Shares an existing ZeroMQ context (a test that also runs the mediator in process).
    public init(_ context: ZMQContext) { zmq = context }
}

extension MediatorClient {
    public init(context: ClientContext, configuration: Configuration) throws {
        try self.init(context: context.zmq, configuration: configuration)
    }

    /// Connects, runs `body` with the client while replies are read, then closes.
    public static func withClient<T: Sendable>(
        context: ClientContext,
        configuration: Configuration,
        _ body: (MediatorClient) async throws -> T
    ) async throws -> T {
        try await withClient(context: context.zmq, configuration: configuration, body)
    }
}
