import RefScale

/// A sweep: every scheme × workload variant × scheme-option variant × thread count ×
/// repetition, each one run and one row. Experiment files (`ExperimentFile`) describe one.
public struct Experiment: Sendable {
    public var name: String
    public var schemes: [String]
    public var workloads: [(name: String, options: WorkloadOptions)]
    /// Variants of the scheme options; a scheme runs once per variant of the options it uses.
    public var schemeOptions: [SchemeOptions] = [SchemeOptions()]
    /// Pinning and placement policies; every run is made once per combination.
    public var pins: [Pinning] = [.none]
    public var placements: [Placement] = [.local]
    /// The contexts every run is made under, each in turn.
    public var contexts: [ContextKind] = [.direct]
    public var threads: ThreadCounts
    public var repetitions: Int
    public var duration: Double
    public var warmup: Double
    public var seed: UInt64

    public enum ThreadCounts: Sendable, Equatable {
        case list([Int])
        /// 1, 2, 4, … up to the online CPUs, and the online CPUs themselves.
        case powersOfTwo
        /// 1 and the online CPUs.
        case oneAndAll

        public func resolve(onlineCPUs: Int) -> [Int] {
            switch self {
            case .list(let counts): return counts
            case .oneAndAll: return onlineCPUs > 1 ? [1, onlineCPUs] : [1]
            case .powersOfTwo:
                var counts = Array(sequence(first: 1) { $0 * 2 }.prefix { $0 <= onlineCPUs })
                if counts.last != onlineCPUs { counts.append(onlineCPUs) }
                return counts
            }
        }
    }

    /// The built-in experiment (`Experiments/default.json` says the same): every scheme ×
    /// private and shared-hot × 1 thread and every online CPU, 3 repetitions of 0.5 s after 0.1 s
    /// of warm-up.
    public static let builtIn = Experiment(
        name: "default",
        schemes: Registry.schemes.map(\.name),
        workloads: ["private", "shared-hot"].map { ($0, WorkloadOptions()) },
        threads: .oneAndAll,
        repetitions: 3,
        duration: 0.5,
        warmup: 0.1,
        seed: 1
    )

    /// The runs, in order, and the combinations left out: a thread-unsafe scheme on objects
    /// threads share, or a thread count the workload cannot use, is skipped, not run and
    /// reported invalid.
    public func requests(onlineCPUs: Int = MachineInfo.current.onlineCPUs) throws -> (runs: [RunRequest], skipped: [String]) {
        var requests: [RunRequest] = []
        var skipped: [String] = []
        for workload in workloads {
            let workloadEntry = try Registry.workload(named: workload.name)
            for schemeName in schemes {
                let scheme = try Registry.scheme(named: schemeName)
                for options in variants(of: scheme) {
                    for context in contexts {
                        for (threadCount, pin, placement) in placedThreadCounts(onlineCPUs: onlineCPUs) {
                            var request = RunRequest(
                                scheme: scheme, workload: workloadEntry, workloadOptions: workload.options,
                                schemeOptions: options, threads: threadCount, duration: duration, warmup: warmup, seed: seed,
                                pin: pin, placement: placement, context: context)
                            do {
                                try request.validate()
                            } catch let error as UsageError where error.skippable {
                                if context == contexts[0] {
                                    skipped.append("\(scheme.name) on \(workloadEntry.name) with \(threadCount) thread(s): \(error.description)")
                                }
                                continue
                            }
                            for repetition in 1...repetitions {
                                request.repetition = repetition
                                requests.append(request)
                            }
                        }
                    }
                }
            }
        }
        return (requests, skipped)
    }

    /// Every thread count with every pinning and placement policy, in that order.
    func placedThreadCounts(onlineCPUs: Int) -> [(threads: Int, pin: Pinning, placement: Placement)] {
        threads.resolve(onlineCPUs: onlineCPUs).flatMap { count in
            pins.flatMap { pin in placements.map { (count, pin, $0) } }
        }
    }

    /// The scheme-option variants that differ in an option the scheme uses.
    func variants(of scheme: SchemeEntry) -> [SchemeOptions] {
        var seen: [String] = []
        return schemeOptions.filter { options in
            let key = options.key(for: scheme.usedOptions)
            if seen.contains(key) { return false }
            seen.append(key)
            return true
        }
    }
}

/// Medians over repetitions, one line per workload × scheme × context × thread count × variant
/// (the options that differ between the rows, named in the `variant` column).
public enum Summary {
    public static func lines(_ rows: [Row]) -> [String] {
        // Per workload, the parameter columns that take more than one value.
        var varying: [String: [String]] = [:]
        for workload in Set(rows.map { $0["workload"] }) {
            let same = rows.filter { $0["workload"] == workload }
            varying[workload] = Row.parameterColumns.filter { column in
                Set(same.map { $0[column] }.filter { !$0.isEmpty }).count > 1
            }
        }
        func variant(_ row: Row) -> String {
            varying[row["workload"]]!.filter { !row[$0].isEmpty }.map { "\($0)=\(row[$0])" }.joined(separator: " ")
        }
        let variantWidth = rows.map { variant($0).count }.max() ?? 0
        var groups: [String: [Row]] = [:]
        var order: [String] = []
        for row in rows {
            let key = [row["workload"], row["scheme"], row["context"], variant(row), row["threads"]].joined(separator: "|")
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(row)
        }
        let variantColumn: [TablePrinter.Column] = variantWidth == 0 ? [] : [.init(title: "variant", width: variantWidth) { variant($0) }]
        let printer = TablePrinter(columns: [
            .init(title: "workload", width: 10) { $0["workload"] },
            .init(title: "scheme", width: 12) { $0["scheme"] },
        ] + variantColumn + [
            .init(title: "context", width: 9) { $0["context"] },
            .init(title: "threads", width: 7) { $0["threads"] + ($0["oversubscribed"] == "true" ? "*" : "") },
            .init(title: "median Mops/s", width: 13) { $0["ops_per_s"] },
            .init(title: "median ns/op", width: 12) { $0["ns_per_op"] },
            .init(title: "valid", width: 5) { $0["valid"] },
        ])
        var lines = [printer.line(printer.columns.map(\.title))]
        for key in order {
            let group = groups[key]!
            let valid = group.filter(\.isValid)
            var values = group[0].values
            values["ops_per_s"] = median(valid.compactMap { Double($0["ops_per_s"]) }).map { format($0 / 1e6, digits: 2) } ?? "-"
            values["ns_per_op"] = median(valid.compactMap { Double($0["ns_per_op"]) }).map { format($0, digits: 3) } ?? "-"
            values["valid"] = "\(valid.count)/\(group.count)"
            lines.append(printer.line(printer.columns.map { $0.value(Row(values: values)) }))
        }
        return lines
    }

    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
