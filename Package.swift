// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny")
]

let package = Package(
    name: "rollcall",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "rollcall", targets: ["rollcall"]),
        .executable(name: "rollcall-bare", targets: ["rollcall-bare"]),
        .executable(name: "rollcall-hotpath", targets: ["rollcall-hotpath"]),
        .library(name: "RollCall", targets: ["RollCall"]),
        .library(name: "RollCallClient", targets: ["RollCallClient"]),
        .library(name: "RollCallPostgres", targets: ["RollCallPostgres"]),
        .library(name: "RollCallHub", targets: ["RollCallHub"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // HMAC for signing the hubs' NOTIFY payloads (already there under jwt-kit).
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"6.0.0"),
        // Base64url for tokens and NOTIFY seals (already there under jwt-kit).
        .package(url: "https://github.com/swift-extras/swift-extras-base64", from: "1.2.0"),
        // Webhooks: the hubs POST to the receiver with it (no hand-written HTTP).
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Tests only: reads docker-compose.yml to check it against the command line.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        .target(
            name: "RollCall",
            dependencies: [
                .product(name: "ExtrasBase64", package: "swift-extras-base64")
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RollCallClient",
            dependencies: [
                "RollCall",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RollCallPostgres",
            dependencies: [
                "RollCall",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Migrations")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RollCallHub",
            dependencies: [
                "RollCall",
                "RollCallPostgres",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            // Served by the hub; compiled into the binary, so nothing ships beside it.
            resources: [.embedInCode("Resources/openapi.yaml"), .embedInCode("Resources/rollcall.js"), .embedInCode("Resources/dashboard.html")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "rollcall",
            dependencies: [
                "RollCall",
                "RollCallPostgres",
                "RollCallHub",
                "RollCallClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "rollcall-bare",
            dependencies: [
                "RollCall",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/BareHub",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "rollcall-hotpath",
            dependencies: [
                "RollCall", "RollCallPostgres", "RollCallHub",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/HotPath",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "RollCallTestSupport",
            dependencies: [
                "RollCall",
                "RollCallPostgres",
                "RollCallHub",
                "RollCallClient",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            path: "Tests/RollCallTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RollCallTests",
            dependencies: ["RollCall"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RollCallPostgresTests",
            dependencies: ["RollCallPostgres", "RollCallTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RollCallHubTests",
            dependencies: [
                "RollCallHub",
                "RollCallClient",
                "RollCallTestSupport",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Tests that start processes: `rollcall serve`, clusters of their own, Chromium, Python
        // clients, the soak. The fast tier is everything else: `swift test --skip RollCallSystemTests`.
        .testTarget(
            name: "RollCallSystemTests",
            dependencies: [
                "RollCallHub",
                "RollCallClient",
                "RollCallTestSupport",
                // Not imported: these tests launch it, so building them builds it.
                "rollcall",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
