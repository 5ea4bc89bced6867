import ArgumentParser
import Glibc
import RefScale
import RefScaleHarness

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs an experiment (the built-in default) and writes its CSV under --out.")

    @Argument(help: "Experiment file (JSON; see Experiments/README.md). Without one, the built-in default.")
    var experimentFile: String?
    @Option(help: "Directory for the CSV file.") var out = "results"

    func run() throws {
        let machine = MachineInfo.current
        let experiment = try experimentFile.map(ExperimentFile.load(path:)) ?? Experiment.builtIn
        let (requests, skipped) = try experiment.requests(onlineCPUs: machine.onlineCPUs)
        for reason in skipped { note("left out: \(reason)") }
        let stamp = MachineInfo.timestamp().filter { $0 != "-" && $0 != ":" }
        let path = "\(out)/\(experiment.name)-\(machine.host)-\(stamp).csv"
        let writer = try CSVWriter(path: path)
        let started = MachineInfo.monotonicSeconds()
        let rows = try perform(requests, writer: writer) { done, total in
            guard done > 0 else { return }
            let elapsed = MachineInfo.monotonicSeconds() - started
            let left = elapsed / Double(done) * Double(total - done)
            fputs("run \(done + 1)/\(total), about \(Int(left.rounded())) s left\n", stderr)
        }
        print("")
        Summary.lines(rows).forEach { print($0) }
        print("\n\(rows.count) rows written to \(path)")
        try requireValid(rows)
    }
}
