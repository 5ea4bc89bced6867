import Testing
@testable import RefScaleHarness
import RefScale

/// The `numeric` workload through the real runner: every scheme keeps its counts on it, and
/// tagging shows in the objects the row says were allocated.
@Suite("numeric", .serialized, .tags(.threaded))
struct NumericRunTests {
    static func run(
        _ scheme: String, tagBits: Int? = nil, nanBoxing: NaNBoxingMode? = nil, threads: Int = 2, workload: OptionValues = OptionValues()
    ) throws -> RunRecord {
        var schemeOptions = SchemeOptions()
        if let tagBits { schemeOptions[HandleLocalScheme.tagBits] = tagBits }
        if let nanBoxing { schemeOptions[NaNBoxingMode.option] = nanBoxing }
        let request = RunRequest(
            scheme: try Registry.scheme(named: scheme), workload: try Registry.workload(named: "numeric"),
            workloadOptions: workload, schemeOptions: schemeOptions, threads: threads,
            duration: TestTiming.interval(0.05), warmup: 0.01)
        try request.validate()
        return try Runner.run(request)
    }

    static func allocationsPerOperation(_ row: RunRecord) -> Double {
        Double(row["objects_allocated"].text)! / Double(row["run_ops"].text)!
    }

    @Test(arguments: Registry.schemes.map(\.name))
    func everySchemeKeepsItsCounts(scheme: String) throws {
        let row = try Self.run(scheme)
        #expect(row.isValid, "\(scheme): \(row["validation_error"].text)")
        #expect(Self.allocationsPerOperation(row) > 0.1, "boxed numbers were not allocated")
    }

    @Test func oneTagBitAllocatesFiveTimesFewerObjectsAtNineTenthsInts() throws {
        var workload = OptionValues()
        workload[NumericWorkload.intFraction] = 0.9
        let boxed = try Self.run("handle-local", tagBits: 0, threads: 1, workload: workload)
        let tagged = try Self.run("handle-local", tagBits: 1, threads: 1, workload: workload)
        #expect(boxed.isValid && tagged.isValid)
        #expect(Self.allocationsPerOperation(boxed) >= 5 * Self.allocationsPerOperation(tagged))
    }

    @Test(arguments: ["arena", "handle-table"])
    func nanBoxingAllocatesOnlyTheOtherObjects(scheme: String) throws {
        var workload = OptionValues()
        workload[NumericWorkload.intFraction] = 0.5
        workload[NumericWorkload.floatFraction] = 0.5
        let row = try Self.run(scheme, nanBoxing: .on, workload: workload)
        #expect(row.isValid, "\(scheme): \(row["validation_error"].text)")
        #expect(row["objects_allocated"].text == String(Number.cachedIntCount), "every number is an int or a float: none is allocated")
    }

    @Test func onlyIntsOfTheSmallIntCacheAreSharedWhenEveryNumberIsASmallInt() throws {
        var workload = OptionValues()
        workload[NumericWorkload.intFraction] = 1
        workload[NumericWorkload.floatFraction] = 0
        workload[NumericWorkload.valueRange] = 2
        // Every operand is a cached int; and so is every sum of two of them (-4...4).
        let row = try Self.run("atomic", threads: 1, workload: workload)
        #expect(row.isValid)
        #expect(row["objects_allocated"].text == String(Number.cachedIntCount))
        #expect(row["atomic_rmw"].text == "0")
    }

    @Test func fractionsSummingAboveOneAreRefused() throws {
        var workload = OptionValues()
        workload[NumericWorkload.intFraction] = 0.8
        workload[NumericWorkload.floatFraction] = 0.3
        #expect(throws: ConfigurationError.self) { try Registry.workload(named: "numeric").make(workload) }
        #expect(throws: ConfigurationError.self) { try NumericWorkload.intFraction.declaration.parse("1.5") }
    }
}
