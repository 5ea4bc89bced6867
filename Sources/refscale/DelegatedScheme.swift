import Foundation
import RefScale
import RefScaleHarness

/// A scheme this build of refscale does not have, which another build of it does: the ordinary
/// build embeds CPython 3.11, so `cpython-313t` lives in a second build that embeds the
/// free-threaded 3.13t instead (Package.swift, REFSCALE_CPYTHON_313T). A command that names such a
/// scheme is handed whole to that build, through a launcher that builds the interpreter and the
/// second binary on first use; it runs there with the same harness and prints the same table and
/// CSV rows. The launcher refuses (one line, exit 64) when the interpreter cannot be built.
struct DelegatedScheme {
    let name: String
    let summary: String
    /// The launcher, relative to the package's root.
    let launcher: String

    #if CPYTHON_313T
    static let all: [DelegatedScheme] = []
    #else
    static let all = [DelegatedScheme(name: CPython313tIdentity.name, summary: CPython313tIdentity.summary, launcher: "bin/refscale-313t")]
    #endif

    static func named(_ name: String) -> DelegatedScheme? { all.first { $0.name == name } }

    /// The delegated scheme an experiment file names in its `schemes` list, if any. A file that
    /// cannot be read or parsed names none: the experiment loader then says what is wrong with it.
    static func named(inExperimentFile path: String) -> DelegatedScheme? {
        guard let data = FileManager.default.contents(atPath: path),
              let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let schemes = top["schemes"] as? [String]
        else { return nil }
        return schemes.lazy.compactMap { DelegatedScheme.named($0) }.first
    }

    /// The package's root: this file is Sources/refscale/DelegatedScheme.swift in it.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// Replaces this process by the launcher, given this process's arguments.
    func handOver() throws -> Never {
        let path = DelegatedScheme.packageRoot + "/" + launcher
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw UsageError("--scheme \(name) runs in a second build of refscale, whose launcher \(path) is missing")
        }
        let arguments = [path] + CommandLine.arguments.dropFirst()
        let argv = arguments.map { strdup($0) } + [nil]
        execv(path, argv)
        throw UsageError("--scheme \(name): starting \(path) failed: \(String(cString: strerror(errno)))")
    }
}
