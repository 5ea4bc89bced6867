import Glibc
import Testing
import RefScale
import RefScaleHarness

/// Under ThreadSanitizer or AddressSanitizer (debug builds, instrumented) an operation takes
/// microseconds and one pass of a long workload (`mixed`: 32768 operations) may outlast a
/// 50 ms interval: the short runs then measure ten times longer, so each interval still sees
/// whole passes.
enum TestTiming {
    static let sanitized = ["__tsan_init", "__asan_init"].contains { (name: String) in dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) != nil }

    /// `seconds`, or three times that under a sanitizer: enough for every worker of an
    /// oversubscribed run to finish passes inside the measured interval with the other CPU busy.
    static func interval(_ seconds: Double) -> Double { sanitized ? 3 * seconds : seconds }
}

/// A scheme as the command line names it, with the handle-local release policy where it matters.
struct SchemeSetting: Sendable, CustomStringConvertible {
    var name: String
    var release: ReleasePolicy = .lazy

    var description: String { name == HandleLocalScheme.name ? "\(name)/\(release.rawValue)" : name }

    static let threadSafe: [SchemeSetting] = [
        SchemeSetting(name: AtomicScheme.name),
        SchemeSetting(name: BiasedScheme.name),
        SchemeSetting(name: HandleLocalScheme.name, release: .lazy),
        SchemeSetting(name: HandleLocalScheme.name, release: .eager),
        SchemeSetting(name: NoopScheme.name),
    ]

    static let all = [SchemeSetting(name: NonatomicScheme.name)] + threadSafe
}

/// A short run (50 ms measured after 10 ms of warm-up): long enough for thousands of passes, short
/// enough that the whole suite stays fast. The request is validated as the command line would.
func shortRun(
    _ scheme: SchemeEntry, release: ReleasePolicy = .lazy, workload: String, threads: Int,
    workloadOptions: OptionValues = OptionValues()
) throws -> RunRecord {
    var schemeOptions = SchemeOptions()
    schemeOptions[HandleLocalScheme.release] = release
    let request = RunRequest(
        scheme: scheme, workload: try Registry.workload(named: workload), workloadOptions: workloadOptions,
        schemeOptions: schemeOptions, threads: threads, duration: TestTiming.interval(0.05), warmup: 0.01
    )
    try request.validate()
    return try Runner.run(request)
}

func shortRun(
    _ setting: SchemeSetting, workload: String, threads: Int, workloadOptions: OptionValues = OptionValues()
) throws -> RunRecord {
    try shortRun(
        try Registry.scheme(named: setting.name), release: setting.release, workload: workload, threads: threads,
        workloadOptions: workloadOptions
    )
}

/// Every worker published operations within the measured interval: it did timed work, not only
/// its set-up and the one pass every worker runs however late it starts. On a loaded machine
/// (other jobs, the suite's own parallel runs) a worker can wait out a 50 ms interval without
/// being scheduled, so a run with an idle worker is measured again, four times longer, up to
/// three times; a worker that never works within the interval fails. Returns the record checked.
@discardableResult
func expectEveryWorkerWorkedInTheMeasuredInterval(
    _ record: RunRecord, _ label: String = "", sourceLocation: SourceLocation = #_sourceLocation
) throws -> RunRecord {
    var record = record
    for _ in 0..<3 where record.measuredWorkerOperations.contains(0) {
        var request = record.request
        request.duration *= 4
        record = try Runner.run(request)
        #expect(record.isValid, "\(label) \(record["validation_error"].text)", sourceLocation: sourceLocation)
    }
    let perWorker = record.measuredWorkerOperations
    #expect(perWorker.count == record.request.threads, sourceLocation: sourceLocation)
    #expect(
        !perWorker.isEmpty && perWorker.allSatisfy { $0 > 0 },
        "\(label) operations of each worker within the measured interval: \(perWorker)", sourceLocation: sourceLocation)
    return record
}

extension Tag {
    /// A suite that starts threads: `.ci/run` runs every suite with this tag under
    /// ThreadSanitizer, and `ThreadedSuitesTests` fails when a suite that starts threads lacks it.
    @Tag static var threaded: Self
}
