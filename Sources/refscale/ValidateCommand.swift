import ArgumentParser
import Glibc
import RefScale
import RefScaleHarness

/// `refscale validate`: a model and the real runtime it names, side by side in one sitting
/// (`Validation`, `ValidationTable`). Writes the runs' rows as `sweep` does, then the tidy table of
/// cells beside them, and prints the table.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs a model and a real runtime on every workload both run, alternating run by run, and prints their ratio per cell.",
        discussion: """
            Cells: private, shared-hot with each shared kind, churn, handoff, call, mixed and each trace under \
            --traces, at each thread count. Writes validate-MODEL-REAL-HOST-STAMP.csv (every run's row) and \
            ...-cells.csv (one row per cell: medians, ratio with its interval, the model's atomics per op) \
            into a new file under --out. A cell that cannot run is listed with its reason.
            """)

    @Option(help: "The model scheme (one that counts in no interpreter).") var model = "biased"
    @Option(help: "The real runtime (a scheme that counts in an embedded interpreter: cpython-313t, cpython).") var real = "cpython-313t"
    @Option(parsing: .unconditional, help: "Thread counts, comma-separated; default 1 and the online CPUs.") var threads: String?
    @Option(parsing: .unconditional, help: "Measured interval of each run, seconds.") var duration = 0.5
    @Option(parsing: .unconditional, help: "Warm-up before the interval, seconds.") var warmup = 0.1
    @Option(parsing: .unconditional, help: "Repetitions of each scheme per cell (5 or more give the ratio a 95% interval).") var reps = 5
    @Option(parsing: .unconditional, help: "Seed of the operation streams.") var seed: UInt64 = 1
    @Option(help: "Directory of the trace files replayed, one cell each (relative: from here, else from the checkout).") var traces = "results/traces"
    @Option(help: "Directory for the CSV files; made when it does not exist.") var out = "results"

    func run() throws {
        // Both schemes then run in the build that has the real one (it has every model too).
        if let delegated = DelegatedScheme.named(real) ?? DelegatedScheme.named(model) { try delegated.handOver() }
        let machine = MachineInfo.current
        let counts = try threads.map { try RunArguments.threadCounts($0) }
            ?? Experiment.ThreadCounts.oneAndAll.resolve(onlineCPUs: machine.onlineCPUs)
        try ResourceLimits.checkRepetitions(reps)
        // A relative directory is read from the working directory, else from the checkout, as a
        // relative trace path is.
        let tracesDirectory = traces.hasPrefix("/") || access(traces, F_OK) == 0 ? traces : DelegatedScheme.packageRoot + "/" + traces
        let traceFiles = try Validation.traceFiles(in: access(tracesDirectory, F_OK) == 0 ? tracesDirectory : traces)
        let validation = try Validation(
            model: model, real: real, threads: counts, traces: traceFiles, duration: duration, warmup: warmup, seed: seed)
        let requests = validation.requests(repetitions: reps)
        guard !requests.isEmpty else {
            throw UsageError("no cell of \(model) and \(real) can run; the first: \(validation.cells.first?.refusal ?? "none")")
        }
        let (records, path) = try performIntoNewFile(requests, out: out, name: "validate-\(model)-\(real)", host: machine.host) {
            if traceFiles.isEmpty { note("--traces \(traces) holds no .rstrace file, so no trace is a cell") }
            for cell in validation.cells where cell.refusal != nil { note("cannot run \(cell.name): \(cell.refusal!)") }
        }
        let table = ValidationTable(validation: validation, records: records, host: machine.host)
        let cellsPath = String(path.dropLast(".csv".count)) + "-cells.csv"
        try table.write(to: cellsPath)
        print("")
        table.printed.forEach { print($0) }
        print("\n\(records.count) rows written to \(path); \(table.lines.count) cells to \(cellsPath)")
        let commands = Report.followUpCommands(csvPath: cellsPath, outDirectory: out)
        print("plot them:   \(commands.plot)")
        try Perform.requireValid(records)
    }
}
