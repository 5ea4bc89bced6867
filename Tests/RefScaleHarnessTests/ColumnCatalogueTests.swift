import Foundation
import RefScale
import RefScaleHarness
import Testing

@Suite(.tags(.threaded)) struct ColumnCatalogueTests {
    @Test func everyColumnIsNamedOnceAndEveryDeclaredOptionIsAColumn() {
        let names = ColumnCatalogue.names
        #expect(Set(names).count == names.count, "a column is listed twice")
        for option in Registry.schemeOptions + Registry.workloadOptions {
            #expect(ColumnCatalogue.column(named: option.name)?.role == .parameter, "\(option.name) is not a parameter column")
        }
        for required in CSVReader.requiredColumns { #expect(names.contains(required)) }
    }

    @Test func optionsOfOneNameAgreeOnTheirTypeAcrossOwners() {
        let declarations = Registry.schemes.flatMap(\.declaredOptions) + Registry.workloads.flatMap(\.declaredOptions)
        for name in Set(declarations.map(\.name)) {
            let forms = declarations.filter { $0.name == name }.map(\.form)
            #expect(forms.allSatisfy { $0 == forms[0] }, "\(name) is declared with different types")
        }
    }

    @Test func theCSVHeaderIsTheCatalogueAndARowKeepsItsTypes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("refscale-catalogue-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("rows.csv").path
        var options = OptionValues()
        options[MixedWorkload.zipf] = 1.25
        options[MixedWorkload.objects] = 40
        var schemeOptions = SchemeOptions()
        schemeOptions[HandleLocalScheme.handleIndex] = .low4
        let request = RunRequest(
            scheme: try Registry.scheme(named: HandleLocalScheme.name), workload: try Registry.workload(named: MixedWorkload.name),
            workloadOptions: options, schemeOptions: schemeOptions, threads: 1, duration: TestTiming.interval(0.02), warmup: 0)
        let record = try Runner.run(request)
        // Typed until written: an integer option is an integer, a word is text, a blank is blank.
        #expect(record["objects"] == .integer(40))
        #expect(record["zipf"] == .number(1.25, decimals: nil))
        #expect(record["handle_index"] == .text("low4"))
        #expect(record["gil_slice"] == .blank)
        #expect(record["args"] == .blank)
        #expect(record["threads"] == .integer(1))
        // The per-call counts of extension calls are `hpy`'s: blank for a workload without calls.
        for name in ColumnCatalogue.names where name.hasPrefix("hpy_") && name != "hpy_args" {
            #expect(record[name] == .blank, "\(name) is not blank for mixed")
        }
        try CSVWriter(path: path).append(record)
        let rows = try CSVReader.rows(path: path)
        let header = try #require(String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").first)
        #expect(header.split(separator: ",").map(String.init) == ColumnCatalogue.names)
        #expect(rows[0]["objects"] == "40")
        #expect(rows[0]["zipf"] == "1.25")
        #expect(rows[0]["shared_fraction"] == "0.1", "an option not given is written with its declared default")
        #expect(rows[0]["handle_index"] == "low4")
        #expect(rows[0]["valid"] == "true")
    }

    @Test func extensionCallCountsAreDividedByTheCallsAndBlankWithoutOne() {
        var counts = ExtensionCallCounts()
        counts.calls = 4
        counts.closes = 404
        #expect(counts.perCall(counts.closes) == 101)
        #expect(counts.perCall(counts.dups) == 0)
        counts.calls = 0
        #expect(counts.perCall(counts.closes) == nil)
    }

    @Test func anOptionOutOfItsRangeIsRefusedWhereverItIsGiven() throws {
        let mixed = try Registry.workload(named: MixedWorkload.name)
        var options = OptionValues()
        options[MixedWorkload.zipf] = -1
        #expect(throws: ConfigurationError.self) { _ = try mixed.make(options) }
        let declaration = MixedWorkload.zipf.declaration
        #expect(throws: ConfigurationError.self) { _ = try declaration.parse("-1") }
        #expect(throws: ConfigurationError.self) { _ = try declaration.parse("inf") }
        #expect(throws: ConfigurationError.self) { _ = try CallWorkload.args.declaration.parse("2.5") }
        #expect(try CallWorkload.args.declaration.checked(.number(3)) == .integer(3), "an experiment file's 3.0 is the integer 3")
        #expect(throws: ConfigurationError.self) { _ = try CallWorkload.args.declaration.checked(.number(2.5)) }
    }
}
