public import FiscalCore
public import FiscalDevice
import Logging

/// The device's own reports through the running mediator (the ops API's `POST /admin/device/report`).
extension MediatorService {
    /// RPT|Z or RPT|X at the device, as one exchange in its turn between sales: never inside a
    /// sale's PREPARE → COMMIT, never racing one. A Z is returned once it is stored
    /// (``MediatorStore/MediatorDatabase/storedDeviceZ(_:)``); a refusal is a code of the catalog
    /// (DEVICE_UNAVAILABLE while recovering or unreachable, DEVICE_HALTED, SHUTTING_DOWN,
    /// STORE_UNAVAILABLE, QUEUE_FULL, the device's own), and a Z whose reply was lost is answered
    /// with the link's code (its outcome unknown to the caller) while the mediator reads it back.
    public func deviceReport(_ kind: DeviceReport.Kind) async throws(FiscalError) -> DeviceReport {
        let report = try await deviceActor.report(kind)
        logger.info(
            "device report taken",
            metadata: [
                "report.kind": "\(report.kind.rawValue)", "z.number": "\(report.zNumber)",
                "report.invoices": "\(report.invoiceCount)",
            ]
        )
        return report
    }
}
