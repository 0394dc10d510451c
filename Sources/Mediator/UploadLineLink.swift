public import ServiceLifecycle

/// Joins the upload line to the device core: the uploader sends nothing before recovery is done
/// (so a gap that exists at start is never exposed), and a gap it finds makes the device actor
/// look for the missing fiscal number in the device journal.
public struct UploadLineLink: Service {
    let device: DeviceActor
    let uploader: SyncUploader

    /// `uploader` must be configured with `waitForRecovery`.
    public init(device: DeviceActor, uploader: SyncUploader) {
        self.device = device
        self.uploader = uploader
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    await device.waitUntilReady()
                    await uploader.recoveryFinished()
                }
                group.addTask {
                    for await _ in uploader.gaps { await device.checkJournal() }
                }
            }
        }
    }
}
