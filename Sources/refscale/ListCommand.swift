import ArgumentParser
import RefScale

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Lists schemes, workloads and contexts, one line each, with the options each one reads.",
        discussion: "N takes an integer, X a number, a|b one of the words; every run also takes the options of `refscale run --help`.")

    func run() {
        let names = Registry.schemes.map(\.name) + DelegatedScheme.all.map(\.name) + Registry.workloads.map(\.name) + ContextKind.allCases.map(\.rawValue)
        let width = names.map(\.count).max()! + 2
        func line(_ name: String, _ summary: String) -> String {
            "  " + name + String(repeating: " ", count: width - name.count) + summary
        }
        func options(_ declarations: [OptionDeclaration]) {
            for option in declarations {
                print(line("", "\(option.flag) \(option.form.placeholder): \(option.helpLine)"))
            }
        }
        print("schemes (run --scheme NAME), each followed by the options only it reads:")
        for scheme in Registry.schemes {
            print(line(scheme.name, scheme.summary))
            options(scheme.declaredOptions)
        }
        for scheme in DelegatedScheme.all { print(line(scheme.name, scheme.summary + " (runs in a second build: \(scheme.launcher))")) }
        print("workloads (run --workload NAME), each followed by the options it reads:")
        for workload in Registry.workloads {
            print(line(workload.name, workload.summary))
            options(workload.declaredOptions)
        }
        print("contexts (run --context NAME): how the hot loop reaches the scheme:")
        ContextKind.allCases.forEach { print(line($0.rawValue, $0.summary)) }
        print("\nN takes an integer, X a number, a|b one of the words; `refscale run --help` lists the options every run takes.")
    }
}
