import Foundation
import Testing

/// `.ci/run` runs the suites tagged `.threaded` under ThreadSanitizer (`Tests/threaded-suites`
/// turns the tags into its filter). This suite reads the test sources and fails when a suite
/// that starts threads lacks the tag, so a new threaded suite cannot be left out.
///
/// A suite starts threads when its body, or an extension of it, calls something that does:
/// `Thread`, `WorkerThread`, `pthread_create`, the runner (`Runner.run`), `Stress.run`, the
/// calibration loops, or any test function whose own body calls one of these (followed to a
/// fixed point).
@Suite struct ThreadedSuitesTests {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    static let threadStarters = [
        "Thread {", "Thread(", "WorkerThread {", "WorkerThread(", "pthread_create", "Runner.run(", "Stress.run(", "Calibration.atomicPair(", "Task {",
        "Task.detached", "DispatchQueue", "runWorker(",
    ]

    struct SuiteSource {
        var name: String
        var traits: String
        var body: String
        /// The index of its source file.
        var file: Int
    }

    static func sources() throws -> [String] {
        let files = try FileManager.default.subpathsOfDirectory(atPath: testsDirectory.path).filter { $0.hasSuffix(".swift") }
        // This file names every starter in its own text; it starts no thread.
        return try files.filter { !$0.hasSuffix("ThreadedSuitesTests.swift") }
            .map { try String(contentsOf: testsDirectory.appendingPathComponent($0), encoding: .utf8) }
    }

    /// From a line that opens a declaration to the first line after it that is a lone `}` in
    /// the declaration's own column.
    static func block(_ lines: [Substring], from start: Int) -> String {
        let opening = lines[start]
        if opening.contains("{") && opening.filter({ $0 == "{" }).count == opening.filter({ $0 == "}" }).count {
            return String(opening)
        }
        let indent = lines[start].prefix { $0 == " " }.count
        let close = String(repeating: " ", count: indent) + "}"
        let end = lines[(start + 1)...].firstIndex { $0 == close } ?? lines.count - 1
        return lines[start...end].joined(separator: "\n")
    }

    /// Every suite, with its traits and its body (extensions of it included).
    static func suites(in sources: [String]) -> [SuiteSource] {
        var suites: [SuiteSource] = []
        var extensions: [String: String] = [:]
        for (file, source) in sources.enumerated() {
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            for (index, line) in lines.enumerated() {
                let trimmed = line.drop { $0 == " " }
                if trimmed.hasPrefix("@Suite") {
                    let declaration = index + (trimmed.contains("struct ") || trimmed.contains("class ") ? 0 : 1)
                    let words = lines[declaration].split(whereSeparator: { " ({:".contains($0) })
                    guard let keyword = words.firstIndex(where: { ["struct", "class", "enum"].contains($0) }), keyword + 1 < words.count else { continue }
                    let traits = trimmed.hasPrefix("@Suite(") ? String(trimmed) : ""
                    suites.append(SuiteSource(
                        name: String(words[keyword + 1]), traits: traits, body: block(lines, from: declaration), file: file))
                } else if trimmed.hasPrefix("extension ") {
                    let name = String(trimmed.dropFirst("extension ".count).prefix { $0.isLetter || $0.isNumber || $0 == "_" })
                    extensions[name, default: ""] += block(lines, from: index)
                }
            }
        }
        return suites.map { SuiteSource(name: $0.name, traits: $0.traits, body: $0.body + (extensions[$0.name] ?? ""), file: $0.file) }
    }

    /// Whether `text` calls a starter as a whole name, not as the end of a longer one
    /// (`QueuingThread(`) or as a member of something else (`RefscaleBinary.run(` is no call of a
    /// function `run(`).
    static func callsAny(_ starters: [String], in text: String) -> Bool {
        starters.contains { starter in
            var searchStart = text.startIndex
            while let range = text.range(of: starter, range: searchStart..<text.endIndex) {
                let before = range.lowerBound == text.startIndex ? " " : text[text.index(before: range.lowerBound)]
                if !(before.isLetter || before.isNumber || before == "_" || before == ".") { return true }
                searchStart = range.upperBound
            }
            return false
        }
    }

    /// The starters each source file sees: `threadStarters`, every top-level function of the
    /// test sources whose body calls a starter, and the file's own member and nested functions
    /// that do (a member `run` of one suite is not another suite's `run`).
    static func starters(in sources: [String]) -> [[String]] {
        var functions: [(name: String, body: String, file: Int, topLevel: Bool)] = []
        for (file, source) in sources.enumerated() {
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            for (index, line) in lines.enumerated() {
                guard let range = line.range(of: "func ") else { continue }
                let name = line[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                guard !name.isEmpty else { continue }
                functions.append((String(name), block(lines, from: index), file, !line.hasPrefix(" ")))
            }
        }
        var global = threadStarters
        var local = Array(repeating: [String](), count: sources.count)
        var changed = true
        while changed {
            changed = false
            for function in functions {
                let call = function.name + "("
                let visible = global + local[function.file]
                guard !visible.contains(call), callsAny(visible, in: function.body) else { continue }
                if function.topLevel { global.append(call) } else { local[function.file].append(call) }
                changed = true
            }
        }
        return local.map { global + $0 }
    }

    @Test func everySuiteThatStartsThreadsIsTaggedThreaded() throws {
        let sources = try Self.sources()
        let suites = Self.suites(in: sources)
        let starters = Self.starters(in: sources)
        #expect(suites.count >= 30, "the scan found \(suites.count) suites")
        #expect(starters.allSatisfy { $0.contains("shortRun(") && $0.contains("runTogether(") }, "functions that start threads are followed")
        let threaded = suites.filter { Self.callsAny(starters[$0.file], in: $0.body) }
        #expect(threaded.contains { $0.name == "ConcurrentRunTests" } && threaded.contains { $0.name == "GilSchemeTests" })
        for suite in threaded {
            #expect(suite.traits.contains(".threaded"), "\(suite.name) starts threads but is not tagged .threaded")
        }
    }

    @Test func theSanitizerFilterNamesExactlyTheTaggedSuites() throws {
        let suites = Self.suites(in: try Self.sources())
        let tagged = Set(suites.filter { $0.traits.contains(".threaded") }.map(\.name))
        let process = Process()
        process.executableURL = Self.testsDirectory.appendingPathComponent("threaded-suites")
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let filter = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(filter.hasPrefix("\\.(") && filter.hasSuffix(")/"), "\(filter)")
        let names = Set(filter.dropFirst(3).dropLast(2).split(separator: "|").map(String.init))
        #expect(names == tagged)
    }
}
