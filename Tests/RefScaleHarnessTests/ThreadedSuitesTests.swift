import Foundation
import Testing

/// `.ci/run` runs the suites and top-level tests tagged `.threaded` under ThreadSanitizer
/// (`Tests/threaded-suites` turns the tags into its filter). This suite reads the test sources
/// and fails when one that starts threads lacks the tag, so a new threaded test cannot be left out.
///
/// What is scanned: every `@Suite` type (its attribute may span lines), every type without
/// `@Suite` that holds `@Test` functions (Swift Testing makes it a suite all the same), and
/// every top-level `@Test` function; a type's extensions belong to it.
///
/// What starts threads: a call of a starter below (`Thread`, `pthread_create`, the runner, the
/// stress rounds, the calibration probes, tasks and task groups), or of a function of the test
/// sources whose body calls one (followed to a fixed point). A member function `f` of a type `T`
/// is called as `T.f(` anywhere, and also as `f(`, `Self.f(` or `self.f(` in its own file; a
/// top-level function as `f(` anywhere. `RefscaleBinary.run(` is thus no call of another
/// type's `run(`.
@Suite struct ThreadedSuitesTests {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    static let threadStarters = [
        "Thread {", "Thread(", "WorkerThread {", "WorkerThread(", "pthread_create", "Runner.run(", "Stress.run(", "Stress.round(",
        "Perform.runs(", "Calibration.atomicPair(", "Calibration.lineRoundTrip(", "Task {", "Task(", "Task.detached", "DispatchQueue",
        "withTaskGroup(", "withThrowingTaskGroup(", "withDiscardingTaskGroup(", "withThrowingDiscardingTaskGroup(", "async let ",
        "runWorker(",
    ]

    struct SuiteSource {
        var name: String
        var traits: String
        var body: String
        /// The index of its source file.
        var file: Int
    }

    /// A call that starts threads: `call` (`f(`) as written after `qualifier.`, or bare.
    struct Starter: Equatable {
        var call: String
        var qualifier: String?
        var bare: Bool
    }

    static func sources() throws -> [String] {
        let files = try FileManager.default.subpathsOfDirectory(atPath: testsDirectory.path).filter { $0.hasSuffix(".swift") }
        // This file names every starter in its own text, and plants threaded suites in strings;
        // it starts no thread.
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

    /// An attribute starting at `start` (`@Suite(`, `@Test(`), up to the line its parentheses
    /// close on: its text joined, and that line's index.
    static func attribute(_ lines: [Substring], from start: Int) -> (text: String, end: Int) {
        var depth = 0
        var text = ""
        for index in start..<lines.count {
            text += (text.isEmpty ? "" : " ") + lines[index].drop { $0 == " " }
            depth += lines[index].filter { $0 == "(" }.count - lines[index].filter { $0 == ")" }.count
            if depth <= 0 { return (text, index) }
        }
        return (text, lines.count - 1)
    }

    static let typeKeywords = ["struct", "class", "enum", "actor", "extension"]

    /// The type a line declares (`struct X`, `final class X<T>`, `extension X`, after an
    /// attribute that ends on the line: `@Suite(.tags(.threaded)) struct X`), or nil.
    static func declaredType(_ line: Substring) -> (keyword: String, name: String)? {
        var line = line.drop { $0 == " " }
        if line.hasPrefix("@") {
            guard let close = line.lastIndex(of: ")") else { return declaredType(line.drop { $0 != " " }) }
            line = line[line.index(after: close)...]
        }
        let words = line.split(whereSeparator: { " ({:<".contains($0) })
        guard let keyword = words.firstIndex(where: { typeKeywords.contains(String($0)) }), keyword + 1 < words.count,
              words[..<keyword].allSatisfy({ ["public", "private", "fileprivate", "internal", "final", "indirect"].contains($0) || $0.hasPrefix("@") })
        else { return nil }
        return (String(words[keyword]), String(words[keyword + 1].prefix { $0.isLetter || $0.isNumber || $0 == "_" }))
    }

    /// Every suite (explicit, implicit, or a top-level test function), with its traits and its
    /// body (extensions of a type included).
    static func suites(in sources: [String]) -> [SuiteSource] {
        var suites: [SuiteSource] = []
        var extensions: [String: String] = [:]
        for (file, source) in sources.enumerated() {
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            var attributed = Set<Int>()
            for (index, line) in lines.enumerated() {
                let trimmed = line.drop { $0 == " " }
                if trimmed.hasPrefix("@Suite") {
                    let (traits, end) = trimmed.hasPrefix("@Suite(") ? attribute(lines, from: index) : ("", index)
                    // The declaration follows the attribute, on the line it ends on or the next.
                    let ending = end == index ? lines[end] : "@Suite(" + lines[end]
                    let declaration = declaredType(ending) != nil ? end : end + 1
                    guard declaration < lines.count, let type = declaredType(declaration == end ? ending : lines[declaration]) else { continue }
                    attributed.insert(declaration)
                    suites.append(SuiteSource(name: type.name, traits: traits, body: block(lines, from: declaration), file: file))
                } else if line.hasPrefix("@Test") {
                    let (traits, end) = line.hasPrefix("@Test(") ? attribute(lines, from: index) : (String(line), index)
                    guard let declaration = (end..<min(end + 2, lines.count)).first(where: { lines[$0].contains("func ") }),
                          let range = lines[declaration].range(of: "func ") else { continue }
                    let name = lines[declaration][range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                    suites.append(SuiteSource(name: String(name), traits: traits, body: block(lines, from: declaration), file: file))
                } else if let type = declaredType(line) {
                    if type.keyword == "extension" {
                        extensions[type.name, default: ""] += block(lines, from: index)
                    } else if !attributed.contains(index) {
                        let body = block(lines, from: index)
                        if body.contains("@Test") { suites.append(SuiteSource(name: type.name, traits: "", body: body, file: file)) }
                    }
                }
            }
        }
        return suites.map { SuiteSource(name: $0.name, traits: $0.traits, body: $0.body + (extensions[$0.name] ?? ""), file: $0.file) }
    }

    /// Whether `text` calls a starter: `call` preceded by no part of a longer name, and by a
    /// qualifier only when it is the starter's (or, for a starter of this file, `Self`/`self`).
    static func callsAny(_ starters: [Starter], in text: String) -> Bool {
        starters.contains { starter in
            var searchStart = text.startIndex
            while let range = text.range(of: starter.call, range: searchStart..<text.endIndex) {
                searchStart = range.upperBound
                let before = range.lowerBound == text.startIndex ? " " : text[text.index(before: range.lowerBound)]
                if before.isLetter || before.isNumber || before == "_" { continue }
                guard before == "." else {
                    if starter.bare { return true }
                    continue
                }
                let dot = text.index(before: range.lowerBound)
                var qualifierStart = dot
                while qualifierStart > text.startIndex {
                    let previous = text[text.index(before: qualifierStart)]
                    guard previous.isLetter || previous.isNumber || previous == "_" else { break }
                    qualifierStart = text.index(before: qualifierStart)
                }
                let qualifier = String(text[qualifierStart..<dot])
                if qualifier == starter.qualifier || (starter.bare && starter.qualifier != nil && ["Self", "self"].contains(qualifier)) {
                    return true
                }
            }
            return false
        }
    }

    /// The starters each source file sees: `threadStarters`, every function of the test sources
    /// whose body calls a starter (a top-level one bare everywhere, a member `T.f` qualified
    /// everywhere and bare in its own file).
    static func starters(in sources: [String]) -> [[Starter]] {
        var functions: [(name: String, type: String?, body: String, file: Int)] = []
        for (file, source) in sources.enumerated() {
            let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
            var types: [(indent: Int, name: String)] = []
            for (index, line) in lines.enumerated() {
                let indent = line.prefix { $0 == " " }.count
                if !line.allSatisfy({ $0 == " " }) {
                    while let last = types.last, indent <= last.indent { types.removeLast() }
                }
                if let type = declaredType(line) { types.append((indent, type.name)) }
                guard let range = line.range(of: "func ") else { continue }
                let name = line[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }
                guard !name.isEmpty else { continue }
                functions.append((String(name), types.last { $0.indent < indent }?.name, block(lines, from: index), file))
            }
        }
        var global = threadStarters.map { Starter(call: $0, qualifier: nil, bare: true) }
        var local = Array(repeating: [Starter](), count: sources.count)
        var changed = true
        while changed {
            changed = false
            for function in functions {
                let call = function.name + "("
                let visible = global + local[function.file]
                guard !visible.contains(where: { $0.call == call && $0.qualifier == function.type && $0.bare }),
                      callsAny(visible, in: function.body) else { continue }
                if let type = function.type {
                    global.append(Starter(call: call, qualifier: type, bare: false))
                    local[function.file].append(Starter(call: call, qualifier: type, bare: true))
                } else {
                    global.append(Starter(call: call, qualifier: nil, bare: true))
                }
                changed = true
            }
        }
        return local.map { global + $0 }
    }

    /// The suites of `sources` that start threads, and those of them not tagged `.threaded`.
    static func threadedSuites(in sources: [String]) -> (all: [String], untagged: [String]) {
        let starters = starters(in: sources)
        let threaded = suites(in: sources).filter { callsAny(starters[$0.file], in: $0.body) }
        return (threaded.map(\.name), threaded.filter { !$0.traits.contains(".threaded") }.map(\.name))
    }

    @Test func everySuiteThatStartsThreadsIsTaggedThreaded() throws {
        let sources = try Self.sources()
        let suites = Self.suites(in: sources)
        #expect(suites.count >= 30, "the scan found \(suites.count) suites")
        let threaded = Self.threadedSuites(in: sources)
        #expect(threaded.all.contains("ConcurrentRunTests") && threaded.all.contains("GilSchemeTests"))
        #expect(threaded.untagged.isEmpty, "these start threads but are not tagged .threaded: \(threaded.untagged)")
    }

    /// Planted sources, one per hole a scanner can have: each untagged suite starts threads and
    /// must be reported; the tagged twin and the suite that calls another type's `run(` must not.
    static let plantedSources = [
        """
        enum Spawner {
            static func spawn() {
                Thread { }.start()
            }
        }

        enum Quiet {
            static func run() {}
        }
        """,
        """
        @Suite(
            "split attribute", .serialized
        )
        struct SplitAttribute {
            @Test func probe() {
                _ = Calibration.lineRoundTrip()
            }
        }

        @Suite(
            "split attribute, tagged", .tags(.threaded)
        )
        struct SplitAttributeTagged {
            @Test func probe() {
                _ = Calibration.lineRoundTrip()
            }
        }

        struct NoSuiteAttribute {
            @Test func spawns() {
                Spawner.spawn()
            }
        }

        @Test func topLevelTaskGroup() async {
            await withTaskGroup(of: Void.self) { _ in }
        }

        @Suite struct CallsQualified {
            @Test func runs() throws {
                _ = try Perform.runs()
            }
        }

        @Test(.tags(.threaded)) func topLevelTagged() {
            Thread { }.start()
        }

        @Suite struct CallsAnotherTypesRun {
            @Test func quiet() {
                Quiet.run()
            }
        }
        """,
    ]

    @Test func theScanReportsEveryPlantedUntaggedThreadedSuite() {
        let threaded = Self.threadedSuites(in: Self.plantedSources)
        #expect(Set(threaded.untagged) == ["SplitAttribute", "NoSuiteAttribute", "topLevelTaskGroup", "CallsQualified"])
        #expect(Set(threaded.all) == Set(threaded.untagged).union(["SplitAttributeTagged", "topLevelTagged"]))
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
        #expect(filter.hasPrefix("\\.(") && filter.hasSuffix(")[/(]"), "\(filter)")
        let names = Set(filter.dropFirst(3).dropLast(5).split(separator: "|").map(String.init))
        #expect(names == tagged)
    }

    /// The filter script reads the planted sources as the scan does: the tagged suite whose
    /// attribute spans lines and the tagged top-level test, each in the form of its test names.
    @Test func theSanitizerFilterReadsSplitAttributesAndTopLevelTests() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("refscale-threaded-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("Planted"), withIntermediateDirectories: true)
        for (index, source) in Self.plantedSources.enumerated() {
            try source.write(to: directory.appendingPathComponent("Planted/Planted\(index).swift"), atomically: true, encoding: .utf8)
        }
        let process = Process()
        process.executableURL = Self.testsDirectory.appendingPathComponent("threaded-suites")
        process.arguments = [directory.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let filter = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(filter == "\\.(SplitAttributeTagged|topLevelTagged)[/(]")
        let regex = try Regex(filter)
        #expect("RefScaleHarnessTests.SplitAttributeTagged/probe()".contains(regex))
        #expect("RefScaleHarnessTests.topLevelTagged()".contains(regex))
        #expect(!"RefScaleHarnessTests.SplitAttribute/probe()".contains(regex))
    }
}
