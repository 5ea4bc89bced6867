import Testing
@testable import RefScale
@testable import RefScaleHarness

/// The workloads of refscale, run briefly on every thread-safe scheme: every row valid, and the
/// operation streams identical across schemes.
@Suite("workloads under threads")
struct WorkloadRunTests {
    static let threadSafeSchemes = Registry.schemes.filter(\.isThreadSafe).map(\.name)
    static let workloads = ["mixed", "call", "handoff", "churn"]

    @Test(arguments: workloads, [2, 4])
    func everyThreadSafeSchemeEndsValid(workload: String, threads: Int) throws {
        for scheme in Self.threadSafeSchemes {
            let row = try shortRun(Registry.scheme(named: scheme), workload: workload, threads: threads)
            #expect(row.isValid, "\(scheme) on \(workload), \(threads) threads: \(row["validation_error"].text)")
            #expect((Int(row["run_ops"].text) ?? 0) > 0, "\(scheme) on \(workload) did no work")
        }
    }

    @Test(arguments: ["private", "call"])
    func nonatomicEndsValidOnItsOwnObjects(workload: String) throws {
        let row = try shortRun(Registry.scheme(named: NonatomicScheme.name), workload: workload, threads: 2)
        #expect(row.isValid, "\(row["validation_error"].text)")
    }

    @Test(arguments: ["private", "shared-hot", "mixed", "call", "handoff", "churn"])
    func theStreamIsTheSameForEveryScheme(workload: String) throws {
        let digests = try Set(Self.threadSafeSchemes.map { scheme in
            try shortRun(Registry.scheme(named: scheme), workload: workload, threads: 2)["stream_digest"].text
        })
        #expect(digests.count == 1, "digests differ across schemes: \(digests)")
        #expect(digests.first?.isEmpty == false)
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

    @Test func mixedImmortalObjectsAreTheMostPopular() throws {
        var options = OptionValues()
        options.set("objects", to: .integer(100))
        options[CommonOptions.immortalFraction] = 0.1
        options[MixedWorkload.zipf] = 2
        let mixed = try MixedWorkload(options: options)
        let immortal = mixed.immortalNames(seed: 1)
        #expect(immortal.count == 10)
        #expect(immortal == Set(mixed.popularityOrder(seed: 1).prefix(10)))
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
            threads: 2, duration: 1.0, warmup: 0.01)
        let row = try Runner.run(request)
        #expect(row.isValid, "\(row["validation_error"].text)")
        let frees = Int(row["frees"].text) ?? 0
        let pool = 2 * (try ChurnWorkload(options: OptionValues()).regionSize(threads: 2))
        #expect(frees > pool, "more objects died (\(frees)) than the pool holds (\(pool)), so they were reborn")
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
