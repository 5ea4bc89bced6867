/// `report --compare` and `report --compare-schemes`: for each configuration both sides hold,
/// the ratio of median throughputs (second side over first: above 1, the second is faster), its
/// 95% interval (`Statistics.ratioInterval`) and the two-sided Mann-Whitney U test of the two
/// sides' valid repetitions (`Statistics.mannWhitneyU`); a difference is significant when p is
/// below `significanceLevel`.
public struct Comparison {
    public static let significanceLevel = 0.05

    /// One side: the rows of one file, or of one scheme.
    public struct Side {
        public var name: String
        public var rows: [CSVRow]
        public init(name: String, rows: [CSVRow]) {
            self.name = name
            self.rows = rows
        }
    }

    let first: Side
    let second: Side
    /// True when the sides are two schemes of one file: configurations then match on every
    /// parameter but `scheme` (and what one scheme leaves blank).
    let acrossSchemes: Bool

    /// Two files: a configuration is every parameter column, the workload and the thread count.
    public static func files(_ first: Side, _ second: Side) -> Comparison {
        Comparison(first: first, second: second, acrossSchemes: false)
    }

    /// Two schemes in the same rows.
    public static func schemes(_ first: String, _ second: String, rows: [CSVRow]) -> Comparison {
        Comparison(first: Side(name: first, rows: rows.filter { $0["scheme"] == first }),
                   second: Side(name: second, rows: rows.filter { $0["scheme"] == second }), acrossSchemes: true)
    }

    struct Configuration {
        var label: String
        var workload: String
        var threads: Int
        var parameters: [String: String]
        var values: [Double]
    }

    /// The valid rows of a side grouped into configurations, in first-seen order.
    func configurations(_ side: Side, naming: [String]) -> [Configuration] {
        var groups: [[String]: [CSVRow]] = [:]
        var order: [[String]] = []
        for row in side.rows {
            let key = [row["workload"], row["threads"]] + naming.map { row[$0] }
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(row)
        }
        return order.map { key in
            let members = groups[key]!
            let parameters = Dictionary(uniqueKeysWithValues: zip(naming, key.dropFirst(2)))
            let varying = naming.filter { column in
                column != "scheme" && Set(side.rows.map { $0[column] }).count > 1
            }
            let label = ([parameters["scheme"] ?? ""] + varying.compactMap { column in
                let value = parameters[column] ?? ""
                return value.isEmpty ? nil : (value.first!.isLetter ? value : "\(column)=\(value)")
            }).joined(separator: " ")
            return Configuration(
                label: label, workload: key[0], threads: Int(key[1]) ?? 0, parameters: parameters,
                values: members.filter(\.isValid).compactMap { Double($0["ops_per_s"]) })
        }
    }

    struct Line {
        var configuration: String
        var workload: String
        var threads: Int
        var first: [Double]
        var second: [Double]
    }

    func pairs(naming: [String]) -> [Line] {
        let left = configurations(first, naming: naming)
        let right = configurations(second, naming: naming)
        var lines: [Line] = []
        for a in left {
            let matches = right.filter { b in
                b.workload == a.workload && b.threads == a.threads
                    && (acrossSchemes ? sameConfiguration(a.parameters, b.parameters) : a.parameters == b.parameters)
            }
            guard matches.count == 1, let b = matches.first else { continue }
            lines.append(Line(configuration: acrossSchemes ? (a.label.split(separator: " ").dropFirst().joined(separator: " ")) : a.label,
                              workload: a.workload, threads: a.threads, first: a.values, second: b.values))
        }
        return lines
    }

    /// The comparison's lines; throws a usage error when the sides share no configuration.
    public func lines(naming: [String]) throws -> [String] {
        let lines = pairs(naming: naming)
        guard !lines.isEmpty else {
            throw UsageError("\(first.name) and \(second.name) share no configuration (same workload, threads and parameters) to compare")
        }
        typealias Row = (line: Line, cells: [String])
        let rows: [Row] = lines.map { line in
            var cells = [line.workload, line.configuration.isEmpty ? "-" : line.configuration, String(line.threads),
                         "\(line.first.count)", "\(line.second.count)"]
            guard let a = Statistics.median(line.first), let b = Statistics.median(line.second), a > 0 else {
                return (line, cells + ["-", "-", "-", "-", "-", "no valid rows on one side"])
            }
            cells += [fixed(a / 1e6, decimals: 2), fixed(b / 1e6, decimals: 2), fixed(b / a, decimals: 3)]
            if let interval = Statistics.ratioInterval(line.first, line.second) {
                cells.append("[\(fixed(interval.lower, decimals: 3)), \(fixed(interval.upper, decimals: 3))]"
                             + (interval.coverage < Statistics.confidence ? "~" : ""))
            } else {
                cells.append("-")
            }
            let test = Statistics.mannWhitneyU(line.first, line.second)
            cells.append(fixed(test.pValue, decimals: 4))
            cells.append(verdict(test, line.first.count, line.second.count))
            return (line, cells)
        }
        let titles = ["workload", acrossSchemes ? "parameters" : "configuration", "threads", "n1", "n2",
                      "Mops/s 1", "Mops/s 2", "ratio", "95% interval", "p", "difference"]
        let printer = TablePrinter<Row>(columns: titles.indices.map { index in
            // The last column is not padded, so no line ends in spaces.
            let width = index == titles.count - 1 ? 0 : ([titles[index]] + rows.map { $0.cells[index] }).map(\.count).max()!
            let alignment: TablePrinter<Row>.Column.Alignment = [0, 1, 10].contains(index) ? .left : .right
            return .init(title: titles[index], width: width, alignment: alignment) { $0.cells[index] }
        })
        return [
            "compare: 1 = \(first.name), 2 = \(second.name); ratio = median ops/s of 2 over 1 (>1: 2 is faster)",
            printer.header,
        ] + rows.map { printer.line(for: $0) } + [
            "",
            "ratio interval: Moses' distribution-free 95% interval for a shift, on log ops/s (~: too few repetitions for 95%; the widest interval, with less)",
            "test: two-sided Mann-Whitney U on the valid repetitions' ops/s (exact null distribution when a side has at most 8 values and there are no ties, else the normal approximation with tie and continuity corrections); significant when p < \(Comparison.significanceLevel)",
        ]
    }

    func verdict(_ test: Statistics.RankTest, _ n1: Int, _ n2: Int) -> String {
        if test.pValue < Comparison.significanceLevel { return "significant (\(test.method))" }
        // The smallest p-value these sizes can give: every value of one side below every value of
        // the other, 2 / C(n1 + n2, n1).
        let smallest = 2 * (Statistics.uDistribution(n1, n2).first ?? 1)
        if smallest >= Comparison.significanceLevel {
            return "cannot tell: \(n1) against \(n2) repetitions cannot reach p < \(Comparison.significanceLevel)"
        }
        return "not significant (\(test.method))"
    }
}
