import Foundation
import Testing
import RefScale
@testable import RefScaleHarness

@Suite("experiment files")
struct ExperimentFileTests {
    static let experiments = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Experiments")

    func describe(_ requests: [RunRequest]) -> [String] {
        requests.map {
            [$0.scheme.name, $0.workload.name, "\($0.threads)", "\($0.repetition)", "\($0.duration)", "\($0.warmup)",
             "\($0.seed)", "\($0.schemeOptions)", "\($0.workloadOptions)"].joined(separator: "|")
        }
    }

    @Test(arguments: [1, 2, 8])
    func defaultFileIsTheBuiltInExperiment(onlineCPUs: Int) throws {
        let file = try ExperimentFile.load(path: Self.experiments.appendingPathComponent("default.json").path)
        #expect(file.name == Experiment.builtIn.name)
        let fromFile = try file.requests(onlineCPUs: onlineCPUs)
        let builtIn = try Experiment.builtIn.requests(onlineCPUs: onlineCPUs)
        #expect(describe(fromFile.runs) == describe(builtIn.runs))
        #expect(fromFile.skipped == builtIn.skipped)
    }

    /// The experiment files in Experiments/, by name.
    static let committedFiles: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: experiments.path)) ?? [])
        .filter { $0.hasSuffix(".json") }.map { String($0.dropLast(".json".count)) }.sorted()

    /// Whether the file's schemes name `cpython-313t`, which only the 3.13t build of refscale
    /// has: Tests/cpython-313t-tests.sh loads such a file through that build.
    static func namesTheScheme313tBuildOnly(_ name: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: experiments.appendingPathComponent("\(name).json").path),
              let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return false }
        return (top["schemes"] as? [String])?.contains(CPython313tIdentity.name) == true
    }

    /// The listing the next test takes its arguments from is the folder's: a file added there is
    /// checked with no edit here, and an unreadable folder fails here instead of checking nothing.
    @Test func theCommittedFilesAreListedFromTheFolder() {
        let known: Set = ["default", "scaling", "table-size", "immortal", "kinds", "proposal-traces", "ground-truth-313t"]
        #expect(known.isSubset(of: Self.committedFiles), "\(Self.committedFiles)")
        #expect(Self.committedFiles.filter(Self.namesTheScheme313tBuildOnly) == ["ground-truth-313t"])
    }

    @Test(arguments: committedFiles.filter { !namesTheScheme313tBuildOnly($0) })
    func everyCommittedFileOfThisBuildsSchemesLoadsAndExpands(name: String) throws {
        let experiment = try ExperimentFile.load(path: Self.experiments.appendingPathComponent("\(name).json").path)
        #expect(experiment.name == name)
        #expect(try !experiment.requests(onlineCPUs: 2).runs.isEmpty)
    }

    @Test func listsExpandToAGrid() throws {
        let experiment = try ExperimentFile.parse(json("""
            {"name": "grid", "schemes": ["atomic", "handle-local"],
             "workloads": [{"name": "mixed", "objects": [10, 100], "zipf": [0, 1.1, 2]}],
             "scheme_options": {"handle_index": ["low3", "high16"]},
             "threads": [1, 2], "repetitions": 2}
            """))
        #expect(experiment.workloads.count == 6)
        let runs = try experiment.requests(onlineCPUs: 2).runs
        // atomic: 6 variants × 2 thread counts × 2 reps; handle-local: twice that (two index widths).
        #expect(runs.count == 6 * 2 * 2 + 6 * 2 * 2 * 2)
    }

    /// Repetition r of every combination runs before repetition r + 1 of any, in the same order
    /// each round, so no scheme's repetitions are bunched in one stretch of the sitting.
    @Test func repetitionsRunInRoundsOverEveryCombination() throws {
        let experiment = try ExperimentFile.parse(json("""
            {"name": "rounds", "schemes": ["noop", "atomic", "biased"], "workloads": [{"name": "private"}, {"name": "call"}],
             "threads": [1, 2], "repetitions": 3}
            """))
        let runs = try experiment.requests(onlineCPUs: 2).runs
        let combinations = 3 * 2 * 2
        #expect(runs.count == combinations * 3)
        #expect(runs.map(\.repetition) == (1...3).flatMap { Array(repeating: $0, count: combinations) })
        let combinationOf = { (run: RunRequest) -> String in
            var combination = run
            combination.repetition = 0
            return describe([combination])[0]
        }
        let firstRound = runs.prefix(combinations).map(combinationOf)
        for round in 1..<3 {
            #expect(runs[(round * combinations)..<((round + 1) * combinations)].map(combinationOf) == firstRound)
        }
        #expect(Set(firstRound).count == combinations)
    }

    @Test func powersOfTwoEndAtTheOnlineCPUs() {
        #expect(Experiment.ThreadCounts.powersOfTwo.resolve(onlineCPUs: 6) == [1, 2, 4, 6])
        #expect(Experiment.ThreadCounts.powersOfTwo.resolve(onlineCPUs: 8) == [1, 2, 4, 8])
        #expect(Experiment.ThreadCounts.oneAndAll.resolve(onlineCPUs: 1) == [1])
    }

    @Test func combinationsThatCannotRunAreLeftOutAndNamed() throws {
        let experiment = try ExperimentFile.parse(json("""
            {"name": "skip", "schemes": ["nonatomic", "atomic"], "workloads": [{"name": "handoff"}], "threads": [1, 2]}
            """))
        let (runs, skipped) = try experiment.requests(onlineCPUs: 2)
        #expect(runs.count == 3, "only atomic on 2 threads runs")
        #expect(skipped.count == 3)
    }

    static let badFiles: [(String, String)] = [
        (#"{"schemes": "all", "workloads": [{"name": "private"}], "threads": [1]}"#, "missing key 'name'"),
        (#"{"name": "x", "schemes": "all", "workloads": [], "threads": [1]}"#, "workloads: must not be empty"),
        (#"{"name": "x", "schemes": [], "workloads": [{"name": "private"}], "threads": [1]}"#, "schemes: must not be empty"),
        (#"{"name": "x", "schemes": ["nope"], "workloads": [{"name": "private"}], "threads": [1]}"#, "schemes[0]: unknown scheme 'nope'"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "private"}, {"name": "mixed"}, {"name": "mixed", "zipf": -1}], "threads": [1]}"#,
         "workloads[2].zipf: must be >= 0"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "private", "zipf": 1}], "threads": [1]}"#, "workloads[0]: unknown key 'zipf'"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "mixed", "shared_fraction": [0.5, 2]}], "threads": [1]}"#,
         "workloads[0].shared_fraction[1]: must be in [0, 1]"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "handoff", "consumers": 0}], "threads": [2]}"#,
         "workloads[0].consumers: must be at least 1"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "private", "objects": "3"}], "threads": [1]}"#,
         "workloads[0].objects: must be a number"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "private", "objects": 2.5}], "threads": [1]}"#,
         "workloads[0].objects: must be an integer"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "private"}], "threads": [1, 0]}"#, "threads[1]: must be at least 1"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "private"}], "threads": true}"#, "threads: must be a list"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "private"}], "threads": [1], "duration": 0}"#, "duration: must be a number of seconds > 0"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "private"}], "threads": [1], "extra": 1}"#, "unknown key 'extra'"),
        (#"{"name": "x", "schemes": "all", "workloads": [{"name": "private"}], "threads": [1], "scheme_options": {"release": "soon"}}"#,
         "scheme_options.release: must be one of eager, lazy"),
        (#"[1, 2]"#, "must be an object"),
    ]

    @Test(arguments: badFiles)
    func badFilesAreRefusedNamingThePlace(text: String, expected: String) throws {
        let error = #expect(throws: ExperimentFile.PlaceError.self) { try ExperimentFile.parse(json(text)) }
        let message = error.map { ($0.place.isEmpty ? "" : $0.place + ": ") + $0.problem } ?? ""
        #expect(message.contains(expected), "got: \(message)")
    }

    @Test func malformedJSONIsOneUsageError() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("refscale-bad-\(getpid()).json").path
        try #"{"name": "x","#.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: UsageError.self) { try ExperimentFile.load(path: path) }
        #expect(error?.description.contains("not valid JSON") == true)
    }

    func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
    }
}
