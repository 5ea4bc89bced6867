import ArgumentParser
import Foundation
import RefScale
import RefScaleHarness

/// Options shared by `run` and the commands that take a workload and a scheme.
struct RunOptions: ParsableArguments {
    @Option(help: "Scheme (see `refscale list`).") var scheme: String
    @Option(help: "Workload (see `refscale list`).") var workload: String
    @Option(parsing: .unconditional, help: "Thread counts, comma-separated.") var threads = "1"
    @Option(parsing: .unconditional, help: "Measured interval of each run, seconds.") var duration = 0.5
    @Option(parsing: .unconditional, help: "Warm-up before the interval, seconds (discarded).") var warmup = 0.1
    @Option(parsing: .unconditional, help: "Repetitions (separate runs, one row each).") var reps = 3
    @Option(help: "Seed of the operation streams.") var seed: UInt64 = 1
    @Option(help: "Object alignment in bytes: a power of two, at least 8.") var objectAlign = 128
    // The options schemes and workloads declare, one line each; their help and checks are their
    // owners' (`Registry.help(forOption:)`). `declaredOptionValues` finds them by name.
    @Option(parsing: .unconditional, help: .declared("objects")) var objects: String?
    @Option(parsing: .unconditional, help: .declared("dup_depth")) var dupDepth: String?
    @Option(parsing: .unconditional, help: .declared("read_fraction")) var readFraction: String?
    @Option(parsing: .unconditional, help: .declared("immortal_fraction")) var immortalFraction: String?
    @Option(parsing: .unconditional, help: .declared("shared_fraction")) var sharedFraction: String?
    @Option(parsing: .unconditional, help: .declared("zipf")) var zipf: String?
    @Option(parsing: .unconditional, help: .declared("args")) var args: String?
    @Option(parsing: .unconditional, help: .declared("temps")) var temps: String?
    @Option(parsing: .unconditional, help: .declared("stores")) var stores: String?
    @Option(parsing: .unconditional, help: .declared("call_depth")) var callDepth: String?
    @Option(parsing: .unconditional, help: .declared("producers")) var producers: String?
    @Option(parsing: .unconditional, help: .declared("consumers")) var consumers: String?
    @Option(parsing: .unconditional, help: .declared("remote_free")) var remoteFree: String?
    @Option(parsing: .unconditional, help: .declared("trace")) var trace: String?
    @Option(parsing: .unconditional, help: .declared("trace_sites")) var traceSites: String?
    @Option(parsing: .unconditional, help: .declared("what_if")) var whatIf: String?
    @Option(parsing: .unconditional, help: .declared("handle_index")) var handleIndex: String?
    @Option(parsing: .unconditional, help: .declared("release")) var release: String?
    @Option(parsing: .unconditional, help: .declared("gil_slice")) var gilSlice: String?
    @Option(parsing: .unconditional, help: .declared("unique_ids")) var uniqueIds: String?
    @Option(parsing: .unconditional, help: .declared("merge_interval")) var mergeInterval: String?
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
        let given = try declaredOptionValues()
        var schemeOptions = SchemeOptions()
        schemeOptions.objectAlignment = objectAlign
        schemeOptions.values = try values(given, declaredBy: schemeEntry.declaredOptions, all: Registry.schemeOptions,
                                          owner: "scheme \(schemeEntry.name)")
        schemeOptions.debug = try debugOptions()
        if contextKind != .debug && (closedQueue != nil || onViolation != nil || backtraces) {
            note("--closed-queue, --on-violation and --backtraces apply to --context debug only; ignored")
        }
        let workloadOptions = try values(given, declaredBy: workloadEntry.declaredOptions, all: Registry.workloadOptions,
                                         owner: "workload \(workloadEntry.name)")

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

    /// The text of every declared option given on the command line, by option name: each
    /// `String?` option property whose name, in snake case, an owner declares.
    func declaredOptionValues() throws -> [String: String] {
        let declared = Set((Registry.schemeOptions + Registry.workloadOptions).map(\.name))
        var given: [String: String] = [:]
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, let option = child.value as? Option<String?> else { continue }
            let name = snakeCase(String(label.drop(while: { $0 == "_" })))
            guard declared.contains(name) else { continue }
            if let text = option.wrappedValue { given[name] = text }
        }
        return given
    }

    /// The values of the options one owner declares, checked by its declarations; a value given
    /// for an option only others declare is checked by theirs and noted as ignored.
    func values(_ given: [String: String], declaredBy declarations: [OptionDeclaration], all: [OptionDeclaration], owner: String)
        throws -> OptionValues
    {
        var values = OptionValues()
        for declaration in all {
            guard let text = given[declaration.name] else { continue }
            let own = declarations.first { $0.name == declaration.name }
            do {
                let value = try (own ?? declaration).parse(text)
                if own != nil { values.set(declaration.name, to: value) }
            } catch let error as ConfigurationError {
                throw UsageError(error.description)
            }
            if own == nil { note("\(owner) does not use \(declaration.flag); ignored") }
        }
        return values
    }
}

/// `callDepth` → `call_depth`.
func snakeCase(_ name: String) -> String {
    var result = ""
    for character in name {
        if character.isUppercase {
            result += "_" + character.lowercased()
        } else {
            result.append(character)
        }
    }
    return result
}

extension ArgumentHelp {
    /// The help of a declared option, from its owners' declarations.
    static func declared(_ name: String) -> ArgumentHelp { ArgumentHelp(Registry.help(forOption: name)) }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs one scheme on one workload at each thread count; prints a table, appends CSV rows.")

    @OptionGroup var options: RunOptions

    func run() throws {
        let requests = try options.requests()
        let writer = try options.csv.map { try CSVWriter(path: $0) }
        let records = try Perform.runs(requests, writer: writer)
        try Perform.requireValid(records)
    }
}

/// A remark on stderr that does not stop the command.
func note(_ message: String) {
    FileHandle.standardError.write(Data("refscale: note: \(message)\n".utf8))
}
