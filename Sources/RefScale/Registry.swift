/// A scheme by name, with everything the command line and the harness need to know of it.
public struct SchemeEntry: Sendable {
    public let name: String
    public let summary: String
    public let reportedCounters: Set<CounterKind>
    public let isThreadSafe: Bool
    public let declaredOptions: [OptionDeclaration]
    /// The embedded interpreter's version for a scheme that counts in one (`cpython`), else nil.
    public let pythonVersion: String?
    /// The shared kinds the scheme cannot make, with the reason.
    public let refusedSharedKinds: [SharedKind: String]
    /// Why the scheme cannot hold a real extension's objects, nil when it can.
    public let refusesExtensionObjects: String?
    public let prepare: @Sendable (RunConfig) throws -> PreparedRun
    /// Throws the reason these options cannot run this scheme.
    public let check: @Sendable (SchemeOptions) throws -> Void

    @inline(__always)
    public init<S: UniversalScheme>(_ scheme: S.Type) {
        name = S.name
        summary = S.summary
        reportedCounters = S.reportedCounters
        isThreadSafe = S.isThreadSafe
        declaredOptions = S.declaredOptions
        pythonVersion = S.pythonVersion
        refusedSharedKinds = S.refusedSharedKinds
        refusesExtensionObjects = S.refusesExtensionObjects
        // The closures call a concrete `RunSession` of the context the run asks for, so the hot
        // loop is specialised here for S under each context: the one place that knows of contexts.
        prepare = { config in
            try config.scheme.values.validate(against: S.declaredOptions)
            return switch config.context {
            case .direct: try PreparedRun(RunSession<S>(config: config))
            case .universal: try PreparedRun(RunSession<UniversalContext<S>>(config: config))
            case .debug: try PreparedRun(RunSession<DebugContext<S>>(config: config))
            case .attribute: try PreparedRun(RunSession<AttributingContext<S>>(config: config))
            case .trace: try PreparedRun(RunSession<TraceContext<S>>(config: config))
            }
        }
        check = { options in
            try options.debug.validate()
            try options.values.validate(against: S.declaredOptions)
            _ = try S.makeShared(options: options, threads: 1)
        }
    }
}

extension SchemeEntry {
    /// One scheme name whose composition an option chooses (`--runtime`): each value names its
    /// own specialised scheme, and the run takes the one its options ask for.
    public init<Choice: OptionValueConvertible & Hashable>(choosingBy option: DeclaredOption<Choice>, _ choices: KeyValuePairs<Choice, SchemeEntry>) {
        let entries = Dictionary(uniqueKeysWithValues: choices.map { ($0.key, $0.value) })
        let first = entries[option.defaultValue] ?? choices[0].value
        name = first.name
        summary = first.summary
        reportedCounters = choices.reduce(into: Set<CounterKind>()) { $0.formUnion($1.value.reportedCounters) }
        isThreadSafe = first.isThreadSafe
        declaredOptions = first.declaredOptions
        pythonVersion = first.pythonVersion
        refusedSharedKinds = first.refusedSharedKinds
        refusesExtensionObjects = first.refusesExtensionObjects
        prepare = { config in try entries[config.scheme[option]]!.prepare(config) }
        check = { options in try entries[options[option]]!.check(options) }
    }
}

public struct WorkloadEntry: Sendable {
    public let name: String
    public let summary: String
    public let sharesObjects: Bool
    public let runsExtensionCode: Bool
    public let declaredOptions: [OptionDeclaration]
    /// Checks the options the workload declares, then makes it; throws the first problem.
    public let make: @Sendable (OptionValues) throws -> any Workload

    public init<W: Workload>(_ workload: W.Type) {
        name = W.name
        summary = W.summary
        sharesObjects = W.sharesObjects
        runsExtensionCode = W.runsExtensionCode
        declaredOptions = W.declaredOptions
        make = { options in
            try options.validate(against: W.declaredOptions)
            return try W(options: options)
        }
    }

    /// An entry that always makes `instance`, whatever the options: for streams built outside
    /// the registry (`stress`).
    public init<W: Workload>(instance: W) {
        name = W.name
        summary = W.summary
        sharesObjects = W.sharesObjects
        runsExtensionCode = W.runsExtensionCode
        declaredOptions = W.declaredOptions
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
        SchemeEntry(choosingBy: RuntimeChoice.option, [
            .biased: SchemeEntry(HandleLocal<BiasedRuntime>.self), .atomic: SchemeEntry(HandleLocal<AtomicRuntime>.self),
        ]),
        SchemeEntry(choosingBy: RuntimeChoice.option, [
            .biased: SchemeEntry(Arena<BiasedRuntime>.self), .atomic: SchemeEntry(Arena<AtomicRuntime>.self),
        ]),
        SchemeEntry(HandleTableScheme.self),
        SchemeEntry(NoopScheme.self),
        embeddedCPython,
    ]

    /// A build embeds one CPython (Package.swift): 3.11 by default, 3.13t in the second build.
    #if CPYTHON_313T
    public static let embeddedCPython = SchemeEntry(CPython313tScheme.self)
    #else
    public static let embeddedCPython = SchemeEntry(CPythonScheme.self)
    #endif

    public static let workloads: [WorkloadEntry] = [
        WorkloadEntry(PrivateWorkload.self),
        WorkloadEntry(SharedHotWorkload.self),
        WorkloadEntry(MixedWorkload.self),
        WorkloadEntry(CallWorkload.self),
        WorkloadEntry(HandoffWorkload.self),
        WorkloadEntry(ChurnWorkload.self),
        WorkloadEntry(TraceWorkload.self),
        WorkloadEntry(NumericWorkload.self),
        WorkloadEntry(HPyWorkload.self),
    ]

    /// Every option a scheme declares, then every option a workload declares, each name once, in
    /// registry order: the CSV's option columns and the command line's flags.
    public static let schemeOptions = uniqueByName(schemes.flatMap(\.declaredOptions))
    public static let workloadOptions = uniqueByName(workloads.flatMap(\.declaredOptions))

    static func uniqueByName(_ declarations: [OptionDeclaration]) -> [OptionDeclaration] {
        var seen = Set<String>()
        return declarations.filter { seen.insert($0.name).inserted }
    }

    /// The help of a command-line flag: each owner's help, and its default where owners differ.
    public static func help(forOption name: String) -> String {
        let owners = (schemes.flatMap(\.declaredOptions) + workloads.flatMap(\.declaredOptions)).filter { $0.name == name }
        let helps = orderedUnique(owners.map(\.helpLine))
        return helps.joined(separator: "; ")
    }

    static func orderedUnique(_ values: [String]) -> [String] {
        var seen = Set<String>()
        return values.filter { seen.insert($0).inserted }
    }

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
