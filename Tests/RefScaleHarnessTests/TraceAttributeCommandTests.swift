import Foundation
import Testing
import RefScale
import RefScaleHarness

/// `refscale trace attribute`, run as a user runs it, on a hand-made trace whose per-object costs
/// are known: one thread, every round of which increfs and decrefs object 0 (a function) three
/// times and object 1 (a dict) once. Nothing is born or dies and every pass is balanced, so under
/// `atomic` (one atomic read-modify-write per count change, nothing else shared) with one worker
/// (a worker runs whole passes) a pass costs object 0 six atomics and object 1 two. Both are
/// resident objects (alive before the trace), and each resident costs four operations outside
/// the passes (TraceReplay.swift: its `new`, a plain store; the `store` into its global and the
/// `close`, atomic; the main thread's `clear` after the run, atomic). So over P passes object 0
/// costs 6P + 4 operations and 6P + 3 atomics, object 1 2P + 4 and 2P + 3, with the same P, and
/// their shares are (6P + 3) / (8P + 6) and (2P + 3) / (8P + 6): about 3/4 and 1/4. Nothing is
/// left to no object or to transient objects.
@Suite(.tags(.threaded)) struct TraceAttributeCommandTests {
    static func handMadeTrace(rounds: Int = 100) -> Trace {
        var events: [TraceEvent] = []
        for _ in 0 ..< rounds {
            events += [TraceEvent(.incref, .interpreter, object: 0), TraceEvent(.incref, .interpreter, object: 1)]
            events += [TraceEvent(.incref, .interpreter, object: 0), TraceEvent(.incref, .interpreter, object: 0)]
            events += [TraceEvent(.decref, .interpreter, object: 0), TraceEvent(.decref, .interpreter, object: 1)]
            events += [TraceEvent(.decref, .interpreter, object: 0), TraceEvent(.decref, .interpreter, object: 0)]
        }
        let threads = [TraceThread(events: events, segments: [TraceSegment(start: 0, count: events.count)])]
        return Trace(
            header: TraceHeader(interpreter: "3.11.2", program: "hand-made.py", arguments: []), types: ["function", "dict"],
            objects: [TraceObject(typeIndex: 0, firstCount: 3, immortalIn312: false), TraceObject(typeIndex: 1, firstCount: 1, immortalIn312: false)],
            threads: threads)
    }

    static func traceFile() throws -> (directory: URL, trace: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("refscale-attribute-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let trace = directory.appendingPathComponent("hand-made.rstrace")
        try Data(TraceFile.encode(handMadeTrace())).write(to: trace)
        return (directory, trace.path)
    }

    @Test func attributeChargesEachObjectItsKnownShare() throws {
        let (directory, trace) = try Self.traceFile()
        defer { try? FileManager.default.removeItem(at: directory) }
        let csv = directory.appendingPathComponent("attribution.csv").path
        let result = try RefscaleBinary.run([
            "trace", "attribute", trace, "--scheme", "atomic", "--threads", "1", "--duration", "0.05", "--warmup", "0.01", "--csv", csv,
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("800 events in 1 traced threads, 2 objects; atomic, 1 workers"), "\(result.standardOutput)")
        let lines = try String(contentsOfFile: csv, encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = try #require(lines.first)
        let rows = lines.dropFirst().map { Dictionary(uniqueKeysWithValues: zip(header, $0)) }
        let byObject = Dictionary(uniqueKeysWithValues: rows.map { ($0["object"]!, $0) })
        let function = try #require(byObject["0"]), dict = try #require(byObject["1"])
        #expect(function["rank"] == "1" && function["type"] == "function" && function["traced_threads"] == "1")
        #expect(dict["rank"] == "2" && dict["type"] == "dict" && dict["traced_threads"] == "1")
        let operations = try #require(Int(function["ops"]!)), dictOperations = try #require(Int(dict["ops"]!))
        let passes = (operations - 4) / 6
        #expect(passes > 0 && operations == 6 * passes + 4 && dictOperations == 2 * passes + 4, "object 0: \(operations) ops, object 1: \(dictOperations)")
        #expect(function["atomic_rmw"] == String(6 * passes + 3) && function["shared_writes"] == function["atomic_rmw"], "\(function)")
        #expect(dict["atomic_rmw"] == String(2 * passes + 3) && dict["shared_writes"] == dict["atomic_rmw"], "\(dict)")
        let total = Double(8 * passes + 6)
        #expect(abs(Double(function["share"]!)! - Double(6 * passes + 3) / total) < 1e-12, "object 0's share: \(function["share"]!)")
        #expect(abs(Double(dict["share"]!)! - Double(2 * passes + 3) / total) < 1e-12, "object 1's share: \(dict["share"]!)")
        let table = result.standardOutput.split(separator: "\n")
        let functionLine = table.firstIndex { $0.contains(" function ") }, dictLine = table.firstIndex { $0.contains(" dict ") }
        #expect(functionLine != nil && dictLine != nil && functionLine! < dictLine!, "the report ranks object 0 first: \(result.standardOutput)")
        for name in ["other", "transient", "none"] {
            #expect(byObject[name]?["shared_writes"] == "0", "\(name): \(byObject[name] ?? [:])")
        }
    }

    /// `--what-if immortal:0` changes object 0, the one the attribution ranks first, and reports
    /// both replays' medians and their ratio, each with its interval. (`top1` ranks the objects
    /// more than one thread counts; this trace has one thread.)
    @Test func whatIfChangesTheTopObjectAndReportsBothReplays() throws {
        let (directory, trace) = try Self.traceFile()
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try RefscaleBinary.run([
            "trace", "attribute", trace, "--scheme", "atomic", "--threads", "1", "--duration", "0.05", "--warmup", "0.01",
            "--what-if", "immortal:0", "--reps", "3",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.first == "\(trace): immortal:0 changes 1 object(s): 0 (function)", "\(result.standardOutput)")
        #expect(lines.contains { $0.hasPrefix("atomic, 1 workers, 3 pairs; medians with order-statistic intervals") }, "\(result.standardOutput)")
        let number = #"[0-9]+\.[0-9]{2}"#
        for label in ["unchanged ", "changed   "] {
            #expect(lines.contains { $0.range(of: #"^  \#(label) \#(number) M ops/s  \[\#(number), \#(number)\]$"#, options: .regularExpression) != nil },
                    "no \(label) line: \(result.standardOutput)")
        }
        #expect(lines.contains { $0.range(of: #"^  changed / unchanged: \#(number)x  \[\#(number), \#(number)\]$"#, options: .regularExpression) != nil })
        let refused = try RefscaleBinary.run(["trace", "attribute", trace, "--scheme", "atomic", "--what-if", "immortal:0", "--csv", directory.path + "/x.csv"])
        #expect(refused.status == 64 && refused.standardError.split(separator: "\n").count == 1, "\(refused.standardError)")
    }
}
