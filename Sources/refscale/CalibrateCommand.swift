import ArgumentParser
import RefScale
import RefScaleHarness

struct Calibrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Times the plain-C reference loops and refscale's kernels in one process; prints ratios.")

    @Option(help: "Measured interval of each refscale run, seconds.") var duration = 0.5

    func run() throws {
        let cores = min(2, MachineInfo.current.onlineCPUs)
        let atomicOne = Calibration.atomicPair(threads: 1)
        let atomicShared = Calibration.atomicPair(threads: cores)
        let plain = Calibration.plainPair()
        print("reference loops (C, -O2):")
        for reference in [atomicOne, atomicShared, plain] {
            print("  \(reference.name), \(reference.threads) thread(s): \(format(reference.nanosecondsPerOperation)) ns/op")
        }

        print("\nrefscale kernels (median of 3 runs of \(duration) s), against the reference:")
        let cases: [(scheme: String, workload: String, threads: Int, objects: Int?, reference: Calibration.Reference)] = [
            ("noop", "private", 1, nil, plain),
            ("noop", "shared-hot", cores, 1, plain),
            ("nonatomic", "private", 1, nil, plain),
            ("atomic", "private", 1, 1, atomicOne),
            ("atomic", "shared-hot", cores, 1, atomicShared),
            ("biased", "private", 1, nil, plain),
            ("handle-local", "private", 1, nil, plain),
            ("handle-local", "shared-hot", cores, 1, atomicShared),
        ]
        var invalid = 0
        for item in cases {
            var options = WorkloadOptions()
            options.objects = item.objects
            let runs = try (1...3).map { repetition in
                try Runner.run(RunRequest(
                    scheme: Registry.scheme(named: item.scheme), workload: Registry.workload(named: item.workload),
                    workloadOptions: options, threads: item.threads, duration: duration, repetition: repetition))
            }
            invalid += runs.filter { !$0.isValid }.count
            let median = Summary.median(runs.compactMap { Double($0["ns_per_op"]) }) ?? .nan
            let ratio = median / item.reference.nanosecondsPerOperation
            let label = "\(item.scheme) on \(item.workload), \(item.threads) thread(s)"
            print("  \(label.padding(44)) \(format(median).padding(8)) ns/op  = \(format(ratio)) × \(item.reference.name) (\(item.reference.threads) thread(s))")
        }
        invalid += try contextCosts()
        if invalid > 0 { throw HarnessError("\(invalid) calibration runs failed validation") }
    }

    /// What a context adds to each scheme: the same private stream on 1 thread, direct, through
    /// the universal table, and through the debug context; the difference is per operation.
    func contextCosts() throws -> Int {
        print("\ncontexts on private, 1 thread (median of 3 runs of \(duration) s), ns/op:")
        print("  \("scheme".padding(14))\("direct".padding(9))\("universal".padding(11))\("+universal".padding(12))\("x".padding(8))\("debug".padding(9))+debug over universal")
        var invalid = 0
        for scheme in Registry.schemes {
            var medians: [ContextKind: Double] = [:]
            for context in ContextKind.allCases {
                var request = RunRequest(
                    scheme: scheme, workload: try Registry.workload(named: "private"), threads: 1, duration: duration,
                    context: context)
                request.schemeOptions.debug.onViolation = .collect
                let runs = try (1...3).map { repetition in
                    request.repetition = repetition
                    return try Runner.run(request)
                }
                invalid += runs.filter { !$0.isValid }.count
                medians[context] = Summary.median(runs.compactMap { Double($0["ns_per_op"]) }) ?? .nan
            }
            let direct = medians[.direct]!, universal = medians[.universal]!, debug = medians[.debug]!
            print("  \(scheme.name.padding(14))\(format(direct).padding(9))\(format(universal).padding(11))\(("+" + format(universal - direct)).padding(12))\(format(universal / direct).padding(8))\(format(debug).padding(9))+\(format(debug - universal))")
        }
        return invalid
    }

    func format(_ value: Double) -> String {
        let scaled = (value * 100).rounded() / 100
        return String(scaled)
    }
}

extension String {
    func padding(_ width: Int) -> String { self + String(repeating: " ", count: max(0, width - count)) }
}
