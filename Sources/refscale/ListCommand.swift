import ArgumentParser
import RefScale

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Lists schemes, workloads and contexts, one line each, with the options each one reads.")

    func run() {
        let names = Registry.schemes.map(\.name) + Registry.workloads.map(\.name) + ContextKind.allCases.map(\.rawValue)
        let width = names.map(\.count).max()! + 2
        func line(_ name: String, _ summary: String) -> String {
            "  " + name + String(repeating: " ", count: width - name.count) + summary
        }
        func options(_ declarations: [OptionDeclaration]) {
            for option in declarations {
                print(line("", "\(option.flag) \(option.form.placeholder): \(option.helpLine)"))
            }
        }
        print("schemes:")
        for scheme in Registry.schemes {
            print(line(scheme.name, scheme.summary))
            options(scheme.declaredOptions)
        }
        print("workloads:")
        for workload in Registry.workloads {
            print(line(workload.name, workload.summary))
            options(workload.declaredOptions)
        }
        print("contexts:")
        ContextKind.allCases.forEach { print(line($0.rawValue, $0.summary)) }
    }
}
