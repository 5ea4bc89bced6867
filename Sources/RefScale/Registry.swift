/// A scheme by name, with everything the command line and the harness need to know of it.
public struct SchemeEntry: Sendable {
    public let name: String
    public let summary: String
    public let reportedCounters: Set<CounterKind>
    public let isThreadSafe: Bool
    public let usedOptions: Set<SchemeOptionName>
    /// The embedded interpreter's version for a scheme that counts in one (`cpython`), else nil.
    public let pythonVersion: String?
    public let prepare: @Sendable (RunConfig) throws -> PreparedRun
    /// Throws the reason these options cannot run this scheme.
    public let check: @Sendable (SchemeOptions) throws -> Void

    @inline(__always)
    public init<S: UniversalScheme>(_ scheme: S.Type) {
        name = S.name
        summary = S.summary
        reportedCounters = S.reportedCounters
        isThreadSafe = S.isThreadSafe
        usedOptions = S.usedOptions
        pythonVersion = S.pythonVersion
        // The closures call a concrete `RunSession` of the context the run asks for, so the hot
        // loop is specialised here for S under each context: the one place that knows of contexts.
        prepare = { config in
            switch config.context {
            case .direct: try PreparedRun(RunSession<S>(config: config))
            case .universal: try PreparedRun(RunSession<UniversalContext<S>>(config: config))
            case .debug: try PreparedRun(RunSession<DebugContext<S>>(config: config))
            }
        }
        check = { options in
            try options.debug.validate()
            _ = try S.makeShared(options: options, threads: 1)
        }
    }
}

public struct WorkloadEntry: Sendable {
    public let name: String
    public let summary: String
    public let sharesObjects: Bool
    public let usedOptions: Set<WorkloadOptionName>
    public let make: @Sendable (WorkloadOptions) throws -> any Workload

    public init<W: Workload>(_ workload: W.Type) {
        name = W.name
        summary = W.summary
        sharesObjects = W.sharesObjects
        usedOptions = W.usedOptions
        make = { try W(options: $0) }
    }

    /// An entry that always makes `instance`, whatever the options: for streams built outside
    /// the registry (`stress`).
    public init<W: Workload>(instance: W) {
        name = W.name
        summary = W.summary
        sharesObjects = W.sharesObjects
        usedOptions = W.usedOptions
        make = { _ in instance }
    }
}

/// Every scheme and workload refscale knows. Adding one is a file and a line here.
public enum Registry {
    public static let schemes: [SchemeEntry] = [
        SchemeEntry(NonatomicScheme.self),
        SchemeEntry(GilScheme.self),
        SchemeEntry(AtomicScheme.self),
        SchemeEntry(BiasedScheme.self),
        SchemeEntry(PerThreadScheme.self),
        SchemeEntry(HandleLocalScheme.self),
        SchemeEntry(ArenaScheme.self),
        SchemeEntry(HandleTableScheme.self),
        SchemeEntry(NoopScheme.self),
        SchemeEntry(CPythonScheme.self),
    ]

    public static let workloads: [WorkloadEntry] = [
        WorkloadEntry(PrivateWorkload.self),
        WorkloadEntry(SharedHotWorkload.self),
        WorkloadEntry(MixedWorkload.self),
        WorkloadEntry(CallWorkload.self),
        WorkloadEntry(HandoffWorkload.self),
        WorkloadEntry(ChurnWorkload.self),
    ]

    public static func scheme(named name: String) throws -> SchemeEntry {
        guard let entry = schemes.first(where: { $0.name == name }) else {
            throw ConfigurationError("unknown scheme '\(name)'; valid schemes: \(schemes.map(\.name).joined(separator: ", "))")
        }
        return entry
    }

    public static func workload(named name: String) throws -> WorkloadEntry {
        guard let entry = workloads.first(where: { $0.name == name }) else {
            throw ConfigurationError("unknown workload '\(name)'; valid workloads: \(workloads.map(\.name).joined(separator: ", "))")
        }
        return entry
    }
}
