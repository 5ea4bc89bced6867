import RefScale

/// Runs requests one after another, as `run` and `sweep` do: each run's line is printed and its
/// row appended to the CSV file as it ends, so an interrupted sweep keeps every finished row.
public enum Perform {
    public static func runs(
        _ requests: [RunRequest], writer: CSVWriter?, progress: SweepProgress? = nil,
        table: TablePrinter<RunRecord> = TablePrinter(), repetitions: RepetitionPlan = .fixed(1),
        report: (String) -> Void = { _ in }
    ) throws -> [RunRecord] {
        table.printHeader()
        var records: [RunRecord] = []
        for (index, request) in requests.enumerated() {
            progress?.update(done: index)
            // A fixed plan's requests are its repetitions; an auto plan repeats each request.
            var series: [RunRecord] = []
            var next = request
            while true {
                var record = try Runner.run(next)
                series.append(record)
                let decision = repetitions.stop(after: series)
                record.repetitionStop = decision?.stop
                progress?.clear()
                table.print(record)
                try writer?.append(record)
                records.append(record)
                guard case .auto(let target, _) = repetitions else { break }
                if let decision {
                    report(autoRepetitionNote(request, count: series.count, decision: decision, target: target))
                    break
                }
                next.repetition += 1
            }
        }
        let busy = records.filter { ($0.otherLoad ?? 0) > MachineLoad.busyThreshold }
        if let worst = busy.compactMap(\.otherLoad).max() {
            report("\(busy.count) of \(records.count) runs shared the machine with other work (up to \(fixed(worst, decimals: 2)) CPUs besides refscale's, column other_load): their timings are not from a quiet machine")
        }
        let unsteady = records.filter { ($0.sliceSpread ?? 1) > IntervalSlices.unsteadySpread }
        if let worst = unsteady.compactMap(\.sliceSpread).max() {
            report("\(unsteady.count) of \(records.count) runs changed speed within their interval (10 ms slices' ns/op up to \(fixed(worst, decimals: 2))x apart from 10th to 90th percentile, columns slice_ns_p10 and slice_ns_p90): each is an average over the speeds it ran at")
        }
        return records
    }

    /// What `--reps auto` says on stderr when it stops a configuration.
    static func autoRepetitionNote(
        _ request: RunRequest, count: Int, decision: (stop: RepetitionStop, halfWidth: Double?), target: Double
    ) -> String {
        let what = "\(request.scheme.name) on \(request.workload.name), \(request.threads) thread(s)"
        let width = decision.halfWidth.map { "the median's 95% interval is within ±\(fixed($0 * 100, decimals: 2))%" }
            ?? "fewer than 6 valid repetitions, so no 95% interval"
        switch decision.stop {
        case .target: return "\(what): reached the target after \(count) repetitions: \(width) (target ±\(fixed(target * 100, decimals: 2))%)"
        case .cap: return "\(what): stopped at the cap of \(count) repetitions before the target: \(width) (target ±\(fixed(target * 100, decimals: 2))%)"
        }
    }

    /// Throws, naming the first, when any run failed validation (exit code 1).
    public static func requireValid(_ records: [RunRecord]) throws {
        guard let first = records.first(where: { !$0.isValid }) else { return }
        let invalid = records.filter { !$0.isValid }.count
        throw HarnessError("\(invalid) of \(records.count) runs failed validation (valid=false): \(first.request.scheme.name) on \(first.request.workload.name): \(first.problems.joined(separator: "; "))")
    }
}
