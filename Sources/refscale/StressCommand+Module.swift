import Foundation
import RefScale
import RefScaleHarness

/// `refscale stress --module`: the command-line side of `ModuleStress`. It turns the words into
/// options, prints one row per function and round as the rounds finish, then the summary and each
/// distinct report once. Every refusal is thrown by `ModuleStress.plan` before any thread starts.
extension StressCommand {
    func runModule(_ module: String) throws {
        if let inject, inject != "none" {
            throw UsageError("--inject \(inject) with --module: nothing is injected into a module's calls, whose own breaches are the finding (leave --inject out, or give none)")
        }
        let calls = try ModuleStress.calls(functions: function, arguments: hpyArgs)
        let options = ModuleStress.Options(stress: try self.options(), module: module, calls: calls)
        let plan = try ModuleStress.plan(options)
        if !plan.skipped.isEmpty {
            note("left out of the rotation: \(plan.skipped.map(\.reason).joined(separator: "; "))")
        }
        let stress = options.stress
        print("refscale stress: module \(module), \(calls.map(\.label).joined(separator: ", ")); \(stress.threads) threads, \(stress.seconds) s in rounds of \(stress.roundSeconds) s, seed \(stress.seed), nothing injected, closed queue \(stress.debug.closedQueue)")
        let printer = TablePrinter<(round: ModuleStress.Round, run: ModuleStress.FunctionRun)>(columns: [
            .init(title: "round", width: 5) { String($0.round.number) },
            .init(title: "scheme", width: 25) { $0.round.label },
            .init(title: "seed", width: 6) { String($0.round.seed) },
            .init(title: "function", width: 24) { $0.run.call.label },
            .init(title: "calls", width: 10) { String($0.run.calls) },
            .init(title: "reported", width: 8) { String($0.run.violations) },
            .init(title: "by kind", width: 40) { StressCommand.kindsText($0.run) },
            .init(title: "counts", width: 0) { $0.run.validationError.map { "NOT EXACT: " + $0 } ?? "exact" },
        ])
        printer.printHeader()
        var failures: [String] = []
        let summary = try ModuleStress.run(plan, options: options) { round in
            for run in round.runs { printer.print((round, run)) }
            if !round.passed {
                failures.append("round \(round.number) (\(round.label)); reproduce with: \(options.reproduction(round: round.number, label: round.label))")
            }
        }
        print("")
        print("\(summary.rounds.count) rounds, \(summary.calls) calls; counts exact in \(summary.exactRounds) of \(summary.rounds.count) rounds; \(summary.violations) violation(s) reported")
        let findings = summary.findings
        for finding in findings {
            let place = finding.extensionFunction.map { " in \($0)" } ?? ""
            print("\(finding.kind.rawValue)\(place), calling \(finding.call.label): \(finding.occurrences) report(s) kept, in \(finding.rounds) of \(summary.rounds.count) rounds; the first:")
            print(finding.first.fullText.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n"))
        }
        if summary.violations > 0 {
            throw HarnessError("the module broke the handle contract: \(summary.violations) violation(s), \(findings.count) distinct, in \(summary.rounds.filter { $0.runs.contains { $0.violations > 0 } }.count) of \(summary.rounds.count) rounds; first: \(failures.first ?? "?")")
        }
        if !summary.passed {
            throw HarnessError("counts not exact in \(summary.rounds.count - summary.exactRounds) of \(summary.rounds.count) rounds; first: \(failures.first ?? "?")")
        }
        print("no violation reported, every count exact")
    }

    /// `leak=12 (seedexample.Person.setName)`: each kind's count, with the extension functions its
    /// kept reports name; `-` when nothing was reported.
    static func kindsText(_ run: ModuleStress.FunctionRun) -> String {
        guard run.violations > 0 else { return "-" }
        return run.counts.keys.sorted().map { kind in
            let named = run.reports.filter { $0.kind == kind }.compactMap(\.extensionFunction)
            let functions = named.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return "\(kind.rawValue)=\(run.counts[kind]!)" + (functions.isEmpty ? "" : " (\(functions.joined(separator: ", ")))")
        }.joined(separator: "; ")
    }
}
