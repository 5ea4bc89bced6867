import Testing
@testable import RefScale
@testable import RefScaleHarness

/// `stress --module`'s parts that need no module and start no thread: pairing the repeated
/// `--function` and `--hpy-args`, what makes a round pass, the distinct reports, and the
/// refusals `plan` makes before any round. Whole runs on real modules: Tests/hpy-stress-tests.sh.
@Suite struct ModuleStressTests {
    @Test func functionsPairWithTheirArgumentsInOrder() throws {
        let calls = try ModuleStress.calls(functions: ["add", "newPerson"], arguments: ["2,3", "none"])
        #expect(calls == [ModuleStress.Call(function: "add", arguments: "2,3"), ModuleStress.Call(function: "newPerson")])
        #expect(calls.map(\.label) == ["add(2,3)", "newPerson()"])
    }

    @Test func functionsWithoutHPyArgsTakeNoArgument() throws {
        #expect(try ModuleStress.calls(functions: ["noargs", "allocate_int"], arguments: []).map(\.arguments) == ["none", "none"])
    }

    @Test func hpyArgsNotOnePerFunctionAreRefused() {
        #expect(throws: UsageError.self) { try ModuleStress.calls(functions: ["add", "add"], arguments: ["2,3"]) }
        #expect(throws: UsageError.self) { try ModuleStress.calls(functions: ["add"], arguments: ["2,3", "4,5"]) }
        #expect(throws: UsageError.self) { try ModuleStress.calls(functions: [], arguments: []) }
    }

    static func report(_ kind: ViolationKind, thread: Int = 2, handle: UInt64 = 0x10, in function: String?) -> ViolationReport {
        ViolationReport(
            kind: kind, thread: thread, handle: handle, operationIndex: 7, openedAt: 3, closedAt: -1, owner: thread, depth: 1,
            handleDepth: 1, operation: .exitScope, extensionFunction: function)
    }

    static func run(_ call: ModuleStress.Call, _ reports: [ViolationReport], validationError: String? = nil) -> ModuleStress.FunctionRun {
        ModuleStress.FunctionRun(
            call: call, calls: 100, counts: reports.reduce(into: [:]) { $0[$1.kind, default: 0] += 1 }, reports: reports,
            validationError: validationError)
    }

    @Test func aRoundPassesOnlyWithExactCountsAndNoReport() {
        let add = ModuleStress.Call(function: "add", arguments: "2,3")
        let clean = ModuleStress.Round(number: 0, label: "atomic", seed: 1, runs: [Self.run(add, [])])
        let inexact = ModuleStress.Round(number: 1, label: "biased", seed: 2, runs: [Self.run(add, [], validationError: "object 3 never freed")])
        let reported = ModuleStress.Round(number: 2, label: "arena", seed: 3, runs: [Self.run(add, [Self.report(.leak, in: "m.add")])])
        #expect(clean.passed && clean.countsExact)
        #expect(!inexact.passed && !inexact.countsExact)
        #expect(!reported.passed && reported.countsExact)
        #expect(ModuleStress.Summary(rounds: [clean]).passed)
        #expect(!ModuleStress.Summary(rounds: [clean, reported]).passed)
        #expect(!ModuleStress.Summary(rounds: []).passed)
        #expect(ModuleStress.Summary(rounds: [clean, inexact, reported]).violations == 1)
    }

    @Test func eachDistinctReportIsKeptOnceWithItsFirstAndHowOftenItRecurred() {
        let setName = ModuleStress.Call(function: "Person.setName", arguments: "str:Ada")
        let stash = ModuleStress.Call(function: "stash", arguments: "7")
        let rounds = [
            ModuleStress.Round(number: 0, label: "atomic", seed: 1, runs: [
                Self.run(setName, [Self.report(.leak, thread: 2, handle: 0x1, in: "m.Person.setName"),
                                   Self.report(.leak, thread: 3, handle: 0x2, in: "m.Person.setName")]),
                Self.run(stash, [Self.report(.wrongThread, in: "m.stash")]),
            ]),
            ModuleStress.Round(number: 1, label: "biased", seed: 2, runs: [
                Self.run(setName, [Self.report(.leak, thread: 3, handle: 0x9, in: "m.Person.setName")]),
                Self.run(stash, [Self.report(.leak, in: "m's exec slot")]),
            ]),
        ]
        let findings = ModuleStress.findings(rounds)
        #expect(findings.map(\.kind) == [.leak, .wrongThread, .leak])
        #expect(findings.map(\.extensionFunction) == ["m.Person.setName", "m.stash", "m's exec slot"])
        #expect(findings.map(\.call.function) == ["Person.setName", "stash", "stash"])
        #expect(findings.map(\.occurrences) == [3, 1, 1])
        #expect(findings.map(\.rounds) == [2, 1, 1])
        #expect(findings[0].first.handle == 0x1)
    }

    @Test func badModuleInputIsRefusedBeforeAnyRound() {
        var stress = Stress.Options(threads: 1, seconds: 0.01, seed: 1, inject: ViolationKind.injectable)
        stress.roundSeconds = 0.01
        let missing = ModuleStress.Options(stress: stress, module: "/nonexistent/m.hpy0.so", calls: [.init(function: "f")])
        #expect(missing.stress.inject.isEmpty)
        #expect(throws: UsageError.self) { try ModuleStress.plan(missing) }
        var noopOnly = missing
        noopOnly.stress.schemes = ["noop"]
        #expect(throws: UsageError.self) { try ModuleStress.plan(noopOnly) }
    }
}
