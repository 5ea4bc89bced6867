import ArgumentParser
import Glibc
import RefScale
import RefScaleHarness

struct Sweep: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs an experiment (the built-in default) and writes its CSV under --out.")

    @Option(help: "Directory for the CSV file.") var out = "results"

    func run() throws {
        let machine = MachineInfo.current
        let experiment = Experiment.builtIn(onlineCPUs: machine.onlineCPUs)
        let requests = try experiment.requests()
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
        let commands = Report.followUpCommands(csvPath: path, outDirectory: out)
        print("plot them:   \(commands.plot)")
        print("report them: \(commands.report)")
        try requireValid(rows)
    }
}
