import Glibc

/// Prints rows as an aligned table, one line per row as each run ends.
public struct TablePrinter {
    public struct Column: Sendable {
        /// Where a field sits in its column: `automatic` puts numbers (and `3*`) right, text left.
        public enum Alignment: Sendable { case automatic, left, right }

        var title: String
        var width: Int
        var alignment: Alignment
        var value: @Sendable (Row) -> String

        public init(title: String, width: Int, alignment: Alignment = .automatic, value: @escaping @Sendable (Row) -> String) {
            self.title = title
            self.width = width
            self.alignment = alignment
            self.value = value
        }
    }

    public static let runColumns: [Column] = [
        Column(title: "scheme", width: 12) { $0["scheme"] },
        Column(title: "workload", width: 10) { $0["workload"] },
        Column(title: "context", width: 9) { $0["context"] },
        Column(title: "threads", width: 7) { $0["threads"] + ($0["oversubscribed"] == "true" ? "*" : "") },
        Column(title: "rep", width: 3) { $0["rep"] },
        Column(title: "Mops/s", width: 10) { row in Double(row["ops_per_s"]).map { format($0 / 1e6, digits: 2) } ?? "" },
        Column(title: "ns/op", width: 9) { $0["ns_per_op"] },
        Column(title: "valid", width: 5) { $0["valid"] },
        // The CPU of each worker at the interval's start; "*" when one moved before its end.
        Column(title: "cpus", width: 9) { $0["cpus"] + ($0["cpu_moved"] == "true" ? "*" : "") },
        Column(title: "counters", width: 0) { row in
            let counters = ["atomic_rmw", "cas_retries", "hit_rate", "fallbacks", "evictions", "merges", "queued", "frees", "lock_handoffs", "violations"]
                .filter { !row[$0].isEmpty && row[$0] != "0" }
                .map { "\($0)=\(row[$0])" }
            let error = row.isValid ? [] : ["error: " + row["validation_error"]]
            return (counters + error).joined(separator: " ")
        },
    ]

    let columns: [Column]
    let output: (String) -> Void

    public init(columns: [Column] = TablePrinter.runColumns, output: @escaping (String) -> Void = { Swift.print($0); fflush(stdout) }) {
        self.columns = columns
        self.output = output
    }

    public func printHeader() { output(line(columns.map(\.title))) }

    public func print(_ row: Row) { output(line(columns.map { $0.value(row) })) }

    func line(_ fields: [String]) -> String {
        zip(columns, fields).map { column, field in
            let padding = String(repeating: " ", count: max(0, column.width - field.count))
            let right = switch column.alignment {
            case .automatic: Double(field) != nil || field.hasSuffix("*")
            case .left: false
            case .right: true
            }
            return right ? padding + field : field + padding
        }.joined(separator: "  ")
    }
}
