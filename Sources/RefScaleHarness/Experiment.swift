import RefScale

/// A sweep: every scheme × workload × thread count × repetition, each one run and one row.
public struct Experiment: Sendable {
    public var name: String
    public var schemes: [String]
    public var workloads: [(name: String, options: WorkloadOptions)]
    public var threads: [Int]
    public var repetitions: Int
    public var duration: Double
    public var warmup: Double
    public var seed: UInt64

    /// The built-in experiment: every scheme × both workloads × 1 thread and every online CPU,
    /// 3 repetitions of 0.5 s after 0.1 s of warm-up.
    public static func builtIn(onlineCPUs: Int = MachineInfo.current.onlineCPUs) -> Experiment {
        Experiment(
            name: "default",
            schemes: Registry.schemes.map(\.name),
            workloads: Registry.workloads.map { ($0.name, WorkloadOptions()) },
            threads: onlineCPUs > 1 ? [1, onlineCPUs] : [1],
            repetitions: 3,
            duration: 0.5,
            warmup: 0.1,
            seed: 1
        )
    }

    /// The runs, in order. Combinations a scheme cannot run correctly (a thread-unsafe scheme on
    /// objects that threads share) are left out, not run and reported invalid.
    public func requests() throws -> [RunRequest] {
        var requests: [RunRequest] = []
        for workload in workloads {
            let workloadEntry = try Registry.workload(named: workload.name)
            for schemeName in schemes {
                let scheme = try Registry.scheme(named: schemeName)
                for threadCount in threads {
                    if !scheme.isThreadSafe && workloadEntry.sharesObjects && threadCount > 1 { continue }
                    for repetition in 1...repetitions {
                        let request = RunRequest(
                            scheme: scheme, workload: workloadEntry, workloadOptions: workload.options,
                            threads: threadCount, duration: duration, warmup: warmup, seed: seed, repetition: repetition)
                        try request.validate()
                        requests.append(request)
                    }
                }
            }
        }
        return requests
    }
}

/// Medians over repetitions, one line per scheme × workload × thread count.
public enum Summary {
    public static func lines(_ rows: [Row]) -> [String] {
        var groups: [String: [Row]] = [:]
        var order: [String] = []
        for row in rows {
            let key = [row["workload"], row["scheme"], row["threads"]].joined(separator: "|")
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(row)
        }
        let printer = TablePrinter(columns: [
            .init(title: "workload", width: 10) { $0["workload"] },
            .init(title: "scheme", width: 12) { $0["scheme"] },
            .init(title: "threads", width: 7) { $0["threads"] + ($0["oversubscribed"] == "true" ? "*" : "") },
            .init(title: "median Mops/s", width: 13) { $0["ops_per_s"] },
            .init(title: "median ns/op", width: 12) { $0["ns_per_op"] },
            .init(title: "valid", width: 5) { $0["valid"] },
        ])
        var lines = [printer.line(printer.columns.map(\.title))]
        for key in order.sorted() {
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
