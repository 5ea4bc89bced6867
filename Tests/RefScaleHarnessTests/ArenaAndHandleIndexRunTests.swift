import Testing
@testable import RefScaleHarness
@testable import RefScale

/// Short concurrent runs through the real runner: every row must pass the run's own validation
/// (counts back to their baseline, every object freed exactly once, nothing written after free).
@Suite("arena and handle-local widths under threads", .serialized, .tags(.threaded))
struct ArenaAndHandleIndexRunTests {
    struct Configuration: CustomTestStringConvertible, Sendable {
        var scheme: String
        var handleIndex: HandleIndex?
        var testDescription: String { handleIndex.map { "\(scheme) \($0.rawValue)" } ?? scheme }
    }

    static let configurations = [
        Configuration(scheme: "arena"),
        Configuration(scheme: "handle-local", handleIndex: .high16),
        Configuration(scheme: "handle-local", handleIndex: .low4),
    ]

    @Test(arguments: configurations, ["shared-hot", "private"])
    func everyRowIsValid(configuration: Configuration, workload: String) throws {
        var schemeOptions = SchemeOptions()
        if let index = configuration.handleIndex { schemeOptions[HandleLocalScheme.handleIndex] = index }
        for threads in [2, 4, 8] {
            let request = RunRequest(
                scheme: try Registry.scheme(named: configuration.scheme),
                workload: try Registry.workload(named: workload),
                workloadOptions: OptionValues(),
                schemeOptions: schemeOptions,
                threads: threads, duration: TestTiming.interval(0.05), warmup: 0.01)
            try request.validate()
            let row = try Runner.run(request)
            #expect(row.isValid, "\(configuration.testDescription) on \(workload), \(threads) threads: \(row["validation_error"].text)")
            #expect(row.outcome.workerOperations.count == threads, "operations of \(row.outcome.workerOperations.count) workers")
            if configuration.handleIndex != nil {
                // Every object fits the table, so nothing falls back or is evicted. On private there
                // are no opens, only each thread's births in its set-up, which are not opens; on
                // shared-hot each pass opens the 4 objects, which miss only in a thread's first pass
                // and after a flush (every 16 safe points, one a pass, the first at the 16th): at
                // most 4 misses in 16 passes, plus 4 for each thread's first pass and 4 to spare. A
                // bound on the passes run, not a rate, since an oversubscribed run under a sanitizer
                // may give a worker only a few passes.
                #expect(row["fallbacks"].text == "0")
                #expect(row["evictions"].text == "0")
                if workload == "private" {
                    #expect(row["table_misses"].text == "0" && row["table_hits"].text == "0", "births are not opens")
                    #expect(row["hit_rate"].text == "", "no open, no rate")
                    #expect(row["opens_per_pass"].text == "0.0")
                } else {
                    let misses = Int(row["table_misses"].text)!, opens = misses + Int(row["table_hits"].text)!
                    #expect(misses % 4 == 0)
                    #expect(misses <= opens / HandleLocalScheme.safePointsPerFlush + 8 * threads,
                            "\(misses) misses in \(opens) opens: a flush every pass would make every open a miss")
                    #expect(row["opens_per_pass"].text == "4.0")
                }
            } else {
                #expect(row["handle_index"].text == "")
                #expect(row["hit_rate"].text == "" && row["table_hits"].text == "")
            }
        }
    }

    /// low3 has 7 slots: when each pass opens 1000 shared objects the table serves almost none of
    /// the opens, and the row says so.
    @Test func low3RowsShowTheTableServingFewOpensWhenObjectsOutnumberSlots() throws {
        var options = OptionValues()
        options.set("objects", to: .integer(1000))
        let request = RunRequest(
            scheme: try Registry.scheme(named: "handle-local"),
            workload: try Registry.workload(named: "shared-hot"),
            workloadOptions: options, threads: 2, duration: TestTiming.interval(0.05), warmup: 0.01)
        let row = try Runner.run(request)
        #expect(row.isValid)
        #expect(row["handle_index"].text == "low3")
        let hits = Double(row["table_hits"].text)!, misses = Double(row["table_misses"].text)!, fallbacks = Double(row["fallbacks"].text)!
        #expect(hits + misses + fallbacks > 1000, "every open of an existing object is counted")
        #expect(Double(row["hit_rate"].text)! < 0.05)
    }
}
