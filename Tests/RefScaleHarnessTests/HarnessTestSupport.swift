import RefScale
import RefScaleHarness

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
    workloadOptions: WorkloadOptions = WorkloadOptions()
) throws -> Row {
    var schemeOptions = SchemeOptions()
    schemeOptions.release = release
    let request = RunRequest(
        scheme: scheme, workload: try Registry.workload(named: workload), workloadOptions: workloadOptions,
        schemeOptions: schemeOptions, threads: threads, duration: 0.05, warmup: 0.01
    )
    try request.validate()
    return try Runner.run(request)
}

func shortRun(
    _ setting: SchemeSetting, workload: String, threads: Int, workloadOptions: WorkloadOptions = WorkloadOptions()
) throws -> Row {
    try shortRun(
        try Registry.scheme(named: setting.name), release: setting.release, workload: workload, threads: threads,
        workloadOptions: workloadOptions
    )
}
