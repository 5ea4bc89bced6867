import ArgumentParser
import Foundation
import RefScale
import RefScaleHarness

/// Options shared by `run` and the commands that take a workload and a scheme.
struct RunOptions: ParsableArguments {
    @Option(help: "Scheme (see `refscale list`).") var scheme: String
    @Option(help: "Workload (see `refscale list`).") var workload: String
    @Option(help: "Thread counts, comma-separated.") var threads = "1"
    @Option(help: "Measured interval of each run, seconds.") var duration = 0.5
    @Option(help: "Warm-up before the interval, seconds (discarded).") var warmup = 0.1
    @Option(help: "Repetitions (separate runs, one row each).") var reps = 3
    @Option(help: "Seed of the operation streams.") var seed: UInt64 = 1
    @Option(help: "Objects per thread (private: 1), in total (shared-hot: 4), reached by each thread (mixed: 1000).")
    var objects: Int?
    @Option(help: "Duplicates of a handle held at once before they are closed (default 1).") var dupDepth: Int?
    @Option(help: "Share of operations that read the payload, in [0, 1] (default 0).") var readFraction: Double?
    @Option(help: "Share of objects that are immortal, in [0, 1] (default 0).") var immortalFraction: Double?
    @Option(help: "mixed: share of objects every thread reaches (default 0.1).") var sharedFraction: Double?
    @Option(help: "mixed: popularity skew, Zipf's s >= 0 (default 0, uniform).") var zipf: Double?
    @Option(help: "call: borrowed argument handles (default 2).") var args: Int?
    @Option(help: "call: temporaries made per call (default 2).") var temps: Int?
    @Option(help: "call: temporaries stored into fields per call (default 1).") var stores: Int?
    @Option(help: "call: nested calls (default 1).") var callDepth: Int?
    @Option(help: "handoff: producer threads per group (default 1).") var producers: Int?
    @Option(help: "handoff: consumer threads per group (default 1).") var consumers: Int?
    @Option(help: "churn: share of objects dropped by another thread (default 0.5).") var remoteFree: Double?
    @Option(help: "What the shared objects are: data (lists, dicts, instances; default) or type (types, functions, modules, code).")
    var sharedKind: String?
    @Option(help: "Object alignment in bytes: a power of two, at least 8 (default 16, as CPython's allocator; 128 isolates each object on its own lines).") var objectAlign = 16
    @Option(help: "handle-local: index bits (low3, low4 or high16; default low3).") var handleIndex: String?
    @Option(help: "handle-local: release policy (lazy or eager; default lazy).") var release: String?
    @Option(help: "gil: seconds a thread holds the global lock before letting others take it (> 0; default 0.005).")
    var gilSlice: Double?
    @Option(help: "perthread: objects given a unique id (shared, all or none; default shared).") var uniqueIds: String?
    @Option(help: "perthread: net allocations that schedule a collection, which merges the per-thread counts with the world stopped (CPython's threshold, default 2000; 0: at the run's end only).")
    var gcThreshold: Int?
    @Option(help: "Where workers run: none, compact (worker i on the i-th CPU) or scatter (round-robin over NUMA nodes).")
    var pin = "none"
    @Option(help: "Where objects live: local (first touch by the thread that makes them), node<N> (all on node N) or interleave.")
    var placement = "local"
    @Option(help: "How the kernel reaches the scheme: direct, universal (a function table) or debug (checked).")
    var context = "direct"
    @Option(help: "debug: closed handles whose records wait before reuse, so a use after close is caught (default 1024).")
    var closedQueue: Int?
    @Option(help: "debug: what a violation does: abort (print the report and stop) or collect (count it; default abort).")
    var onViolation: String?
    @Flag(help: "debug: add the symbolised stack to each printed report.") var backtraces = false
    @Option(help: "Append one CSV row per run to this file.") var csv: String?

    /// The debug context's options from the command line.
    func debugOptions() throws -> DebugOptions {
        var options = DebugOptions()
        if let closedQueue { options.closedQueue = closedQueue }
        if let onViolation {
            guard let policy = ViolationPolicy(rawValue: onViolation) else {
                throw UsageError("--on-violation must be abort or collect, got '\(onViolation)'")
            }
            options.onViolation = policy
        }
        options.backtraces = backtraces
        do {
            try options.validate()
        } catch let error as ConfigurationError {
            throw UsageError(error.description)
        }
        return options
    }

    func requests() throws -> [RunRequest] {
        let threadCounts = try threads.split(separator: ",", omittingEmptySubsequences: false).map { field in
            guard let count = Int(field.filter { !$0.isWhitespace }), count >= 1 else {
                throw UsageError("--threads takes positive integers separated by commas, got '\(threads)'")
            }
            return count
        }
        guard reps >= 1 else { throw UsageError("--reps must be at least 1, got \(reps)") }
        let pinning = try Pinning(name: pin)
        let placing = try Placement(name: placement)
        let schemeEntry: SchemeEntry
        let workloadEntry: WorkloadEntry
        let contextKind: ContextKind
        do {
            schemeEntry = try Registry.scheme(named: scheme)
            workloadEntry = try Registry.workload(named: workload)
            contextKind = try ContextKind.named(context)
        } catch let error as ConfigurationError {
            throw UsageError(error.description)
        }
        var schemeOptions = SchemeOptions()
        schemeOptions.objectAlignment = objectAlign
        let givenSchemeOptions: [(SchemeOptionName, String?)] = [
            (.handleIndex, handleIndex), (.release, release), (.gilSlice, gilSlice.map { String($0) }),
            (.uniqueIDs, uniqueIds), (.gcThreshold, gcThreshold.map { String($0) }),
        ]
        for case let (option, value?) in givenSchemeOptions {
            do {
                try schemeOptions.set(option, to: value)
            } catch let error as ConfigurationError {
                throw UsageError("--\(option.flag) \(error.problem)")
            }
            if !schemeEntry.usedOptions.contains(option) {
                note("scheme \(schemeEntry.name) does not use --\(option.flag); ignored")
            }
        }
        schemeOptions.debug = try debugOptions()
        if contextKind != .debug && (closedQueue != nil || onViolation != nil || backtraces) {
            note("--closed-queue, --on-violation and --backtraces apply to --context debug only; ignored")
        }
        var workloadOptions = WorkloadOptions()
        let givenWorkloadOptions: [(WorkloadOptionName, Double?)] = [
            (.objects, objects.map(Double.init)), (.dupDepth, dupDepth.map(Double.init)), (.readFraction, readFraction),
            (.immortalFraction, immortalFraction), (.sharedFraction, sharedFraction), (.zipf, zipf),
            (.args, args.map(Double.init)), (.temps, temps.map(Double.init)), (.stores, stores.map(Double.init)),
            (.callDepth, callDepth.map(Double.init)), (.producers, producers.map(Double.init)),
            (.consumers, consumers.map(Double.init)), (.remoteFree, remoteFree),
        ]
        let givenTextOptions: [(WorkloadOptionName, String?)] = [(.sharedKind, sharedKind)]
        for case let (option, value?) in givenWorkloadOptions.map({ ($0.0, $0.1.map { String($0) }) }) + givenTextOptions {
            do {
                try workloadOptions.set(option, text: value)
            } catch let error as ConfigurationError {
                throw UsageError(error.description)
            }
            if !workloadEntry.usedOptions.contains(option) {
                note("workload \(workloadEntry.name) does not use \(option.flag); ignored")
            }
        }

        var requests: [RunRequest] = []
        for threadCount in threadCounts {
            for repetition in 1...reps {
                let request = RunRequest(
                    scheme: schemeEntry, workload: workloadEntry, workloadOptions: workloadOptions,
                    schemeOptions: schemeOptions, threads: threadCount, duration: duration, warmup: warmup,
                    seed: seed, repetition: repetition, pin: pinning, placement: placing, context: contextKind)
                try request.validate()
                requests.append(request)
            }
        }
        if let message = Pinning.numaNote(pin: [pinning], placement: [placing]) { note(message) }
        return requests
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs one scheme on one workload at each thread count; prints a table, appends CSV rows.")

    @OptionGroup var options: RunOptions

    func run() throws {
        let requests = try options.requests()
        let writer = try options.csv.map { try CSVWriter(path: $0) }
        let rows = try perform(requests, writer: writer)
        try requireValid(rows)
    }
}

/// Runs each request, printing its row and appending it to the CSV file as it ends.
func perform(_ requests: [RunRequest], writer: CSVWriter?, progress: SweepProgress? = nil) throws -> [Row] {
    let table = TablePrinter()
    table.printHeader()
    var rows: [Row] = []
    for (index, request) in requests.enumerated() {
        progress?.update(done: index)
        let row = try Runner.run(request)
        progress?.clear()
        table.print(row)
        try writer?.append(row)
        rows.append(row)
    }
    return rows
}

/// A remark on stderr that does not stop the command.
func note(_ message: String) {
    FileHandle.standardError.write(Data("refscale: note: \(message)\n".utf8))
}

extension SchemeOptionName {
    /// The command-line spelling.
    var flag: String { rawValue.replacingOccurrences(of: "_", with: "-") }
}

func requireValid(_ rows: [Row]) throws {
    let invalid = rows.filter { !$0.isValid }
    guard invalid.isEmpty else {
        throw HarnessError("\(invalid.count) of \(rows.count) runs failed validation (valid=false): \(invalid[0]["scheme"]) on \(invalid[0]["workload"]): \(invalid[0]["validation_error"])")
    }
}
