import ArgumentParser
import Foundation
import RefScale
import RefScaleHarness

/// Options shared by `run` and the commands that take a workload and a scheme.
struct RunOptions: ParsableArguments {
    @Option(help: "Scheme (see `refscale list`).") var scheme: String
    @Option(help: "Workload (see `refscale list`).") var workload: String
    @Option(parsing: .unconditional, help: "Thread counts, comma-separated, each once; at most 16 per online CPU.") var threads = "1"
    @Option(parsing: .unconditional, help: "Measured interval of each run, seconds (more than 0, at most a day).") var duration = 0.5
    @Option(parsing: .unconditional, help: "Warm-up before the interval, seconds (discarded; at most a day).") var warmup = 0.1
    @Option(parsing: .unconditionalSingleValue, help: "Repetitions (separate runs, one row each), at most 10000; default 3. Or auto: until the median's 95% interval is within --ci-target, at most 30.")
    var reps: [String] = []
    @Option(parsing: .unconditional, help: "--reps auto: the interval's half-width to reach, a fraction of the median above 0 and below 1; default 0.02.")
    var ciTarget: Double?
    @Option(parsing: .unconditional, help: "Seed of the operation streams.") var seed: UInt64 = 1
    @Option(parsing: .unconditional, help: "Object alignment in bytes: a power of two, at least 8 (16: as CPython's allocator places small objects; 128: each object on lines of its own).") var objectAlign = 16
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
    @Option(parsing: .unconditional, help: .declared("module")) var module: String?
    @Option(parsing: .unconditional, help: .declared("function")) var function: String?
    @Option(parsing: .unconditional, help: .declared("hpy_args")) var hpyArgs: String?
    @Option(parsing: .unconditional, help: .declared("calls")) var calls: String?
    @Option(parsing: .unconditional, help: .declared("handle_index")) var handleIndex: String?
    @Option(parsing: .unconditional, help: .declared("release")) var release: String?
    @Option(parsing: .unconditional, help: .declared("gil_slice")) var gilSlice: String?
    @Option(parsing: .unconditional, help: .declared("unique_ids")) var uniqueIds: String?
    @Option(parsing: .unconditional, help: .declared("gc_threshold")) var gcThreshold: String?
    @Option(parsing: .unconditional, help: .declared("weakref_share")) var weakrefShare: String?
    @Option(parsing: .unconditional, help: .declared("shared_kind")) var sharedKind: String?
    @Option(parsing: .unconditional, help: .declared("int_fraction")) var intFraction: String?
    @Option(parsing: .unconditional, help: .declared("float_fraction")) var floatFraction: String?
    @Option(parsing: .unconditional, help: .declared("value_range")) var valueRange: String?
    @Option(parsing: .unconditional, help: .declared("tag_bits")) var tagBits: String?
    @Option(parsing: .unconditional, help: .declared("nan_boxing")) var nanBoxing: String?
    @Option(parsing: .unconditional, help: .declared("runtime")) var runtime: String?
    @Option(parsing: .unconditional, help: .declared("free_list")) var freeList: String?
    @Option(help: "Where workers run: none, compact (worker i on the i-th CPU) or scatter (round-robin over NUMA nodes).")
    var pin = "none"
    @Option(help: "Where objects live: local (first touch by the thread that makes them), node<N> (all on node N) or interleave.")
    var placement = "local"
    @Option(help: "How the kernel reaches the scheme: direct, universal (a function table), debug (checked) or trace (counted and timed).")
    var context = "direct"
    @Option(parsing: .unconditional, help: "debug: closed handles whose records wait before reuse, so a use after close is caught (default 1024).")
    var closedQueue: Int?
    @Option(help: "debug: what a violation does: abort (print the report and stop) or collect (count it; default abort).")
    var onViolation: String?
    @Flag(help: "debug: add the symbolised stack to each printed report.") var backtraces = false
    @Option(help: "Append one CSV row per run to this file, made when missing; a file whose header is not refscale's is refused.")
    var csv: String?
    @Option(help: "trace: time each traced call (on) or only count it (off; default on).")
    var traceTiming: String?
    @Option(help: "trace: write the calls and time per function to this file, one row per run and function.")
    var traceCsv: String?

    /// The words given, for `RunArguments` to check and turn into requests.
    func arguments() throws -> RunArguments {
        var arguments = RunArguments(scheme: scheme, workload: workload)
        arguments.threads = threads
        arguments.duration = duration
        arguments.warmup = warmup
        arguments.repetitions = try repetitionPlan().plan.initialCount
        arguments.seed = seed
        arguments.objectAlign = objectAlign
        arguments.declared = try declaredOptionValues()
        arguments.pin = pin
        arguments.placement = placement
        arguments.context = context
        arguments.closedQueue = closedQueue
        arguments.onViolation = onViolation
        arguments.backtraces = backtraces
        return arguments
    }

    /// `--reps` (a count or auto) and `--ci-target`, checked.
    func repetitionPlan() throws -> (plan: RepetitionPlan, note: String?) {
        try RepetitionPlan.parse(reps, ciTarget: ciTarget)
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
        if let delegated = DelegatedScheme.named(options.scheme) { try delegated.handOver() }
        // Remarks wait until every check has passed, so a refusal is the only line on stderr.
        var remarks: [String] = []
        let traceTiming = try TraceOutput.timing(options.traceTiming)
        try TraceOutput.checkPath(options.traceCsv, context: options.context)
        var requests = try options.arguments().requests { remarks.append($0) }
        for index in requests.indices { requests[index].schemeOptions.traceTiming = traceTiming }
        try Runner.trialExtensionCode(requests)
        let writer = try options.csv.map { try CSVWriter(path: $0) }
        let repetitions = try options.repetitionPlan()
        if let message = repetitions.note { remarks.append(message) }
        remarks.forEach(note)
        if let writer { InterruptNotice.install(path: writer.path, removeWhenEmpty: false) }
        let records = try perform(requests, writer: writer, repetitions: repetitions.plan)
        TraceOutput.print(records)
        if let path = options.traceCsv { try TraceOutput.write(records, to: path) }
        try Perform.requireValid(records)
    }
}

/// Performs the runs; a run that fails after others wrote rows says where those rows are.
func perform(
    _ requests: [RunRequest], writer: CSVWriter?, progress: SweepProgress? = nil, repetitions: RepetitionPlan = .fixed(1)
) throws -> [RunRecord] {
    do {
        return try Perform.runs(requests, writer: writer, progress: progress, repetitions: repetitions, report: note)
    } catch let error as HarnessError {
        guard let writer, writer.rowsWritten > 0 else { throw error }
        throw HarnessError("\(error.description); the \(writer.rowsWritten) row(s) of the runs that finished are in \(writer.path)")
    }
}

/// A remark on stderr that does not stop the command.
func note(_ message: String) {
    FileHandle.standardError.write(Data("refscale: note: \(message)\n".utf8))
}
