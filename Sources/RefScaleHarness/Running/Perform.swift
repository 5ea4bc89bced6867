import RefScale

/// Runs requests one after another, as `run` and `sweep` do: each run's line is printed and its
/// row appended to the CSV file as it ends, so an interrupted sweep keeps every finished row.
public enum Perform {
    public static func runs(
        _ requests: [RunRequest], writer: CSVWriter?, progress: SweepProgress? = nil,
        table: TablePrinter<RunRecord> = TablePrinter()
    ) throws -> [RunRecord] {
        table.printHeader()
        var records: [RunRecord] = []
        for (index, request) in requests.enumerated() {
            progress?.update(done: index)
            let record = try Runner.run(request)
            progress?.clear()
            table.print(record)
            try writer?.append(record)
            records.append(record)
        }
        return records
    }

    /// Throws, naming the first, when any run failed validation (exit code 1).
    public static func requireValid(_ records: [RunRecord]) throws {
        guard let first = records.first(where: { !$0.isValid }) else { return }
        let invalid = records.filter { !$0.isValid }.count
        throw HarnessError("\(invalid) of \(records.count) runs failed validation (valid=false): \(first.request.scheme.name) on \(first.request.workload.name): \(first.problems.joined(separator: "; "))")
    }
}
