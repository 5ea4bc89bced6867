import RefScale

/// One run's result: one CSV row, one line of a table. Every reporter takes rows; none formats
/// a run by itself.
public struct Row: Sendable {
    /// Every column, in file order. Counters cover the whole run (set-up, warm-up, interval and
    /// drain); `run_ops` is the handle operations of the same span, so a counter divided by it is a
    /// per-operation figure. `ops` covers the measured interval only.
    public static let columns: [String] = [
        "scheme", "workload", "context", "threads", "rep", "ops", "elapsed_s", "ops_per_s", "ns_per_op", "valid",
        "oversubscribed",
    ] + WorkloadOptionName.allCases.map(\.rawValue) + [
        "object_align"] + SchemeOptionName.allCases.map(\.rawValue) + ["closed_queue", "seed", "duration_s", "warmup_s",
        "stream_digest", "run_ops", "opens_per_pass",
    ] + CounterKind.allCases.map(\.rawValue) + [
        "hit_rate", "violations", "violation_kinds", "validation_error", "pin", "placement", "cpus", "cpus_end", "cpu_moved",
        "python_version",
    ] + MachineInfo.columns + ["timestamp"]

    /// The columns that describe what was run (not what was measured, nor where).
    public static let parameterColumns = ["context"] + WorkloadOptionName.allCases.map(\.rawValue) + ["object_align"]
        + SchemeOptionName.allCases.map(\.rawValue) + ["pin", "placement", "seed", "duration_s", "warmup_s"]

    /// The columns that hold a run's outcome rather than its configuration (the CPUs workers ran
    /// on), or follow from the thread count (`stream_digest` hashes every thread's stream,
    /// `oversubscribed` compares the threads with the CPUs). Every other column, including one a later version adds, is a
    /// parameter: rows that agree on all parameters are repetitions of one configuration
    /// (Experiments/plot.py keeps the same list).
    public static let measurementColumns = Set([
        "rep", "ops", "elapsed_s", "ops_per_s", "ns_per_op", "valid", "run_ops", "hit_rate", "validation_error", "timestamp",
        "stream_digest", "oversubscribed", "cpus", "cpus_end", "cpu_moved",
    ] + CounterKind.allCases.map(\.rawValue))

    public private(set) var values: [String: String]

    public init(values: [String: String]) { self.values = values }

    public subscript(column: String) -> String { values[column] ?? "" }

    public var isValid: Bool { self["valid"] == "true" }

    /// - Parameter cpus: the CPU of each worker at the start and at the end of the measured interval.
    init(
        request: RunRequest, measuredOperations: Int, elapsedNanoseconds: UInt64, outcome: RunOutcome,
        cpus: (start: [Int], end: [Int]), machine: MachineInfo
    ) {
        let elapsed = Double(elapsedNanoseconds) / 1e9
        // A run whose debug contexts found violations is not a measurement of its workload: the
        // violating calls were neutralised, not performed. It is marked invalid even when every
        // count check passed.
        var problems = outcome.validationError.map { [$0] } ?? []
        if let contract = outcome.contract, contract.total > 0 {
            problems.append("\(contract.total) handle contract violation(s) (\(contract.countsText)); first: \(contract.reports.first?.description ?? "?")")
        }
        let workload = try? request.workload.make(request.workloadOptions)
        var values: [String: String] = [
            "scheme": request.scheme.name,
            "workload": request.workload.name,
            "context": request.context.rawValue,
            "threads": String(request.threads),
            "rep": String(request.repetition),
            "ops": String(measuredOperations),
            "elapsed_s": format(elapsed, digits: 6),
            "ops_per_s": format(Double(measuredOperations) / elapsed, digits: 0),
            "ns_per_op": measuredOperations > 0
                ? format(Double(request.threads) * Double(elapsedNanoseconds) / Double(measuredOperations), digits: 3) : "",
            "valid": String(problems.isEmpty),
            "oversubscribed": String(request.threads > machine.onlineCPUs),
            "object_align": String(request.schemeOptions.objectAlignment),
            "seed": String(request.seed),
            "duration_s": String(request.duration),
            "warmup_s": String(request.warmup),
            "run_ops": String(outcome.workerOperations.reduce(0, +)),
            "opens_per_pass": format(outcome.opensPerPass, digits: 3),
            "stream_digest": String(outcome.streamDigest, radix: 16),
            "validation_error": problems.joined(separator: "; "),
            "violations": outcome.contract.map { String($0.total) } ?? "",
            "violation_kinds": outcome.contract?.countsText ?? "",
            "closed_queue": request.context == .debug ? String(request.schemeOptions.debug.closedQueue) : "",
            "python_version": request.scheme.pythonVersion ?? "",
            "pin": request.pin.description,
            "placement": request.placement.description,
            "cpus": cpus.start.map(String.init).joined(separator: ";"),
            "cpus_end": cpus.end.map(String.init).joined(separator: ";"),
            "cpu_moved": String(cpus.start != cpus.end),
            "timestamp": MachineInfo.timestamp(),
        ]
        for option in WorkloadOptionName.allCases {
            values[option.rawValue] = request.workload.usedOptions.contains(option)
                ? request.workloadOptions.value(of: option) : ""
        }
        if request.workload.usedOptions.contains(.objects) {
            values["objects"] = workload.map { String($0.objects) } ?? ""
        }
        let uses = request.scheme.usedOptions
        for option in SchemeOptionName.allCases {
            values[option.rawValue] = uses.contains(option) ? request.schemeOptions.value(of: option) : ""
        }
        for kind in CounterKind.allCases {
            values[kind.rawValue] = request.scheme.reportedCounters.contains(kind) ? String(outcome.counters[kind]) : ""
        }
        let c = outcome.counters
        let tableUses = c.tableHits + c.tableMisses + c.fallbacks
        values["hit_rate"] = request.scheme.reportedCounters.contains(.tableHits) && tableUses > 0
            ? format(Double(c.tableHits) / Double(tableUses), digits: 6) : ""
        for (column, value) in machine.values { values[column] = value }
        self.values = values
    }
}

func format(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "" }
    if digits == 0 { return String(Int64(value.rounded())) }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    return String(rounded)
}
