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
        try Runner.trialExtensionCode(requests)
        let (records, path) = try performIntoNewFile(requests, out: out, name: experiment.name, host: machine.host) {
            for reason in skipped { note("left out: \(reason)") }
            if let message = Pinning.numaNote(pin: experiment.pins, placement: experiment.placements) { note(message) }
        }
        print("")
        Summary.lines(records).forEach { print($0) }
        print("\n\(records.count) rows written to \(path)")
        let commands = Report.followUpCommands(csvPath: path, outDirectory: out)
        print("plot them:   \(commands.plot)")
        print("report them: \(commands.report)")
        try Perform.requireValid(records)
    }
}

/// Makes `--out` when it does not exist and a new CSV file in it named `name-host-stamp`, runs the
/// requests into it (`notes` first, once the file is made), and removes what it made when no row
/// was written (a refused run, an interrupt). Returns the records and the file's path.
func performIntoNewFile(
    _ requests: [RunRequest], out: String, name: String, host: String, notes: () -> Void
) throws -> (records: [RunRecord], path: String) {
    let madeDirectory = try makeOutputDirectory(out)
    let stamp = MachineInfo.timestamp().filter { $0 != "-" && $0 != ":" }
    let writer: CSVWriter
    do {
        writer = try CSVWriter(newFileIn: out, name: "\(name)-\(host)-\(stamp)")
    } catch {
        if madeDirectory { rmdir(out) }
        throw error
    }
    notes()
    InterruptNotice.install(path: writer.path, removeWhenEmpty: true)
    do {
        return (try perform(requests, writer: writer, progress: SweepProgress(total: requests.count)), writer.path)
    } catch {
        writer.discardIfEmpty()
        if madeDirectory && writer.rowsWritten == 0 { rmdir(out) }
        throw error
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
