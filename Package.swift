// swift-tools-version:6.0
import PackageDescription

// The hot loop (Sources/RefScale) is built without run-time exclusivity checks: its state lives
// in unsafe pointers and value types, and a check per access would be measured as counting cost.
let hotLoopFlags: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

let package = Package(
    name: "refscale",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "refscale", targets: ["refscale"]),
        .library(name: "RefScale", targets: ["RefScale"]),
        .library(name: "RefScaleHarness", targets: ["RefScaleHarness"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CRefScale"),
        // The embedded CPython 3.11 that the `cpython` scheme counts in.
        .systemLibrary(
            name: "CPython",
            pkgConfig: "python3-embed",
            providers: [.apt(["libpython3-dev"])]
        ),
        // libnuma: NUMA nodes, and object memory placed on them (--pin, --placement).
        .systemLibrary(
            name: "CNuma",
            pkgConfig: "numa",
            providers: [.apt(["libnuma-dev"])]
        ),
        .target(
            name: "RefScale",
            dependencies: ["CRefScale", "CPython"],
            swiftSettings: hotLoopFlags
        ),
        .target(
            name: "RefScaleHarness",
            dependencies: ["RefScale", "CRefScale", "CNuma"]
        ),
        .executableTarget(
            name: "refscale",
            dependencies: [
                "RefScale", "RefScaleHarness",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "RefScaleTests", dependencies: ["RefScale", "RefScaleHarness", "CPython"], swiftSettings: hotLoopFlags),
        .testTarget(name: "RefScaleHarnessTests", dependencies: ["RefScaleHarness", "RefScale", "CPython"]),
    ],
    swiftLanguageModes: [.v5]
)
