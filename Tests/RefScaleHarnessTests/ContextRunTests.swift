import Foundation
import Testing
import RefScale
@testable import RefScaleHarness

/// Whole runs under the universal and debug contexts through the runner: every scheme runs
/// under every context, the rows say which, and the debug rows say what was checked.
@Suite(.tags(.threaded)) struct ContextRunTests {
    static let contexts: [ContextKind] = [.universal, .debug]

    func run(_ scheme: String, _ workload: String, threads: Int, context: ContextKind) throws -> RunRecord {
        var options = SchemeOptions()
        options.debug.onViolation = .collect
        let request = RunRequest(
            scheme: try Registry.scheme(named: scheme), workload: try Registry.workload(named: workload),
            schemeOptions: options, threads: threads, duration: TestTiming.interval(0.05), warmup: 0.01, context: context)
        try request.validate()
        return try Runner.run(request)
    }

    @Test(arguments: Registry.schemes.map(\.name), contexts)
    func everySchemeRunsValidUnderEveryContext(scheme: String, context: ContextKind) throws {
        let row = try run(scheme, "private", threads: 1, context: context)
        #expect(row.isValid, "\(row["validation_error"].text)")
        try expectEveryWorkerWorkedInTheMeasuredInterval(row)
        #expect(row["violations"].text == (context == .debug ? "0" : ""))
        #expect(row["closed_queue"].text == (context == .debug ? "1024" : ""))
    }

    @Test(arguments: ["atomic", "biased", "handle-local", "arena", "perthread"], ["shared-hot", "call", "handoff"])
    func threadSafeSchemesRunCleanUnderTheDebugContextOnTwoThreads(scheme: String, workload: String) throws {
        let row = try run(scheme, workload, threads: 2, context: .debug)
        #expect(row.isValid, "\(row["validation_error"].text)")
        #expect(row["violations"].text == "0", "a registry workload keeps the handle contract")
    }

    @Test func directRowsSayDirectAndCheckNothing() throws {
        let row = try run("noop", "private", threads: 1, context: .direct)
        #expect(row.outcome.contract == nil && row["violations"].text == "" && row["violation_kinds"].text == "")
    }

    @Test func experimentFilesExpandContextsLikeOptions() throws {
        let json = try JSONSerialization.jsonObject(with: Data("""
            {"name": "contexts", "schemes": ["atomic", "arena"], "workloads": [{"name": "private"}],
             "context": ["direct", "universal", "debug", "trace"], "threads": [1], "repetitions": 2}
            """.utf8))
        let experiment = try ExperimentFile.parse(json)
        let runs = try experiment.requests(onlineCPUs: 2).runs
        #expect(runs.count == 2 * 4 * 2)
        #expect(Set(runs.map(\.context)) == [.direct, .universal, .debug, .trace])
        let bad = try JSONSerialization.jsonObject(with: Data("""
            {"name": "x", "schemes": "all", "workloads": [{"name": "private"}], "context": ["direct", "fast"], "threads": [1]}
            """.utf8))
        #expect(throws: ExperimentFile.PlaceError.self) { try ExperimentFile.parse(bad) }
    }

    @Test func shortStressFindsEveryInjectedViolationAndNothingElse() throws {
        var options = Stress.Options(threads: 2, seconds: 0.3, seed: 11, inject: ViolationKind.injectable)
        options.roundSeconds = 0.1
        options.schemes = ["handle-local", "arena", "atomic"]
        try options.validate()
        let summary = try Stress.run(options)
        // Rounds take the schemes asked for in the registry's order (atomic, handle-local, arena),
        // one a round, round after round.
        let rotation = ["atomic", "handle-local", "arena"]
        #expect(summary.rounds.first?.label == rotation[0])
        #expect(summary.rounds.enumerated().allSatisfy { $1.label == rotation[$0 % rotation.count] }, "\(summary.rounds.map(\.label))")
        for round in summary.rounds {
            #expect(round.validationError == nil, "round \(round.number) (\(round.label)): \(round.validationError ?? "")")
        }
        for kind in ViolationKind.injectable {
            let tally = summary.tallies[kind] ?? Stress.Tally()
            #expect(tally.injected > 0, "\(kind.rawValue) was never injected")
            #expect(tally.detected == tally.injected, "\(kind.rawValue): \(tally.missed) missed")
            #expect(tally.falseAlarms == 0, "\(kind.rawValue): \(tally.falseAlarms) false alarms")
        }
        #expect(summary.tallies[.invalidHandle]?.falseAlarms ?? 0 == 0)
        #expect(summary.passed)
        #expect(summary.checkedOperations > 0)
    }

    /// The stress streams are legal for every scheme: without injections they keep every count
    /// exact under every context (they found arena freeing objects a local handle still named).
    @Test(arguments: ["arena", "handle-local", "biased"], [ContextKind.direct, .debug])
    func stressStreamsKeepCountsExactUnderEveryContext(scheme: String, context: ContextKind) throws {
        for seed: UInt64 in [2, 3, 9] {
            var options = SchemeOptions()
            options.debug.onViolation = .collect
            let request = RunRequest(
                scheme: try Registry.scheme(named: scheme), workload: WorkloadEntry(instance: StressWorkload(inject: [])),
                schemeOptions: options, threads: 1, duration: TestTiming.interval(0.05), warmup: 0, seed: seed, context: context)
            let row = try Runner.run(request)
            let outcome = row.outcome
            #expect(outcome.validationError == nil, "\(scheme), seed \(seed): \(outcome.validationError ?? "")")
            #expect(row.isValid)
        }
    }

    @Test func stressWithoutInjectionsReportsNothing() throws {
        var options = Stress.Options(threads: 2, seconds: 0.1, seed: 3, inject: [])
        options.roundSeconds = 0.05
        options.schemes = ["handle-local/high16-eager"]
        let summary = try Stress.run(options)
        #expect(summary.passed)
        #expect(summary.tallies.values.allSatisfy { $0.injected == 0 && $0.falseAlarms == 0 })
        // No alarm means something only if the debug context checked the rounds' calls.
        #expect(summary.rounds.first?.label == "handle-local/high16-eager" && summary.checkedOperations > 0,
                "\(summary.rounds.map(\.label)), \(summary.checkedOperations) calls checked")
    }

    @Test func badStressOptionsAreUsageErrors() throws {
        #expect(throws: UsageError.self) { try Stress.Options(threads: 2, seconds: 0, seed: 1, inject: []).validate() }
        var options = Stress.Options(threads: 2, seconds: 1, seed: 1, inject: [])
        options.debug.closedQueue = 0
        #expect(throws: UsageError.self) { try options.validate() }
        #expect(throws: ConfigurationError.self) { try ViolationKind.parseList("leak,oops") }
        #expect(try ViolationKind.parseList("leak, escape") == [.leak, .escape])
    }
}
