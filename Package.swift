// swift-tools-version: 6.0
import PackageDescription

// Hot numerical loops need AVX2/FMA code generation; the default x86_64 target is SSE2 only
// (see ../shared/NOTES-numerics.md). The flag is allowed because this is the root package.
let optimised: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]

let package = Package(
    name: "swift-influence",
    products: [
        .library(name: "InfluenceKit", targets: ["Numerics", "Checkpoints", "Tokenization", "Models", "Training", "Curvature", "Influence", "Retrieval", "Tracing", "Experiments"]),
        .executable(name: "influence", targets: ["influence"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
    ],
    targets: [
        // OpenBLAS (CBLAS) and LAPACKE from Debian: `apt-get install libopenblas-dev liblapacke-dev pkg-config`.
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev", "pkg-config"])]
        ),
        .target(
            name: "Numerics", dependencies: ["CBLAS", .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: optimised),
        .target(name: "Checkpoints", dependencies: ["Numerics"], swiftSettings: optimised),
        .target(
            name: "Tokenization", dependencies: [.product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: optimised),
        .target(name: "Models", dependencies: ["Numerics", "Checkpoints", "Tokenization"], swiftSettings: optimised),
        .target(name: "Training", dependencies: ["Numerics", "Checkpoints", "Models"], swiftSettings: optimised),
        .target(name: "Curvature", dependencies: ["Numerics", "Checkpoints", "Models"], swiftSettings: optimised),
        .target(
            name: "Influence",
            dependencies: ["Numerics", "Checkpoints", "Models", "Curvature"],
            swiftSettings: optimised),
        // Candidate retrieval: SQLite corpus index (FTS5 BM25) through GRDB; needs libsqlite3-dev.
        .target(
            name: "Retrieval",
            dependencies: ["Numerics", "Checkpoints", "Models", "Tokenization", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: optimised),
        // Tracing an answer to the corpus: retrieve candidates, re-rank by influence, report (table, JSON, HTML).
        .target(
            name: "Tracing",
            dependencies: ["Checkpoints", "Models", "Curvature", "Influence", "Retrieval", "Tokenization"],
            swiftSettings: optimised),
        // Generated worlds and end-to-end experiments (the demo, benchmarks).
        .target(
            name: "Experiments",
            dependencies: ["Numerics", "Checkpoints", "Models", "Tokenization", "Training", "Curvature", "Influence", "Retrieval", "Tracing"],
            swiftSettings: optimised),
        .executableTarget(
            name: "influence",
            dependencies: [
                "Numerics", "Checkpoints", "Tokenization", "Models", "Training", "Curvature", "Influence", "Retrieval", "Tracing", "Experiments",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: optimised
        ),
        // A seeded mutation fuzzer and its targets, one per parser (Tools/fuzz runs them at length).
        .target(name: "Fuzzing", dependencies: ["Numerics", "Checkpoints", "Tokenization", "Models"], swiftSettings: optimised),
        .executableTarget(name: "influence-fuzz", dependencies: ["Fuzzing"], swiftSettings: optimised),
        .executableTarget(
            name: "influence-bench",
            dependencies: ["Numerics", "Checkpoints", "Models", "Training", "Curvature", "Influence",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: optimised
        ),
        .testTarget(name: "NumericsTests", dependencies: ["Numerics"], swiftSettings: optimised),
        .testTarget(
            name: "CheckpointsTests", dependencies: ["Checkpoints", "Numerics"], resources: [.copy("Fixtures")],
            swiftSettings: optimised),
        .testTarget(
            name: "TrainingTests", dependencies: ["Training", "Models", "Checkpoints", "Numerics"],
            resources: [.copy("Fixtures")], swiftSettings: optimised),
        // Helpers shared by the curvature and influence tests: a micro model, the exact Fisher.
        .target(
            name: "TestSupport", dependencies: ["Influence", "Curvature", "Models", "Numerics"], path: "Tests/TestSupport",
            swiftSettings: optimised),
        .testTarget(
            name: "CurvatureTests", dependencies: ["TestSupport", "Curvature", "Influence", "Models", "Checkpoints", "Numerics"],
            swiftSettings: optimised),
        .testTarget(
            name: "InfluenceTests", dependencies: ["TestSupport", "Influence", "Curvature", "Models", "Checkpoints", "Numerics", "Tokenization"],
            resources: [.copy("Fixtures")], swiftSettings: optimised),
        // Runs the built `influence` executable: exit status, output formats, error messages.
        // The library targets compute what the printed values must be (MultiStageValueTests).
        .testTarget(
            name: "CommandLineTests",
            dependencies: ["influence", "Checkpoints", "Tokenization", "Models", "Curvature", "Influence", "Experiments"],
            swiftSettings: optimised),
        .testTarget(
            name: "TracingTests",
            dependencies: ["Tracing", "Influence", "Retrieval", "Curvature", "Models", "Tokenization", "Checkpoints", "Numerics"],
            swiftSettings: optimised),
        .testTarget(
            name: "RetrievalTests", dependencies: ["Retrieval", "Numerics"], resources: [.copy("Fixtures")], swiftSettings: optimised),
        .testTarget(
            name: "TokenizationTests", dependencies: ["Tokenization"],
            resources: [.copy("Fixtures")], swiftSettings: optimised),
        .testTarget(name: "FuzzTests", dependencies: ["Fuzzing", "Numerics", "Checkpoints", "Tokenization", "Models"], swiftSettings: optimised),
        // The fact-tracing benchmark's stages, run through the library on a tiny world.
        .testTarget(name: "ExperimentsTests", dependencies: ["Experiments", "Curvature"], swiftSettings: optimised),
        .testTarget(
            name: "ModelsTests", dependencies: ["Models", "Checkpoints", "Numerics", "Tokenization"],
            resources: [.copy("Fixtures")], swiftSettings: optimised),
    ]
)
