import Metrics
import Synchronization

/// The mediator's own metrics, through swift-metrics (Prometheus in `serve`).
final class MediatorMetrics: Sendable {
    let factory: any MetricsFactory
    let queueDepth: Meter
    let inDoubt: Meter
    let lockHeld: Meter
    let lastInvoiceSeq: Meter
    let terminalsOnline: Meter
    private let counters = Mutex<[String: (Counter, Metrics.Timer)]>([:])

    init(factory: any MetricsFactory) {
        self.factory = factory
        queueDepth = Meter(label: "fiscal_queue_depth", factory: factory)
        inDoubt = Meter(label: "fiscal_in_doubt", factory: factory)
        lockHeld = Meter(label: "fiscal_device_lock_held", factory: factory)
        lastInvoiceSeq = Meter(label: "fiscal_last_invoice_seq", factory: factory)
        terminalsOnline = Meter(label: "fiscal_terminals_online", factory: factory)
    }

    /// Counts a request of `type` by outcome (`OK` or its error code) and records its latency.
    func request(_ type: String, outcome: String, duration: Duration) {
        let key = type + "/" + outcome
        let (counter, timer) = counters.withLock { cache in
            if let found = cache[key] { return found }
            let made = (
                Counter(
                    label: "fiscal_requests_total",
                    dimensions: [("type", type), ("outcome", outcome)],
                    factory: factory
                ),
                Metrics.Timer(label: "fiscal_request_duration_seconds", dimensions: [("type", type)], factory: factory)
            )
            cache[key] = made
            return made
        }
        counter.increment()
        timer.record(duration: duration)
    }
}
