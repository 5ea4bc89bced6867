import Foundation
import Glibc
import RefScale
import Testing
@testable import RefScaleHarness

/// Property tests of everything that reads input: the run command's arguments, experiment files
/// and CSV files, fed seeded random and mutated input. Whatever the input, the reader returns a
/// result that holds to the limits, or throws the project's own error with a one-line message;
/// nothing crashes and nothing is written. Each property runs `PropertyCases.count` cases (1000,
/// some 5000 in all; `REFSCALE_PROPERTY_CASES=100000 swift test --filter ParserPropertyTests`
/// runs more, `REFSCALE_PROPERTY_SEED` another seed), and a failure names the seed and case.
@Suite("parser properties", .serialized, .tags(.threaded))
struct ParserPropertyTests {
    /// The hostile and ordinary words an argument may be given.
    static let numberWords = [
        "0", "1", "2", "3", "-1", "-0", "0.5", "1e300", "-1e300", "inf", "-inf", "nan", "NaN", "1e-300", "2147483647",
        "2147483648", "2000000000", "9223372036854775807", "-9223372036854775808", "99999999999999999999", "", " ", "1,1",
        "1,,2", ",", "1, 2", "0x10", "1_000", "٣", "½", "1e", "--1", "+2", "0.0000001", "100000", "32", "33", "\n",
    ]
    static let wordWords = [
        "", "none", "compact", "scatter", "local", "node0", "node1", "node-1", "node999999999999999999999", "interleave",
        "direct", "universal", "debug", "trace", "abort", "collect", "low3", "low4", "high16", "lazy", "eager", "shared",
        "all", "atomic", "handle-local", "ATOMIC", "private", "shared-hot", "mixed", "call", "handoff", "churn", "nope",
        "é", "\u{0}", "a\nb",
    ]

    func pick<T>(_ values: [T], _ random: inout SplitMix64) -> T { values[Int(random.next() % UInt64(values.count))] }
    func chance(_ percent: UInt64, _ random: inout SplitMix64) -> Bool { random.next() % 100 < percent }

    func randomNumberWord(_ random: inout SplitMix64) -> String {
        chance(30, &random) ? String(Int64(bitPattern: random.next()) >> Int64(random.next() % 64)) : pick(Self.numberWords, &random)
    }

    func randomDouble(_ random: inout SplitMix64) -> Double {
        pick([0, -1, 0.001, 0.01, 1e300, -1e300, .infinity, -.infinity, .nan, 86_400, 86_401, 1e-320, .greatestFiniteMagnitude], &random)
    }

    /// Arguments of `run` with each field ordinary or hostile at random.
    func randomRunArguments(_ random: inout SplitMix64) -> RunArguments {
        let schemes = Registry.schemes.map(\.name) + ["nope", ""]
        // `hpy` needs a built module, which no random case names: its refusals have a property of
        // their own (`hpyArgumentsAreRefusedInOneLine`).
        let workloads = Registry.workloads.filter { !$0.runsExtensionCode }.map(\.name) + ["nope", ""]
        var arguments = RunArguments(scheme: pick(schemes, &random), workload: pick(workloads, &random))
        if chance(60, &random) {
            arguments.threads = (0..<Int(1 + random.next() % 3)).map { _ in randomNumberWord(&random) }.joined(separator: ",")
        }
        if chance(30, &random) { arguments.duration = randomDouble(&random) }
        if chance(30, &random) { arguments.warmup = randomDouble(&random) }
        if chance(30, &random) { arguments.repetitions = pick([0, -1, 1, 3, 10_000, 10_001, Int.max, Int.min], &random) }
        if chance(20, &random) { arguments.objectAlign = pick([0, 7, 8, 24, 64, 128, 4096, 1 << 40, 1 << 62, Int.max, -128], &random) }
        if chance(20, &random) { arguments.pin = pick(Self.wordWords, &random) }
        if chance(20, &random) { arguments.placement = pick(Self.wordWords, &random) }
        if chance(20, &random) { arguments.context = pick(Self.wordWords, &random) }
        if chance(10, &random) { arguments.closedQueue = pick([0, -5, 1, 1024, Int.max], &random) }
        if chance(10, &random) { arguments.onViolation = pick(Self.wordWords, &random) }
        let options = Registry.schemeOptions + Registry.workloadOptions
        for _ in 0..<Int(random.next() % 4) {
            let option = pick(options, &random)
            arguments.declared[option.name] = chance(50, &random) ? randomNumberWord(&random) : pick(Self.wordWords, &random)
        }
        if chance(3, &random) { arguments.declared["frobnicate"] = "3" }
        return arguments
    }

    /// The message of a refusal: one line, not empty.
    func expectOneLine(_ error: Error, _ context: @autoclosure () -> String) {
        let message: String
        switch error {
        case let error as UsageError: message = error.description
        case let error as HarnessError: message = error.description
        default:
            Issue.record("\(context()): threw \(type(of: error)), not the project's own error: \(error)")
            return
        }
        #expect(!message.isEmpty && !message.contains("\n"), "\(context()): message is not one line: \(message)")
    }

    @Test func runArgumentsAreRefusedInOneLineOrGiveRequestsWithinTheLimits() throws {
        let seed = PropertyCases.seed
        var random = SplitMix64(seed: seed)
        var accepted = 0
        for index in 0..<PropertyCases.count {
            let arguments = randomRunArguments(&random)
            let context = "seed \(seed) case \(index): \(arguments)"
            do {
                let requests = try arguments.requests()
                accepted += 1
                #expect(!requests.isEmpty, "\(context)")
                for request in requests {
                    #expect(request.threads >= 1 && request.threads <= ResourceLimits.maximumThreads(), "\(context)")
                    #expect(ResourceLimits.secondsProblem(request.duration) == nil, "\(context)")
                    #expect(ResourceLimits.secondsProblem(request.warmup, zeroAllowed: true) == nil, "\(context)")
                }
                let threadCounts = requests.map(\.threads)
                #expect(Set(threadCounts).count * arguments.repetitions == requests.count, "\(context): a thread count given twice")
            } catch {
                expectOneLine(error, context)
            }
        }
        #expect(accepted > PropertyCases.count / 100, "the generator almost never makes a valid run; it tests too little")
    }

    /// `--workload hpy` with hostile files, functions and arguments: every case is refused with one
    /// line (no case names a built module), and nothing crashes.
    @Test func hpyArgumentsAreRefusedInOneLine() throws {
        let seed = PropertyCases.seed
        var random = SplitMix64(seed: seed)
        let files = ["", "/", "/nonexistent/m.hpy0.so", "Package.swift", "Sources", "/dev/null", "/proc/self/exe", ".hpy0.so", "x.y.z"]
        let functions = ["", "f", ".", "Type.", ".method", "a.b.c", String(repeating: "n", count: 300)]
        let texts = ["", ",", "1,", "list:-1", "list:x", "list:100001", "str:", "new:", "1e999", "nan", "none,none"] + Self.wordWords
        for index in 0..<PropertyCases.count / 10 {
            var arguments = RunArguments(scheme: pick(Registry.schemes.map(\.name), &random), workload: "hpy")
            if chance(90, &random) { arguments.declared["module"] = pick(files, &random) }
            if chance(90, &random) { arguments.declared["function"] = pick(functions, &random) }
            if chance(60, &random) { arguments.declared["hpy_args"] = pick(texts, &random) }
            let context = "seed \(seed) case \(index): \(arguments)"
            do {
                _ = try arguments.requests()
                Issue.record("\(context): accepted with no module")
            } catch {
                expectOneLine(error, context)
            }
        }
    }

    @Test func theTableOfTheIssueIsRefusedBeforeAnyRun() throws {
        func refusal(_ change: (inout RunArguments) -> Void) -> String? {
            var arguments = RunArguments(scheme: "atomic", workload: "private")
            change(&arguments)
            do {
                _ = try arguments.requests()
                return nil
            } catch {
                return "\(error)"
            }
        }
        let cpus = MachineInfo.current.onlineCPUs
        #expect(refusal { $0.duration = .infinity }?.contains("--duration must be a number of seconds > 0") == true)
        #expect(refusal { $0.warmup = .infinity }?.contains("--warmup must be a number of seconds >= 0") == true)
        #expect(refusal { $0.duration = 1e300 } != nil)
        #expect(refusal { $0.duration = .nan } != nil)
        #expect(refusal { $0.duration = 0 } != nil)
        #expect(refusal { $0.threads = "100000" } == "--threads 100000: at most \(16 * cpus) threads (16 times the \(cpus) online CPUs)")
        #expect(refusal { $0.threads = "1,1" }?.contains("--threads lists 1 twice") == true)
        #expect(refusal { $0.threads = "-1" } != nil)
        #expect(refusal { $0.declared["objects"] = "2000000000" }?.contains("2000000000 objects of 64 bytes need at least") == true)
        #expect(refusal { $0.declared["objects"] = "9223372036854775807"; $0.threads = "2" }?.contains("at most 2147483647") == true)
        #expect(refusal { $0.declared["dup_depth"] = "9223372036854775807" }?.contains("--dup-depth must be at most") == true)
        #expect(refusal { $0.repetitions = Int.max }?.contains("--reps must be between 1 and 10000") == true)
        #expect(refusal { $0.objectAlign = 1 << 62 }?.contains("objects of 4611686018427387904 bytes need") == true)
    }

    /// A valid experiment to mutate: every key the schema has, with a list where one is allowed.
    static let baseExperiment: [String: Any] = [
        "name": "property", "description": "mutated", "schemes": ["atomic", "handle-local", "gil"],
        "workloads": [["name": "mixed", "objects": [10, 100], "zipf": 1.0], ["name": "call", "args": 2]],
        "scheme_options": ["handle_index": ["low3", "high16"], "gil_slice": 0.01, "object_align": 128],
        "threads": [1, 2], "repetitions": 2, "duration": 0.1, "warmup": 0.01, "seed": 3, "context": "direct",
        "pin": ["none", "compact"], "placement": "local",
    ]

    func randomJSONValue(_ random: inout SplitMix64, depth: Int = 0) -> Any {
        switch random.next() % 12 {
        case 0: return pick(Self.wordWords, &random)
        case 1: return Double(bitPattern: random.next())
        case 2: return pick([0, -1, 1, 2, 3, 33, 100_000, 2_000_000_000, 4_294_967_296, 1 << 53, Int.max, Int.min], &random)
        case 3: return pick([0.5, -0.5, 1e300, -1e300, 1e-300, 86_401.0, 2.5], &random)
        case 4: return NSNull()
        case 5: return chance(50, &random)
        case 6 where depth < 2: return (0..<Int(random.next() % 4)).map { _ in randomJSONValue(&random, depth: depth + 1) }
        case 7 where depth < 2:
            return Dictionary((0..<Int(random.next() % 3)).map { _ in (pick(Self.wordWords + ["name", "objects"], &random), randomJSONValue(&random, depth: depth + 1)) },
                              uniquingKeysWith: { first, _ in first })
        case 8: return pick(["all", "powers", "one-and-all", "node0", "inf", "nan"], &random)
        default: return pick([1, 2, 10, 128, 0.01], &random)
        }
    }

    /// Replaces, removes or adds one value somewhere in `value`.
    func mutate(_ value: Any, _ random: inout SplitMix64, depth: Int = 0) -> Any {
        if var object = value as? [String: Any], !object.isEmpty, depth < 3 {
            let key = object.keys.sorted()[Int(random.next() % UInt64(object.count))]
            switch random.next() % 5 {
            case 0: object[key] = nil
            case 1: object[key] = randomJSONValue(&random)
            case 2: object[pick(Self.wordWords + ["duration", "threads", "objects", "zipf", "unique_ids"], &random)] = randomJSONValue(&random)
            default: object[key] = mutate(object[key]!, &random, depth: depth + 1)
            }
            return object
        }
        if var list = value as? [Any], !list.isEmpty, depth < 3 {
            let index = Int(random.next() % UInt64(list.count))
            switch random.next() % 4 {
            case 0: list.remove(at: index)
            case 1: list.append(list[index])
            default: list[index] = mutate(list[index], &random, depth: depth + 1)
            }
            return list
        }
        return randomJSONValue(&random)
    }

    /// Bytes of a JSON text with a few bytes replaced, cut or repeated.
    func mutateBytes(_ data: Data, _ random: inout SplitMix64) -> Data {
        var bytes = [UInt8](data)
        for _ in 0..<Int(1 + random.next() % 3) where !bytes.isEmpty {
            let index = Int(random.next() % UInt64(bytes.count))
            switch random.next() % 4 {
            case 0: bytes[index] = UInt8(truncatingIfNeeded: random.next())
            case 1: bytes.removeSubrange(index...)
            case 2: bytes.insert(pick(Array("{}[],:\"0-e.\\".utf8), &random), at: index)
            default: bytes.remove(at: index)
            }
        }
        return Data(bytes)
    }

    @Test func mutatedExperimentFilesAreRefusedInOneLineOrGiveRequestsWithinTheLimits() throws {
        let seed = PropertyCases.seed
        var random = SplitMix64(seed: seed)
        let base = try JSONSerialization.data(withJSONObject: Self.baseExperiment, options: [.sortedKeys])
        var accepted = 0
        for index in 0..<PropertyCases.count {
            let data: Data
            if chance(25, &random) {
                data = mutateBytes(base, &random)
            } else {
                var value: Any = Self.baseExperiment
                for _ in 0..<Int(1 + random.next() % 3) { value = mutate(value, &random) }
                data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed])) ?? base
            }
            let context = "seed \(seed) case \(index): \(String(decoding: data, as: UTF8.self))"
            do {
                let experiment = try ExperimentFile.parse(data: data, source: "mutated.json")
                let (requests, _) = try experiment.requests()
                accepted += 1
                for request in requests {
                    #expect(request.threads >= 1 && request.threads <= ResourceLimits.maximumThreads(), "\(context)")
                    #expect(ResourceLimits.secondsProblem(request.duration) == nil, "\(context)")
                    #expect(ResourceLimits.secondsProblem(request.warmup, zeroAllowed: true) == nil, "\(context)")
                }
            } catch {
                expectOneLine(error, context)
            }
        }
        #expect(accepted > PropertyCases.count / 20, "almost every mutation was refused; the mutations test too little")
    }

    /// A CSV field: ordinary, or holding what must be quoted.
    func randomField(_ random: inout SplitMix64) -> String {
        pick(["", "1", "true", "True", "TRUE", "false", "FALSE", "yes", "2.5", "nan", "a,b", "say \"hi\"", "two\nlines",
              "cr\r\nlf", "\"", ",", " ", "é", "\u{FEFF}", "-1", "1e300", "0;1", "atomic", "private"], &random)
    }

    func randomCSV(_ random: inout SplitMix64) -> String {
        var header = CSVReader.requiredColumns + ["host", "oversubscribed", "validation_error"]
        if chance(20, &random) { header.remove(at: Int(random.next() % UInt64(header.count))) }
        if chance(10, &random) { header.append(header[0]) }
        var text = CSVWriter.line(header)
        for _ in 0..<Int(random.next() % 5) {
            var fields = header.map { column -> String in
                switch column {
                case "threads": chance(80, &random) ? String(1 + random.next() % 4) : randomField(&random)
                case "ops_per_s", "ns_per_op", "elapsed_s": chance(80, &random) ? String(Double(random.next() % 10_000) / 3) : randomField(&random)
                case "scheme": pick(["atomic", "handle-local", "noop"], &random)
                case "workload": pick(["private", "shared-hot"], &random)
                default: randomField(&random)
                }
            }
            if chance(10, &random) { fields.removeLast() }
            text += CSVWriter.line(fields)
        }
        if chance(30, &random) {
            var bytes = Array(text.utf8)
            for _ in 0..<Int(1 + random.next() % 3) where !bytes.isEmpty {
                let index = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 3 {
                case 0: bytes[index] = pick(Array("\",\n\r".utf8), &random)
                case 1: bytes.removeSubrange(index...)
                default: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: index)
                }
            }
            text = String(decoding: bytes, as: UTF8.self)
        }
        if chance(10, &random) { text = "\u{FEFF}" + text }
        if chance(20, &random) { text = text.replacingOccurrences(of: "\n", with: "\r\n") }
        return text
    }

    @Test func randomCSVFilesAreReadOrRefusedInOneLineAndReportedWithoutCrashing() throws {
        let seed = PropertyCases.seed
        var random = SplitMix64(seed: seed)
        var read = 0
        for index in 0..<PropertyCases.count {
            let text = randomCSV(&random)
            let context = "seed \(seed) case \(index): \(text.debugDescription)"
            do {
                let rows = try CSVReader.rows(text: text, source: "random.csv")
                read += 1
                let lines = Report(rows: rows).lines()
                let leftOut = rows.filter { !$0.isValid }
                #expect(lines.contains("invalid rows left out: \(leftOut.count)"), "\(context)")
                for row in leftOut { #expect(row.leftOutReason?.isEmpty == false, "\(context): a row left out without a reason") }
            } catch {
                expectOneLine(error, context)
            }
        }
        #expect(read > PropertyCases.count / 10, "almost every file was refused; the generator tests too little")
    }

    @Test func fieldsWrittenByTheWriterReadBackTheSame() throws {
        var random = SplitMix64(seed: PropertyCases.seed)
        for index in 0..<PropertyCases.count {
            let records = (0..<Int(1 + random.next() % 4)).map { _ in (0..<Int(1 + random.next() % 5)).map { _ in randomField(&random) } }
            let text = records.map(CSVWriter.line).joined()
            let read = try CSVReader.records(text, source: "case \(index)").map(\.fields)
            // A record of one empty field is a blank line, which readers skip; the writer never writes one.
            #expect(read == records, "seed \(PropertyCases.seed) case \(index): \(text.debugDescription)")
        }
    }

    @Test func booleansSavedBackByPandasOrSpreadsheetsKeepTheirMeaning() {
        for (text, meaning) in [("true", true), ("True", true), ("TRUE", true), ("false", false), ("False", false), ("FALSE", false)] {
            let row = CSVRow(values: ["valid": text, "oversubscribed": text])
            #expect(row.flag("valid") == meaning && row.isValid == meaning)
            #expect((row.leftOutReason == nil) == meaning)
        }
        let odd = CSVRow(values: ["valid": "yes"])
        #expect(!odd.isValid && odd.leftOutReason == "valid is 'yes', neither true nor false")
        #expect(CSVRow(values: ["valid": "False", "validation_error": "object 0: count 3"]).leftOutReason == "object 0: count 3")
    }

    /// Every way `CSVWriter` can be pointed at a file: created writers leave the directory as
    /// they found it until a row is written, and refusals touch nothing.
    @Test func writersNeverLeaveAFileBehindWhenRefusedOrUnused() throws {
        let directory = try TemporaryDirectory()
        let header = CSVWriter.line(ColumnCatalogue.names)
        try header.write(toFile: directory.path + "/good.csv", atomically: false, encoding: .utf8)
        try "a,b\n1,2\n".write(toFile: directory.path + "/other.csv", atomically: false, encoding: .utf8)
        mkdir(directory.path + "/sub", 0o755)
        let before = try directory.listing()
        let targets: [(path: String, refused: Bool)] = [
            ("good.csv", false), ("new.csv", false), ("other.csv", true), ("sub", true), ("missing/new.csv", true),
            ("sub/", true), ("", true), ("missing/", true),
        ].map { (directory.path + "/" + $0.0, $0.1) } + [("", true)]
        for target in targets {
            let path = target.path
            do {
                _ = try CSVWriter(path: path)
                #expect(!target.refused, "\(target.path) was accepted")
            } catch {
                #expect(target.refused, "\(target.path) was refused: \(error)")
                expectOneLine(error, target.path)
            }
            #expect(try directory.listing() == before, "\(target.path) changed the directory")
        }
        let first = try CSVWriter(newFileIn: directory.path, name: "sweep")
        let second = try CSVWriter(newFileIn: directory.path, name: "sweep")
        #expect(first.path.hasSuffix("/sweep.csv") && second.path.hasSuffix("/sweep-2.csv"), "two sweeps of one name share no file")
        first.discardIfEmpty()
        second.discardIfEmpty()
        #expect(try directory.listing() == before, "an unused sweep file was left behind")
    }

    @Test func aRowAppendedToAFileWithoutAFinalLineBreakStartsOnItsOwnLine() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/unterminated.csv"
        let header = CSVWriter.line(ColumnCatalogue.names)
        let record = try shortRun(Registry.scheme(named: "noop"), workload: "private", threads: 1)
        let row = CSVWriter.line(ColumnCatalogue.names.map { record.csvValues[$0] ?? "" })
        // A file another tool saved without its final line break: the header and one row.
        try (header + row.dropLast()).write(toFile: path, atomically: false, encoding: .utf8)
        let writer = try CSVWriter(path: path)
        try writer.append(record)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text == header + row + row, "the appended row is glued onto the last one")
        #expect(try CSVReader.rows(path: path).count == 2)
    }
}

/// How many cases each property runs, and from which seed.
enum PropertyCases {
    static let count = ProcessInfo.processInfo.environment["REFSCALE_PROPERTY_CASES"].flatMap(Int.init) ?? 1000
    static let seed = ProcessInfo.processInfo.environment["REFSCALE_PROPERTY_SEED"].flatMap(UInt64.init) ?? 17
}

/// A directory under /tmp, removed with everything in it when the value goes.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/refscale-test-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw HarnessError("mkdtemp failed") }
        path = String(cString: template)
    }

    deinit { _ = try? FileManager.default.removeItem(atPath: path) }

    func listing() throws -> [String] {
        try FileManager.default.subpathsOfDirectory(atPath: path).sorted()
    }
}
