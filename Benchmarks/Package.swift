// swift-tools-version:6.2
import Foundation
import PackageDescription

/// SwiftPM names a path dependency after its directory, which is whatever the checkout is
/// called on this machine.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

// The benchmark suite lives in its own package so that `make test` never builds it.
// Run with `make bench` (or `cd Benchmarks && swift package benchmark`).
let package = Package(
    name: "fiscal-mediator-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "FiscalBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "FiscalCore", package: root),
                .product(name: "FiscalDevice", package: root),
                .product(name: "DeviceEmulator", package: root),
                .product(name: "FiscalTestSupport", package: root),
                .product(name: "MediatorStore", package: root),
                .product(name: "Reports", package: root),
                .product(name: "Mediator", package: root),
                .product(name: "TerminalClient", package: root),
                .product(name: "SampleData", package: root),
                .product(name: "ZeroMQ", package: root),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/FiscalBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
