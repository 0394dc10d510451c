import FiscalCore
import Foundation

/// The cloud's answers as the sync uploader decodes them (a 200's results, any other status's
/// error body), and a batch as the cloud emulator decodes it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCloudReply(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    let decoder = JSONDecoder()
    if let response = try? decoder.decode(CloudProtocol.Response.self, from: data) {
        for result in response.results {
            _ = result.idempotencyKey.split(separator: ":").last.flatMap { InvoiceSeq(text: $0) }
        }
    }
    _ = try? decoder.decode(CloudProtocol.ErrorBody.self, from: data)
    if let batch = try? decoder.decode(CloudProtocol.Batch.self, from: data) {
        for item in batch.items {
            precondition(InvoiceSeq.range.contains(item.entry.seq.rawValue))
            _ = CloudProtocol.idempotencyKey(deviceID: item.entry.deviceID, seq: item.entry.seq)
            _ = item.entry.computedEntryHash
        }
    }
    return 0
}
