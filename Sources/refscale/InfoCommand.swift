import ArgumentParser
import RefScaleHarness

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describes the machine and the build: CPUs, cores, caches, NUMA nodes, the embedded Python, Swift.")

    @Flag(help: "Print JSON for machines rather than lines for people.") var json = false

    func run() throws {
        let report = MachineReport.current()
        if json {
            print(try report.json())
        } else {
            report.lines.forEach { print($0) }
        }
    }
}
