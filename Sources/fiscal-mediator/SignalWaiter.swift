@preconcurrency import Dispatch
import Foundation

/// Suspends until SIGINT or SIGTERM arrives, without blocking a thread.
enum SignalWaiter {
    static func waitForTermination() async {
        let stream = AsyncStream<Int32> { continuation in
            var sources: [any DispatchSourceSignal] = []
            for signalNumber in [SIGINT, SIGTERM] {
                signal(signalNumber, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
                source.setEventHandler { continuation.yield(signalNumber) }
                source.resume()
                sources.append(source)
            }
            let retained = sources
            continuation.onTermination = { _ in
                for source in retained { source.cancel() }
            }
        }
        for await _ in stream { return }
    }
}
