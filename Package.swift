// swift-tools-version:6.1
import PackageDescription

/// One set of Swift settings for every target: Swift 6 language mode plus the upcoming features
/// the model codebases adopt.
let swiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
  .enableUpcomingFeature("MemberImportVisibility"),
]

/// The transport and call layers run once per frame, header and call: in release builds they skip
/// the runtime's dynamic exclusivity checks, which were about 3% of a call's CPU (each access to
/// a class's stored property records itself in a thread-local set). Debug builds, where every
/// test runs, keep the checks. Swift's static exclusivity checking still applies everywhere.
let hotPathSettings: [SwiftSetting] = swiftSettings + [
  .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))
]

let package = Package(
  name: "Hayon",
  products: [
    .executable(name: "diagnostics-server", targets: ["DiagnosticsServer"]),
    // <<products>>
    .executable(name: "gateway", targets: ["GatewayExecutable"]),
    .executable(name: "publish-service", targets: ["PublishServiceExecutable"]),
    .executable(name: "publish-bench", targets: ["PublishBench"]),
    .executable(name: "platform-sandbox", targets: ["PlatformSandboxExecutable"]),
    .executable(name: "account-service", targets: ["AccountServiceExecutable"]),
    .executable(name: "auth-service", targets: ["AuthServiceExecutable"]),
    .executable(name: "hayon-probe", targets: ["Probe"]),
  ],
  targets: [
    // C boundaries.
    .target(
      name: "CLinuxShims",
      path: "Shared/CLinuxShims",
      cSettings: [.define("_GNU_SOURCE")]
    ),
    .systemLibrary(
      name: "CNghttp2",
      path: "Shared/CNghttp2",
      pkgConfig: "libnghttp2",
      providers: [.apt(["libnghttp2-dev"])]
    ),
    .systemLibrary(
      name: "CSQLite",
      path: "Shared/CSQLite",
      pkgConfig: "sqlite3",
      providers: [.apt(["libsqlite3-dev"])]
    ),
    .systemLibrary(
      name: "COpenSSL",
      path: "Shared/COpenSSL",
      pkgConfig: "openssl",
      providers: [.apt(["libssl-dev"])]
    ),

    // Layer 1: HTTP/2 transport (epoll, nghttp2, OpenSSL). Nothing above it sees C types.
    .target(
      name: "HayonHTTP2",
      dependencies: ["CLinuxShims", "CNghttp2", "COpenSSL"],
      path: "Shared/HayonHTTP2",
      swiftSettings: hotPathSettings
    ),
    // Layer 2: the gRPC wire protocol, codecs, server router, client, health, auth.
    .target(
      name: "HayonRPC",
      dependencies: ["HayonHTTP2"],
      path: "Shared/HayonRPC",
      swiftSettings: hotPathSettings
    ),
    // Persistence: a document store behind a protocol; SQLite (WAL) is the embedded default.
    .target(
      name: "HayonStore",
      dependencies: ["CSQLite"],
      path: "Shared/HayonStore",
      swiftSettings: swiftSettings
    ),
    // Cryptography over OpenSSL: sealing, password hashing, signed tokens, randomness.
    .target(
      name: "HayonCrypto",
      dependencies: ["COpenSSL"],
      path: "Shared/HayonCrypto",
      swiftSettings: swiftSettings
    ),

    // HTTP/1.1: strict request parser and server (platform sandbox now, gateway next).
    .target(
      name: "HayonHTTP1",
      dependencies: ["HayonHTTP2"],
      path: "Shared/HayonHTTP1",
      swiftSettings: hotPathSettings
    ),
    // <<http1-targets>>
    // Outbound calls to the platforms: HTTP client seam, per-platform clients and error
    // classification, the host policy for user-supplied platform URLs.
    .target(
      name: "HayonPlatforms",
      dependencies: ["HayonModel", "HayonCrypto"],
      path: "Shared/HayonPlatforms",
      swiftSettings: swiftSettings
    ),
    // <<runtime-targets>>
    // What every service executable shares: structured logging, environment configuration,
    // and running an RPC server until SIGTERM/SIGINT.
    .target(
      name: "HayonRuntime",
      dependencies: ["HayonRPC", "HayonHTTP2", "HayonModel"],
      path: "Shared/HayonRuntime",
      swiftSettings: swiftSettings
    ),

    // Domain vocabulary shared by contracts and services (no I/O).
    .target(
      name: "HayonModel",
      path: "Shared/HayonModel",
      swiftSettings: swiftSettings
    ),

    // Layer 3: service contracts.
    .target(
      name: "HayonDiagnostics",
      dependencies: ["HayonRPC"],
      path: "Protocols/HayonDiagnostics",
      swiftSettings: swiftSettings
    ),

    // <<contract-targets>>
    .target(
      name: "HayonPublish",
      dependencies: ["HayonRPC", "HayonModel"],
      path: "Protocols/HayonPublish",
      swiftSettings: swiftSettings
    ),
    .target(
      name: "HayonAuth",
      dependencies: ["HayonRPC", "HayonModel"],
      path: "Protocols/HayonAuth",
      swiftSettings: swiftSettings
    ),
    .target(
      name: "HayonUsers",
      dependencies: ["HayonRPC", "HayonModel"],
      path: "Protocols/HayonUsers",
      swiftSettings: swiftSettings
    ),
    .target(
      name: "HayonAccount",
      dependencies: ["HayonRPC", "HayonModel"],
      path: "Protocols/HayonAccount",
      swiftSettings: swiftSettings
    ),

    // Executables and services.
    .executableTarget(
      name: "DiagnosticsServer",
      dependencies: ["HayonRPC", "HayonDiagnostics", "HayonRuntime"],
      path: "Services/DiagnosticsServer",
      swiftSettings: swiftSettings
    ),

    // <<service-targets>>
    // The REST gateway: HTTP/1.1, h2c and h2 on one port; routes over the three services.
    .target(
      name: "Gateway",
      dependencies: [
        "HayonHTTP1", "HayonHTTP2", "HayonRPC", "HayonUsers", "HayonAuth", "HayonAccount", "HayonPublish", "HayonModel",
        "HayonRuntime", "HayonCrypto",
      ],
      path: "Services/Gateway/Sources",
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "GatewayExecutable",
      dependencies: [
        "Gateway", "HayonHTTP2", "HayonRPC", "HayonRuntime", "HayonUsers", "HayonAuth", "HayonAccount", "HayonPublish",
      ],
      path: "Services/Gateway/Executable",
      swiftSettings: swiftSettings
    ),
    .target(
      name: "PublishService",
      dependencies: [
        "HayonPublish", "HayonAuth", "HayonAccount", "HayonRPC", "HayonStore", "HayonCrypto", "HayonModel", "HayonRuntime",
        "HayonPlatforms",
      ],
      path: "Services/PublishService/Sources",
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "PublishServiceExecutable",
      dependencies: [
        "PublishService", "HayonPublish", "HayonAuth", "HayonAccount", "HayonCrypto", "HayonHTTP2", "HayonPlatforms", "HayonRPC",
        "HayonRuntime", "HayonStore",
      ],
      path: "Services/PublishService/Executable",
      swiftSettings: swiftSettings
    ),
    // The 10,000 x 2 publishing benchmark (Benchmarks/publish-bench.sh).
    .executableTarget(
      name: "PublishBench",
      dependencies: [
        "PlatformSandbox", "AuthService", "AccountService", "HayonPublish", "HayonAuth", "HayonAccount", "HayonRPC",
        "HayonStore", "HayonCrypto", "HayonRuntime", "HayonHTTP2", "HayonPlatforms", "HayonModel",
      ],
      path: "Benchmarks/PublishBench",
      swiftSettings: swiftSettings
    ),
    // Health probe for the local run and container health checks.
    .executableTarget(
      name: "Probe",
      dependencies: ["HayonRPC", "HayonHTTP2", "HayonPlatforms"],
      path: "Services/Probe",
      swiftSettings: swiftSettings
    ),
    .target(
      name: "AuthService",
      dependencies: [
        "HayonAuth", "HayonAccount", "HayonRPC", "HayonStore", "HayonCrypto", "HayonModel", "HayonRuntime", "HayonPlatforms",
      ],
      path: "Services/AuthService/Sources",
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "AuthServiceExecutable",
      dependencies: [
        "AuthService", "AuthUsers", "HayonAccount", "HayonCrypto", "HayonHTTP2", "HayonPlatforms", "HayonRPC", "HayonRuntime",
        "HayonStore",
      ],
      path: "Services/AuthService/Executable",
      swiftSettings: swiftSettings
    ),
    .target(
      name: "AuthUsers",
      dependencies: ["HayonUsers", "HayonStore", "HayonCrypto", "HayonRPC", "HayonModel", "HayonRuntime"],
      path: "Services/AuthService/Users",
      swiftSettings: swiftSettings
    ),
    .target(
      name: "AccountService",
      dependencies: ["HayonAccount", "HayonModel", "HayonStore", "HayonRuntime", "HayonRPC", "HayonCrypto"],
      path: "Services/AccountService/Sources",
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "AccountServiceExecutable",
      dependencies: ["AccountService", "HayonRuntime", "HayonRPC", "HayonStore", "HayonCrypto"],
      path: "Services/AccountService/Executable",
      swiftSettings: swiftSettings
    ),
    // <<sandbox-targets>>
    // Offline emulators of the social platforms (tests and local runs only).
    .target(
      name: "PlatformSandbox",
      dependencies: ["HayonHTTP1", "HayonHTTP2", "HayonCrypto"],
      path: "Tests/PlatformSandbox",
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "PlatformSandboxExecutable",
      dependencies: ["PlatformSandbox", "HayonHTTP2", "HayonRuntime"],
      path: "Tests/PlatformSandboxExecutable",
      swiftSettings: swiftSettings
    ),

    // Tests.
    .testTarget(
      name: "HayonHTTP2Tests",
      dependencies: ["HayonHTTP2"],
      path: "Tests/HayonHTTP2Tests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "HayonStoreTests",
      dependencies: ["HayonStore"],
      path: "Tests/HayonStoreTests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "HayonCryptoTests",
      dependencies: ["HayonCrypto"],
      path: "Tests/HayonCryptoTests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "HayonRPCTests",
      dependencies: ["HayonRPC", "HayonHTTP2", "HayonDiagnostics", "HayonTestSupport"],
      path: "Tests/HayonRPCTests",
      swiftSettings: swiftSettings
    ),
    // <<test-targets>>
    // The whole system from its executables, over HTTP only.
    .testTarget(
      name: "EndToEndTests",
      dependencies: ["HayonTestSupport", "HayonPlatforms"],
      path: "Tests/EndToEndTests",
      swiftSettings: swiftSettings
    ),
    // The deployment files: docker-compose.yml and the Dockerfile against the code and README.
    .testTarget(
      name: "DeploymentTests",
      dependencies: ["HayonTestSupport"],
      path: "Tests/DeploymentTests",
      swiftSettings: swiftSettings
    ),
    // Running the package's executables from tests (child processes with collected output).
    .target(
      name: "HayonTestSupport",
      path: "Tests/HayonTestSupport",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "GatewayTests",
      dependencies: [
        "Gateway", "AccountService", "AuthService", "AuthUsers", "HayonAccount", "HayonAuth", "HayonUsers", "HayonPublish",
        "HayonHTTP1", "PlatformSandbox", "PublishService", "HayonTestSupport",
        "HayonHTTP2", "HayonRPC", "HayonRuntime", "HayonStore", "HayonCrypto", "HayonModel", "HayonPlatforms",
      ],
      path: "Tests/GatewayTests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PublishServiceTests",
      dependencies: [
        "HayonTestSupport",
        "PublishService", "HayonPublish", "HayonAuth", "HayonAccount", "AuthService", "AccountService", "PlatformSandbox",
        "HayonRPC", "HayonStore", "HayonCrypto", "HayonModel", "HayonRuntime", "HayonHTTP2", "HayonPlatforms",
      ],
      path: "Tests/PublishServiceTests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "HayonPlatformsTests",
      dependencies: ["HayonPlatforms", "HayonCrypto", "HayonModel", "PlatformSandbox"],
      path: "Tests/HayonPlatformsTests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "PlatformSandboxTests",
      dependencies: ["PlatformSandbox", "HayonHTTP1", "HayonHTTP2", "HayonCrypto"],
      path: "Tests/PlatformSandboxTests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "AuthServiceTests",
      dependencies: [
        "AuthService", "AccountService", "PlatformSandbox", "HayonPlatforms", "HayonTestSupport", "HayonUsers", "HayonAuth", "HayonAccount", "HayonRPC",
        "HayonStore", "HayonCrypto", "HayonModel", "HayonRuntime", "HayonHTTP2",
      ],
      path: "Tests/AuthServiceTests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "AuthUsersTests",
      dependencies: ["AuthUsers", "HayonUsers", "HayonRPC", "HayonHTTP2", "HayonStore", "HayonCrypto", "HayonModel", "HayonRuntime"],
      path: "Tests/AuthUsersTests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "HayonHTTP1Tests",
      dependencies: ["HayonHTTP1", "HayonHTTP2", "HayonTestSupport"],
      path: "Tests/HayonHTTP1Tests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "HayonModelTests",
      dependencies: ["HayonModel"],
      path: "Tests/HayonModelTests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "AccountServiceTests",
      dependencies: [
        "AccountService", "HayonAccount", "HayonModel", "HayonRuntime", "HayonRPC", "HayonStore",
        "HayonCrypto", "HayonHTTP2", "HayonTestSupport",
      ],
      path: "Tests/AccountServiceTests",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "HayonRuntimeTests",
      dependencies: ["HayonRuntime", "HayonRPC", "HayonHTTP2"],
      path: "Tests/HayonRuntimeTests",
      swiftSettings: swiftSettings
    ),
  ]
)
