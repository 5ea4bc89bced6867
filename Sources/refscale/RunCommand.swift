import ArgumentParser
import RefScale
import RefScaleHarness

/// Options shared by `run` and the commands that take a workload and a scheme.
struct RunOptions: ParsableArguments {
    @Option(help: "Scheme (see `refscale list`).") var scheme: String
    @Option(help: "Workload (see `refscale list`).") var workload: String
    @Option(help: "Thread counts, comma-separated.") var threads = "1"
    @Option(help: "Measured interval of each run, seconds.") var duration = 0.5
    @Option(help: "Warm-up before the interval, seconds (discarded).") var warmup = 0.1
    @Option(help: "Repetitions (separate runs, one row each).") var reps = 3
    @Option(help: "Seed of the operation streams.") var seed: UInt64 = 1
    @Option(help: "Objects per thread (private) or in total (shared-hot); default 1 and 4.") var objects: Int?
    @Option(help: "Handles held at once on one object before closing.") var dupDepth = 1
    @Option(help: "Share of operations that read the payload, in [0, 1].") var readFraction = 0.0
    @Option(help: "Share of objects that are immortal, in [0, 1].") var immortalFraction = 0.0
    @Option(help: "Object alignment in bytes: a power of two, at least 8.") var objectAlign = 128
    @Option(help: "handle-local: index bits (low3 or low4).") var handleIndex = "low3"
    @Option(help: "handle-local: release policy (lazy or eager).") var release = "lazy"
    @Option(help: "gil: seconds a thread holds the global lock before letting others take it (> 0).") var gilSlice = 0.005
    @Option(help: "perthread: objects given a unique id (shared, all or none).") var uniqueIds = "shared"
    @Option(help: "perthread: seconds between stop-the-world merges; 0 merges at the run's end only.") var mergeInterval = 0.0
    @Option(help: "Append one CSV row per run to this file.") var csv: String?

    func requests() throws -> [RunRequest] {
        let threadCounts = try threads.split(separator: ",", omittingEmptySubsequences: false).map { field in
            guard let count = Int(field.filter { !$0.isWhitespace }), count >= 1 else {
                throw UsageError("--threads takes positive integers separated by commas, got '\(threads)'")
            }
            return count
        }
        guard reps >= 1 else { throw UsageError("--reps must be at least 1, got \(reps)") }
        guard let handleIndex = HandleIndex(rawValue: handleIndex) else {
            throw UsageError("--handle-index must be one of \(HandleIndex.allCases.map(\.rawValue).joined(separator: ", ")), got '\(handleIndex)'")
        }
        guard let release = ReleasePolicy(rawValue: release) else {
            throw UsageError("--release must be one of \(ReleasePolicy.allCases.map(\.rawValue).joined(separator: ", ")), got '\(release)'")
        }
        guard gilSlice > 0 && gilSlice.isFinite else {
            throw UsageError("--gil-slice must be a number of seconds > 0, got \(gilSlice)")
        }
        guard let uniqueIDs = UniqueIDPolicy(rawValue: uniqueIds) else {
            throw UsageError("--unique-ids must be one of \(UniqueIDPolicy.allCases.map(\.rawValue).joined(separator: ", ")), got '\(uniqueIds)'")
        }
        guard mergeInterval >= 0 && mergeInterval.isFinite else {
            throw UsageError("--merge-interval must be a number of seconds >= 0, got \(mergeInterval)")
        }
        let schemeEntry: SchemeEntry
        let workloadEntry: WorkloadEntry
        do {
            schemeEntry = try Registry.scheme(named: scheme)
            workloadEntry = try Registry.workload(named: workload)
        } catch let error as ConfigurationError {
            throw UsageError(error.description)
        }
        var workloadOptions = WorkloadOptions()
        workloadOptions.objects = objects
        workloadOptions.dupDepth = dupDepth
        workloadOptions.readFraction = readFraction
        workloadOptions.immortalFraction = immortalFraction
        var schemeOptions = SchemeOptions()
        schemeOptions.objectAlignment = objectAlign
        schemeOptions.handleIndex = handleIndex
        schemeOptions.release = release
        schemeOptions.gilSlice = gilSlice
        schemeOptions.uniqueIDs = uniqueIDs
        schemeOptions.mergeInterval = mergeInterval

        var requests: [RunRequest] = []
        for threadCount in threadCounts {
            for repetition in 1...reps {
                let request = RunRequest(
                    scheme: schemeEntry, workload: workloadEntry, workloadOptions: workloadOptions,
                    schemeOptions: schemeOptions, threads: threadCount, duration: duration, warmup: warmup,
                    seed: seed, repetition: repetition)
                try request.validate()
                requests.append(request)
            }
        }
        return requests
    }
}

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Runs one scheme on one workload at each thread count; prints a table, appends CSV rows.")

    @OptionGroup var options: RunOptions

    func run() throws {
        let requests = try options.requests()
        let writer = try options.csv.map { try CSVWriter(path: $0) }
        let rows = try perform(requests, writer: writer)
        try requireValid(rows)
    }
}

/// Runs each request, printing its row and appending it to the CSV file as it ends.
func perform(_ requests: [RunRequest], writer: CSVWriter?, progress: ((Int, Int) -> Void)? = nil) throws -> [Row] {
    let table = TablePrinter()
    table.printHeader()
    var rows: [Row] = []
    for (index, request) in requests.enumerated() {
        progress?(index, requests.count)
        let row = try Runner.run(request)
        table.print(row)
        try writer?.append(row)
        rows.append(row)
    }
    return rows
}

func requireValid(_ rows: [Row]) throws {
    let invalid = rows.filter { !$0.isValid }
    guard invalid.isEmpty else {
        throw HarnessError("\(invalid.count) of \(rows.count) runs failed validation (valid=false): \(invalid[0]["scheme"]) on \(invalid[0]["workload"]): \(invalid[0]["validation_error"])")
    }
}
