import Testing
@testable import RefScale
@testable import RefScaleHarness

/// Concurrent runs of `gil` and `perthread` through the runner: every row must be valid (each
/// object freed exactly once, shared objects back to their counts) at 2, 4 and 8 threads.
@Suite(.serialized, .tags(.threaded)) struct GilPerThreadRunTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var scheme: String
        var workload: String
        var schemeOptions = SchemeOptions()
        var label: String

        var testDescription: String { "\(scheme) \(workload) \(label)" }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        for workload in ["shared-hot", "private"] {
            cases.append(Case(scheme: "gil", workload: workload, label: "default slice"))
            var shortSlice = SchemeOptions()
            shortSlice[GilScheme.gilSlice] = 0.001
            cases.append(Case(scheme: "gil", workload: workload, schemeOptions: shortSlice, label: "--gil-slice 0.001"))
            for policy in UniqueIDPolicy.allCases {
                var options = SchemeOptions()
                options[PerThreadScheme.uniqueIDs] = policy
                cases.append(Case(scheme: "perthread", workload: workload, schemeOptions: options, label: "--unique-ids \(policy)"))
                options[PerThreadScheme.mergeInterval] = 0.01
                cases.append(Case(scheme: "perthread", workload: workload, schemeOptions: options, label: "--unique-ids \(policy) --merge-interval 0.01"))
            }
        }
        return cases
    }()

    func run(_ testCase: Case, threads: Int) throws -> RunRecord {
        try Runner.run(RunRequest(
            scheme: Registry.scheme(named: testCase.scheme), workload: Registry.workload(named: testCase.workload),
            workloadOptions: OptionValues(), schemeOptions: testCase.schemeOptions,
            threads: threads, duration: TestTiming.interval(0.05), warmup: 0.01))
    }

    @Test(arguments: cases, [2, 4, 8])
    func everyRowIsValid(_ testCase: Case, threads: Int) throws {
        let row = try run(testCase, threads: threads)
        #expect(row.isValid, "\(row["validation_error"].text)")
        try expectEveryWorkerWorkedInTheMeasuredInterval(row)
    }

    @Test(arguments: [2, 4, 8])
    func gilWorkersTakeTheLockFromOneAnother(threads: Int) throws {
        var options = SchemeOptions()
        options[GilScheme.gilSlice] = 0.001
        let row = try run(Case(scheme: "gil", workload: "shared-hot", schemeOptions: options, label: ""), threads: threads)
        #expect(row.isValid)
        // Turns within the measured interval: every worker finished a pass there, and a pass
        // counts under the lock, so each held it within the interval, one at a time.
        let checked = try expectEveryWorkerWorkedInTheMeasuredInterval(row)
        // Each worker's set-up took the lock from another thread (the main thread or the
        // worker before it); within the interval the lock passed among all the workers, at
        // least once to each but the one that held it when the interval began.
        #expect(Int(checked["lock_handoffs"].text)! >= 2 * threads - 1)
    }

    @Test(arguments: [2, 4, 8])
    func perthreadMergesPeriodicallyWithAMergeInterval(threads: Int) throws {
        var options = SchemeOptions()
        options[PerThreadScheme.mergeInterval] = 0.01
        let row = try run(Case(scheme: "perthread", workload: "shared-hot", schemeOptions: options, label: ""), threads: threads)
        #expect(row.isValid)
        // Without periodic merges: one exit merge per worker and the main thread's final one.
        #expect(Int(row["merges"].text)! > threads + 1)
    }

    @Test func perthreadCountsSharedObjectsWithoutAtomicsInTheTimedLoop() throws {
        let row = try run(Case(scheme: "perthread", workload: "shared-hot", label: ""), threads: 2)
        #expect(row.isValid)
        // Four objects get ids; the only atomics are the id assignments and the merges.
        #expect(Int(row["atomic_rmw"].text)! < 100)
        #expect(Int(row["run_ops"].text)! > 100_000)
    }

    @Test func optionColumnsAreFilledOnlyForTheSchemesThatUseThem() throws {
        var options = SchemeOptions()
        options[GilScheme.gilSlice] = 0.002
        options[PerThreadScheme.uniqueIDs] = .all
        options[PerThreadScheme.mergeInterval] = 0.01
        let request = { (scheme: String) in
            try RunRequest(
                scheme: Registry.scheme(named: scheme), workload: Registry.workload(named: "private"),
                schemeOptions: options, threads: 1, duration: TestTiming.interval(0.01), warmup: 0)
        }
        let gil = try Runner.run(request("gil"))
        let perthread = try Runner.run(request("perthread"))
        let atomic = try Runner.run(request("atomic"))
        #expect([gil["gil_slice"].text, gil["unique_ids"].text, gil["merge_interval"].text] == ["0.002", "", ""])
        #expect([perthread["gil_slice"].text, perthread["unique_ids"].text, perthread["merge_interval"].text] == ["", "all", "0.01"])
        #expect([atomic["gil_slice"].text, atomic["unique_ids"].text, atomic["merge_interval"].text] == ["", "", ""])
        #expect(atomic["lock_handoffs"].text == "")
        #expect(!gil["lock_handoffs"].text.isEmpty)
        for column in ["gil_slice", "unique_ids", "merge_interval", "lock_handoffs"] {
            #expect(ColumnCatalogue.names.contains(column))
        }
    }

    @Test func badSchemeOptionsAreUsageErrors() throws {
        var options = SchemeOptions()
        options[GilScheme.gilSlice] = 0
        #expect(throws: UsageError.self) {
            try RunRequest(scheme: Registry.scheme(named: "gil"), workload: Registry.workload(named: "private"),
                           schemeOptions: options, threads: 1).validate()
        }
        options = SchemeOptions()
        options[PerThreadScheme.mergeInterval] = -1
        #expect(throws: UsageError.self) {
            try RunRequest(scheme: Registry.scheme(named: "perthread"), workload: Registry.workload(named: "private"),
                           schemeOptions: options, threads: 1).validate()
        }
    }
}
