import ArgumentParser
import Foundation
import RefScale
import RefScaleHarness

/// `refscale trace attribute FILE --scheme S [--threads N]`: which objects of a trace cost most
/// under a scheme, and, with `--what-if`, what changing them buys.
///
/// Without `--what-if`: one replay under the `attribute` context, every operation's atomics,
/// CAS retries, queue pushes, table misses and lock handoffs charged to its object; prints the
/// objects with the most shared-memory writes (atomic read-modify-writes and lock handoffs),
/// with their type and share of the total.
///
/// With `--what-if`: `--reps` pairs of replays under the `direct` context, unchanged then
/// changed, and the median throughput of each with its interval, and the median of the pairs'
/// ratios with its interval (`Statistics.medianInterval`: order statistics, the sign-test interval).
struct TraceAttributeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attribute",
        abstract: "Which objects of a trace cost most under a scheme; with --what-if, what changing them buys.")

    @Argument(help: "A trace file (refscale trace record).") var file: String
    @Option(help: "Scheme (see `refscale list`).") var scheme: String
    @Option(parsing: .unconditional, help: "Workers: at most the traced threads, or a multiple of them.") var threads = 2
    @Option(parsing: .unconditional, help: "Measured interval of each replay, seconds.") var duration = 0.5
    @Option(parsing: .unconditional, help: "Warm-up before the interval, seconds (discarded).") var warmup = 0.1
    @Option(help: "Objects to list.") var top = 15
    @Option(help: .declared("trace_sites")) var traceSites: String?
    @Option(help: .declared("what_if")) var whatIf: String?
    @Option(parsing: .unconditional, help: "With --what-if: pairs of replays (unchanged, changed).") var reps = 5
    @Option(help: "Without --what-if: also write the listed objects, the rest and what no object was charged to this CSV file (replaced whole).")
    var csv: String?

    func run() throws {
        guard top >= 1 else { throw UsageError("--top must be at least 1, got \(top)") }
        guard reps >= 1 else { throw UsageError("--reps must be at least 1, got \(reps)") }
        if let csv {
            guard whatIf == nil else { throw UsageError("--csv writes the attribution, which --what-if does not make") }
            let directory = URL(fileURLWithPath: csv).deletingLastPathComponent().path
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw UsageError("--csv \(csv): directory \(directory) does not exist")
            }
        }
        let unchanged = try request(whatIf: "none", context: whatIf == nil ? .attribute : .direct)
        let workload = try made(unchanged)
        guard let whatIf else {
            try attribute(unchanged, workload: workload)
            return
        }
        let changed = try request(whatIf: whatIf, context: .direct)
        try compare(unchanged, changed, changedWorkload: try made(changed))
    }

    func request(whatIf: String, context: ContextKind) throws -> RunRequest {
        var options = OptionValues()
        let declarations = Dictionary(uniqueKeysWithValues: TraceWorkload.declaredOptions.map { ($0.name, $0) })
        do {
            options.set(TraceWorkload.trace.name, to: try declarations[TraceWorkload.trace.name]!.parse(file))
            options.set(TraceWorkload.whatIf.name, to: try declarations[TraceWorkload.whatIf.name]!.parse(whatIf))
            if let traceSites {
                options.set(TraceWorkload.traceSites.name, to: try declarations[TraceWorkload.traceSites.name]!.parse(traceSites))
            }
        } catch let error as ConfigurationError {
            throw UsageError(error.description)
        }
        let schemeEntry: SchemeEntry
        do {
            schemeEntry = try Registry.scheme(named: scheme)
        } catch let error as ConfigurationError {
            throw UsageError(error.description)
        }
        let request = RunRequest(
            scheme: schemeEntry, workload: try Registry.workload(named: TraceWorkload.name), workloadOptions: options,
            threads: threads, duration: duration, warmup: warmup, context: context)
        try request.validate()
        return request
    }

    func made(_ request: RunRequest) throws -> TraceWorkload {
        do {
            return try TraceWorkload(options: request.workloadOptions)
        } catch let error as ConfigurationError {
            throw UsageError(error.description)
        }
    }

    func attribute(_ request: RunRequest, workload: TraceWorkload) throws {
        let record = try Runner.run(request)
        try Perform.requireValid([record])
        guard let attribution = record.outcome.attribution else { throw HarnessError("the replay kept no attribution") }
        let trace = workload.replay.trace
        let objectOfPool = workload.traceObjects(threads: request.threads)
        var costs = [ObjectCost](repeating: ObjectCost(), count: trace.objects.count)
        // Transient objects (born and freed by one thread) live in the workers' regions, beyond
        // the pool's fixed objects: one sum.
        var transient = ObjectCost()
        for (index, cost) in attribution.byPoolIndex.enumerated() {
            if index < objectOfPool.count && objectOfPool[index] >= 0 { costs[objectOfPool[index]] += cost } else { transient += cost }
        }
        let total = costs.reduce(into: attribution.unattributed) { $0 += $1 } + transient
        print("\(file): \(trace.eventCount) events in \(trace.threads.count) traced threads, \(trace.objects.count) objects; \(scheme), \(request.threads) workers")
        let balancing = workload.balancing(threads: request.threads)
        print("a pass of every worker: \(balancing.events) events, \(balancing.operations) balancing operations (\(share(balancing.operations, of: balancing.events)) of the events) to return every object to its start")
        print("cost: shared-memory writes (atomic read-modify-writes, each CAS attempt one, and lock handoffs), \(total.sharedWrites) in all")
        let ranked = costs.indices.filter { costs[$0].operations > 0 }
            .sorted { (costs[$0].sharedWrites, costs[$0].operations, $1) > (costs[$1].sharedWrites, costs[$1].operations, $0) }
        let table = TablePrinter<Int>(columns: [
            .init(title: "object", width: 7) { String($0) },
            .init(title: "type", width: 22, alignment: .left) { trace.types[trace.objects[$0].typeIndex] },
            .init(title: "threads", width: 7) { String(workload.replay.threadCount[$0]) },
            .init(title: "ops", width: 10) { String(costs[$0].operations) },
            .init(title: "atomic_rmw", width: 10) { String(costs[$0].atomicRMW) },
            .init(title: "cas_retries", width: 11) { String(costs[$0].casRetries) },
            .init(title: "queued", width: 8) { String(costs[$0].queued) },
            .init(title: "misses", width: 8) { String(costs[$0].tableMisses) },
            .init(title: "lock_handoffs", width: 13) { String(costs[$0].lockHandoffs) },
            .init(title: "share", width: 7) { share(costs[$0].sharedWrites, of: total.sharedWrites) },
        ])
        table.printHeader()
        ranked.prefix(top).forEach { table.print($0) }
        let rest = ranked.dropFirst(top).reduce(into: ObjectCost()) { $0 += costs[$1] }
        print("the other \(max(0, ranked.count - top)) objects: \(rest.sharedWrites) (\(share(rest.sharedWrites, of: total.sharedWrites)))")
        print("objects born and freed by one thread, together: \(transient.sharedWrites) (\(share(transient.sharedWrites, of: total.sharedWrites)))")
        print("no one object (safe points, scope exits, merges, table flushes): \(attribution.unattributed.sharedWrites) (\(share(attribution.unattributed.sharedWrites, of: total.sharedWrites)))")
        print("to change the top objects: --what-if immortal:top5, immortal:types, deferred:types, or their numbers")
        guard let csv else { return }
        let header = ["trace", "scheme", "threads", "rank", "object", "type", "traced_threads", "ops", "atomic_rmw", "cas_retries",
                      "queued", "misses", "lock_handoffs", "shared_writes", "share"]
        func row(_ rank: String, _ object: String, _ type: String, _ tracedThreads: String, _ cost: ObjectCost) -> [String] {
            [file, scheme, String(request.threads), rank, object, type, tracedThreads, String(cost.operations), String(cost.atomicRMW),
             String(cost.casRetries), String(cost.queued), String(cost.tableMisses), String(cost.lockHandoffs), String(cost.sharedWrites),
             total.sharedWrites > 0 ? String(Double(cost.sharedWrites) / Double(total.sharedWrites)) : ""]
        }
        var rows = [header]
        for (rank, object) in ranked.prefix(top).enumerated() {
            rows.append(row(String(rank + 1), String(object), trace.types[trace.objects[object].typeIndex],
                            String(workload.replay.threadCount[object]), costs[object]))
        }
        rows.append(row("", "other", "", "", rest))
        rows.append(row("", "transient", "", "1", transient))
        rows.append(row("", "none", "", "", attribution.unattributed))
        try writeWhole(rows.map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\n") + "\n", to: csv)
    }

    func csvField(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Writes beside the file, then renames: the file is either whole or as it was.
    func writeWhole(_ text: String, to path: String) throws {
        let temporary = path + ".partial-\(getpid())"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw HarnessError("\(path): cannot write: \(String(cString: strerror(errno)))") }
        } catch {
            unlink(temporary)
            throw error as? HarnessError ?? HarnessError("\(path): cannot write: \(error.localizedDescription)")
        }
    }

    func compare(_ unchanged: RunRequest, _ changed: RunRequest, changedWorkload: TraceWorkload) throws {
        let trace = changedWorkload.replay.trace
        let chosen = changedWorkload.replay.change.chosen
        let named = chosen.prefix(10).map { "\($0) (\(trace.types[trace.objects[$0].typeIndex]))" }.joined(separator: ", ")
        print("\(file): \(whatIf!) changes \(chosen.count) object(s): \(named)\(chosen.count > 10 ? ", ..." : "")")
        var before: [Double] = [], after: [Double] = [], ratios: [Double] = []
        for repetition in 1 ... reps {
            var first = unchanged, second = changed
            first.repetition = repetition
            second.repetition = repetition
            let records = [try Runner.run(first), try Runner.run(second)]
            try Perform.requireValid(records)
            guard records.allSatisfy({ $0.measuredOperations > 0 }) else {
                throw HarnessError("a replay finished no pass within its interval; give a longer --duration")
            }
            before.append(records[0].operationsPerSecond)
            after.append(records[1].operationsPerSecond)
            ratios.append(records[1].operationsPerSecond / records[0].operationsPerSecond)
        }
        let median = { (values: [Double]) in Statistics.median(values)! }
        let interval = { (values: [Double]) in Statistics.medianInterval(values)! }
        let (b, a, r) = (interval(before), interval(after), interval(ratios))
        print("\(scheme), \(unchanged.threads) workers, \(reps) pairs; medians with order-statistic intervals (\(percent(r.coverage)) coverage)")
        print("  unchanged  \(millions(median(before))) M ops/s  [\(millions(b.lower)), \(millions(b.upper))]")
        print("  changed    \(millions(median(after))) M ops/s  [\(millions(a.lower)), \(millions(a.upper))]")
        print("  changed / unchanged: \(fixed2(median(ratios)))x  [\(fixed2(r.lower)), \(fixed2(r.upper))]")
    }

    func share(_ part: Int, of total: Int) -> String { total > 0 ? percent(Double(part) / Double(total)) : "-" }
    func percent(_ value: Double) -> String { String(format: "%.1f%%", 100 * value) }
    func millions(_ value: Double) -> String { String(format: "%.2f", value / 1e6) }
    func fixed2(_ value: Double) -> String { String(format: "%.2f", value) }
}
