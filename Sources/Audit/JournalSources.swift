public import FiscalCore
public import FiscalDevice

/// The journal read from the device itself with `ADM|DUMPLOG`, page by page (any link: serial,
/// the emulator in-process; a running mediator's device actor can hand its link over the same
/// way).
public struct DeviceJournalSource: JournalSource {
    public let client: FiscalDeviceClient
    public let name: String

    public init(client: FiscalDeviceClient, name: String? = nil) {
        self.client = client
        self.name = name ?? "device \(client.link.name)"
    }

    public func read(
        identity: (DumpLogExport.Identity) throws -> Void,
        entries: ([JournalEntry]) throws -> Void
    ) async throws -> DumpLogExport.Head {
        var pager = DumpLogPager()
        var head: DumpLogExport.Head?
        while let page = try await client.nextLogPage(&pager) {
            if head == nil { try identity(DumpLogExport.Identity(deviceID: page.deviceID, publicKey: page.publicKey)) }
            try entries(page.entries)
            head = DumpLogExport.Head(seq: page.headSeq, hash: page.headHash, signature: page.headSignature)
        }
        guard let head else { throw FiscalError(.replyInvalid, "ADM|DUMPLOG returned no page") }
        return head
    }
}

/// The journal read from an export file (`device dump-log --out`), streamed.
public struct ExportJournalSource: JournalSource {
    public let path: String
    public var name: String { "export \(path)" }

    public init(path: String) { self.path = path }

    public func read(
        identity: (DumpLogExport.Identity) throws -> Void,
        entries: ([JournalEntry]) throws -> Void
    ) async throws -> DumpLogExport.Head {
        try DumpLogExport.read(path: path, identity: identity, entries: entries).1
    }
}
