import Foundation
import Testing
import RefScale
import RefScaleHarness

/// The `refscale` binary built beside this test bundle, run as a user runs it.
enum RefscaleBinary {
    static let url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("refscale")

    struct Result {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    static func run(_ arguments: [String]) throws -> Result {
        try #require(FileManager.default.isExecutableFile(atPath: url.path), "no refscale binary at \(url.path)")
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // Read both pipes to the end before waiting, so a full pipe never blocks the child.
        let errorData = UncheckedData()
        let reader = Thread { errorData.data = error.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while errorData.data == nil { usleep(1000) }
        return Result(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData.data!, as: UTF8.self))
    }

    final class UncheckedData: @unchecked Sendable {
        private let lock = NSLock()
        private var stored: Data?
        var data: Data? {
            get { lock.withLock { stored } }
            set { lock.withLock { stored = newValue } }
        }
    }
}

@Suite(.tags(.threaded)) struct CommandTests {
    @Test func listNamesEverySchemeWorkloadContextAndOption() throws {
        let result = try RefscaleBinary.run(["list"])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        /// The line of `name` in the section whose heading starts with `section`.
        func line(named name: String, in section: String) -> String? {
            let start = lines.firstIndex { $0.hasPrefix(section) } ?? lines.endIndex
            return lines[start...].dropFirst().prefix { $0.hasPrefix(" ") }
                .first { $0.split(separator: " ").first.map(String.init) == name }
        }
        for scheme in Registry.schemes {
            #expect(line(named: scheme.name, in: "schemes (")?.hasSuffix(scheme.summary) == true, "scheme \(scheme.name)")
            for option in scheme.declaredOptions {
                #expect(lines.contains { $0.contains("\(option.flag) ") && $0.contains(option.helpLine) }, "\(scheme.name)'s \(option.flag)")
            }
        }
        for workload in Registry.workloads {
            #expect(line(named: workload.name, in: "workloads (")?.hasSuffix(workload.summary) == true, "workload \(workload.name)")
            for option in workload.declaredOptions {
                #expect(lines.contains { $0.contains("\(option.flag) ") && $0.contains(option.helpLine) }, "\(workload.name)'s \(option.flag)")
            }
        }
        for context in ContextKind.allCases {
            #expect(line(named: context.rawValue, in: "contexts (")?.hasSuffix(context.summary) == true, "context \(context.rawValue)")
        }
        #expect(lines.filter { line in ["schemes (", "workloads (", "contexts ("].contains { line.hasPrefix($0) } }.count == 3)
    }

    @Test func aSweepPrintsItsProgressItsSummaryAndWhereItsRowsWent() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("refscale-sweep-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let experiment = directory.appendingPathComponent("tiny.json")
        try Data("""
            {"name": "tiny", "schemes": ["atomic", "noop"], "workloads": [{"name": "private"}], "threads": [1],
             "repetitions": 2, "duration": 0.01, "warmup": 0}
            """.utf8).write(to: experiment)
        let result = try RefscaleBinary.run(["sweep", experiment.path, "--out", directory.path])
        #expect(result.status == 0, "\(result.standardError)")

        // Not a terminal: one plain progress line per run, with the time left from the second on.
        let progress = result.standardError.split(separator: "\n").filter { $0.hasPrefix("run ") }.map(String.init)
        #expect(progress.count == 4, "\(result.standardError)")
        #expect(progress.first == "run 1/4")
        for (index, line) in progress.enumerated().dropFirst() {
            #expect(line.hasPrefix("run \(index + 1)/4, about ") && line.hasSuffix(" s left"), "\(line)")
        }

        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        for scheme in ["atomic", "noop"] {
            let row = try #require(lines.first { $0.split(separator: " ").prefix(2) == ["private", Substring(scheme)] }, "\(result.standardOutput)")
            #expect(row.split(separator: " ").last == "2/2", "\(row)")
        }
        let written = try #require(lines.first { $0.hasPrefix("4 rows written to ") })
        let path = String(written.dropFirst("4 rows written to ".count))
        #expect(path.hasPrefix(directory.path + "/tiny-"))
        let csv = try String(contentsOfFile: path, encoding: .utf8)
        #expect(csv.split(separator: "\n").count == 1 + 4)
        #expect(lines.contains { $0.hasPrefix("plot them:") && $0.contains(path) })
        #expect(lines.contains { $0.hasPrefix("report them:") && $0.contains(path) })
    }

    @Test func calibrateNamesEverySchemeInEachOfItsTables() throws {
        let result = try RefscaleBinary.run(["calibrate", "--duration", "0.01"])
        #expect(result.status == 0, "\(result.standardError)")
        let text = result.standardOutput
        let sections = text.components(separatedBy: "\n\n")
        let uncontended = try #require(sections.first { $0.hasPrefix("uncontended:") })
        let contexts = try #require(sections.first { $0.hasPrefix("contexts on private") })
        for scheme in Registry.schemes.map(\.name) {
            #expect(uncontended.split(separator: "\n").contains { $0.split(separator: " ").first == Substring(scheme) }, "\(scheme) in the uncontended table")
            #expect(contexts.split(separator: "\n").contains { $0.split(separator: " ").first == Substring(scheme) }, "\(scheme) in the contexts table")
        }
        // The reference loops always measure (a 10 ms run on a busy machine may not: its line says nan).
        for reference in ["C11 atomic fetch_add relaxed + fetch_sub acq_rel", "C volatile ++ and --", "Py_INCREF + Py_DECREF"] {
            let line = try #require(text.split(separator: "\n").first { $0.contains(reference) && $0.hasSuffix(" ns/op") }, "\(reference)")
            let figure = line.split(separator: " ").dropLast().last.flatMap { Double($0) }
            #expect(figure.map { $0 > 0 } == true, "\(line)")
        }
        // The C yardstick: every C interpreter, every refscale scheme beside it on call, the
        // ratios, each C figure printed only because its counts checked; then the schemes in C
        // against each other.
        let yardstick = try #require(sections.first { $0.hasPrefix("the schemes against their C yardstick") })
        let yardstickLines = yardstick.split(separator: "\n")
        let names = ["noop", "atomic", "biased", "handle-local (low3, lazy)", "handle-local (high16, lazy)"]
        for label in names.map({ "C, \($0)'s steps" }) + names.map({ "\($0) on call" }) {
            #expect(yardstickLines.contains { $0.hasPrefix("  " + label) && $0.contains(" ns/op") }, "\(label)")
        }
        #expect(!yardstick.contains("not printed") && !yardstick.contains("no ratio"), "\(yardstick)")
        for name in names.dropFirst() {
            #expect(yardstickLines.contains { $0.hasPrefix("  \(name) less noop") && $0.contains("× the C steps less C noop") }, "\(name)")
        }
        for pair in ["biased / atomic", "handle-local (low3) / biased", "handle-local (high16) / biased"] {
            #expect(yardstickLines.contains { $0.hasPrefix("  " + pair) && $0.contains(" C ") && $0.contains(", refscale ") }, "\(pair)")
        }
        #expect(yardstickLines.contains { $0.hasPrefix("  handle-local dup/close on private less noop") && $0.contains("× the C table dup/close loop") })
    }
}
