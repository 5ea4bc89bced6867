import CRefScale
import RefScale

/// `refscale stress`: rounds of random legal streams (`StressWorkload`) under the debug context
/// in collect mode, each on one scheme of the rotation, with violations injected at known
/// points. Each round checks that every injected violation was reported where it was injected,
/// that nothing else was reported, and that the run's counts are exact (the usual validation).
public enum Stress {
    public struct Options: Sendable {
        public var threads: Int
        public var seconds: Double
        public var seed: UInt64
        public var inject: [ViolationKind]
        public var debug = DebugOptions()
        /// The schemes of the rotation to use (`Stress.rotation` labels); all when empty.
        public var schemes: [String] = []
        public var roundSeconds = 0.25

        public init(threads: Int, seconds: Double, seed: UInt64, inject: [ViolationKind]) {
            self.threads = threads
            self.seconds = seconds
            self.seed = seed
            self.inject = inject
            debug.onViolation = .collect
        }

        public func validate() throws {
            try ResourceLimits.checkThreads(threads)
            try ResourceLimits.checkSeconds(seconds, flag: "--seconds")
            try ResourceLimits.checkSeconds(roundSeconds, flag: "--round-seconds")
            do {
                try debug.validate()
            } catch let error as ConfigurationError {
                throw UsageError(error.description)
            }
            for label in schemes where !Stress.rotation.contains(where: { $0.label == label }) {
                throw UsageError("unknown stress scheme '\(label)'; valid: \(Stress.rotation.map(\.label).joined(separator: ", "))")
            }
        }

        /// The options that make `stress` run round `round` of these options on its own.
        public func reproduction(round: Int, label: String) -> String {
            var words = [
                "refscale stress", "--threads \(threads)", "--seconds \(roundSeconds)", "--round-seconds \(roundSeconds)",
                "--seed \(seed &+ UInt64(round))", "--scheme \(label)",
                "--inject \(inject.isEmpty ? "none" : inject.map(\.rawValue).joined(separator: ","))",
                "--closed-queue \(debug.closedQueue)",
            ]
            if debug.backtraces { words.append("--backtraces") }
            return words.joined(separator: " ")
        }
    }

    /// The schemes stress runs, in turn: every thread-safe model in the registry with its
    /// defaults (the embedded interpreter's counting is CPython's own, not a model to check),
    /// then handle-local at its other widths: the hashed 16-bit index released eagerly, and the
    /// three slots HPy's own tag bit leaves.
    public static let rotation: [(label: String, scheme: String, options: SchemeOptions)] = {
        var wide = SchemeOptions()
        wide[HandleLocalScheme.handleIndex] = .high16
        wide[HandleLocalScheme.release] = .eager
        var hpy = SchemeOptions()
        hpy[HandleLocalScheme.handleIndex] = .low3HPy
        return Registry.schemes.filter { $0.isThreadSafe && $0.pythonVersion == nil }.map { ($0.name, $0.name, SchemeOptions()) }
            + [("handle-local/high16-eager", HandleLocalScheme.name, wide), ("handle-local/low3-hpy", HandleLocalScheme.name, hpy)]
    }()

    /// Injected, detected and falsely reported violations of one kind.
    public struct Tally: Sendable {
        public var injected = 0
        public var detected = 0
        public var falseAlarms = 0
        public var missed: Int { injected - detected }

        static func + (a: Tally, b: Tally) -> Tally {
            Tally(injected: a.injected + b.injected, detected: a.detected + b.detected, falseAlarms: a.falseAlarms + b.falseAlarms)
        }
    }

    public struct Round: Sendable {
        public var number: Int
        public var label: String
        public var seed: UInt64
        public var tallies: [ViolationKind: Tally]
        public var checkedOperations: Int
        public var elapsedSeconds: Double
        /// Nil when every count was exact.
        public var validationError: String?
        /// The first reports that matched no injection.
        public var falseReports: [ViolationReport]

        public var passed: Bool {
            validationError == nil && tallies.values.allSatisfy { $0.missed == 0 && $0.falseAlarms == 0 }
        }
    }

    /// Runs round `number`: the rotation's next scheme, seeded `seed + number`.
    public static func round(_ number: Int, options: Options) throws -> Round {
        let entries = options.schemes.isEmpty ? rotation : rotation.filter { options.schemes.contains($0.label) }
        let entry = entries[number % entries.count]
        let seed = options.seed &+ UInt64(number)
        let workload = StressWorkload(inject: options.inject)
        var schemeOptions = entry.options
        schemeOptions.debug = options.debug
        let request = RunRequest(
            scheme: try Registry.scheme(named: entry.scheme), workload: WorkloadEntry(instance: workload),
            schemeOptions: schemeOptions, threads: options.threads, duration: options.roundSeconds, warmup: 0, seed: seed,
            context: .debug)
        let start = crefscale_clock_monotonic_ns()
        let outcome = try Runner.run(request).outcome
        let elapsed = Double(crefscale_clock_monotonic_ns() - start) / 1e9
        let contract = outcome.contract ?? ContractSummary()

        // Injected: every pass each worker ran commits the pass's violations.
        var tallies: [ViolationKind: Tally] = [:]
        let plans = (0..<options.threads).map { workload.expectations(thread: $0, threads: options.threads, seed: seed) }
        var passes: [Int] = []
        for (worker, plan) in plans.enumerated() {
            let passOperations = workload.workerProgram(thread: worker, threads: options.threads, seed: seed).passOperations
            let count = passOperations > 0 ? outcome.workerOperations[worker] / passOperations : 0
            passes.append(count)
            for (kind, perPass) in plan.injectedPerPass { tallies[kind, default: Tally()].injected += perPass * count }
        }
        for kind in workload.injectable(threads: options.threads) where tallies[kind] == nil { tallies[kind] = Tally() }

        // Detected: reports at a call where that pass committed a violation of that kind.
        struct Key: Hashable {
            var worker: Int
            var pass: Int
            var offset: Int
            var kind: ViolationKind
        }
        var found: [Key: Int] = [:]
        var falseReports: [ViolationReport] = []
        func falseAlarm(_ report: ViolationReport) {
            tallies[report.kind, default: Tally()].falseAlarms += 1
            if falseReports.count < 5 { falseReports.append(report) }
        }
        for report in contract.reports {
            let worker = report.thread - 2
            guard worker >= 0 && worker < options.threads else { falseAlarm(report); continue }
            let plan = plans[worker]
            let call = report.operationIndex - plan.setupCalls
            guard call >= 0 && plan.passCalls > 0 && call / plan.passCalls < passes[worker] else { falseAlarm(report); continue }
            found[Key(worker: worker, pass: call / plan.passCalls, offset: call % plan.passCalls, kind: report.kind), default: 0] += 1
        }
        for (key, count) in found {
            let expected = plans[key.worker].perPass[key.offset]?[key.kind] ?? 0
            tallies[key.kind, default: Tally()].detected += min(count, expected)
            if count > expected {
                tallies[key.kind, default: Tally()].falseAlarms += count - expected
                if falseReports.count < 5,
                   let report = contract.reports.first(where: {
                       $0.thread - 2 == key.worker && $0.kind == key.kind
                           && $0.operationIndex == plans[key.worker].setupCalls + key.pass * plans[key.worker].passCalls + key.offset
                   }) {
                    falseReports.append(report)
                }
            }
        }
        // Reports a thread could not keep are counted but cannot be placed: they count as false.
        let kept = contract.reports.count
        if contract.total > kept {
            tallies[.invalidHandle, default: Tally()].falseAlarms += contract.total - kept
        }
        return Round(
            number: number, label: entry.label, seed: seed, tallies: tallies, checkedOperations: contract.checkedOperations,
            elapsedSeconds: elapsed, validationError: outcome.validationError, falseReports: falseReports)
    }

    public struct Summary: Sendable {
        public var rounds: [Round] = []
        public var tallies: [ViolationKind: Tally] = [:]
        public var checkedOperations = 0
        public var seconds = 0.0

        public var passed: Bool { !rounds.isEmpty && rounds.allSatisfy(\.passed) }
        public var operationsPerSecond: Double { seconds > 0 ? Double(checkedOperations) / seconds : 0 }
    }

    /// Rounds until `options.seconds` have passed (at least one), each reported through `progress`.
    public static func run(_ options: Options, progress: (Round) -> Void = { _ in }) throws -> Summary {
        var summary = Summary()
        let start = crefscale_clock_monotonic_ns()
        var number = 0
        repeat {
            let round = try round(number, options: options)
            summary.rounds.append(round)
            for (kind, tally) in round.tallies { summary.tallies[kind] = (summary.tallies[kind] ?? Tally()) + tally }
            summary.checkedOperations += round.checkedOperations
            summary.seconds += round.elapsedSeconds
            progress(round)
            number += 1
        } while Double(crefscale_clock_monotonic_ns() - start) / 1e9 < options.seconds
        return summary
    }
}
