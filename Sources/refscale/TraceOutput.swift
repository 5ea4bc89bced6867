import Foundation
import RefScale
import RefScaleHarness

/// What `--context trace` found, printed after the runs and written with `--trace-csv` as tidy
/// CSV: one row per run and traced function, with the run's key columns.
enum TraceOutput {
    static let keyColumns = ["scheme", "workload", "context", "threads", "rep", "seed", "duration_s"]
    static let header = keyColumns + ["function", "calls", "total_ns", "ns_per_call", "timed"]

    /// `--trace-timing`'s value; throws a usage error naming the flag.
    static func timing(_ text: String?) throws -> Bool {
        switch text {
        case nil, "on": return true
        case "off": return false
        case let other?: throw UsageError("--trace-timing must be on or off, got '\(other)'")
        }
    }

    /// Refuses a `--trace-csv` path that cannot be written, before any run.
    static func checkPath(_ path: String?, context: String) throws {
        guard let path else { return }
        if context != ContextKind.trace.rawValue { throw UsageError("--trace-csv needs --context trace") }
        var isDirectory: ObjCBool = false
        if path.isEmpty || path.hasSuffix("/") || (FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue) {
            throw UsageError("--trace-csv must name a file, got '\(path)'")
        }
    }

    static func rows(_ records: [RunRecord]) -> [[String]] {
        records.flatMap { record -> [[String]] in
            guard let trace = record.outcome.trace else { return [] }
            let keys = keyColumns.map { record[$0].text }
            return TracedFunction.allCases.map { function in
                let calls = trace[calls: function]
                let nanoseconds = trace[nanoseconds: function]
                let perCall = trace.timed && calls > 0 ? String(format: "%.3f", Double(nanoseconds) / Double(calls)) : ""
                return keys + [function.name, String(calls), trace.timed ? String(nanoseconds) : "", perCall, trace.timed ? "true" : "false"]
            }
        }
    }

    static func print(_ records: [RunRecord]) {
        let rows = rows(records)
        guard !rows.isEmpty else { return }
        Swift.print("\ntrace: calls and time per function (threads summed)")
        let widths = [14, 9, 5, 10, 13, 15, 8]
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0.padding(toLength: max($1, $0.count + 1), withPad: " ", startingAt: 0) }.joined()
        }
        Swift.print(line(["scheme", "threads", "rep", "function", "calls", "total_ns", "ns/call"]))
        for row in rows where row[header.firstIndex(of: "calls")!] != "0" {
            Swift.print(line([row[0], row[3], row[4], row[7], row[8], row[9], row[10]]))
        }
    }

    /// Writes the whole file at once, through a temporary file renamed over it, so an interrupted
    /// write leaves no half-written file.
    static func write(_ records: [RunRecord], to path: String) throws {
        let text = ([header] + rows(records)).map { $0.joined(separator: ",") }.joined(separator: "\n") + "\n"
        let temporary = path + ".partial"
        do {
            try text.write(toFile: temporary, atomically: false, encoding: .utf8)
        } catch {
            throw HarnessError("cannot write --trace-csv \(path): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            try? FileManager.default.removeItem(atPath: temporary)
            throw HarnessError("cannot write --trace-csv \(path): \(String(cString: strerror(errno)))")
        }
    }
}
