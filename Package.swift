// swift-tools-version:6.2
import PackageDescription

/// Settings every Swift target shares: Swift 6 language mode plus the upcoming features the
/// model server packages (swift-log, hummingbird, async-http-client) turn on.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "fiscal-mediator",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "fiscal-mediator", targets: ["fiscal-mediator"]),
        .library(name: "FiscalCore", targets: ["FiscalCore"]),
        .library(name: "FiscalDevice", targets: ["FiscalDevice"]),
        .library(name: "DeviceEmulator", targets: ["DeviceEmulator"]),
        .library(name: "FiscalTestSupport", targets: ["FiscalTestSupport"]),
        .library(name: "ZeroMQ", targets: ["ZeroMQ"]),
        .library(name: "MediatorStore", targets: ["MediatorStore"]),
        .library(name: "Reports", targets: ["Reports"]),
        .library(name: "Mediator", targets: ["Mediator"]),
        .library(name: "TerminalClient", targets: ["TerminalClient"]),
        .library(name: "SampleData", targets: ["SampleData"]),
        // For the fuzz package (Tests/Fuzz), which reaches the topology loader from outside.
        .library(name: "Topology", targets: ["Topology"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
        .package(url: "https://github.com/apple/swift-system", from: "1.5.0"),
        // YAML's own node tree, to list a configuration file's keys (swift-configuration reads
        // values by key and cannot say which keys a file holds).
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // doctor's and the tests' HTTPS client pins the ops API's self-signed certificate (the
        // server side comes through HummingbirdTLS).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // C libraries from Debian, reached only through these module maps.
        .systemLibrary(
            name: "CZeroMQ",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CQREncode",
            providers: [.apt(["libqrencode-dev"])]
        ),

        // A QR code drawn as text (the pairing printout); the only importer of CQREncode.
        .target(
            name: "QRText",
            dependencies: ["CQREncode"],
            swiftSettings: swiftSettings
        ),

        // A small, safe Swift face over libzmq; the only importer of CZeroMQ.
        .target(
            name: "ZeroMQ",
            dependencies: ["CZeroMQ"],
            swiftSettings: swiftSettings
        ),

        // The domain: values only, no I/O, no actors. Its error and alert codes are generated
        // from ErrorCatalog.json, the one table of them, into ErrorCode+Catalog.swift by
        // `make errors` (ErrorCatalogGenerator); a test checks the two agree.
        .target(
            name: "FiscalCore",
            dependencies: ["COpenSSL"],
            exclude: ["ErrorCatalog.json"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ErrorCatalogSource",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ErrorCatalogGenerator",
            dependencies: ["ErrorCatalogSource"],
            swiftSettings: swiftSettings
        ),

        // Log lines for journald: logfmt or JSON, every value escaped.
        .target(
            name: "LogFormat",
            dependencies: [.product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),

        // The DEF wire protocol, the link abstraction and its transports.
        .target(
            name: "FiscalDevice",
            dependencies: [
                "FiscalCore",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // A software DEF with its own durable journal.
        .target(
            name: "DeviceEmulator",
            dependencies: [
                "FiscalCore",
                "FiscalDevice",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // The mediator's SQLite schema (GRDB migrations) and queries.
        .target(
            name: "MediatorStore",
            dependencies: [
                "FiscalCore",
                "Reports",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),

        // X and Z reports: the figures as a pure function of the recorded day, cash counts,
        // report records and their hash chains (docs/REPORTS.md). No I/O.
        .target(
            name: "Reports",
            dependencies: ["FiscalCore"],
            swiftSettings: swiftSettings
        ),

        // X and Z reports as 80 mm thermal text (48 columns, spec §6.1): formats a ReportRecord,
        // computes nothing. PDF and spreadsheets come later, beside it.
        .target(
            name: "ReportText",
            dependencies: ["FiscalCore", "Reports"],
            swiftSettings: swiftSettings
        ),

        // The actors: gateway, terminal sessions, device actor, recovery.
        .target(
            name: "Mediator",
            dependencies: [
                "FiscalCore",
                "FiscalDevice",
                "MediatorStore",
                "Reports",
                "ReportText",
                "ZeroMQ",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The operator's HTTP API (health, terminals, alerts, Prometheus metrics).
        .target(
            name: "OpsHTTP",
            dependencies: [
                "FiscalCore",
                "FiscalDevice",
                "Mediator",
                "MediatorStore",
                "Reports",
                "ReportText",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),

        // A stand-in for the cloud's ingest API, with fault modes (tests, demos, benchmarks).
        .target(
            name: "CloudEmulator",
            dependencies: [
                "FiscalCore",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // Deployment files (topology/*.yaml): outlet, device, mediator, terminals, load profile.
        .target(
            name: "Topology",
            dependencies: [
                "FiscalCore",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),

        // The outlet audit behind `fiscal-mediator audit`: the device journal, the store's sealed
        // invoices, requests and upload line, and the cloud's acknowledgements, cross-checked.
        .target(
            name: "Audit",
            dependencies: [
                "FiscalCore",
                "FiscalDevice",
                "MediatorStore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        // The load generator behind `fiscal-mediator load`: a topology's terminals as real clients.
        .target(
            name: "LoadGenerator",
            dependencies: ["FiscalCore", "SampleData", "TerminalClient", "Topology"],
            swiftSettings: swiftSettings
        ),

        // The Swift client a POS terminal links.
        .target(
            name: "TerminalClient",
            dependencies: [
                "FiscalCore",
                "ZeroMQ",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // Sample invoices and a seeded generator the product's tools (bench, load) use.
        .target(
            name: "SampleData",
            dependencies: ["FiscalCore"],
            swiftSettings: swiftSettings
        ),

        // Harnesses shared by tests and benchmarks; never imported by a product target.
        .target(
            name: "FiscalTestSupport",
            dependencies: [
                "FiscalCore", "FiscalDevice", "DeviceEmulator", "SampleData",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "fiscal-mediator",
            dependencies: [
                "Audit",
                "FiscalCore",
                "FiscalDevice",
                "DeviceEmulator",
                "SampleData",
                "CloudEmulator",
                "Mediator",
                "MediatorStore",
                "OpsHTTP",
                "Reports",
                "ReportText",
                "LoadGenerator",
                "TerminalClient",
                "Topology",
                "LogFormat",
                "QRText",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(
            name: "FiscalCoreTests",
            dependencies: ["FiscalCore", "ErrorCatalogSource", "FiscalTestSupport", "SampleData"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FiscalDeviceTests",
            dependencies: ["FiscalCore", "FiscalDevice", "DeviceEmulator", "FiscalTestSupport", "SampleData"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "MediatorTests",
            dependencies: [
                "FiscalCore", "FiscalDevice", "DeviceEmulator", "FiscalTestSupport", "SampleData", "Mediator",
                "MediatorStore", "Reports",
                "OpsHTTP", "TerminalClient", "ZeroMQ", "CloudEmulator", "Topology",
                "LoadGenerator", "LogFormat", "Audit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The device core as a value: scenarios, the state × message table, and the seeded simulation.
        .testTarget(
            name: "DeviceCoreTests",
            dependencies: ["FiscalCore", "FiscalDevice", "Mediator", "MediatorStore", "SampleData"],
            // Optimized even in a debug build: the simulation runs thousands of schedules.
            swiftSettings: swiftSettings + [.unsafeFlags(["-O"])]
        ),
        // The report figures as values (the spec's sample X and Z to the cent), cash counts,
        // report numbers and chains, and the 80 mm text against its golden files.
        .testTarget(
            name: "ReportsTests",
            dependencies: ["FiscalCore", "Reports", "ReportText", "SampleData"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ZeroMQTests",
            dependencies: ["ZeroMQ"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DeviceEmulatorTests",
            dependencies: [
                "FiscalCore", "FiscalDevice", "DeviceEmulator", "FiscalTestSupport", "SampleData",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
