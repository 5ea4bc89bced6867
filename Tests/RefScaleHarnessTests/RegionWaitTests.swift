import Testing
@testable import RefScale
@testable import RefScaleHarness

/// A workload sizes each thread's region of the pool for what any scheme keeps alive at once. A
/// lazy `handle-local` table at `high16` keeps every object whose handles are all closed until
/// its flush, every 16th safe point (one follows each pass), and its 65535 slots seldom evict:
/// up to 16 passes of births. A region smaller than that runs dry, and `allocate` then waits
/// with safe points and `sched_yield` inside the timed loop, a cost no runtime pays. Each run
/// below passes the table's first flush, where it holds the most.
@Suite(.tags(.threaded)) struct RegionWaitTests {
    @Test(arguments: ["churn", "numeric", "call"], [ReleasePolicy.lazy, .eager])
    func aHigh16TableNeverWaitsOnItsRegion(workload: String, release: ReleasePolicy) throws {
        var options = SchemeOptions()
        options[HandleLocalOptions.handleIndex] = .high16
        options[HandleLocalOptions.release] = release
        // A table keeps the most just before its first flush, at the 16th safe point: the run must
        // pass it. A slow machine (a sanitizer, other work) gets longer runs until it does.
        let enough = HandleLocalScheme.safePointsPerFlush + 2
        let passOperations = try Registry.workload(named: workload).make(OptionValues())
            .workerProgram(thread: 0, threads: 1, seed: 1).passOperations
        var duration = 0.2
        var row: RunRecord
        func passes(_ row: RunRecord) -> Int { row.outcome.workerOperations[0] / passOperations }
        repeat {
            row = try Runner.run(RunRequest(
                scheme: Registry.scheme(named: "handle-local"), workload: Registry.workload(named: workload),
                schemeOptions: options, threads: 1, duration: TestTiming.interval(duration), warmup: 0.01))
            duration *= 2
        } while passes(row) < enough && duration < 20
        #expect(row.isValid, "\(row["validation_error"].text)")
        #expect(passes(row) >= enough, "only \(passes(row)) passes: the table never reached its first flush")
        #expect(row.outcome.regionWaits == 0, "\(workload): the region ran dry \(row.outcome.regionWaits) time(s)")
    }
}
