import Testing
@testable import RefScaleHarness
import RefScale

/// `refscale validate`: every cell is listed, refused ones with their reason; the runs of a cell
/// alternate model and real; the ratio is the model's median ns/op over the real runtime's with
/// `Statistics.ratioInterval`'s interval.
@Suite(.tags(.threaded)) struct ModelBesideRealTests {
    static func validation(model: String = "nonatomic", threads: [Int] = [1, 2], traces: [String] = []) throws -> Validation {
        try Validation(model: model, real: "cpython", threads: threads, traces: traces, duration: 0.02, warmup: 0.005, seed: 1)
    }

    @Test func everyWorkloadVariantAtEveryThreadCountIsACellAndRefusedCellsKeepTheirReason() throws {
        let validation = try Self.validation()
        #expect(validation.cells.map(\.name) == [
            "private@1", "private@2", "shared-hot/data@1", "shared-hot/data@2", "shared-hot/class@1", "shared-hot/class@2",
            "shared-hot/ext-type@1", "shared-hot/ext-type@2", "churn/data@1", "churn/data@2", "handoff/data@1", "handoff/data@2",
            "call@1", "call@2", "mixed/data@1", "mixed/data@2",
        ])
        let byName = Dictionary(uniqueKeysWithValues: validation.cells.map { ($0.name, $0) })
        #expect(byName["private@2"]?.pair != nil && byName["private@2"]?.refusal == nil)
        #expect(byName["shared-hot/data@2"]?.pair == nil)
        #expect(byName["shared-hot/data@2"]?.refusal?.contains("nonatomic is correct only for objects no other thread touches") == true)
        #expect(byName["handoff/data@1"]?.refusal?.contains("multiple of producers + consumers") == true)
    }

    @Test func aTraceIsACellNamedByItsFile() throws {
        let validation = try Self.validation(threads: [1], traces: ["results/traces/method_shared.rstrace"])
        #expect(validation.cells.last?.name == "trace/method_shared@1")
        #expect(validation.cells.last?.pair?.real.workloadOptions[TraceWorkload.trace] == "results/traces/method_shared.rstrace")
    }

    @Test func aCellsRunsAlternateModelAndRealRepetitionByRepetitionOnOneStream() throws {
        let validation = try Self.validation()
        let runnable = validation.cells.filter { $0.pair != nil }.count
        let requests = validation.requests(repetitions: 3)
        #expect(requests.count == 2 * 3 * runnable)
        #expect(requests.prefix(6).map(\.scheme.name) == ["nonatomic", "cpython", "nonatomic", "cpython", "nonatomic", "cpython"])
        #expect(requests.prefix(6).map(\.repetition) == [1, 1, 2, 2, 3, 3])
        for (model, real) in zip(requests[0...].striding(by: 2), requests[1...].striding(by: 2)) {
            #expect(model.workload.name == real.workload.name && model.workloadOptions == real.workloadOptions)
            #expect(model.threads == real.threads && model.seed == real.seed && model.repetition == real.repetition)
        }
    }

    @Test func aRealRuntimeAsTheModelOrAModelAsTheRealRuntimeIsBadInput() {
        #expect(throws: UsageError.self) {
            try Validation(model: "cpython", real: "cpython", threads: [1], traces: [], duration: 0.02, warmup: 0, seed: 1)
        }
        #expect(throws: UsageError.self) {
            try Validation(model: "atomic", real: "biased", threads: [1], traces: [], duration: 0.02, warmup: 0, seed: 1)
        }
        #expect(throws: UsageError.self) {
            try Validation(model: "nope", real: "cpython", threads: [1], traces: [], duration: 0.02, warmup: 0, seed: 1)
        }
    }

    /// Copies of one real record, each timed so that its ns/op is the value given.
    static func records(_ record: RunRecord, nanosecondsPerOperation values: [Double]) -> [RunRecord] {
        values.enumerated().map { index, value in
            var copy = record
            copy.request.repetition = index + 1
            copy.measuredWorkerOperations = [1_000_000]
            copy.elapsedNanoseconds = UInt64(value * 1_000_000 / Double(record.request.threads))
            return copy
        }
    }

    @Test func theRatioIsTheModelsMedianOverTheRealOnesWithTheComparisonsInterval() throws {
        let validation = try Self.validation(model: "atomic", threads: [1])
        let cell = try #require(validation.cells.first { $0.name == "private@1" }?.pair)
        let model = Self.records(try Runner.run(cell.model), nanosecondsPerOperation: [2.0, 2.2, 1.8, 2.1, 1.9])
        let real = Self.records(try Runner.run(cell.real), nanosecondsPerOperation: [1.0, 1.1, 0.9, 1.05, 0.95])
        let table = ValidationTable(validation: validation, records: model + real, host: "box")
        let line = try #require(table.lines.first { $0.cell.name == "private@1" })
        #expect(line.status == "measured")
        #expect(abs(try #require(line.ratio) - 2.0) < 1e-9)
        let expected = try #require(Statistics.ratioInterval(real.compactMap(\.nanosecondsPerOperation), model.compactMap(\.nanosecondsPerOperation)))
        #expect(line.ratioInterval == expected && expected.lower <= 2 && expected.upper >= 2 && expected.coverage >= 0.95)
        #expect(line.agrees == false)
        // atomic counts its read-modify-writes: private dups and closes are atomic, so above 0.
        #expect((line.modelAtomicsPerOperation ?? 0) > 0)
        let rows = table.csv.split(separator: "\n").map(String.init)
        #expect(rows.first == ValidationTable.columns.joined(separator: ","))
        #expect(rows.count == 1 + validation.cells.count)
        let privateRow = try #require(rows.first { $0.hasPrefix("atomic,cpython,private@1,") })
        #expect(privateRow.contains(",measured,,5,5,2.000,1.000,2.0000,"))
        let refusedRow = try #require(rows.first { $0.hasPrefix("atomic,cpython,handoff/data@1,") })
        #expect(refusedRow.contains(",cannot run,") && refusedRow.contains("multiple of producers + consumers"))
    }

    @Test func aCellWithoutValidRowsOnASideIsInvalidWithTheFirstFailure() throws {
        let validation = try Self.validation(model: "atomic", threads: [1])
        let cell = try #require(validation.cells.first { $0.name == "private@1" }?.pair)
        let model = Self.records(try Runner.run(cell.model), nanosecondsPerOperation: [2.0, 2.0])
        var real = Self.records(try Runner.run(cell.real), nanosecondsPerOperation: [1.0, 1.0])
        for index in real.indices { real[index].outcome.validationError = "object 3 freed twice" }
        let line = try #require(ValidationTable(validation: validation, records: model + real, host: "box").lines.first)
        #expect(line.status == "invalid" && line.reason == "object 3 freed twice" && line.ratio == nil)
    }

    @Test func aSideWhoseValidRunsMeasuredNoOperationIsInvalidNotMeasured() throws {
        let validation = try Self.validation(model: "atomic", threads: [1])
        let cell = try #require(validation.cells.first { $0.name == "private@1" }?.pair)
        let model = Self.records(try Runner.run(cell.model), nanosecondsPerOperation: [2.0, 2.0])
        var real = Self.records(try Runner.run(cell.real), nanosecondsPerOperation: [1.0, 1.0])
        for index in real.indices { real[index].measuredWorkerOperations = [0] }
        let line = try #require(ValidationTable(validation: validation, records: model + real, host: "box").lines.first)
        #expect(line.status == "invalid" && line.reason.contains("measured no operation") && line.realNanoseconds == nil)
    }
}

extension ArraySlice {
    func striding(by step: Int) -> [Element] { stride(from: startIndex, to: endIndex, by: step).map { self[$0] } }
}
