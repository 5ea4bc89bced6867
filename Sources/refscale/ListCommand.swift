import ArgumentParser
import RefScale

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Lists schemes, workloads and contexts, one line each.")

    func run() {
        let width = (Registry.schemes.map(\.name) + Registry.workloads.map(\.name)).map(\.count).max()! + 2
        func line(_ name: String, _ summary: String) -> String {
            "  " + name + String(repeating: " ", count: width - name.count) + summary
        }
        print("schemes:")
        Registry.schemes.forEach { print(line($0.name, $0.summary)) }
        print("workloads:")
        Registry.workloads.forEach { print(line($0.name, $0.summary)) }
        print("contexts:")
        ContextKind.allCases.forEach { print(line($0.rawValue, $0.summary)) }
    }
}
