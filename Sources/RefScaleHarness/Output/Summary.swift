/// Medians over repetitions, one line per workload × scheme × context × thread count × variant
/// (the parameters that differ between the runs of a workload, named in the `variant` column).
public enum Summary {
    public static func lines(_ records: [RunRecord]) -> [String] {
        let parameters = ColumnCatalogue.names(withRole: .parameter).filter { $0 != "scheme" && $0 != "context" }
        // Per workload, the parameter columns that take more than one value.
        var varying: [String: [String]] = [:]
        for workload in Set(records.map(\.request.workload.name)) {
            let same = records.filter { $0.request.workload.name == workload }
            varying[workload] = parameters.filter { column in Set(same.map { $0[column].text }.filter { !$0.isEmpty }).count > 1 }
        }
        func variant(_ record: RunRecord) -> String {
            varying[record.request.workload.name]!.map { ($0, record[$0].text) }.filter { !$0.1.isEmpty }
                .map { "\($0.0)=\($0.1)" }.joined(separator: " ")
        }
        var groups: [String: [RunRecord]] = [:]
        var order: [String] = []
        for record in records {
            let request = record.request
            let key = [request.workload.name, request.scheme.name, request.context.rawValue, variant(record), String(request.threads)]
                .joined(separator: "|")
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(record)
        }
        let variantWidth = records.map { variant($0).count }.max() ?? 0
        typealias Group = [RunRecord]
        let variantColumn: [TablePrinter<Group>.Column] = variantWidth == 0 ? [] : [.init(title: "variant", width: variantWidth) { variant($0[0]) }]
        let printer = TablePrinter<Group>(columns: [
            .init(title: "workload", width: 10) { $0[0].request.workload.name },
            .init(title: "scheme", width: 12) { $0[0].request.scheme.name },
        ] + variantColumn + [
            .init(title: "context", width: 9) { $0[0].request.context.rawValue },
            .init(title: "threads", width: 7) { String($0[0].request.threads) + ($0[0].isOversubscribed ? "*" : "") },
            .init(title: "median Mops/s", width: 13) { group in
                median(group.filter(\.isValid).map(\.operationsPerSecond)).map { Cell.rounded($0 / 1e6, decimals: 2) } ?? "-"
            },
            .init(title: "median ns/op", width: 12) { group in
                median(group.filter(\.isValid).compactMap(\.nanosecondsPerOperation)).map { Cell.rounded($0, decimals: 3) } ?? "-"
            },
            .init(title: "valid", width: 5) { group in "\(group.filter(\.isValid).count)/\(group.count)" },
        ])
        return [printer.header] + order.map { printer.line(for: groups[$0]!) }
    }

    public static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
