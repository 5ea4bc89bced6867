import RefScale

/// One run to perform: a scheme, a workload with its options, a thread count, and how to time it.
public struct RunRequest: Sendable {
    public var scheme: SchemeEntry
    public var workload: WorkloadEntry
    public var workloadOptions: OptionValues
    public var schemeOptions: SchemeOptions
    public var threads: Int
    public var duration: Double
    public var warmup: Double
    public var seed: UInt64
    public var repetition: Int
    /// Where the workers run and where the objects live.
    public var pin: Pinning
    public var placement: Placement
    /// How the kernel reaches the scheme: directly, through the universal table, or through the
    /// debug context's checks.
    public var context: ContextKind

    public init(
        scheme: SchemeEntry, workload: WorkloadEntry, workloadOptions: OptionValues = OptionValues(),
        schemeOptions: SchemeOptions = SchemeOptions(), threads: Int, duration: Double = 0.5,
        warmup: Double = 0.1, seed: UInt64 = 1, repetition: Int = 1, pin: Pinning = .none, placement: Placement = .local,
        context: ContextKind = .direct
    ) {
        self.scheme = scheme
        self.workload = workload
        self.workloadOptions = workloadOptions
        self.schemeOptions = schemeOptions
        self.threads = threads
        self.duration = duration
        self.warmup = warmup
        self.seed = seed
        self.repetition = repetition
        self.pin = pin
        self.placement = placement
        self.context = context
    }

    /// Throws the first reason this request cannot run, the machine's limits included; nothing is
    /// allocated or written.
    public func validate() throws {
        try ResourceLimits.checkThreads(threads)
        try ResourceLimits.checkSeconds(duration, flag: "--duration")
        try ResourceLimits.checkSeconds(warmup, flag: "--warmup", zeroAllowed: true)
        if case .node(let id) = placement, NUMATopology.current.node(id) == nil {
            throw UsageError("--placement node\(id): there is no NUMA node \(id) here")
        }
        let align = schemeOptions.objectAlignment
        guard align >= 8, align & (align - 1) == 0 else {
            throw UsageError("--object-align must be a power of two of at least 8, got \(align)")
        }
        if !scheme.isThreadSafe && workload.sharesObjects && threads > 1 {
            throw UsageError("\(scheme.name) is correct only for objects no other thread touches; workload \(workload.name) shares them (run it on private, or with --threads 1)", skippable: true)
        }
        try ResourceLimits.checkCounts(workloadOptions)
        if workload.runsExtensionCode, let reason = scheme.refusesExtensionObjects {
            throw UsageError("workload \(workload.name): \(scheme.name) \(reason)", skippable: true)
        }
        if workload.runsExtensionCode && context == .attribute {
            throw UsageError("workload \(workload.name): --context attribute charges the operations of a stream to their objects, and an extension's calls are not in the stream")
        }
        if workload.declaredOptions.contains(where: { $0.name == CommonOptions.sharedKind.name }),
           let reason = scheme.refusedSharedKinds[workloadOptions[CommonOptions.sharedKind]] {
            throw UsageError("--shared-kind \(workloadOptions[CommonOptions.sharedKind].rawValue): \(scheme.name) \(reason)", skippable: true)
        }
        let made: any Workload
        do {
            made = try workload.make(workloadOptions)
            try scheme.check(schemeOptions)
        } catch let error as ConfigurationError {
            throw UsageError(error.description)
        }
        do {
            try made.check(threads: threads)
        } catch let error as ConfigurationError {
            throw UsageError(error.description, skippable: true)
        }
        try ResourceLimits.checkMemory(made, threads: threads, alignment: align)
    }
}
