import Testing
@testable import RefScale
@testable import RefScaleHarness

/// A workload sizes each thread's region of the pool for what any scheme keeps alive at once. A
/// lazy `handle-local` table at `high16` keeps every object whose handles are all closed until
/// its flush, every 16th safe point (one follows each pass), and its 65535 slots seldom evict:
/// up to 16 passes of births. A region smaller than that runs dry, and `allocate` then waits
/// with safe points and `sched_yield` inside the timed loop, a cost no runtime pays. Each run
/// below crosses many flushes.
@Suite(.tags(.threaded)) struct RegionWaitTests {
    @Test(arguments: ["churn", "numeric", "call"], [ReleasePolicy.lazy, .eager])
    func aHigh16TableNeverWaitsOnItsRegion(workload: String, release: ReleasePolicy) throws {
        var options = SchemeOptions()
        options[HandleLocalOptions.handleIndex] = .high16
        options[HandleLocalOptions.release] = release
        let row = try Runner.run(RunRequest(
            scheme: Registry.scheme(named: "handle-local"), workload: Registry.workload(named: workload),
            schemeOptions: options, threads: 1, duration: TestTiming.interval(0.3), warmup: 0.01))
        #expect(row.isValid, "\(row["validation_error"].text)")
        let passes = row.outcome.workerOperations[0] / 4096
        #expect(passes > 2 * HandleLocalScheme.safePointsPerFlush, "only \(passes) passes: too few flushes to test")
        #expect(row.outcome.regionWaits == 0, "\(workload): the region ran dry \(row.outcome.regionWaits) time(s)")
    }
}
