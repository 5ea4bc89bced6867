import ArgumentParser
import Foundation
import Glibc
import RefScale
import RefScaleHarness

/// `refscale trace record` and `refscale trace info`: reference-count traces of real Python
/// programs, recorded by an instrumented CPython 3.11 (Tools/cpython-trace), in the format of
/// Experiments/traces/FORMAT.md.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Records and describes reference-count traces of real Python programs.",
        subcommands: [TraceRecord.self, TraceInfo.self, TraceAttributeCommand.self])
}

struct TraceRecord: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Runs a Python program under the instrumented CPython 3.11 and writes its reference-count trace.",
        discussion: """
            The interpreter is built from Debian's python3.11 source package on first use \
            (Tools/cpython-trace/build.sh; a few minutes) and cached; REFSCALE_TRACE_PYTHON names \
            another build of it. The program's output passes through; when it fails, its exit \
            status is passed on and no trace is written.
            """)

    static let maxOpsLimit = 50_000_000
    static let warmupLimit = 3600.0

    @Option(help: "The trace file to write.") var out: String
    @Option(help: "Events to record at most (1...\(TraceRecord.maxOpsLimit)).") var maxOps = 1_000_000
    @Option(help: "Seconds the program runs before recording starts (0...\(Int(TraceRecord.warmupLimit))).") var warmup = 0.0
    @Argument(parsing: .postTerminator, help: "-- PROGRAM.py [ARGS...]") var command: [String] = []

    func run() throws {
        guard !out.isEmpty else { throw UsageError("--out needs a file name") }
        let outDirectory = (out as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: outDirectory.isEmpty ? "." : outDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw UsageError("--out: directory \(outDirectory) does not exist")
        }
        guard (1 ... Self.maxOpsLimit).contains(maxOps) else {
            throw UsageError("--max-ops must be within 1...\(Self.maxOpsLimit), got \(maxOps)")
        }
        guard warmup.isFinite, (0 ... Self.warmupLimit).contains(warmup) else {
            throw UsageError("--warmup must be seconds within 0...\(Int(Self.warmupLimit)), got \(warmup)")
        }
        guard let program = command.first else {
            throw UsageError("trace record needs a program: refscale trace record --out FILE -- PROGRAM.py [ARGS]")
        }
        guard FileManager.default.isReadableFile(atPath: program) else {
            throw UsageError("program \(program) does not exist or cannot be read")
        }
        let python = try instrumentedPython()

        let raw = FileManager.default.temporaryDirectory.appendingPathComponent("refscale-raw-\(getpid())-\(UUID().uuidString)").path
        defer { unlink(raw) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-X", "refscale-trace=\(raw)", "-X", "refscale-trace-max=\(maxOps)",
                             "-X", "refscale-trace-warmup=\(warmup)"] + command
        try process.run()
        process.waitUntilExit()
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        guard status == 0 else {
            unlink(raw)
            fputs("refscale: error: \(program) exited with status \(status); no trace written\n", stderr)
            Glibc.exit(status)
        }
        guard let dump = FileManager.default.contents(atPath: raw) else {
            throw HarnessError("\(program) ended without the recorder writing its events (did it leave through os._exit?)")
        }
        let trace: Trace
        do {
            trace = try RawTraceDump.convert(Array(dump), program: program, arguments: Array(command.dropFirst()))
        } catch {
            throw HarnessError(error.description)
        }
        guard trace.eventCount > 0 else {
            throw HarnessError("no events recorded: \(program) ended before --warmup \(warmup) s had passed")
        }
        let bytes = TraceFile.encode(trace)
        try writeAtomically(bytes, to: out)
        let perEvent = trace.eventCount == 0 ? 0 : Double(bytes.count) / Double(trace.eventCount)
        fputs("refscale: wrote \(out): \(trace.eventCount) events, \(trace.threads.count) threads, \(trace.objects.count) objects, "
              + "\(bytes.count) bytes (\(String(format: "%.2f", perEvent)) per event)\n", stderr)
    }

    /// REFSCALE_TRACE_PYTHON, or the cached build of Tools/cpython-trace/build.sh (which builds
    /// it first when the patch changed or it was never built, and says why it cannot).
    private func instrumentedPython() throws -> String {
        if let given = ProcessInfo.processInfo.environment["REFSCALE_TRACE_PYTHON"] {
            guard FileManager.default.isExecutableFile(atPath: given) else {
                throw UsageError("REFSCALE_TRACE_PYTHON=\(given) is not an executable")
            }
            return given
        }
        guard let script = buildScript() else {
            throw HarnessError("cannot find Tools/cpython-trace/build.sh above \(executablePath()); set REFSCALE_TRACE_PYTHON")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let printed = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            // The script has printed the one line saying why.
            Glibc.exit(1)
        }
        let path = String(decoding: printed, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("Tools/cpython-trace/build.sh printed \(path), which is not an executable")
        }
        return path
    }

    private func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    /// The checkout this binary was built in: the first directory above it holding the script.
    private func buildScript() -> String? {
        var directory = URL(fileURLWithPath: executablePath()).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("Tools/cpython-trace/build.sh").path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }

    /// Writes to a temporary file beside `path` and renames it, so `path` is never half written.
    private func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = "\(path).tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
            throw HarnessError("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw HarnessError("cannot rename \(temporary) to \(path): \(String(cString: strerror(errno)))")
        }
    }
}

struct TraceInfo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info",
        abstract: "Describes a trace: events by kind and site, threads, objects and types, the most shared objects, the highest counts, the share 3.12+ makes immortal.")

    @Argument(help: "A trace file written by trace record.") var file: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw UsageError("cannot read trace \(file)")
        }
        let trace: Trace
        do {
            trace = try TraceFile.decode(Array(data))
        } catch {
            throw UsageError("\(file): \(error.description)")
        }
        TraceInfoPrinter(trace: trace, summary: TraceSummary(trace), file: file, bytes: data.count).lines().forEach { print($0) }
    }
}

/// The text of `trace info`.
struct TraceInfoPrinter {
    var trace: Trace
    var summary: TraceSummary
    var file: String
    var bytes: Int

    func lines() -> [String] {
        var lines: [String] = []
        let events = trace.eventCount
        lines.append("trace: \(file) (format \(TraceFile.version), \(bytes) bytes, \(decimal(Double(bytes) / Double(max(events, 1)))) bytes per event)")
        lines.append("program: \(([trace.header.program] + trace.header.arguments).joined(separator: " "))")
        lines.append("interpreter: \(trace.header.interpreter.split(separator: "\n").joined(separator: " "))")
        lines.append("threads: \(trace.threads.count)  events: \(events)  objects: \(summary.objectCount)  types: \(summary.typeCount)")
        lines.append("")
        lines.append("events by kind and site:")
        lines.append(row(["kind", "interpreter", "extension", "share"], widths: [8, 12, 12, 8]))
        for kind in TraceEvent.Kind.allCases {
            let interpreter = summary.eventCount(kind, .interpreter), extensionModule = summary.eventCount(kind, .extensionModule)
            lines.append(row([kind.name, "\(interpreter)", "\(extensionModule)", percent(interpreter + extensionModule, of: events)], widths: [8, 12, 12, 8]))
        }
        lines.append("events per thread: " + summary.eventsPerThread.enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: ", "))
        lines.append("")
        lines.append("operations (increments and decrements): \(summary.operations)")
        lines.append("  on objects CPython 3.12+ makes immortal: \(summary.operationsOnImmortalIn312) (\(percent(summary.operationsOnImmortalIn312, of: summary.operations)))")
        lines.append("  on objects counted by more than one thread: \(summary.operationsOnObjectsOfMoreThanOneThread) "
                     + "(\(percent(summary.operationsOnObjectsOfMoreThanOneThread, of: summary.operations))); "
                     + "such objects: \(summary.objectsCountedByMoreThanOneThread) (\(percent(summary.objectsCountedByMoreThanOneThread, of: summary.objectCount)))")
        lines.append("")
        lines.append("the \(TraceSummary.mostSharedLimit) objects most operated on by more than one thread:")
        let threadColumns = trace.threads.indices.map { "thread \($0)" }
        let widths = [8, 28, 10, 9] + threadColumns.map { max($0.count, 9) }
        lines.append(row(["object", "type", "max count", "immortal"] + threadColumns, widths: widths, leftAligned: 2))
        for shared in summary.mostShared {
            lines.append(row(["\(shared.object)", String(shared.typeName.prefix(28)), "\(shared.maxCount)",
                              shared.immortalIn312 ? "3.12+" : "no"] + shared.operationsPerThread.map(String.init), widths: widths, leftAligned: 2))
        }
        if summary.mostShared.isEmpty { lines.append("  (none)") }
        lines.append("")
        lines.append("highest count each object reached (the \(summary.mortalObjects) objects 3.12+ still counts):")
        lines.append(row(["count", "objects", "share", "operations", "share"], widths: [12, 10, 8, 12, 8]))
        var lower = 0
        for (index, objects) in summary.objectsByMaxCount.enumerated() {
            let label = index < TraceSummary.maxCountBuckets.count
                ? (lower == TraceSummary.maxCountBuckets[index] ? "\(lower)" : "\(lower)-\(TraceSummary.maxCountBuckets[index])")
                : "> \(TraceSummary.maxCountBuckets.last!)"
            let operations = summary.operationsByMaxCount[index]
            lines.append(row([label, "\(objects)", percent(objects, of: summary.mortalObjects), "\(operations)", percent(operations, of: summary.operationsOnMortalObjects)],
                             widths: [12, 10, 8, 12, 8]))
            if index < TraceSummary.maxCountBuckets.count { lower = TraceSummary.maxCountBuckets[index] + 1 }
        }
        let above8 = overflow(beyondBucket: 3), above16 = overflow(beyondBucket: 4)
        lines.append("would overflow an 8-bit count (> 255): \(percent(above8.objects, of: summary.mortalObjects)) of those objects, \(percent(above8.operations, of: summary.operationsOnMortalObjects)) of their operations")
        lines.append("would overflow a 16-bit count (> 65535): \(percent(above16.objects, of: summary.mortalObjects)) of those objects, \(percent(above16.operations, of: summary.operationsOnMortalObjects)) of their operations")
        return lines
    }

    private func overflow(beyondBucket bucket: Int) -> (objects: Int, operations: Int) {
        (summary.objectsByMaxCount[(bucket + 1)...].reduce(0, +), summary.operationsByMaxCount[(bucket + 1)...].reduce(0, +))
    }

    /// Fields padded to their widths: the first `leftAligned` to the left, the rest (numbers) to the right.
    private func row(_ fields: [String], widths: [Int], leftAligned: Int = 1) -> String {
        zip(fields, widths).enumerated().map { index, pair in
            let (field, width) = pair
            let padding = String(repeating: " ", count: max(0, width - field.count))
            return index < leftAligned ? field + padding : padding + field
        }.joined(separator: "  ")
    }

    private func percent(_ part: Int, of whole: Int) -> String {
        whole == 0 ? "-" : decimal(100 * Double(part) / Double(whole)) + "%"
    }

    private func decimal(_ value: Double) -> String { String(format: "%.2f", value) }
}
