import Glibc
import RefScale

/// `refscale validate`: a model scheme beside the real runtime it names, on the same operation
/// streams, in one sitting. A *cell* is a workload variant at a thread count; every cell is run
/// repetition by repetition, the model's run and then the real runtime's, so that whatever else
/// the machine does falls on both alike.
///
/// Invariants:
/// - the model counts in no interpreter (`pythonVersion` nil) and the real runtime counts in one
///   (`pythonVersion` set); anything else is refused as bad input.
/// - every cell either holds two requests that validated, or the first reason one of them cannot
///   run (a refused shared kind, a thread count the workload cannot use, a scheme unsafe on shared
///   objects). A cell that cannot run is kept and listed with its reason, never dropped.
/// - both requests of a cell differ only in their scheme: same workload options, seed, thread
///   count and timing, so both see the same `stream_digest`.
public struct Validation: Sendable {
    public struct Cell: Sendable {
        public var workload: String
        /// `--shared-kind`, for the workloads that read it.
        public var sharedKind: String
        /// The trace file's name without its extension, for the `trace` workload.
        public var trace: String
        public var threads: Int
        /// The model's request and the real runtime's, when both can run.
        public var pair: (model: RunRequest, real: RunRequest)?
        /// Why the cell cannot run, when it cannot.
        public var refusal: String?

        /// The cell's name in tables and in FIDELITY.md: `workload[/kind][/trace]@threads`.
        public var name: String {
            ([workload] + [sharedKind, trace].filter { !$0.isEmpty }).joined(separator: "/") + "@\(threads)"
        }
    }

    public let model: SchemeEntry
    public let real: SchemeEntry
    public let cells: [Cell]

    /// The workloads every model and real runtime both run: the synthetic ones with their default
    /// options, `shared-hot` once per shared kind, and one `trace` per file in `traces`.
    public static func workloadVariants(traces: [String]) -> [(name: String, options: OptionValues)] {
        var variants: [(String, OptionValues)] = [("private", OptionValues())]
        for kind in SharedKind.allCases {
            var options = OptionValues()
            options[CommonOptions.sharedKind] = kind
            variants.append(("shared-hot", options))
        }
        variants += ["churn", "handoff", "call", "mixed"].map { ($0, OptionValues()) }
        for path in traces {
            var options = OptionValues()
            options[TraceWorkload.trace] = path
            variants.append(("trace", options))
        }
        return variants
    }

    /// The `.rstrace` files of a directory, sorted by name; none when it has none.
    public static func traceFiles(in directory: String) throws -> [String] {
        guard let stream = opendir(directory) else {
            throw UsageError("--traces \(directory): cannot read it: \(String(cString: strerror(errno)))")
        }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasSuffix(".rstrace") { names.append(name) }
        }
        return names.sorted().map { "\(directory)/\($0)" }
    }

    /// Checks the schemes and every cell; throws a usage error for bad input (an unknown name, a
    /// model that is real or a real runtime that is a model, limits of the machine).
    public init(
        model modelName: String, real realName: String, threads: [Int], traces: [String],
        duration: Double, warmup: Double, seed: UInt64
    ) throws {
        do {
            model = try Registry.scheme(named: modelName)
            real = try Registry.scheme(named: realName)
        } catch let error as ConfigurationError {
            throw UsageError(error.description)
        }
        guard model.pythonVersion == nil else {
            throw UsageError("--model \(model.name) counts in a real interpreter; name a model (a scheme without python_version)")
        }
        guard real.pythonVersion != nil else {
            throw UsageError("--real \(real.name) is a model; name a scheme that counts in a real interpreter (cpython, cpython-313t)")
        }
        try ResourceLimits.checkSeconds(duration, flag: "--duration")
        try ResourceLimits.checkSeconds(warmup, flag: "--warmup", zeroAllowed: true)
        var cells: [Cell] = []
        for variant in Validation.workloadVariants(traces: traces) {
            let workload: WorkloadEntry
            do { workload = try Registry.workload(named: variant.name) } catch let error as ConfigurationError {
                throw UsageError(error.description)
            }
            let readsKind = workload.declaredOptions.contains { $0.name == CommonOptions.sharedKind.name }
            let trace = variant.name == TraceWorkload.name ? Validation.traceName(variant.options[TraceWorkload.trace]) : ""
            for count in threads {
                var cell = Cell(
                    workload: variant.name, sharedKind: readsKind ? variant.options[CommonOptions.sharedKind].rawValue : "",
                    trace: trace, threads: count)
                func request(_ scheme: SchemeEntry) -> RunRequest {
                    RunRequest(scheme: scheme, workload: workload, workloadOptions: variant.options, threads: count,
                               duration: duration, warmup: warmup, seed: seed)
                }
                let pair = (model: request(model), real: request(real))
                do {
                    try pair.model.validate()
                    try pair.real.validate()
                    cell.pair = pair
                } catch let error as UsageError where error.skippable {
                    cell.refusal = error.description
                }
                cells.append(cell)
            }
        }
        self.cells = cells
    }

    static func traceName(_ path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return file.hasSuffix(".rstrace") ? String(file.dropLast(".rstrace".count)) : file
    }

    /// The runs in the order they are made: cell by cell, and within a cell repetition by
    /// repetition, the model's run then the real runtime's.
    public func requests(repetitions: Int) -> [RunRequest] {
        cells.flatMap { cell -> [RunRequest] in
            guard let pair = cell.pair else { return [] }
            return (1...max(1, repetitions)).flatMap { repetition -> [RunRequest] in
                var model = pair.model
                var real = pair.real
                model.repetition = repetition
                real.repetition = repetition
                return [model, real]
            }
        }
    }
}
