import ArgumentParser
import Foundation
import RefScale
import RefScaleHarness

struct StressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stress",
        abstract: "Random legal handle streams under the debug context, with contract violations injected at known points.",
        discussion: """
        Each round runs one scheme of the rotation (\(Stress.rotation.map(\.label).joined(separator: ", "))) \
        under --context debug with --on-violation collect, checks that every injected violation was reported where it \
        was injected and nothing else was, and validates the counts. Exits 0 only when every round passed.

        With --module FILE --function NAME [--hpy-args ARGS] (repeat the pair for several functions; give --hpy-args \
        for each --function or for none), each round instead calls the functions of a module built for HPy's universal \
        ABI, as run --workload hpy does, on every worker, under the same debug context; nothing is injected, and every \
        report is the module's own breach of the handle contract. Exits 0 only when every round's counts validated and \
        nothing was reported; 1 when the module broke the contract (each distinct report printed once).
        """)

    @Option(parsing: .unconditional, help: "Worker threads (default: twice the online CPUs; at most 16 times them).") var threads: Int?
    @Option(parsing: .unconditional, help: "Seconds of rounds; at least one round runs.") var seconds = 10.0
    @Option(parsing: .unconditional, help: "Seed; round r uses seed + r.") var seed: UInt64 = 1
    @Option(help: "Violation kinds to inject: all (the default), none, or a comma-separated list of \(ViolationKind.injectable.map(\.rawValue).joined(separator: ", ")); none with --module.")
    var inject: String?
    @Option(parsing: .unconditional, help: "Closed handles whose records wait before reuse.") var closedQueue = 1024
    @Option(help: "collect (count and check every report) or abort (stop at the first report, printing it).")
    var onViolation = "collect"
    @Flag(help: "Add the symbolised stack to each printed report.") var backtraces = false
    @Option(help: "Schemes of the rotation to use, comma-separated (default: all).") var scheme: String?
    @Option(parsing: .unconditional, help: "Seconds of each round's measured interval (at most --seconds).") var roundSeconds = 0.25
    @Option(parsing: .unconditional, help: "An HPy universal-ABI module (NAME.hpy0.so) whose functions each round calls, injecting nothing.")
    var module: String?
    @Option(parsing: .unconditionalSingleValue, help: "--module: a function to call (a module function, Type.method or Type); repeat for several.")
    var function: [String] = []
    @Option(parsing: .unconditionalSingleValue, help: "--module: the arguments of the --function at the same place, as run --workload hpy takes them; repeat once per --function.")
    var hpyArgs: [String] = []

    func options() throws -> Stress.Options {
        let kinds: [ViolationKind]
        do {
            kinds = try ViolationKind.parseList(inject ?? "all")
        } catch let error as ConfigurationError {
            throw UsageError("--inject: \(error.description)")
        }
        var options = Stress.Options(
            threads: threads ?? 2 * MachineInfo.current.onlineCPUs, seconds: seconds, seed: seed, inject: kinds)
        options.debug.closedQueue = closedQueue
        guard let policy = ViolationPolicy(rawValue: onViolation) else {
            throw UsageError("--on-violation must be abort or collect, got '\(onViolation)'")
        }
        options.debug.onViolation = policy
        options.debug.backtraces = backtraces
        options.schemes = scheme.map { $0.split(separator: ",").map(String.init) } ?? []
        options.roundSeconds = min(roundSeconds, seconds)
        try options.validate()
        return options
    }

    func run() throws {
        if let module {
            return try runModule(module)
        }
        if !function.isEmpty || !hpyArgs.isEmpty {
            throw UsageError("--function and --hpy-args need --module FILE")
        }
        let options = try options()
        let skipped = options.inject.filter { !StressWorkload(inject: options.inject).injectable(threads: options.threads).contains($0) }
        if !skipped.isEmpty {
            note("\(skipped.map(\.rawValue).joined(separator: " and ")) need(s) two threads or more; not injected")
        }
        print("refscale stress: \(options.threads) threads, \(options.seconds) s in rounds of \(options.roundSeconds) s, seed \(options.seed), inject \(inject ?? "all"), closed queue \(options.debug.closedQueue)")
        let printer = TablePrinter<Stress.Round>(columns: [
            .init(title: "round", width: 5) { String($0.number) },
            .init(title: "scheme", width: 25) { $0.label },
            .init(title: "seed", width: 6) { String($0.seed) },
            .init(title: "checked ops", width: 12) { String($0.checkedOperations) },
            .init(title: "Mops/s", width: 8) { String(format: "%.1f", Double($0.checkedOperations) / $0.elapsedSeconds / 1e6) },
            .init(title: "reported", width: 8) { String($0.tallies.values.reduce(0) { $0 + $1.detected + $1.falseAlarms }) },
            .init(title: "missed", width: 6) { String($0.tallies.values.reduce(0) { $0 + $1.missed }) },
            .init(title: "false", width: 5) { String($0.tallies.values.reduce(0) { $0 + $1.falseAlarms }) },
            .init(title: "counts", width: 0) { $0.validationError.map { "NOT EXACT: " + $0 } ?? "exact" },
        ])
        printer.printHeader()
        var failures: [String] = []
        let summary = try Stress.run(options) { round in
            printer.print(round)
            if !round.passed {
                for report in round.falseReports { print("  false alarm: \(report.fullText)") }
                let line = "round \(round.number) (\(round.label), seed \(round.seed)) failed; reproduce with: \(options.reproduction(round: round.number, label: round.label))"
                print("  " + line)
                failures.append(line)
            }
        }
        print("")
        let kinds = TablePrinter<(kind: ViolationKind, tally: Stress.Tally)>(columns: [
            .init(title: "kind", width: 16) { $0.kind.rawValue },
            .init(title: "injected", width: 10) { String($0.tally.injected) },
            .init(title: "detected", width: 10) { String($0.tally.detected) },
            .init(title: "missed", width: 8) { String($0.tally.missed) },
            .init(title: "false alarms", width: 12) { String($0.tally.falseAlarms) },
        ])
        kinds.printHeader()
        for kind in ViolationKind.allCases {
            if let tally = summary.tallies[kind] { kinds.print((kind, tally)) }
        }
        let exact = summary.rounds.filter { $0.validationError == nil }.count
        let seconds = String(format: "%.2f", summary.seconds)
        let rate = String(format: "%.1f", summary.operationsPerSecond / 1e6)
        print("")
        print("\(summary.rounds.count) rounds, \(summary.checkedOperations) checked operations in \(seconds) s (\(rate) M checked ops/s); counts exact in \(exact) of \(summary.rounds.count) rounds")
        if !summary.passed {
            throw HarnessError("stress failed in \(failures.count) round(s); first: \(failures.first ?? "?")")
        }
        print("every injected violation detected, no false alarm, every count exact")
    }
}
