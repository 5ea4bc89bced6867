import Testing
import RefScale
@testable import RefScaleHarness

/// The measured interval in 10 ms slices: each kept slice has operations, percentiles are nearest
/// rank, and a run's row carries them.
@Suite(.tags(.threaded)) struct IntervalSlicesTests {
    @Test func percentilesAreNearestRankAndNeedTenSlices() {
        let slices = IntervalSlices(nanosecondsPerOperation: (1...20).map(Double.init).shuffled())
        #expect(slices.percentile(0.1) == 2)
        #expect(slices.percentile(0.9) == 18)
        #expect(slices.percentile(0.5) == 10)
        #expect(IntervalSlices(nanosecondsPerOperation: (1...9).map(Double.init)).percentile(0.1) == nil)
    }

    @Test func aSliceIsPerThreadNanosecondsOverItsOperations() {
        var operations = 0
        let slices = IntervalSlices.measure(duration: 0.12, threads: 2) {
            operations += 1_000
            return operations
        }
        // One read before the first slice, then one per slice: about 12 slices of 10 ms.
        #expect(slices.nanosecondsPerOperation.count == operations / 1_000 - 1)
        #expect(slices.nanosecondsPerOperation.count >= 6)
        // 2 threads × a slice of at least 10 ms over 1000 operations: 2 × 10^4 ns/op or more (the
        // last slice ends with the interval and may be shorter).
        #expect(slices.nanosecondsPerOperation.dropLast().allSatisfy { $0 >= 2 * 10_000 })
    }

    @Test func aSliceWithoutOperationsJoinsTheNext() {
        var reads = 0
        let slices = IntervalSlices.measure(duration: 0.15, threads: 1) {
            reads += 1
            return (reads / 3) * 500
        }
        // Operations advance every third read: about a third of the slices are kept, each spanning
        // about three wake-ups (30 ms over 500 operations).
        #expect(slices.nanosecondsPerOperation.count <= (reads + 2) / 3)
        #expect(slices.nanosecondsPerOperation.allSatisfy { $0.isFinite })
        #expect(slices.nanosecondsPerOperation.dropLast().allSatisfy { $0 >= 20_000_000.0 / 500 })
    }

    @Test func aRowCarriesTheSlicePercentiles() throws {
        var request = RunRequest(
            scheme: try Registry.scheme(named: "noop"), workload: try Registry.workload(named: "private"),
            workloadOptions: OptionValues(), schemeOptions: SchemeOptions(), threads: 1,
            duration: TestTiming.interval(0.2), warmup: 0.01)
        var row = try Runner.run(request)
        // On a loaded machine the worker can miss whole slices (they join the next): fewer than
        // ten are then kept and the row rightly has no percentiles. Measure again, longer.
        for _ in 0..<3 where row["slice_ns_p10"].text.isEmpty {
            request.duration *= 2
            row = try Runner.run(request)
        }
        let p10 = try #require(Double(row["slice_ns_p10"].text))
        let p90 = try #require(Double(row["slice_ns_p90"].text))
        // The slices cut the same interval as the row's own figure, which is their mean weighted
        // by operations. For nine tenths of the slices to lie 1.5 times or more above it (or
        // below two thirds of it), the rest would have to run about ten times faster (slower)
        // than they: a change of speed within the interval the machine does not make.
        let nanosecondsPerOperation = try #require(Double(row["ns_per_op"].text))
        #expect(p10 <= 1.5 * nanosecondsPerOperation && p90 >= nanosecondsPerOperation / 1.5,
                "slices p10 \(p10), p90 \(p90) against the interval's \(nanosecondsPerOperation) ns/op")
        // The columns are written with 3 decimals, the spread from the unrounded percentiles:
        // their quotient is off by up to half a unit in the last place of each.
        let rounding = 0.0005 / p10 + 0.0005 / p90 + 1e-9
        #expect(abs(try #require(row.sliceSpread) - p90 / p10) <= rounding * p90 / p10, "the spread is p90 / p10")
        // A 0.05 s interval has fewer than ten slices: no percentiles.
        let short = try shortRun(Registry.scheme(named: "noop"), workload: "private", threads: 1)
        #expect(short["slice_ns_p10"].text.isEmpty || TestTiming.sanitized)
    }
}
