public import FiscalCore
import FiscalDevice
import Foundation
import Logging
import MediatorStore
public import Reports
import Synchronization

/// Combined reports (docs/REPORTS.md): the store's X across terminals, and the combined Z that
/// closes the device's day and proves (or disproves, naming why) that the registers' Zs add up
/// to the device's own Z.
extension MediatorService {
    /// The combined X over `terminals` (all active ones by default); numbered when `takenBy`.
    public func combinedX(
        terminals: [TerminalID]? = nil,
        takenBy: String? = nil
    ) async throws(FiscalError)
        -> ReportRecord
    {
        try await store.combinedX(terminals: terminals, takenBy: takenBy, settings: configuration.reports)
    }

    /// The combined Z: checks the day can close, writes its intent, runs `RPT|Z` at the device
    /// (one exchange, in turn with sales), and records the combined Z with both sides and the
    /// verdict in one transaction. A mismatch is recorded, logged and alerted, never refused.
    public func combinedZ(takenBy: String) async throws(FiscalError) -> ReportRecord {
        // One at a time: a second (a retry after a client timeout) must not find the first's
        // intent, take it for a crashed run's, and close another device day.
        let started = combinedRunning.withLock { running in
            if running { return false }
            running = true
            return true
        }
        guard started else { throw FiscalError(.periodBusy, "a combined Z is on its way") }
        defer { combinedRunning.withLock { $0 = false } }
        try await completePendingCombinedZ()
        _ = try await store.planCombinedZ(takenBy: takenBy)
        let before = try await storeRead { try await store.latestDeviceZ()?.zNumber } ?? 0
        let intent = try await store.beginCombinedZ(takenBy: takenBy, deviceZBefore: before)
        let report = try await deviceReport(.z)
        let record = try await store.recordCombinedZ(
            device: DeviceDay(report),
            takenBy: takenBy,
            settings: configuration.reports,
            intent: intent.id
        )
        log(record)
        return record
    }

    /// Completes a combined Z that a previous run left halfway: with the device's Z stored since
    /// its intent, the combined Z is recorded (once: recording is idempotent per device Z); when
    /// the device's own intent was resolved without a Z, the intent is dropped; while the device
    /// core still resolves it, nothing changes yet.
    public func completePendingCombinedZ() async throws(FiscalError) {
        guard let intent = try await store.pendingCombinedIntent() else { return }
        if let stored = try await storeRead({ try await store.latestDeviceZ() }), stored.zNumber > intent.deviceZBefore
        {
            let report: DeviceReport
            do {
                report = try JSONDecoder().decode(DeviceReport.self, from: Data(stored.reportJSON.utf8))
            } catch {
                throw FiscalError(.storeUnavailable, "the stored device Z \(stored.zNumber) does not decode: \(error)")
            }
            let record = try await store.recordCombinedZ(
                device: DeviceDay(report),
                takenBy: intent.takenBy,
                settings: configuration.reports,
                intent: intent.id
            )
            logger.notice("a combined Z left halfway was completed", metadata: ["report": "\(record.number)"])
            log(record)
            return
        }
        // The device's own intent written since this one says what happened at the device.
        let deviceIntent = try await storeRead { try await store.deviceZIntents() }
            .filter { $0.createdAt >= intent.createdAt }.max { $0.id < $1.id }
        switch deviceIntent?.state {
        case .pending:
            return  // the device core resolves it first (at its start, or after a lost reply)
        case .unrecoverable:
            // The device closed its day but its Z cannot be read: recorded as a mismatch that
            // says so, never dropped (the next combined Z would otherwise compare across days).
            let seen = deviceIntent?.zCountSeen ?? 0
            let record = try await store.recordCombinedZ(
                device: DeviceDay(
                    zNumber: seen,
                    deviceID: deviceIntent?.deviceID ?? "unknown",
                    firstSeq: nil,
                    lastSeq: nil,
                    invoiceCount: 0,
                    generatedAt: deviceIntent?.resolvedAt ?? intent.createdAt,
                    types: [],
                    taxGroups: [],
                    reportHash: nil
                ),
                takenBy: intent.takenBy,
                settings: configuration.reports,
                intent: intent.id,
                deviceUnreadable:
                    "the device closed its day (z_count \(seen)) but its Z could not be read back; read it at the device"
            )
            logger.error(
                "a combined Z was recorded without the device's Z, which could not be read",
                metadata: ["report": "\(record.number)"]
            )
            log(record)
        case .dropped, .done, nil:
            try await store.dropCombinedIntent(intent.id)
            logger.notice("a combined Z left halfway was dropped: the device did not close its day")
        }
    }

    private func log(_ record: ReportRecord) {
        let verdict = record.dayReconciliation?.verdict ?? .mismatch
        let metadata: Logger.Metadata = [
            "report": "\(record.number)", "device.z": "\(record.deviceDay?.zNumber ?? 0)",
            "verdict": "\(verdict.rawValue)", "differences": "\(record.dayReconciliation?.differences.count ?? 0)",
            "numbers": "\(record.dayReconciliation?.numbers.count ?? 0)",
        ]
        if verdict == .match {
            logger.notice("combined Z taken; the registers agree with the device", metadata: metadata)
        } else {
            logger.error(
                "combined Z taken; the registers DISAGREE with the device (REPORT_MISMATCH)",
                metadata: metadata
            )
        }
    }
}

extension DeviceDay {
    /// The figures of a device report that the reconciliation compares.
    init(_ report: DeviceReport) {
        self.init(
            zNumber: report.zNumber,
            deviceID: report.deviceID.rawValue,
            firstSeq: report.firstSeq,
            lastSeq: report.lastSeq,
            invoiceCount: report.invoiceCount,
            generatedAt: report.generatedAt,
            types: report.byType.map {
                TypeLine(currency: $0.currency, invoiceType: $0.invoiceType, count: $0.count, total: $0.total)
            },
            taxGroups: report.byTaxGroup.map {
                TaxLine(currency: $0.currency, code: $0.code, base: $0.base, amount: $0.amount)
            },
            reportHash: report.reportHash
        )
    }
}
