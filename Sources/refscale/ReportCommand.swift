import ArgumentParser
import RefScaleHarness

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Prints median throughput with 95% intervals, speedup, ratio-to-atomic and harness-floor tables from refscale CSV files; compares two files or two schemes.",
        discussion: """
            Rows of several files (and machines) may be mixed: each host gets its own tables. \
            Invalid rows (valid != true) are left out of the medians and listed at the end. \
            --compare OLD.csv NEW.csv and --compare-schemes A B print, for each configuration both \
            sides hold, the ratio of medians (second over first), its 95% interval and a two-sided \
            Mann-Whitney U test.
            """)

    @Argument(help: "refscale CSV files.") var files: [String] = []
    @Option(parsing: .upToNextOption, help: "Compare two CSV files: OLD.csv NEW.csv.") var compare: [String] = []
    @Option(parsing: .upToNextOption, help: "Compare two schemes in the given files: A B.") var compareSchemes: [String] = []

    func run() throws {
        if !compare.isEmpty {
            guard compare.count == 2, files.isEmpty, compareSchemes.isEmpty else {
                throw UsageError("--compare takes exactly two CSV files and nothing else: refscale report --compare OLD.csv NEW.csv")
            }
            let sides = try compare.map { Comparison.Side(name: $0, rows: try CSVReader.rows(path: $0)) }
            let rows = sides.flatMap(\.rows)
            try Comparison.files(sides[0], sides[1]).lines(naming: Report(rows: rows).namingColumns).forEach { print($0) }
            return
        }
        guard !files.isEmpty else { throw UsageError("report needs at least one CSV file: refscale report FILE.csv...") }
        if !compareSchemes.isEmpty {
            guard compareSchemes.count == 2 else {
                throw UsageError("--compare-schemes takes exactly two scheme names: refscale report FILE.csv... --compare-schemes A B")
            }
        }
        // Every file is read and checked before anything is printed.
        let rows = try files.flatMap { try CSVReader.rows(path: $0) }
        if !compareSchemes.isEmpty {
            let comparison = Comparison.schemes(compareSchemes[0], compareSchemes[1], rows: rows)
            try comparison.lines(naming: Report(rows: rows).namingColumns).forEach { print($0) }
            return
        }
        Report(rows: rows).lines().forEach { print($0) }
    }
}
