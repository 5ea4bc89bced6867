import ArgumentParser
import RefScaleHarness

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Prints median throughput, speedup and ratio-to-atomic tables from refscale CSV files.",
        discussion: """
            Rows of several files (and machines) may be mixed: each host gets its own tables. \
            Invalid rows (valid != true) are left out of the medians and listed at the end.
            """)

    @Argument(help: "refscale CSV files.") var files: [String] = []

    func run() throws {
        guard !files.isEmpty else { throw UsageError("report needs at least one CSV file: refscale report FILE.csv...") }
        // Every file is read and checked before anything is printed.
        let rows = try files.flatMap { try CSVReader.rows(path: $0) }
        Report(rows: rows).lines().forEach { print($0) }
    }
}
