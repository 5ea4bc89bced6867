import CRefScale
import RefScale

/// `refscale stress --module`: rounds of a real HPy module's functions (`--workload hpy`) under
/// the debug context in collect mode, each round on one scheme of `Stress.rotation`, every
/// function of the round called by every worker. Nothing is injected: whatever the debug
/// contexts report is the module's own breach of the handle contract.
///
/// Invariants:
/// - Every check happens in `plan`, before any worker thread starts: the options, then each
///   function as `run --workload hpy` checks it (`RunArguments`, `RunRequest.validate`, hence
///   `HPyPlans`: the file, its ABI, the function, the arguments' count and spelling), then the
///   module's trial call of each function on the main thread (`Runner.trial`). Any of them
///   failing is bad input.
/// - A scheme of the rotation that refuses the workload (a skippable refusal of
///   `RunRequest.validate`) leaves the rotation and is named once; no scheme is named here.
/// - A round passes when every run's counts validated and its debug contexts reported nothing;
///   the command passes when every round did.
/// - A finding is one distinct report: the function called, the violation's kind, the
///   operation and the extension function the report names. Each is kept once, with the first
///   report that made it and how often it recurred.
public enum ModuleStress {
    /// One function to call, with its arguments as `--hpy-args` spells them (`none`: no argument).
    public struct Call: Sendable, Equatable {
        public var function: String
        public var arguments: String

        public init(function: String, arguments: String = "none") {
            self.function = function
            self.arguments = arguments
        }

        /// `add(2,3)`, `total(list:100)`, `noargs()`.
        public var label: String { "\(function)(\(arguments == "none" ? "" : arguments))" }
    }

    /// Pairs repeated `--function` and `--hpy-args` in order: either no `--hpy-args` at all
    /// (no function takes an argument) or exactly one per `--function`.
    public static func calls(functions: [String], arguments: [String]) throws -> [Call] {
        guard !functions.isEmpty else { throw UsageError("stress --module needs --function NAME (repeat it for several)") }
        if arguments.isEmpty { return functions.map { Call(function: $0) } }
        guard arguments.count == functions.count else {
            throw UsageError("--hpy-args given \(arguments.count) time(s) for \(functions.count) --function; give one per --function, in order (none for no argument)")
        }
        return zip(functions, arguments).map { Call(function: $0, arguments: $1) }
    }

    public struct Options: Sendable {
        /// Threads, seconds, seed, debug options and the rotation's labels; its `inject` stays empty.
        public var stress: Stress.Options
        public var module: String
        public var calls: [Call]

        public init(stress: Stress.Options, module: String, calls: [Call]) {
            self.stress = stress
            self.module = module
            self.calls = calls
            self.stress.inject = []
        }

        /// The options that make `stress` run round `round` of these options on its own.
        public func reproduction(round: Int, label: String) -> String {
            var words = [
                "refscale stress", "--module \(module)",
            ] + calls.map { "--function \($0.function) --hpy-args \($0.arguments)" } + [
                "--threads \(stress.threads)", "--seconds \(stress.roundSeconds)", "--round-seconds \(stress.roundSeconds)",
                "--seed \(stress.seed &+ UInt64(round))", "--scheme \(label)", "--closed-queue \(stress.debug.closedQueue)",
            ]
            if stress.debug.backtraces { words.append("--backtraces") }
            return words.joined(separator: " ")
        }
    }

    /// The rotation that accepts the module's functions, one request per function for each
    /// entry, and the entries left out with the reason.
    public struct Plan: Sendable {
        public var entries: [(label: String, requests: [RunRequest])]
        public var skipped: [(label: String, reason: String)]
    }

    /// Checks everything (see the invariants) and makes the plan; throws `UsageError` for bad input.
    public static func plan(_ options: Options) throws -> Plan {
        try options.stress.validate()
        let rotation = options.stress.schemes.isEmpty
            ? Stress.rotation : Stress.rotation.filter { options.stress.schemes.contains($0.label) }
        var entries: [(label: String, requests: [RunRequest])] = []
        var skipped: [(label: String, reason: String)] = []
        for entry in rotation {
            do {
                entries.append((entry.label, try options.calls.map { try request($0, entry: entry, options: options) }))
            } catch let refusal as UsageError where refusal.skippable {
                skipped.append((entry.label, refusal.description))
            }
        }
        guard let first = entries.first else {
            throw UsageError("no scheme of the rotation runs the hpy workload: \(skipped.map { "\($0.label): \($0.reason)" }.joined(separator: "; "))")
        }
        try Runner.trialExtensionCode(first.requests)
        return Plan(entries: entries, skipped: skipped)
    }

    /// `run --workload hpy`'s request for one call on one entry of the rotation, checked.
    static func request(_ call: Call, entry: (label: String, scheme: String, options: SchemeOptions), options: Options) throws -> RunRequest {
        var arguments = RunArguments(scheme: entry.scheme, workload: HPyWorkload.name)
        arguments.threads = String(options.stress.threads)
        arguments.duration = options.stress.roundSeconds
        arguments.warmup = 0
        arguments.repetitions = 1
        arguments.seed = options.stress.seed
        arguments.context = ContextKind.debug.rawValue
        arguments.declared = [
            HPyWorkload.module.name: options.module, HPyWorkload.function.name: call.function,
            HPyWorkload.arguments.name: call.arguments,
        ]
        guard var request = try arguments.requests().first else { throw UsageError("no run for \(call.label)") }
        var schemeOptions = entry.options
        schemeOptions.debug = options.stress.debug
        request.schemeOptions = schemeOptions
        try request.validate()
        return request
    }

    /// One function's run in a round.
    public struct FunctionRun: Sendable {
        public var call: Call
        /// The workers' calls of the function (each worker's set-up and teardown left out).
        public var calls: Int
        /// Every violation the debug contexts found, by kind, and the reports they kept.
        public var counts: [ViolationKind: Int]
        public var reports: [ViolationReport]
        /// Nil when every count was exact.
        public var validationError: String?

        public init(call: Call, calls: Int, counts: [ViolationKind: Int], reports: [ViolationReport], validationError: String?) {
            self.call = call
            self.calls = calls
            self.counts = counts
            self.reports = reports
            self.validationError = validationError
        }

        public var violations: Int { counts.values.reduce(0, +) }
        public var passed: Bool { validationError == nil && violations == 0 }
    }

    public struct Round: Sendable {
        public var number: Int
        public var label: String
        public var seed: UInt64
        public var runs: [FunctionRun]

        public var passed: Bool { runs.allSatisfy(\.passed) }
        public var countsExact: Bool { runs.allSatisfy { $0.validationError == nil } }
    }

    /// A distinct report: what it is about, the first report of it, and how often it recurred.
    public struct Finding: Sendable {
        public var call: Call
        public var kind: ViolationKind
        public var operation: String
        public var extensionFunction: String?
        public var first: ViolationReport
        /// Reports of it kept (each thread keeps its first reports; the counts have them all).
        public var occurrences: Int
        /// The rounds where it was reported.
        public var rounds: Int
    }

    /// The distinct reports of `rounds`, in the order first found.
    public static func findings(_ rounds: [Round]) -> [Finding] {
        var findings: [Finding] = []
        for round in rounds {
            var seen = Set<Int>()
            for run in round.runs {
                for report in run.reports {
                    let index = findings.firstIndex {
                        $0.call == run.call && $0.kind == report.kind && $0.operation == report.operationName
                            && $0.extensionFunction == report.extensionFunction
                    }
                    if let index {
                        findings[index].occurrences += 1
                        if seen.insert(index).inserted { findings[index].rounds += 1 }
                    } else {
                        seen.insert(findings.count)
                        findings.append(Finding(
                            call: run.call, kind: report.kind, operation: report.operationName,
                            extensionFunction: report.extensionFunction, first: report, occurrences: 1, rounds: 1))
                    }
                }
            }
        }
        return findings
    }

    public struct Summary: Sendable {
        public var rounds: [Round] = []

        public var passed: Bool { !rounds.isEmpty && rounds.allSatisfy(\.passed) }
        public var violations: Int { rounds.reduce(0) { $0 + $1.runs.reduce(0) { $0 + $1.violations } } }
        public var calls: Int { rounds.reduce(0) { $0 + $1.runs.reduce(0) { $0 + $1.calls } } }
        public var exactRounds: Int { rounds.filter(\.countsExact).count }
        public var findings: [Finding] { ModuleStress.findings(rounds) }
    }

    /// Runs round `number`: the plan's next entry, seeded `seed + number`, each function in turn.
    public static func round(_ number: Int, plan: Plan, options: Options) throws -> Round {
        let entry = plan.entries[number % plan.entries.count]
        let seed = options.stress.seed &+ UInt64(number)
        var runs: [FunctionRun] = []
        for (call, planned) in zip(options.calls, entry.requests) {
            var request = planned
            request.seed = seed
            let outcome = try Runner.run(request).outcome
            let contract = outcome.contract ?? ContractSummary()
            runs.append(FunctionRun(
                call: call, calls: outcome.extensionCalls?.calls ?? 0, counts: contract.counts.filter { $0.value > 0 },
                reports: contract.reports, validationError: outcome.validationError))
        }
        return Round(number: number, label: entry.label, seed: seed, runs: runs)
    }

    /// Rounds until `options.stress.seconds` have passed (at least one), each reported through
    /// `progress`.
    public static func run(_ plan: Plan, options: Options, progress: (Round) -> Void = { _ in }) throws -> Summary {
        var summary = Summary()
        let start = crefscale_clock_monotonic_ns()
        var number = 0
        repeat {
            let round = try round(number, plan: plan, options: options)
            summary.rounds.append(round)
            progress(round)
            number += 1
        } while Double(crefscale_clock_monotonic_ns() - start) / 1e9 < options.stress.seconds
        return summary
    }
}
