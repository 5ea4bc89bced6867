import CRefScale
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
        /// Objects per worker, where the case needs more than the workload's default.
        var objects: Int?
        /// Whether the run must collect at least once.
        var collects = false

        var testDescription: String { "\(scheme) \(workload) \(label)" }
    }

    static let cases: [Case] = {
        var cases: [Case] = []
        for workload in ["shared-hot", "private", "churn"] {
            cases.append(Case(scheme: "gil", workload: workload, label: "default slice"))
            var shortSlice = SchemeOptions()
            shortSlice[GilScheme.gilSlice] = 0.001
            cases.append(Case(scheme: "gil", workload: workload, schemeOptions: shortSlice, label: "--gil-slice 0.001"))
            for policy in UniqueIDPolicy.allCases {
                var options = SchemeOptions()
                options[PerThreadScheme.uniqueIDs] = policy
                cases.append(Case(scheme: "perthread", workload: workload, schemeOptions: options, label: "--unique-ids \(policy)"))
            }
        }
        // A collection needs a young count above the threshold, and a thread's allocations reach
        // it only 512 at a time (PerThreadState.localAllocationFlush), less its frees: on
        // shared-hot and churn no worker ever holds 512 objects more than it freed, so only
        // private with 2048 objects per worker passes --gc-threshold 1, in its workers' set-up,
        // while the others run.
        for policy in UniqueIDPolicy.allCases {
            var options = SchemeOptions()
            options[PerThreadScheme.uniqueIDs] = policy
            options[PerThreadScheme.gcThreshold] = 1
            cases.append(Case(
                scheme: "perthread", workload: "private", schemeOptions: options,
                label: "--unique-ids \(policy) --gc-threshold 1 --objects 2048", objects: 2048, collects: true))
        }
        for policy in UniqueIDPolicy.allCases {
            var options = SchemeOptions()
            options[PerThreadScheme.uniqueIDs] = policy
            cases.append(Case(scheme: "perthread", workload: "handoff", schemeOptions: options, label: "--unique-ids \(policy)"))
        }
        var weakrefs = SchemeOptions()
        weakrefs[BiasedScheme.weakrefShare] = 0.5
        cases.append(Case(scheme: "biased", workload: "handoff", label: "types immortal"))
        cases.append(Case(scheme: "biased", workload: "churn", label: "types immortal"))
        cases.append(Case(scheme: "biased", workload: "handoff", schemeOptions: weakrefs, label: "--weakref-share 0.5"))
        return cases
    }()

    func run(_ testCase: Case, threads: Int, sharedKind: SharedKind = .class, remoteFree: Double? = nil) throws -> RunRecord {
        var workloadOptions = OptionValues()
        workloadOptions[CommonOptions.sharedKind] = sharedKind
        if let remoteFree { workloadOptions[ChurnWorkload.remoteFree] = remoteFree }
        if let objects = testCase.objects { workloadOptions.set("objects", to: .integer(objects)) }
        return try Runner.run(RunRequest(
            scheme: Registry.scheme(named: testCase.scheme), workload: Registry.workload(named: testCase.workload),
            workloadOptions: workloadOptions, schemeOptions: testCase.schemeOptions,
            threads: threads, duration: TestTiming.interval(0.05), warmup: 0.01))
    }

    @Test(arguments: cases, [2, 4, 8])
    func everyRowIsValid(_ testCase: Case, threads: Int) throws {
        let row = try run(testCase, threads: threads)
        #expect(row.isValid, "\(row["validation_error"].text)")
        try expectEveryWorkerWorkedInTheMeasuredInterval(row)
        if testCase.collects {
            #expect((Int(row["merge_pauses"].text) ?? 0) >= 1, "no collection stopped the world: merge_pauses '\(row["merge_pauses"].text)'")
        }
    }

    @Test(arguments: [2, 4, 8])
    func gilWorkersTakeTheLockFromOneAnother(threads: Int) throws {
        var options = SchemeOptions()
        options[GilScheme.gilSlice] = 0.001
        let started = crefscale_clock_monotonic_ns()
        let row = try run(Case(scheme: "gil", workload: "shared-hot", schemeOptions: options, label: ""), threads: threads)
        let wallSeconds = Double(crefscale_clock_monotonic_ns() - started) / 1e9
        #expect(row.isValid)
        // Turns within the measured interval: every worker finished a pass there, and a pass
        // counts under the lock, so each held it within the interval, one at a time.
        let checked = try expectEveryWorkerWorkedInTheMeasuredInterval(row)
        // Each worker's set-up took the lock from another thread (the main thread or the
        // worker before it); within the interval the lock passed among all the workers, at
        // least once to each but the one that held it when the interval began.
        let handoffs = Int(checked["lock_handoffs"].text)!
        #expect(handoffs >= 2 * threads - 1)
        // A handoff ends a tenure, and one thread holds the lock at a time. A tenure lasts its
        // slice unless the holder suspends (once, at the start barrier) or exits: at most
        // wall / slice tenures of a full slice, and two short ones per worker and the main thread.
        #expect(handoffs <= Int(wallSeconds / 0.001) + 2 * (threads + 1),
                "\(handoffs) handoffs in \(wallSeconds) s of 1 ms slices: the lock changed hands before a slice ended")
    }

    /// 3.14t: an extension's references to a type are biased, so a worker's dup of a type the
    /// main thread owns is an atomic add; about one atomic per handle operation of the workers.
    @Test func perthreadHandleOperationsOnSharedTypesAreAtomic() throws {
        let row = try run(Case(scheme: "perthread", workload: "shared-hot", label: ""), threads: 2)
        #expect(row.isValid)
        #expect(Double(row["atomic_rmw"].text)! > 0.9 * Double(row["run_ops"].text)!)
    }

    /// 3.14t: an instance's reference to its type is per thread, so `churn` with a type spends no
    /// atomic on it, where without ids (`--unique-ids none`) each allocation and deallocation by a
    /// non-owner of the type is one.
    @Test func perthreadTypeReferencesOfInstancesAreNotAtomic() throws {
        var none = SchemeOptions()
        none[PerThreadScheme.uniqueIDs] = .none
        let perThread = try run(Case(scheme: "perthread", workload: "churn", label: ""), threads: 2)
        let biasedTypes = try run(Case(scheme: "perthread", workload: "churn", schemeOptions: none, label: ""), threads: 2)
        #expect(perThread.isValid && biasedTypes.isValid)
        let perObject = { (row: RunRecord) in Double(row["atomic_rmw"].text)! / Double(row["frees"].text)! }
        #expect(perObject(biasedTypes) > perObject(perThread) + 1.5)
    }

    /// 3.13t: a type is immortal once a second thread runs, so `biased` spends no atomic on
    /// `shared-hot` of types, and one per non-owner handle operation on data.
    @Test func biasedTypesAreImmortalAndDataIsAtomic() throws {
        let types = try run(Case(scheme: "biased", workload: "shared-hot", label: ""), threads: 2, sharedKind: .class)
        let data = try run(Case(scheme: "biased", workload: "shared-hot", label: ""), threads: 2, sharedKind: .data)
        #expect(types.isValid && data.isValid)
        #expect(Int(types["atomic_rmw"].text)! == 0)
        #expect(Double(data["atomic_rmw"].text)! > 0.9 * Double(data["run_ops"].text)!)
        // Types are immortal from the second thread on, so never freed; each data object is
        // freed once, by the main thread's drain.
        #expect(types["frees"].text == "0" && data["frees"].text == data["objects"].text,
                "frees: types \(types["frees"].text), data \(data["frees"].text) of \(data["objects"].text)")
    }

    /// `handoff` at 2 threads reports its merge passes: at most one per queued object, each
    /// draining at least one. How close to one per item depends on the scheduler: a consumer
    /// that runs through the whole ring while its producer waits for a core queues 256 objects
    /// before the producer's next check (on a loaded 2-core machine, 48 passes for 12,320).
    @Test(arguments: ["biased", "perthread"])
    func handoffReportsItsMergePasses(scheme: String) throws {
        let row = try run(Case(scheme: scheme, workload: "handoff", label: ""), threads: 2, sharedKind: .data)
        #expect(row.isValid, "\(row["validation_error"].text)")
        let passes = Int(row["merge_passes"].text)!, queued = Int(row["queued"].text)!
        #expect(queued > 0 && passes > 0 && passes <= queued, "\(passes) merge passes for \(queued) queued objects")
    }

    /// `churn --remote-free 0`: every thread frees what it made. Instances of a class spend no
    /// atomic under `biased` (3.13t: the class is immortal); instances of an extension type
    /// spend two per instance, an add at allocation and a CAS at deallocation on the type's
    /// shared word; under `perthread` (3.14t) one, the deallocation's `Py_DECREF(tp)`.
    @Test func instancesOfAnExtensionTypeCountTheirTypeAtomicallyWhereAClassIsFree() throws {
        let perInstance = { (row: RunRecord) in Double(row["atomic_rmw"].text)! / Double(row["frees"].text)! }
        let biasedClass = try run(Case(scheme: "biased", workload: "churn", label: ""), threads: 2, sharedKind: .class, remoteFree: 0)
        let biasedExt = try run(Case(scheme: "biased", workload: "churn", label: ""), threads: 2, sharedKind: .extType, remoteFree: 0)
        let perthreadClass = try run(Case(scheme: "perthread", workload: "churn", label: ""), threads: 2, sharedKind: .class, remoteFree: 0)
        let perthreadExt = try run(Case(scheme: "perthread", workload: "churn", label: ""), threads: 2, sharedKind: .extType, remoteFree: 0)
        for row in [biasedClass, biasedExt, perthreadClass, perthreadExt] { #expect(row.isValid, "\(row["validation_error"].text)") }
        #expect(perInstance(biasedClass) < 0.01)
        #expect(perInstance(biasedExt) >= 1.99, "an add and a CAS per instance, and the CAS's retries")
        #expect(perInstance(perthreadClass) < 0.01)
        #expect(perInstance(perthreadExt) >= 0.99 && perInstance(perthreadExt) < 1.5)
        // Every object born is freed but the class, immortal in 3.13t; the extension type is
        // mortal and freed with its last instance.
        let unfreed = { (row: RunRecord) in Int(row["objects_allocated"].text)! - Int(row["frees"].text)! }
        #expect(unfreed(biasedClass) == 1 && unfreed(biasedExt) == 0, "unfreed: class \(unfreed(biasedClass)), ext-type \(unfreed(biasedExt))")
    }

    @Test func optionColumnsAreFilledOnlyForTheSchemesThatUseThem() throws {
        var options = SchemeOptions()
        options[GilScheme.gilSlice] = 0.002
        options[PerThreadScheme.uniqueIDs] = .all
        options[PerThreadScheme.gcThreshold] = 500
        let request = { (scheme: String) in
            try RunRequest(
                scheme: Registry.scheme(named: scheme), workload: Registry.workload(named: "private"),
                schemeOptions: options, threads: 1, duration: TestTiming.interval(0.01), warmup: 0)
        }
        let gil = try Runner.run(request("gil"))
        let perthread = try Runner.run(request("perthread"))
        let atomic = try Runner.run(request("atomic"))
        #expect([gil["gil_slice"].text, gil["unique_ids"].text, gil["gc_threshold"].text] == ["0.002", "", ""])
        #expect([perthread["gil_slice"].text, perthread["unique_ids"].text, perthread["gc_threshold"].text] == ["", "all", "500"])
        #expect([atomic["gil_slice"].text, atomic["unique_ids"].text, atomic["gc_threshold"].text] == ["", "", ""])
        #expect(atomic["lock_handoffs"].text == "")
        #expect(!gil["lock_handoffs"].text.isEmpty)
        for column in ["gil_slice", "unique_ids", "gc_threshold", "lock_handoffs", "merge_pauses", "merge_pause_ns"] {
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
        options[PerThreadScheme.gcThreshold] = -1
        #expect(throws: UsageError.self) {
            try RunRequest(scheme: Registry.scheme(named: "perthread"), workload: Registry.workload(named: "private"),
                           schemeOptions: options, threads: 1).validate()
        }
    }
}
