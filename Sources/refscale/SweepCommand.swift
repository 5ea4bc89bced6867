import ArgumentParser
import Foundation
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
        if let message = Pinning.numaNote(pin: experiment.pins, placement: experiment.placements) { note(message) }
        let stamp = MachineInfo.timestamp().filter { $0 != "-" && $0 != ":" }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let path = "\(out)/\(experiment.name)-\(machine.host)-\(stamp).csv"
        let writer = try CSVWriter(path: path)
        let records = try Perform.runs(requests, writer: writer, progress: SweepProgress(total: requests.count), report: note)
        print("")
        Summary.lines(records).forEach { print($0) }
        print("\n\(records.count) rows written to \(path)")
        let commands = Report.followUpCommands(csvPath: path, outDirectory: out)
        print("plot them:   \(commands.plot)")
        print("report them: \(commands.report)")
        try Perform.requireValid(records)
    }
}
