// swift-tools-version:6.2
import Foundation
import PackageDescription

// libFuzzer targets for the decoders that read outside input (docs/SECURITY.md). Built with
// `swift build -c release --sanitize=fuzzer` into the repository's .build-fuzz/ by `make fuzz`
// and `make fuzz-smoke`; never part of the ordinary build.
//
// The fiscal-mediator package is this folder's grandparent. SwiftPM names a path dependency
// after its folder, which differs between clones, so the name is read off the path.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
let rootPackage = root.lastPathComponent

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
]

func fuzzer(_ name: String, _ products: [String]) -> Target {
    .executableTarget(
        name: name,
        dependencies: products.map { .product(name: $0, package: rootPackage) },
        swiftSettings: swiftSettings
    )
}

let package = Package(
    name: "fiscal-mediator-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: root.path)],
    targets: [
        fuzzer("FuzzTerminalMessage", ["FiscalCore"]),
        fuzzer("FuzzDeviceFrame", ["FiscalCore", "FiscalDevice"]),
        fuzzer("FuzzInvoice", ["FiscalCore"]),
        fuzzer("FuzzTopology", ["FiscalCore", "Topology"]),
        fuzzer("FuzzCloudReply", ["FiscalCore"]),
    ]
)
