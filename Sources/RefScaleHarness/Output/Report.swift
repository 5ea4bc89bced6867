import Glibc
import RefScale

/// Tables of medians from rows read back from CSV files, for a terminal: for each host and
/// workload, the median ops/s of each series at each thread count with its 95% interval
/// (`Statistics.medianInterval`), the speedup over the series' 1-thread median, the throughput
/// ratio to `atomic` and to `noop` (the harness's floor) at the same thread count. Invalid rows
/// (valid != true) are left out of every median, counted, and named at the end.
///
/// A series is a configuration less its thread count: rows that agree on every parameter column
/// (`ColumnCatalogue`'s parameters, and columns it does not know) are repetitions of one
/// point. It is labelled with its scheme and the parameters that tell it apart from the scheme's
/// other series in the same workload (`handle-local low4 objects=16`), as Experiments/plot.py
/// labels its lines.
public struct Report {
    public let rows: [CSVRow]

    public init(rows: [CSVRow]) { self.rows = rows }

    public func lines() -> [String] {
        var output: [String] = []
        let invalid = rows.filter { !$0.isValid }
        let hosts = orderedUnique(rows.map { $0["host"] })
        let naming = namingColumns
        for host in hosts {
            let hostRows = rows.filter { $0["host"] == host }
            output.append(hostHeading(host, hostRows))
            let workloads = orderedUnique(hostRows.map { $0["workload"] }).sorted(by: workloadOrder)
            for workload in workloads {
                let workloadRows = hostRows.filter { $0["workload"] == workload }
                output.append("")
                output += tables(workloadRows, workload: workload, naming: naming)
            }
            output.append("")
        }
        output.append("-: no valid row at that thread count (for a ratio: no atomic or noop series with the same parameters)")
        output.append("[a, b]: distribution-free 95% interval of the median (order statistics, binomial method); "
            + "~: fewer than 6 valid repetitions, so the interval is their range and covers the median with less than 95% "
            + "(1 - 2^(1-n): 75% for 3); (n=1): one repetition, no interval")
        output.append("!: the median is above noop's interval: the scheme beats the harness floor (see README, The floor)")
        output.append("")
        output.append("invalid rows left out: \(invalid.count)")
        if !invalid.isEmpty {
            let several = hosts.count > 1
            let columns = (several ? [("host", "host")] : []) + [
                ("scheme", "scheme"), ("workload", "workload"), ("threads", "threads"), ("rep", "rep"),
            ]
            var printerColumns = columns.map { title, column in
                TablePrinter<CSVRow>.Column(title: title, width: ([title] + invalid.map { $0[column] }).map(\.count).max()!) { $0[column] }
            }
            printerColumns.append(.init(title: "validation_error", width: 0, alignment: .left) { $0.leftOutReason ?? "" })
            let printer = TablePrinter<CSVRow>(columns: printerColumns)
            output.append(printer.header)
            for row in invalid { output.append(printer.line(for: row)) }
        }
        return output
    }

    // MARK: Series

    struct Series {
        var label: String
        var scheme: String
        var parameters: [String: String]
        /// Median ops/s of the valid repetitions at each thread count; nil where every one is invalid.
        var medians: [Int: Double?]
        /// Ops/s of the valid repetitions at each thread count.
        var values: [Int: [Double]] = [:]

        func interval(_ threads: Int) -> Statistics.Interval? { Statistics.medianInterval(values[threads] ?? []) }
    }

    /// The columns that may tell two series apart: the parameters, and columns the catalogue does
    /// not know (a later version's).
    public var namingColumns: [String] {
        let known = ColumnCatalogue.names
        let extra = Set(rows.flatMap(\.values.keys)).subtracting(known).sorted()
        return ColumnCatalogue.names(withRole: .parameter) + extra
    }

    func series(_ rows: [CSVRow], naming: [String]) -> [Series] {
        var groups: [[String]: [CSVRow]] = [:]
        var order: [[String]] = []
        for row in rows {
            let key = naming.map { row[$0] }
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(row)
        }
        // A column names a scheme's series when two of them differ in it.
        var varying: [String: [String]] = [:]
        for scheme in Set(order.map { $0[naming.firstIndex(of: "scheme")!] }) {
            let keys = order.filter { $0[naming.firstIndex(of: "scheme")!] == scheme }
            varying[scheme] = naming.indices.filter { index in naming[index] != "scheme" && Set(keys.map { $0[index] }).count > 1 }
                .map { naming[$0] }
        }
        return order.map { key in
            let parameters = Dictionary(uniqueKeysWithValues: zip(naming, key))
            let scheme = parameters["scheme"] ?? ""
            let members = groups[key]!
            var medians: [Int: Double?] = [:]
            var values: [Int: [Double]] = [:]
            for count in Set(members.compactMap { Int($0["threads"]) }) {
                let valid = members.filter { Int($0["threads"]) == count && $0.isValid }
                values[count] = valid.compactMap { Double($0["ops_per_s"]) }
                // updateValue, not a subscript: assigning nil through a subscript removes the key.
                medians.updateValue(Summary.median(values[count]!), forKey: count)
            }
            return Series(label: label(scheme: scheme, parameters: parameters, columns: varying[scheme] ?? []),
                          scheme: scheme, parameters: parameters, medians: medians, values: values)
        }.sorted { left, right in
            let (a, b) = (schemeRank(left.scheme), schemeRank(right.scheme))
            return a != b ? a < b : naturalOrder(left.label, right.label)
        }
    }

    /// `scheme` then the varying parameters: a word names itself (low3, lazy), a number carries
    /// its column's name (objects=16).
    func label(scheme: String, parameters: [String: String], columns: [String]) -> String {
        var words: [String] = []
        var numbers: [String] = []
        for column in columns {
            let value = parameters[column] ?? ""
            if value.isEmpty { continue }
            if let first = value.first, first.isLetter { words.append(value) } else { numbers.append("\(column)=\(value)") }
        }
        return ([scheme] + words + numbers).joined(separator: " ")
    }

    /// The `atomic` series run on the same configuration as `series`: every parameter equal,
    /// except those one of the two leaves blank (a scheme option the other scheme does not use).
    func atomicBaseline(for series: Series, among all: [Series]) -> Series? { baseline("atomic", for: series, among: all) }

    /// The series of `scheme` run on the same configuration as `series` (as `atomicBaseline`).
    func baseline(_ scheme: String, for series: Series, among all: [Series]) -> Series? {
        let matches = all.filter { candidate in
            candidate.scheme == scheme && sameConfiguration(candidate.parameters, series.parameters)
        }
        return matches.count == 1 ? matches[0] : nil
    }

    // MARK: Tables

    func tables(_ rows: [CSVRow], workload: String, naming: [String]) -> [String] {
        let series = series(rows, naming: naming)
        let threads = Set(series.flatMap(\.medians.keys)).sorted()
        let oversubscribed = Set(rows.filter { $0.flag("oversubscribed") == true }.compactMap { Int($0["threads"]) })
        let titles = threads.map { String($0) + (oversubscribed.contains($0) ? "*" : "") }
        var output: [String] = []

        func table(_ heading: String, _ cell: (Series, Int) -> Double?, decimals: Int) {
            textTable(heading) { item, count in cell(item, count).map { fixed($0, decimals: decimals) } }
        }

        func textTable(_ heading: String, _ cell: (Series, Int) -> String?) {
            output.append(heading)
            let cells = series.map { item in threads.map { cell(item, $0) ?? "-" } }
            // An item is a series' label and its cells, one per thread count.
            typealias Line = (label: String, cells: [String])
            var columns = [TablePrinter<Line>.Column(
                title: "scheme", width: (["scheme"] + series.map(\.label)).map(\.count).max()!, alignment: .left) { $0.label }]
            for (index, title) in titles.enumerated() {
                let width = ([title] + cells.map { $0[index] }).map(\.count).max()!
                columns.append(.init(title: title, width: width, alignment: .right) { $0.cells[index] })
            }
            let printer = TablePrinter<Line>(columns: columns)
            output.append(printer.header)
            for (item, row) in zip(series, cells) { output.append(printer.line(for: (item.label, row))) }
        }

        let footnote = oversubscribed.isEmpty ? "" : "; * more threads than online CPUs"
        textTable("workload \(workload): median Mops/s over valid repetitions [95% interval]\(footnote)") { item, count in
            guard let median = item.medians[count] ?? nil else { return nil }
            let text = fixed(median / 1e6, decimals: 2)
            guard let interval = item.interval(count), (item.values[count]?.count ?? 0) > 1 else { return text + " (n=1)" }
            let range = " [\(fixed(interval.lower / 1e6, decimals: 2)), \(fixed(interval.upper / 1e6, decimals: 2))]"
            return text + range + (interval.coverage < Statistics.confidence ? "~" : "")
        }
        output.append("")
        table("workload \(workload): speedup over 1 thread (median / median at 1 thread)", { item, count in
            guard let base = item.medians[1] ?? nil, base > 0, let value = item.medians[count] ?? nil else { return nil }
            return value / base
        }, decimals: 2)
        output.append("")
        if series.contains(where: { $0.scheme == "atomic" }) {
            table("workload \(workload): throughput ratio to atomic at the same threads (>1: faster)", { item, count in
                guard let baseline = atomicBaseline(for: item, among: series),
                      let base = baseline.medians[count] ?? nil, base > 0, let value = item.medians[count] ?? nil else { return nil }
                return value / base
            }, decimals: 2)
        } else {
            output.append("workload \(workload): no valid atomic rows, so no ratio to atomic")
        }
        output.append("")
        if series.contains(where: { $0.scheme == "noop" }) {
            textTable("workload \(workload): throughput over noop's, the harness floor (noop's time per op over the series'; 1: all harness)") { item, count in
                guard let floor = baseline("noop", for: item, among: series), let base = floor.medians[count] ?? nil, base > 0,
                      let value = item.medians[count] ?? nil else { return nil }
                let beats = floor.interval(count).map { value > $0.upper } ?? false
                return fixed(value / base, decimals: 2) + (beats && item.scheme != "noop" ? "!" : "")
            }
        } else {
            output.append("workload \(workload): no valid noop rows, so no harness floor")
        }
        return output
    }

    func hostHeading(_ host: String, _ rows: [CSVRow]) -> String {
        let first = rows[0]
        var machine: [String] = []
        if !first["cpu_model"].isEmpty { machine.append(first["cpu_model"]) }
        if !first["online_cpus"].isEmpty { machine.append("\(first["online_cpus"]) online CPUs") }
        let stamps = rows.map { $0["timestamp"] }.filter { !$0.isEmpty }.sorted()
        let invalid = rows.filter { !$0.isValid }.count
        var heading = "host \(host.isEmpty ? "(unknown)" : host)"
        if !machine.isEmpty { heading += " (\(machine.joined(separator: ", ")))" }
        if let earliest = stamps.first, let latest = stamps.last {
            heading += earliest == latest ? ", \(earliest)" : ", \(earliest) to \(latest)"
        }
        heading += ": \(rows.count) rows, \(invalid) invalid"
        let shared = rows.filter { (Double($0["other_load"]) ?? 0) > MachineLoad.busyThreshold }.count
        if shared > 0 { heading += ", \(shared) measured beside other work (other_load above \(MachineLoad.busyThreshold) CPUs)" }
        return heading
    }

    // MARK: Order and formatting

    func schemeRank(_ scheme: String) -> (Int, String) {
        if let index = Registry.schemes.firstIndex(where: { $0.name == scheme }) { return (index, "") }
        return (Registry.schemes.count, scheme)
    }

    func workloadOrder(_ left: String, _ right: String) -> Bool {
        func rank(_ name: String) -> (Int, String) {
            if let index = Registry.workloads.firstIndex(where: { $0.name == name }) { return (index, "") }
            return (Registry.workloads.count, name)
        }
        return rank(left) < rank(right)
    }
}

extension Report {
    /// The commands that plot and report a CSV file, ready to copy into a shell in the current
    /// directory: the plotting script and `bin/refscale` by relative path when the current
    /// directory is the checkout, else by absolute path (found above the running executable).
    public static func followUpCommands(csvPath: String, outDirectory: String) -> (plot: String, report: String) {
        let script = "Experiments/plot.py"
        var scriptPath = script
        if access(script, R_OK) != 0, let root = checkoutRoot(containing: script) { scriptPath = root + "/" + script }
        var refscale = "bin/refscale"
        if access(refscale, X_OK) != 0 { refscale = readLink("/proc/self/exe") ?? "refscale" }
        return (
            plot: "python3 \(shellQuoted(scriptPath)) \(shellQuoted(csvPath)) --out \(shellQuoted(outDirectory))",
            report: "\(shellQuoted(refscale)) report \(shellQuoted(csvPath))"
        )
    }

    /// The nearest directory above the running executable that holds `file`.
    static func checkoutRoot(containing file: String) -> String? {
        guard var directory = readLink("/proc/self/exe") else { return nil }
        for _ in 0..<5 {
            guard let slash = directory.lastIndex(of: "/"), slash != directory.startIndex else { return nil }
            directory = String(directory[..<slash])
            if access(directory + "/" + file, R_OK) == 0 { return directory }
        }
        return nil
    }
}

/// Two series' parameters name one configuration: every column equal but `scheme`, and those
/// one of the two leaves blank (a scheme option the other scheme does not use).
func sameConfiguration(_ left: [String: String], _ right: [String: String]) -> Bool {
    left.allSatisfy { column, value in
        column == "scheme" || value.isEmpty || (right[column] ?? "").isEmpty || right[column] == value
    }
}

/// `text` as one shell word: unchanged when it is plain, else in single quotes.
func shellQuoted(_ text: String) -> String {
    let plain = !text.isEmpty && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_./:=@%+-,".contains($0)) }
    return plain ? text : "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}

/// The distinct values in first-seen order.
func orderedUnique(_ values: [String]) -> [String] {
    var seen = Set<String>()
    return values.filter { seen.insert($0).inserted }
}

/// Compares runs of digits by value, so `objects=4` comes before `objects=16`.
func naturalOrder(_ left: String, _ right: String) -> Bool {
    func parts(_ text: String) -> [(isNumber: Bool, number: Double, text: String)] {
        var result: [(Bool, Double, String)] = []
        var current = ""
        var currentIsNumber = false
        for character in text {
            let isDigit = character.isASCII && character.isNumber
            if !current.isEmpty && isDigit != currentIsNumber {
                result.append((currentIsNumber, Double(current) ?? 0, current))
                current = ""
            }
            current.append(character)
            currentIsNumber = isDigit
        }
        if !current.isEmpty { result.append((currentIsNumber, Double(current) ?? 0, current)) }
        return result
    }
    let (a, b) = (parts(left), parts(right))
    for (x, y) in zip(a, b) {
        if x.isNumber && y.isNumber {
            if x.number != y.number { return x.number < y.number }
        } else if x.text != y.text {
            return x.text < y.text
        }
    }
    return a.count < b.count
}

/// `value` with exactly `decimals` digits after the point, as a table wants them aligned.
func fixed(_ value: Double, decimals: Int) -> String {
    guard value.isFinite else { return "-" }
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    // A value read from a file may be beyond `Int64`, whose conversion traps.
    guard abs(value) * scale < 9e18 else { return String(value) }
    let scaled = Int64((abs(value) * scale).rounded())
    let whole = scaled / Int64(scale)
    let fraction = String(scaled % Int64(scale))
    let sign = value < 0 && scaled != 0 ? "-" : ""
    guard decimals > 0 else { return sign + String(whole) }
    return sign + String(whole) + "." + String(repeating: "0", count: decimals - fraction.count) + fraction
}
