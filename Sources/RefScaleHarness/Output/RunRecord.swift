import RefScale

/// One run's result as numbers and names: what was asked, what was measured, where. Every
/// writer (CSV, table, sweep summary, calibrate) reads it and formats only at the end, through
/// `ColumnCatalogue`.
public struct RunRecord: Sendable {
    public var request: RunRequest
    /// Handle operations of each worker within the measured interval, as it published them.
    public var measuredWorkerOperations: [Int]
    public var elapsedNanoseconds: UInt64
    public var outcome: RunOutcome
    /// The CPU of each worker at the start and at the end of the measured interval.
    public var startCPUs: [Int]
    public var endCPUs: [Int]
    public var machine: MachineInfo
    public var timestamp: String
    /// Set on the last row of a `--reps auto` configuration: why the repetitions stopped.
    public var repetitionStop: RepetitionStop?
    /// CPUs of other work while the interval was measured (`MachineLoad`); nil where unknown.
    public var otherLoad: Double?
    /// The 10th and 90th percentiles of ns/op over the interval's 10 ms slices (`IntervalSlices`).
    public var sliceNanosecondsPerOperation: (p10: Double?, p90: Double?) = (nil, nil)
    /// The slices' 90th over 10th percentile: 1 for a run whose speed held over the interval.
    public var sliceSpread: Double? {
        guard let p10 = sliceNanosecondsPerOperation.p10, let p90 = sliceNanosecondsPerOperation.p90, p10 > 0 else { return nil }
        return p90 / p10
    }

    public init(
        request: RunRequest, measuredWorkerOperations: [Int], elapsedNanoseconds: UInt64, outcome: RunOutcome,
        startCPUs: [Int], endCPUs: [Int], machine: MachineInfo, timestamp: String = MachineInfo.timestamp()
    ) {
        self.request = request
        self.measuredWorkerOperations = measuredWorkerOperations
        self.elapsedNanoseconds = elapsedNanoseconds
        self.outcome = outcome
        self.startCPUs = startCPUs
        self.endCPUs = endCPUs
        self.machine = machine
        self.timestamp = timestamp
    }

    /// Handle operations of every worker within the measured interval.
    public var measuredOperations: Int { measuredWorkerOperations.reduce(0, +) }
    public var elapsedSeconds: Double { Double(elapsedNanoseconds) / 1e9 }
    public var operationsPerSecond: Double { Double(measuredOperations) / elapsedSeconds }
    /// Per thread: `threads × elapsed / operations`; nil when no operation was measured.
    public var nanosecondsPerOperation: Double? {
        measuredOperations > 0 ? Double(request.threads) * Double(elapsedNanoseconds) / Double(measuredOperations) : nil
    }
    /// Per thread, as `nanosecondsPerOperation`: ns/op times the operations of one call (the
    /// run's operations over its calls, both over the whole run: every pass makes the same calls,
    /// and the interval is measured in whole passes). The call's own handle operations and the
    /// trampoline's (its arguments' handles opened and closed) are its operations. Nil without
    /// extension calls.
    public var nanosecondsPerExtensionCall: Double? {
        guard let calls = outcome.extensionCalls?.calls, calls > 0, let perOperation = nanosecondsPerOperation else { return nil }
        return perOperation * Double(outcome.workerOperations.reduce(0, +)) / Double(calls)
    }
    public var isOversubscribed: Bool { request.threads > machine.onlineCPUs }

    /// Why the row is not valid: failed count checks, and contract violations. A run whose debug
    /// contexts found violations is not a measurement of its workload (the violating calls were
    /// neutralised, not performed), so it is invalid even when every count check passed.
    public var problems: [String] {
        var problems = outcome.validationError.map { [$0] } ?? []
        if let contract = outcome.contract, contract.total > 0 {
            problems.append("\(contract.total) handle contract violation(s) (\(contract.countsText)); first: \(contract.reports.first?.description ?? "?")")
        }
        return problems
    }

    public var isValid: Bool { problems.isEmpty }

    /// Table hits over every table use; nil for a scheme without a table.
    public var hitRate: Double? {
        let counters = outcome.counters
        let uses = counters.tableHits + counters.tableMisses + counters.fallbacks
        return request.scheme.reportedCounters.contains(.tableHits) && uses > 0 ? Double(counters.tableHits) / Double(uses) : nil
    }

    /// The value of a column of the catalogue.
    public subscript(column: String) -> Cell { ColumnCatalogue.column(named: column)?.cell(self) ?? .blank }
}
