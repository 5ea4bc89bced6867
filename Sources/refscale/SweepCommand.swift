import ArgumentParser
import Glibc
import RefScale
import RefScaleHarness

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs an experiment (the built-in default) and writes its CSV into a new file under --out.",
        discussion: """
            The file is named EXPERIMENT-HOST-STAMP.csv, with -2, -3, ... added when a file of that name \
            exists: a sweep never appends to another's file. The experiment and --out are checked before \
            the first run.
            """)

    @Argument(help: "Experiment file (JSON; see Experiments/README.md). Without one, the built-in default.")
    var experimentFile: String?
    @Option(help: "Directory for the CSV file; made when it does not exist.") var out = "results"

    func run() throws {
        // The whole sweep then runs in the build that has the scheme (the other schemes are there
        // too, all but the ordinary build's `cpython`).
        if let file = experimentFile, let delegated = DelegatedScheme.named(inExperimentFile: file) { try delegated.handOver() }
        let machine = MachineInfo.current
        let experiment = try experimentFile.map(ExperimentFile.load(path:)) ?? Experiment.builtIn
        let (requests, skipped) = try experiment.requests(onlineCPUs: machine.onlineCPUs)
        guard !requests.isEmpty else {
            let source = experimentFile ?? "the default experiment"
            throw UsageError("\(source): every combination is left out, so nothing would run; the first: \(skipped.first ?? "none")")
        }
        let madeDirectory = try makeOutputDirectory(out)
        let stamp = MachineInfo.timestamp().filter { $0 != "-" && $0 != ":" }
        let writer: CSVWriter
        do {
            writer = try CSVWriter(newFileIn: out, name: "\(experiment.name)-\(machine.host)-\(stamp)")
        } catch {
            if madeDirectory { rmdir(out) }
            throw error
        }
        for reason in skipped { note("left out: \(reason)") }
        if let message = Pinning.numaNote(pin: experiment.pins, placement: experiment.placements) { note(message) }
        InterruptNotice.install(path: writer.path, removeWhenEmpty: true)
        let records: [RunRecord]
        do {
            records = try perform(requests, writer: writer, progress: SweepProgress(total: requests.count))
        } catch {
            writer.discardIfEmpty()
            if madeDirectory && writer.rowsWritten == 0 { rmdir(out) }
            throw error
        }
        print("")
        Summary.lines(records).forEach { print($0) }
        print("\n\(records.count) rows written to \(writer.path)")
        let commands = Report.followUpCommands(csvPath: writer.path, outDirectory: out)
        print("plot them:   \(commands.plot)")
        print("report them: \(commands.report)")
        try Perform.requireValid(records)
    }
}

/// Checks `--out` (of `sweep` and `validate`), making it (and its parents) when it does not
/// exist; true when it was made.
func makeOutputDirectory(_ out: String) throws -> Bool {
    guard !out.isEmpty else { throw HarnessError("--out '': name a directory") }
    var status = stat()
    if stat(out, &status) == 0 {
        guard status.st_mode & S_IFMT == S_IFDIR else { throw HarnessError("--out \(out): is a file, not a directory") }
        try CSVWriter.checkWritableDirectory(out, for: "--out \(out)")
        return false
    }
    var prefix = out.hasPrefix("/") ? "/" : ""
    for component in out.split(separator: "/") {
        prefix += component
        guard mkdir(prefix, 0o755) == 0 || errno == EEXIST else {
            throw HarnessError("--out \(out): cannot make \(prefix): \(String(cString: strerror(errno)))")
        }
        prefix += "/"
    }
    try CSVWriter.checkWritableDirectory(out, for: "--out \(out)")
    return true
}
