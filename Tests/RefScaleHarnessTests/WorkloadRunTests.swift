import Testing
@testable import RefScale
@testable import RefScaleHarness

/// The workloads of refscale, run briefly on every thread-safe scheme: every row valid, and the
/// operation streams identical across schemes.
@Suite("workloads under threads", .tags(.threaded))
struct WorkloadRunTests {
    static let threadSafeSchemes = Registry.schemes.filter(\.isThreadSafe).map(\.name)
    static let workloads = ["mixed", "call", "handoff", "churn"]

    @Test(arguments: workloads, [2, 4])
    func everyThreadSafeSchemeEndsValid(workload: String, threads: Int) throws {
        for scheme in Self.threadSafeSchemes {
            let row = try shortRun(Registry.scheme(named: scheme), workload: workload, threads: threads)
            #expect(row.isValid, "\(scheme) on \(workload), \(threads) threads: \(row["validation_error"].text)")
            try expectEveryWorkerWorkedInTheMeasuredInterval(row, "\(scheme) on \(workload):")
        }
    }

    @Test(arguments: ["private", "call"])
    func nonatomicEndsValidOnItsOwnObjects(workload: String) throws {
        let row = try shortRun(Registry.scheme(named: NonatomicScheme.name), workload: workload, threads: 2)
        #expect(row.isValid, "\(row["validation_error"].text)")
    }

    @Test func theStreamChangesWithTheSeedAndTheOptions() throws {
        let workload = try Registry.workload(named: "mixed")
        func digest(seed: UInt64, zipf: Double) throws -> String {
            var options = OptionValues()
            options[MixedWorkload.zipf] = zipf
            let request = RunRequest(
                scheme: try Registry.scheme(named: "noop"), workload: workload, workloadOptions: options,
                threads: 1, duration: TestTiming.interval(0.01), warmup: 0, seed: seed)
            return try Runner.run(request)["stream_digest"].text
        }
        let base = try digest(seed: 1, zipf: 0)
        #expect(try digest(seed: 1, zipf: 0) == base)
        #expect(try digest(seed: 2, zipf: 0) != base)
        #expect(try digest(seed: 1, zipf: 1.1) != base)
    }

    @Test func handoffRefusesThreadCountsItCannotGroup() throws {
        var options = OptionValues()
        options[HandoffWorkload.producers] = 2
        options[HandoffWorkload.consumers] = 1
        let request = RunRequest(
            scheme: try Registry.scheme(named: "atomic"), workload: try Registry.workload(named: "handoff"),
            workloadOptions: options, threads: 4)
        #expect(throws: UsageError.self) { try request.validate() }
    }

    @Test func handoffMovesObjectsBetweenThreadsUnderBiasedCounting() throws {
        let row = try shortRun(Registry.scheme(named: BiasedScheme.name), workload: "handoff", threads: 2)
        #expect(row.isValid, "\(row["validation_error"].text)")
        #expect((Int(row["queued"].text) ?? 0) > 0, "a consumer's drop of a producer's object must queue")
        #expect(row["merges"].text == row["queued"].text, "every queued object is merged once")
    }

    @Test func churnRecyclesObjects() throws {
        let request = RunRequest(
            scheme: try Registry.scheme(named: AtomicScheme.name), workload: try Registry.workload(named: "churn"),
            threads: 2, duration: TestTiming.interval(1.0), warmup: 0.01)
        let row = try Runner.run(request)
        #expect(row.isValid, "\(row["validation_error"].text)")
        let frees = Int(row["frees"].text) ?? 0
        let pool = 2 * (try ChurnWorkload(options: OptionValues()).regionSize(threads: 2))
        #expect(frees > pool, "more objects died (\(frees)) than the pool holds (\(pool)), so they were reborn")
    }
}

/// What each scheme was actually given to execute, recorded call by call (`Recorded`): the same
/// calls on the same objects for every scheme, and the immortal objects of `mixed` the ones it
/// uses most. Serialised: a recorded run is found as the latest one.
@Suite("executed streams", .serialized, .tags(.threaded))
struct ExecutedStreamTests {
    /// Every thread-safe scheme of the registry, recorded; checked below to leave none out.
    static let recordedSchemes: [SchemeEntry] = [
        SchemeEntry(Recorded<GilScheme>.self), SchemeEntry(Recorded<AtomicScheme>.self),
        SchemeEntry(Recorded<BiasedScheme>.self), SchemeEntry(Recorded<PerThreadScheme>.self),
        SchemeEntry(Recorded<HandleLocalScheme>.self), SchemeEntry(Recorded<ArenaScheme>.self),
        SchemeEntry(Recorded<NoopScheme>.self), SchemeEntry(Recorded<CPythonScheme>.self), SchemeEntry(Recorded<HandleTableScheme>.self),
    ]

    /// Each thread's digest of the calls the scheme executed, in a 2-thread run.
    func executed(
        _ scheme: SchemeEntry, _ workload: String, options: OptionValues = OptionValues()
    ) throws -> (digests: [Int: UInt64], calls: Int) {
        let request = RunRequest(
            scheme: scheme, workload: try Registry.workload(named: workload), workloadOptions: options, threads: 2,
            duration: TestTiming.interval(0.05), warmup: 0.01)
        try request.validate()
        let row = try Runner.run(request)
        #expect(row.isValid, "\(scheme.name) on \(workload): \(row["validation_error"].text)")
        let run = try #require(RecordedRuns.latest.withLock { $0 })
        return (run.digests, run.fewestWorkerCalls)
    }

    /// A recorded run of `workload` on `scheme`, with the scheme's options.
    func recordedRun(
        _ scheme: SchemeEntry, _ workload: String, schemeOptions: SchemeOptions = SchemeOptions(), threads: Int = 2
    ) throws -> RecordedRun {
        let request = RunRequest(
            scheme: scheme, workload: try Registry.workload(named: workload), schemeOptions: schemeOptions, threads: threads,
            duration: TestTiming.interval(0.05), warmup: 0.01)
        try request.validate()
        let row = try Runner.run(request)
        #expect(row.isValid, "\(scheme.name) on \(workload): \(row["validation_error"].text)")
        return try #require(RecordedRuns.latest.withLock { $0 })
    }

    /// A replayed trace gives every scheme the same calls on the same objects (the CSV's
    /// `stream_digest` cannot show it: it is computed from the trace before any scheme runs),
    /// and the trace's own objects are what they open: a different trace changes the digests.
    @Test(arguments: [1, 2])
    func everySchemeExecutesTheSameTraceCalls(threads: Int) throws {
        func digests(_ scheme: SchemeEntry, _ options: OptionValues) throws -> [Int: UInt64] {
            let request = RunRequest(
                scheme: scheme, workload: try Registry.workload(named: "trace"), workloadOptions: options, threads: threads,
                duration: TestTiming.interval(0.05), warmup: 0.01)
            try request.validate()
            let row = try Runner.run(request)
            #expect(row.isValid, "\(scheme.name): \(row["validation_error"].text)")
            let run = try #require(RecordedRuns.latest.withLock { $0 })
            #expect(run.fewestWorkerCalls >= 100, "\(scheme.name): every worker's first pass is in its digest")
            return run.digests
        }
        let options = try traceOptions(programTrace(threads: 2, rounds: 64))
        let reference = try digests(Self.recordedSchemes[0], options)
        #expect(try digests(Self.recordedSchemes[0], try traceOptions(programTrace(threads: 2, rounds: 63))) != reference, "the digest sees the trace")
        for scheme in Self.recordedSchemes.dropFirst() {
            #expect(try digests(scheme, options) == reference, "\(scheme.name) executed other calls than \(Self.recordedSchemes[0].name)")
        }
    }

    /// `mixed` reads its shared objects from globals (`load`): every scheme's own load path runs
    /// (not the protocol's default `open`), on the same objects in the same order as the
    /// reference scheme's (the digest numbers each loaded object), and hands back a handle to the
    /// object the slot held.
    @Test func everySchemeLoadsTheSameObjectsThroughItsOwnLoad() throws {
        let reference = try recordedRun(Self.recordedSchemes[0], "mixed")
        for scheme in Self.recordedSchemes {
            let run = try recordedRun(scheme, "mixed")
            let loads = run.loads
            #expect(loads.count >= 100, "\(scheme.name): \(loads.count) loads recorded; the workload loads once per round")
            #expect(loads.ofOtherObjects == 0, "\(scheme.name): \(loads.ofOtherObjects) loads named another object than the slot held")
            #expect(run.digests == reference.digests, "\(scheme.name) loaded other objects than \(Self.recordedSchemes[0].name)")
        }
    }

    /// `numeric` asks for its operands as numbers (`immediate`): a scheme that tags makes every
    /// number its tag holds an immediate (NaN boxing: ints and floats; one tag bit: ints, whose
    /// values here all fit), the others box every number. Read from DESIGN's tagged immediates
    /// and each scheme's header, not from the recorded run.
    @Test(arguments: [
        ("arena", nil, NaNBoxingMode.on, Set<Number.Kind>([.int, .float])),
        ("handle-table", nil, .on, [.int, .float]),
        ("handle-local", 1, nil, [.int]),
        ("arena", nil, .off, []), ("handle-local", 0, nil, []),
    ] as [(String, Int?, NaNBoxingMode?, Set<Number.Kind>)])
    func taggingSchemesMakeTheirNumbersImmediates(scheme: String, tagBits: Int?, nanBoxing: NaNBoxingMode?, immediateKinds: Set<Number.Kind>) throws {
        var options = SchemeOptions()
        if let tagBits { options[HandleLocalScheme.tagBits] = tagBits }
        if let nanBoxing { options[NaNBoxingMode.option] = nanBoxing }
        let entry = try #require(Self.recordedSchemes.first { $0.name == "recorded-\(scheme)" })
        let numbers = try recordedRun(entry, "numeric", schemeOptions: options).numbers
        for kind in [Number.Kind.int, .float, .other] {
            let count = try #require(numbers[kind], "\(scheme): no \(kind) number asked for")
            #expect(count.asked > 0)
            #expect(count.immediate == (immediateKinds.contains(kind) ? count.asked : 0), "\(scheme): \(count.immediate) of \(count.asked) \(kind) numbers immediate")
        }
    }

    @Test func everyThreadSafeSchemeIsRecorded() {
        let recorded = Set(Self.recordedSchemes.map(\.name))
        let threadSafe = Set(Registry.schemes.filter(\.isThreadSafe).map { "recorded-\($0.name)" })
        #expect(recorded == threadSafe)
    }

    @Test(arguments: ["private", "shared-hot", "mixed", "call", "handoff", "churn"])
    func everySchemeExecutesTheSameCallsOnTheSameObjects(workload: String) throws {
        let reference = try executed(Self.recordedSchemes[0], workload)
        #expect(reference.digests.count == 3, "the main thread and two workers")
        #expect(reference.calls >= 100, "every worker's set-up and first pass are in its digest")
        var deeper = OptionValues()
        deeper[CommonOptions.dupDepth] = CommonOptions.dupDepth.defaultValue + 1
        #expect(try executed(Self.recordedSchemes[0], workload, options: deeper).digests != reference.digests, "the digest sees the stream")
        for scheme in Self.recordedSchemes.dropFirst() {
            let run = try executed(scheme, workload)
            #expect(run.digests == reference.digests, "\(scheme.name) executed other calls than \(Self.recordedSchemes[0].name)")
        }
    }

    /// Measured, not read from the workload's definition: the opens and loads each of the worker's 100
    /// objects received (with one worker, each object is one of its 100).
    @Test func mixedUsesItsImmortalObjectsMost() throws {
        var options = OptionValues()
        options.set("objects", to: .integer(100))
        options[CommonOptions.immortalFraction] = 0.05
        options[MixedWorkload.zipf] = 2
        let request = RunRequest(
            scheme: SchemeEntry(Recorded<AtomicScheme>.self), workload: try Registry.workload(named: "mixed"),
            workloadOptions: options, threads: 1, duration: TestTiming.interval(0.02), warmup: 0)
        #expect(try Runner.run(request).isValid)
        let opens = try #require(RecordedRuns.latest.withLock { $0 }).opens.values
        let immortal = opens.filter(\.immortal).map(\.count)
        let mortal = opens.filter { !$0.immortal }.map(\.count)
        #expect(immortal.count == 5)
        #expect(mortal.count > 50, "most of the 95 mortal objects are drawn")
        #expect(immortal.min()! > mortal.max()!, "immortal opens \(immortal.sorted()), most-opened mortal \(mortal.max()!)")
    }
}

@Suite("zipf sampler")
struct ZipfSamplerTests {
    @Test func uniformWhenTheExponentIsZero() {
        let sampler = ZipfSampler(count: 4, exponent: 0)
        var generator = SplitMix64(seed: 3)
        var counts = [0, 0, 0, 0]
        for _ in 0..<40_000 { counts[sampler.next(using: &generator)] += 1 }
        #expect(counts.allSatisfy { abs($0 - 10_000) < 600 }, "\(counts)")
    }

    @Test func rankOneIsTwiceAsLikelyAsRankTwoWhenTheExponentIsOne() {
        let sampler = ZipfSampler(count: 1000, exponent: 1)
        var generator = SplitMix64(seed: 5)
        var counts = [0, 0]
        for _ in 0..<100_000 {
            let rank = sampler.next(using: &generator)
            if rank < 2 { counts[rank] += 1 }
        }
        let ratio = Double(counts[0]) / Double(counts[1])
        #expect(ratio > 1.85 && ratio < 2.15, "ratio \(ratio)")
    }
}
