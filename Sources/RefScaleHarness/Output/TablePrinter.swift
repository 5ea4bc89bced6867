import Glibc

/// Prints items as an aligned table, one line per item: runs as each ends, report cells, stress
/// rounds. Each column turns an item into its field; nothing is parsed back.
public struct TablePrinter<Item> {
    public struct Column {
        /// Where a field sits in its column: `automatic` puts numbers (and `3*`) right, text left.
        public enum Alignment: Sendable { case automatic, left, right }

        var title: String
        var width: Int
        var alignment: Alignment
        var value: (Item) -> String

        public init(title: String, width: Int, alignment: Alignment = .automatic, value: @escaping (Item) -> String) {
            self.title = title
            self.width = width
            self.alignment = alignment
            self.value = value
        }
    }

    let columns: [Column]
    let output: (String) -> Void

    public init(columns: [Column], output: @escaping (String) -> Void = { Swift.print($0); fflush(stdout) }) {
        self.columns = columns
        self.output = output
    }

    public func printHeader() { output(header) }

    public func print(_ item: Item) { output(line(for: item)) }

    public var header: String { line(columns.map(\.title)) }

    public func line(for item: Item) -> String { line(columns.map { $0.value(item) }) }

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

extension TablePrinter where Item == RunRecord {
    /// A line per run, as `run` and `sweep` print them.
    public static let runColumns: [Column] = [
        Column(title: "scheme", width: 12) { $0.request.scheme.name },
        Column(title: "workload", width: 10) { $0.request.workload.name },
        Column(title: "context", width: 9) { $0.request.context.rawValue },
        Column(title: "threads", width: 7) { String($0.request.threads) + ($0.isOversubscribed ? "*" : "") },
        Column(title: "rep", width: 3) { String($0.request.repetition) },
        Column(title: "Mops/s", width: 10) { Cell.rounded($0.operationsPerSecond / 1e6, decimals: 2) },
        Column(title: "ns/op", width: 9) { record in record.nanosecondsPerOperation.map { Cell.rounded($0, decimals: 3) } ?? "" },
        Column(title: "valid", width: 5) { String($0.isValid) },
        // The CPU of each worker at the interval's start; "*" when one moved before its end.
        Column(title: "cpus", width: 9) { record in
            record.startCPUs.map(String.init).joined(separator: ";") + (record.startCPUs != record.endCPUs ? "*" : "")
        },
        Column(title: "counters", width: 0) { record in
            // The counters that say most of a run, then any contract violations; zeros left out.
            let counters = ["atomic_rmw", "cas_retries", "hit_rate", "fallbacks", "evictions", "merges", "queued", "frees", "lock_handoffs", "violations"]
                .map { ($0, record[$0].text) }
                .filter { !$0.1.isEmpty && $0.1 != "0" }
                .map { "\($0.0)=\($0.1)" }
            let error = record.isValid ? [] : ["error: " + record.problems.joined(separator: "; ")]
            return (counters + error).joined(separator: " ")
        },
    ]

    public init(output: @escaping (String) -> Void = { Swift.print($0); fflush(stdout) }) {
        self.init(columns: Self.runColumns, output: output)
    }
}
