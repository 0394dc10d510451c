import Dispatch
import FiscalCore
import Foundation
import Topology

/// A topology file, loaded the way `serve --topology` and `load --topology` load one: written
/// to a file, read through swift-configuration's YAML provider, checked key by key.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTopology(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    guard (try? data.write(to: TopologyFile.url)) != nil else { return 0 }
    let done = DispatchSemaphore(value: 0)
    Task {
        do throws(FiscalError) {
            let topology = try await Topology.load(path: TopologyFile.url.path)
            precondition(!topology.terminals.isEmpty && topology.terminals.count <= 64)
            precondition(topology.terminals.allSatisfy { ($0.lane ?? 1) >= 1 && ($0.lane ?? 1) <= 999 })
        } catch {
            precondition(error.code == .configInvalid)
        }
        done.signal()
    }
    done.wait()
    return 0
}

/// One file per fuzzing process, in memory where the system has it.
enum TopologyFile {
    static let url: URL = {
        let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        return URL(fileURLWithPath: folder).appendingPathComponent("fuzz-topology-\(getpid()).yaml")
    }()
}
