import ArgumentParser
import Foundation
import RefScale
import RefScaleHarness

struct Columns: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Lists the CSV columns with their roles and types, and the schemes and workloads in order.",
        discussion: "Experiments/plot.py reads `--json` to tell parameters from measurements.")

    @Flag(help: "Print JSON: {\"columns\": [{\"name\", \"role\", \"type\"}], \"schemes\": [...], \"workloads\": [...]}.")
    var json = false

    func run() throws {
        let columns = ColumnCatalogue.all
        if json {
            let object: [String: Any] = [
                "columns": columns.map { ["name": $0.name, "role": $0.role.rawValue, "type": $0.kind.rawValue] },
                "schemes": Registry.schemes.map(\.name),
                "workloads": Registry.workloads.map(\.name),
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let width = columns.map(\.name.count).max()! + 2
        for column in columns {
            print(column.name + String(repeating: " ", count: width - column.name.count) + "\(column.role.rawValue), \(column.kind.rawValue)")
        }
    }
}
