// swift-tools-version:6.0
import PackageDescription

// The hot loop (Sources/RefScale) is built without run-time exclusivity checks: its state lives
// in unsafe pointers and value types, and a check per access would be measured as counting cost.
let hotLoopFlags: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"])]

// The embedded CPython. By default Debian's CPython 3.11 (python3-embed), which the `cpython`
// scheme counts in. With REFSCALE_CPYTHON_313T set to the installation folder of the
// free-threaded CPython 3.13t (Tools/cpython-313t/build.sh; bin/refscale-313t sets it, with
// PKG_CONFIG_PATH pointing at its pkg-config files), the same module `CPython` is 3.13t instead,
// every target sees CPYTHON_313T, and the scheme registered in place of `cpython` is
// `cpython-313t`. One process cannot load two libpythons, so that build is a second binary.
let cpython313t = Context.environment["REFSCALE_CPYTHON_313T"].flatMap { $0.isEmpty ? nil : $0 }
let cpythonTarget: Target = if cpython313t != nil {
    .systemLibrary(name: "CPython", path: "Sources/CPython313t", pkgConfig: "python-3.13t-embed")
} else {
    .systemLibrary(name: "CPython", pkgConfig: "python3-embed", providers: [.apt(["libpython3-dev"])])
}
let cpythonDefines: [SwiftSetting] = cpython313t == nil ? [] : [.define("CPYTHON_313T")]
// libpython3.13t.so is found where it was installed, not on the system's library path.
let cpythonLinkerFlags: [LinkerSetting] = cpython313t.map { [.unsafeFlags(["-Xlinker", "-rpath", "-Xlinker", "\($0)/lib"])] } ?? []

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
        // refscale's own HPyContext, laid out as HPy 0.9's universal context (--workload hpy).
        .target(name: "CHPyContext", linkerSettings: [.linkedLibrary("dl"), .linkedLibrary("m")]),
        cpythonTarget,
        // libnuma: NUMA nodes, and object memory placed on them (--pin, --placement).
        .systemLibrary(
            name: "CNuma",
            pkgConfig: "numa",
            providers: [.apt(["libnuma-dev"])]
        ),
        .target(
            name: "RefScale",
            dependencies: ["CRefScale", "CHPyContext", "CPython"],
            swiftSettings: hotLoopFlags + cpythonDefines
        ),
        .target(
            name: "RefScaleHarness",
            dependencies: ["RefScale", "CRefScale", "CNuma"],
            swiftSettings: cpythonDefines
        ),
        .executableTarget(
            name: "refscale",
            dependencies: [
                "RefScale", "RefScaleHarness",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: cpythonDefines,
            linkerSettings: cpythonLinkerFlags
        ),
        .testTarget(name: "RefScaleTests", dependencies: ["RefScale", "RefScaleHarness", "CPython"], swiftSettings: hotLoopFlags),
        .testTarget(name: "RefScaleHarnessTests", dependencies: ["RefScaleHarness", "RefScale", "CPython"]),
    ],
    swiftLanguageModes: [.v5]
)
