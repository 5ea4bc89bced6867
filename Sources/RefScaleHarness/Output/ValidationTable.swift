import Glibc
import RefScale

/// What `refscale validate` reports per cell, from the rows of its runs: the model's and the real
/// runtime's median ns/op, their ratio (model over real: 1 is agreement, above 1 the model is
/// slower) with its interval, and the model's atomic read-modify-writes per operation. The ratio
/// and its interval are `Statistics`' (`ratioInterval`: Moses' interval on log values), the same
/// as `report --compare`'s.
///
/// The real runtime pays for something the model does not: a `new()` makes a real Python object
/// (an int, a str, a tuple, an instance) where the model takes a block from its pool. Both runs of
/// a cell perform the same stream, so the births are the same on both sides; `births_per_op`
/// (objects born per operation, from the real runs) says how much of a cell's ratio is made of
/// them, and the cells with births are named in the table's note and drawn apart in the figure.
/// A ratio there is the counting and the making together, not the counting alone.
public struct ValidationTable {
    /// The band within which a model is said to agree with its runtime.
    public static let agreement = (lower: 0.8, upper: 1.25)

    public struct Line {
        public var cell: Validation.Cell
        public var model: [RunRecord]
        public var real: [RunRecord]

        var modelValid: [RunRecord] { model.filter(\.isValid) }
        var realValid: [RunRecord] { real.filter(\.isValid) }
        /// ns/op of the valid runs that measured an operation within their interval.
        var modelValues: [Double] { modelValid.compactMap(\.nanosecondsPerOperation) }
        var realValues: [Double] { realValid.compactMap(\.nanosecondsPerOperation) }

        /// `measured`, `cannot run` (with the cell's refusal) or `invalid` (a side without a valid
        /// run that measured an operation).
        public var status: String {
            if cell.refusal != nil { return "cannot run" }
            return modelValues.isEmpty || realValues.isEmpty ? "invalid" : "measured"
        }

        public var reason: String {
            if let refusal = cell.refusal { return refusal }
            guard status == "invalid" else { return "" }
            let broken = (model + real).first { !$0.isValid }
            return broken?.problems.first ?? "a side measured no operation within --duration; give it longer"
        }

        public var modelNanoseconds: Double? { Statistics.median(modelValues) }
        public var realNanoseconds: Double? { Statistics.median(realValues) }

        /// Model ns/op over real ns/op.
        public var ratio: Double? {
            guard let model = modelNanoseconds, let real = realNanoseconds, real > 0 else { return nil }
            return model / real
        }

        public var ratioInterval: Statistics.Interval? {
            Statistics.ratioInterval(realValues, modelValues)
        }

        /// Atomic read-modify-writes per operation of the model over its whole runs (counters and
        /// `run_ops` both cover the whole run); nil for a model that does not count them.
        public var modelAtomicsPerOperation: Double? {
            guard let first = modelValid.first, first.request.scheme.reportedCounters.contains(.atomicRMW) else { return nil }
            return Statistics.median(modelValid.compactMap { record in
                let operations = record.outcome.workerOperations.reduce(0, +)
                return operations > 0 ? Double(record.outcome.counters[.atomicRMW]) / Double(operations) : nil
            })
        }

        /// Objects born per operation in the real runs.
        public var birthsPerOperation: Double? {
            Statistics.median(realValid.compactMap { record in
                let operations = record.outcome.workerOperations.reduce(0, +)
                return operations > 0 ? Double(record.outcome.objectsAllocated) / Double(operations) : nil
            })
        }

        public var agrees: Bool? {
            ratio.map { $0 >= ValidationTable.agreement.lower && $0 <= ValidationTable.agreement.upper }
        }
    }

    public let model: String
    public let real: String
    public let host: String
    public let lines: [Line]

    /// The lines of every cell, in the validation's order, each with its runs' records.
    public init(validation: Validation, records: [RunRecord], host: String) {
        model = validation.model.name
        real = validation.real.name
        self.host = host
        lines = validation.cells.map { cell in
            func belongs(_ record: RunRecord, to request: RunRequest?) -> Bool {
                guard let request else { return false }
                return record.request.scheme.name == request.scheme.name && record.request.workload.name == request.workload.name
                    && record.request.workloadOptions == request.workloadOptions && record.request.threads == request.threads
            }
            return Line(cell: cell, model: records.filter { belongs($0, to: cell.pair?.model) },
                        real: records.filter { belongs($0, to: cell.pair?.real) })
        }
    }

    public static let columns = [
        "model", "real", "cell", "workload", "shared_kind", "trace", "threads", "status", "reason", "model_reps", "real_reps",
        "model_ns_per_op", "real_ns_per_op", "ratio", "ratio_low", "ratio_high", "ratio_coverage", "agrees",
        "model_atomics_per_op", "births_per_op", "host",
    ]

    static func number(_ value: Double?, decimals: Int) -> String { value.map { fixed($0, decimals: decimals) } ?? "" }

    func fields(_ line: Line) -> [String] {
        let interval = line.ratioInterval
        return [
            model, real, line.cell.name, line.cell.workload, line.cell.sharedKind, line.cell.trace, String(line.cell.threads),
            line.status, line.reason, String(line.modelValues.count), String(line.realValues.count),
            ValidationTable.number(line.modelNanoseconds, decimals: 3), ValidationTable.number(line.realNanoseconds, decimals: 3),
            ValidationTable.number(line.ratio, decimals: 4), ValidationTable.number(interval?.lower, decimals: 4),
            ValidationTable.number(interval?.upper, decimals: 4), ValidationTable.number(interval?.coverage, decimals: 4),
            line.agrees.map { $0 ? "true" : "false" } ?? "",
            ValidationTable.number(line.modelAtomicsPerOperation, decimals: 4), ValidationTable.number(line.birthsPerOperation, decimals: 4),
            host,
        ]
    }

    /// The tidy CSV text: a header, then one row per cell, measured or not.
    public var csv: String {
        ([ValidationTable.columns] + lines.map(fields)).map(CSVWriter.line).joined()
    }

    /// Writes the CSV under a temporary name in the same directory and renames it into place, so
    /// the file is either whole or absent.
    public func write(to path: String) throws {
        let temporary = path + ".partial"
        guard let file = fopen(temporary, "wx") else {
            throw HarnessError("\(path): cannot create it: \(String(cString: strerror(errno)))")
        }
        let text = csv
        let written = fputs(text, file) >= 0
        guard fclose(file) == 0, written, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw HarnessError("\(path): cannot write it: \(String(cString: strerror(errno)))")
        }
    }

    /// The table `validate` prints, with its notes.
    public var printed: [String] {
        let titles = ["cell", "status", "model ns/op", "real ns/op", "ratio", "95% interval", "model atomics/op", "births/op"]
        let rows: [[String]] = lines.map { line in
            let interval = line.ratioInterval.map {
                "[\(fixed($0.lower, decimals: 3)), \(fixed($0.upper, decimals: 3))]" + ($0.coverage < Statistics.confidence ? "~" : "")
            }
            return [
                line.cell.name, line.status, ValidationTable.number(line.modelNanoseconds, decimals: 2),
                ValidationTable.number(line.realNanoseconds, decimals: 2), ValidationTable.number(line.ratio, decimals: 3),
                interval ?? "", ValidationTable.number(line.modelAtomicsPerOperation, decimals: 3),
                ValidationTable.number(line.birthsPerOperation, decimals: 3),
            ].map { $0.isEmpty ? "-" : $0 }
        }
        let printer = TablePrinter<[String]>(columns: titles.indices.map { index in
            let width = ([titles[index]] + rows.map { $0[index] }).map(\.count).max()!
            return .init(title: titles[index], width: width, alignment: index < 2 ? .left : .right) { $0[index] }
        })
        let refused = lines.filter { $0.cell.refusal != nil }.map { "  \($0.cell.name): \($0.reason)" }
        let invalid = lines.filter { $0.status == "invalid" }.map { "  \($0.cell.name): \($0.reason)" }
        let withBirths = lines.filter { ($0.birthsPerOperation ?? 0) > 0.001 }.map(\.cell.name)
        var text = ["validate: model \(model) beside real \(real); ratio = model ns/op over real ns/op (1: agreement; band [\(ValidationTable.agreement.lower), \(ValidationTable.agreement.upper)])",
                    printer.header] + rows.map { printer.line(for: $0) }
        text.append("")
        text.append("ratio interval: Moses' distribution-free 95% interval for a shift, on log ns/op (~: too few repetitions for 95%)")
        if !withBirths.isEmpty {
            text.append("births/op: in these cells the real runtime makes real objects where the model takes pool blocks; their ratio is counting and making together: \(withBirths.joined(separator: ", "))")
        }
        if !refused.isEmpty { text += ["cells that cannot run:"] + refused }
        if !invalid.isEmpty { text += ["cells without a measurement on a side:"] + invalid }
        return text
    }
}
