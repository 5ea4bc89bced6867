import RefScale

/// A sweep: every scheme × workload variant × scheme-option variant × thread count ×
/// repetition, each one run and one row. Experiment files (`ExperimentFile`) describe one.
public struct Experiment: Sendable {
    public var name: String
    public var schemes: [String]
    public var workloads: [(name: String, options: OptionValues)]
    /// Variants of the scheme options; a scheme runs once per variant of the options it uses.
    public var schemeOptions: [SchemeOptions] = [SchemeOptions()]
    /// Pinning and placement policies; every run is made once per combination.
    public var pins: [Pinning] = [.none]
    public var placements: [Placement] = [.local]
    /// The contexts every run is made under, each in turn.
    public var contexts: [ContextKind] = [.direct]
    public var threads: ThreadCounts
    public var repetitions: Int
    public var duration: Double
    public var warmup: Double
    public var seed: UInt64

    public enum ThreadCounts: Sendable, Equatable {
        case list([Int])
        /// 1, 2, 4, … up to the online CPUs, and the online CPUs themselves.
        case powersOfTwo
        /// 1 and the online CPUs.
        case oneAndAll

        public func resolve(onlineCPUs: Int) -> [Int] {
            switch self {
            case .list(let counts): return counts
            case .oneAndAll: return onlineCPUs > 1 ? [1, onlineCPUs] : [1]
            case .powersOfTwo:
                var counts = Array(sequence(first: 1) { $0 * 2 }.prefix { $0 <= onlineCPUs })
                if counts.last != onlineCPUs { counts.append(onlineCPUs) }
                return counts
            }
        }
    }

    /// The built-in experiment (`Experiments/default.json` says the same): every scheme ×
    /// private, shared-hot and two committed traces × 1 thread and every online CPU, 3
    /// repetitions of 0.5 s after 0.1 s of warm-up.
    public static let builtIn = Experiment(
        name: "default",
        schemes: Registry.schemes.map(\.name),
        workloads: ["private", "shared-hot"].map { ($0, OptionValues()) } + defaultTraces.map { ("trace", $0) },
        threads: .oneAndAll,
        repetitions: 3,
        duration: 0.5,
        warmup: 0.1,
        seed: 1
    )

    /// The committed traces the default experiment replays: a program whose threads call methods
    /// of one shared object (Experiments/traces/method_shared.py: interpreter events only), and
    /// one whose threads encode and decode JSON through the `_json` extension
    /// (Experiments/traces/json_shared.py: extension events, handles, on the same objects as the
    /// interpreter's), so a first sweep shows both kinds of site of a real program.
    static var defaultTraces: [OptionValues] {
        ["method_shared", "json_shared"].map { name in
            var options = OptionValues()
            options[TraceWorkload.trace] = "results/traces/\(name).rstrace"
            return options
        }
    }

    /// The runs, in order, and the combinations left out: a thread-unsafe scheme on objects
    /// threads share, or a thread count the workload cannot use, is skipped, not run and
    /// reported invalid.
    ///
    /// The runs go in rounds: repetition 1 of every combination, then repetition 2 of every
    /// combination, and so on. A shared host changes speed for minutes at a time (README, "The
    /// floor"); run back to back, one scheme's repetitions can all meet a slow spell that the
    /// next scheme's all miss, and a ratio of their medians then measures the host. In rounds,
    /// every combination's repetitions are spread over the whole sitting alike.
    public func requests(onlineCPUs: Int = MachineInfo.current.onlineCPUs) throws -> (runs: [RunRequest], skipped: [String]) {
        var combinations: [RunRequest] = []
        var skipped: [String] = []
        for workload in workloads {
            let workloadEntry = try Registry.workload(named: workload.name)
            for schemeName in schemes {
                let scheme = try Registry.scheme(named: schemeName)
                for options in variants(of: scheme) {
                    for context in contexts {
                        for (threadCount, pin, placement) in placedThreadCounts(onlineCPUs: onlineCPUs) {
                            let request = RunRequest(
                                scheme: scheme, workload: workloadEntry, workloadOptions: workload.options,
                                schemeOptions: options, threads: threadCount, duration: duration, warmup: warmup, seed: seed,
                                pin: pin, placement: placement, context: context)
                            do {
                                try request.validate()
                            } catch let error as UsageError where error.skippable {
                                if context == contexts[0] {
                                    skipped.append("\(scheme.name) on \(workloadEntry.name) with \(threadCount) thread(s): \(error.description)")
                                }
                                continue
                            }
                            combinations.append(request)
                        }
                    }
                }
            }
        }
        let rounds = (1...repetitions).flatMap { repetition in
            combinations.map { combination in
                var request = combination
                request.repetition = repetition
                return request
            }
        }
        return (rounds, skipped)
    }

    /// Every thread count with every pinning and placement policy, in that order.
    func placedThreadCounts(onlineCPUs: Int) -> [(threads: Int, pin: Pinning, placement: Placement)] {
        threads.resolve(onlineCPUs: onlineCPUs).flatMap { count in
            pins.flatMap { pin in placements.map { (count, pin, $0) } }
        }
    }

    /// The scheme-option variants that differ in an option the scheme uses.
    func variants(of scheme: SchemeEntry) -> [SchemeOptions] {
        var seen: [[OptionValue]] = []
        return schemeOptions.filter { options in
            let key = options.key(for: scheme.declaredOptions)
            if seen.contains(key) { return false }
            seen.append(key)
            return true
        }
    }
}
