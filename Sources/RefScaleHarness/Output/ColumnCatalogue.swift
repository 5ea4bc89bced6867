import RefScale

/// Every column of refscale's CSV files, in file order, each with its role and its type: the one
/// list the CSV writer, the tables, `report`, `refscale columns` and Experiments/plot.py (through
/// `refscale columns --json`) read.
///
/// Roles:
/// - `parameter`: what was run. Rows that agree on every parameter, coordinate and machine
///   column are repetitions of one configuration; a parameter that varies names a series.
/// - `coordinate`: where a point sits in a report or a figure (which panel, which x).
/// - `measurement`: what the run measured or found, and what follows from the run alone.
/// - `counter`: a scheme's event count over the whole run (blank where it has none).
/// - `machine`: the machine and the build the row came from.
/// A column a later version adds is read by older readers as a parameter.
public struct Column: Sendable {
    public enum Role: String, Sendable, CaseIterable {
        case parameter, coordinate, measurement, counter, machine
    }

    /// How pandas should read the column.
    public enum Kind: String, Sendable {
        case text, integer, number, boolean
    }

    public let name: String
    public let role: Role
    public let kind: Kind
    public let cell: @Sendable (RunRecord) -> Cell

    public init(_ name: String, _ role: Role, _ kind: Kind, _ cell: @escaping @Sendable (RunRecord) -> Cell) {
        self.name = name
        self.role = role
        self.kind = kind
        self.cell = cell
    }
}

public enum ColumnCatalogue {
    public static let all: [Column] = identity + optionColumns + runColumns + counterColumns + outcomeColumns
        + machineColumns

    public static var names: [String] { all.map(\.name) }

    public static func column(named name: String) -> Column? { byName[name] }

    public static func names(withRole role: Column.Role) -> [String] { all.filter { $0.role == role }.map(\.name) }

    static let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    static let identity: [Column] = [
        Column("scheme", .parameter, .text) { .text($0.request.scheme.name) },
        Column("workload", .coordinate, .text) { .text($0.request.workload.name) },
        Column("context", .parameter, .text) { .text($0.request.context.rawValue) },
        Column("threads", .coordinate, .integer) { .integer($0.request.threads) },
        Column("rep", .measurement, .integer) { .integer($0.request.repetition) },
        Column("ops", .measurement, .integer) { .integer($0.measuredOperations) },
        Column("elapsed_s", .measurement, .number) { .number($0.elapsedSeconds, decimals: 6) },
        Column("ops_per_s", .measurement, .number) { .number($0.operationsPerSecond, decimals: 0) },
        Column("ns_per_op", .measurement, .number) { $0.nanosecondsPerOperation.map { .number($0, decimals: 3) } ?? .blank },
        Column("valid", .measurement, .boolean) { .flag($0.isValid) },
        Column("oversubscribed", .coordinate, .boolean) { .flag($0.isOversubscribed) },
    ]

    /// The options every workload, then every scheme, declares; blank where the run's workload or
    /// scheme does not read it.
    static let optionColumns: [Column] =
        Registry.workloadOptions.map { option in
            Column(option.name, .parameter, kind(of: option.form)) { record in
                record.request.workload.declaredOptions.first { $0.name == option.name }
                    .map { Cell(record.request.workloadOptions.value(of: $0)) } ?? .blank
            }
        }
        + [Column("object_align", .parameter, .integer) { .integer($0.request.schemeOptions.objectAlignment) }]
        + Registry.schemeOptions.map { option in
            Column(option.name, .parameter, kind(of: option.form)) { record in
                record.request.scheme.declaredOptions.first { $0.name == option.name }
                    .map { Cell(record.request.schemeOptions.values.value(of: $0)) } ?? .blank
            }
        }

    static let runColumns: [Column] = [
        Column("closed_queue", .parameter, .integer) { record in
            record.request.context == .debug ? .integer(record.request.schemeOptions.debug.closedQueue) : .blank
        },
        Column("trace_timing", .parameter, .text) { record in
            record.request.context == .trace ? .text(record.request.schemeOptions.traceTiming ? "on" : "off") : .blank
        },
        Column("seed", .parameter, .integer) { .text(String($0.request.seed)) },
        Column("duration_s", .parameter, .number) { .number($0.request.duration, decimals: nil) },
        Column("warmup_s", .parameter, .number) { .number($0.request.warmup, decimals: nil) },
        Column("stream_digest", .measurement, .text) { .text(String($0.outcome.streamDigest, radix: 16)) },
        Column("run_ops", .measurement, .integer) { .integer($0.outcome.workerOperations.reduce(0, +)) },
        Column("trace_replicated_objects", .measurement, .integer) { $0.outcome.replicatedObjects.map { .integer($0) } ?? .blank },
        Column("opens_per_pass", .measurement, .number) { .number($0.outcome.opensPerPass, decimals: 3) },
        Column("objects_allocated", .measurement, .integer) { .integer($0.outcome.objectsAllocated) },
    ] + extensionCallColumns + retentionColumns

    /// What one extension call did on average (`hpy`: the workers' calls over the whole run),
    /// by kind; blank for the other workloads.
    static let extensionCallColumns: [Column] = [
        Column("hpy_calls", .measurement, .integer) { $0.outcome.extensionCalls.map { .integer($0.calls) } ?? .blank },
        Column("hpy_ns_per_call", .measurement, .number) { $0.nanosecondsPerExtensionCall.map { .number($0, decimals: 3) } ?? .blank },
        perCall("hpy_dup_per_call") { $0.dups },
        perCall("hpy_close_per_call") { $0.closes },
        perCall("hpy_open_per_call") { $0.opens },
        perCall("hpy_objects_per_call") { $0.objectsMade },
        perCall("hpy_field_store_per_call") { $0.fieldStores },
        perCall("hpy_field_load_per_call") { $0.fieldLoads },
        perCall("hpy_global_store_per_call") { $0.globalStores },
        perCall("hpy_global_load_per_call") { $0.globalLoads },
        perCall("hpy_kept_per_call") { $0.referencesKept },
        perCall("hpy_ended_per_call") { $0.referencesEnded },
        Column("hpy_exec_slot_leaks", .measurement, .integer) { $0.outcome.extensionCalls.map { .integer($0.execSlotLeaks) } ?? .blank },
    ]

    static func perCall(_ name: String, _ count: @escaping @Sendable (ExtensionCallCounts) -> Int) -> Column {
        Column(name, .measurement, .number) { record in
            record.outcome.extensionCalls.flatMap { $0.perCall(count($0)) }.map { .number($0, decimals: 6) } ?? .blank
        }
    }

    /// What deferral keeps alive (`Retention`), over the whole run like the counters.
    static let retentionColumns: [Column] = [
        Column("peak_live_objects", .measurement, .integer) { .integer($0.outcome.retention.peakLiveObjects) },
        Column("free_delay_mean_ops", .measurement, .number) { .number($0.outcome.retention.freeDelayMean, decimals: 3) },
        Column("free_delay_max_ops", .measurement, .integer) { .integer($0.outcome.retention.freeDelayMax) },
        Column("reps_stop", .measurement, .text) { .text($0.repetitionStop?.rawValue ?? "") },
        Column("other_load", .measurement, .number) { $0.otherLoad.map { .number($0, decimals: 2) } ?? .blank },
        Column("slice_ns_p10", .measurement, .number) { $0.sliceNanosecondsPerOperation.p10.map { .number($0, decimals: 3) } ?? .blank },
        Column("slice_ns_p90", .measurement, .number) { $0.sliceNanosecondsPerOperation.p90.map { .number($0, decimals: 3) } ?? .blank },
    ]

    /// Each counter covers the whole run (set-up, warm-up, interval and drain), like `run_ops`, so
    /// a counter divided by `run_ops` is per operation.
    static let counterColumns: [Column] = CounterKind.allCases.map { kind in
        Column(kind.rawValue, .counter, .integer) { record in
            record.request.scheme.reportedCounters.contains(kind) ? .integer(record.outcome.counters[kind]) : .blank
        }
    } + [Column("hit_rate", .counter, .number) { $0.hitRate.map { .number($0, decimals: 6) } ?? .blank }]

    static let outcomeColumns: [Column] = [
        Column("violations", .measurement, .integer) { record in record.outcome.contract.map { .integer($0.total) } ?? .blank },
        Column("violation_kinds", .measurement, .text) { record in record.outcome.contract.map { .text($0.countsText) } ?? .blank },
        Column("validation_error", .measurement, .text) { .text($0.problems.joined(separator: "; ")) },
        Column("pin", .parameter, .text) { .text($0.request.pin.description) },
        Column("placement", .parameter, .text) { .text($0.request.placement.description) },
        Column("cpus", .measurement, .text) { .text($0.startCPUs.map(String.init).joined(separator: ";")) },
        Column("cpus_end", .measurement, .text) { .text($0.endCPUs.map(String.init).joined(separator: ";")) },
        Column("cpu_moved", .measurement, .boolean) { .flag($0.startCPUs != $0.endCPUs) },
        Column("python_version", .parameter, .text) { .text($0.request.scheme.pythonVersion ?? "") },
    ]

    static let machineColumns: [Column] = [
        Column("host", .machine, .text) { .text($0.machine.host) },
        Column("cpu_model", .machine, .text) { .text($0.machine.cpuModel) },
        Column("online_cpus", .machine, .integer) { .integer($0.machine.onlineCPUs) },
        Column("numa_nodes", .machine, .integer) { .integer($0.machine.numaNodes) },
        Column("kernel", .machine, .text) { .text($0.machine.kernel) },
        Column("swift_version", .machine, .text) { .text($0.machine.swiftVersion) },
        Column("git_commit", .machine, .text) { .text($0.machine.gitCommit) },
        Column("build_config", .machine, .text) { .text($0.machine.buildConfiguration) },
        Column("timestamp", .measurement, .text) { .text($0.timestamp) },
    ]

    static func kind(of form: OptionForm) -> Column.Kind {
        switch form {
        case .integer: .integer
        case .number: .number
        case .word, .text: .text
        }
    }
}

extension RunRecord {
    /// Every column's text, by name, as the CSV file holds it.
    public var csvValues: [String: String] {
        Dictionary(uniqueKeysWithValues: ColumnCatalogue.all.map { ($0.name, $0.cell(self).text) })
    }
}
