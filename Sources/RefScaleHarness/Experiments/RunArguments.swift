import RefScale

/// What `refscale run` was given, as the command line spells it, turned into checked requests:
/// one per thread count and repetition. Every check happens here, before anything is allocated or
/// written; the command-line layer only collects the words. Its tests drive it directly.
public struct RunArguments: Sendable {
    public var scheme: String
    public var workload: String
    /// Thread counts, comma-separated.
    public var threads = "1"
    public var duration = 0.5
    public var warmup = 0.1
    public var repetitions = 3
    public var seed: UInt64 = 1
    public var objectAlign = 16
    /// The text given for each option a scheme or workload declares, by option name.
    public var declared: [String: String] = [:]
    public var pin = "none"
    public var placement = "local"
    public var context = "direct"
    public var closedQueue: Int?
    public var onViolation: String?
    public var backtraces = false

    public init(scheme: String, workload: String) {
        self.scheme = scheme
        self.workload = workload
    }

    /// The runs, thread count by thread count, each repetition in turn. `note` receives remarks
    /// that do not stop the command (an option the scheme or workload does not use).
    public func requests(note: (String) -> Void = { _ in }) throws -> [RunRequest] {
        let threadCounts = try RunArguments.threadCounts(threads)
        try ResourceLimits.checkRepetitions(repetitions)
        try ResourceLimits.checkSeconds(duration, flag: "--duration")
        try ResourceLimits.checkSeconds(warmup, flag: "--warmup", zeroAllowed: true)
        let pinning = try Pinning(name: pin)
        let placing = try Placement(name: placement)
        let schemeEntry: SchemeEntry
        let workloadEntry: WorkloadEntry
        let contextKind: ContextKind
        do {
            schemeEntry = try Registry.scheme(named: scheme)
            workloadEntry = try Registry.workload(named: workload)
            contextKind = try ContextKind.named(context)
        } catch let error as ConfigurationError {
            throw UsageError(error.description)
        }
        if let unknown = declared.keys.sorted().first(where: { name in
            !(Registry.schemeOptions + Registry.workloadOptions).contains { $0.name == name }
        }) {
            throw UsageError("unknown option '\(unknown)'")
        }
        var schemeOptions = SchemeOptions()
        schemeOptions.objectAlignment = objectAlign
        schemeOptions.values = try values(declaredBy: schemeEntry.declaredOptions, all: Registry.schemeOptions,
                                          owner: "scheme \(schemeEntry.name)", note: note)
        schemeOptions.debug = try debugOptions()
        if contextKind != .debug && (closedQueue != nil || onViolation != nil || backtraces) {
            note("--closed-queue, --on-violation and --backtraces apply to --context debug only; ignored")
        }
        let workloadOptions = try values(declaredBy: workloadEntry.declaredOptions, all: Registry.workloadOptions,
                                         owner: "workload \(workloadEntry.name)", note: note)

        var requests: [RunRequest] = []
        for threadCount in threadCounts {
            var request = RunRequest(
                scheme: schemeEntry, workload: workloadEntry, workloadOptions: workloadOptions,
                schemeOptions: schemeOptions, threads: threadCount, duration: duration, warmup: warmup,
                seed: seed, pin: pinning, placement: placing, context: contextKind)
            try request.validate()
            for repetition in 1...repetitions {
                request.repetition = repetition
                requests.append(request)
            }
        }
        if let message = Pinning.numaNote(pin: [pinning], placement: [placing]) { note(message) }
        return requests
    }

    /// `--threads`: positive integers separated by commas, each at most the machine's limit and
    /// each given once (a count given twice would make two rows numbered as the same repetition;
    /// `--reps` asks for repetitions).
    public static func threadCounts(_ text: String, onlineCPUs: Int = MachineInfo.current.onlineCPUs) throws -> [Int] {
        var counts: [Int] = []
        for field in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let count = Int(field.filter { !$0.isWhitespace }), count >= 1 else {
                throw UsageError("--threads takes positive integers separated by commas, got '\(text)'")
            }
            try ResourceLimits.checkThreads(count, onlineCPUs: onlineCPUs)
            guard !counts.contains(count) else {
                throw UsageError("--threads lists \(count) twice; give each count once (--reps sets the repetitions)")
            }
            counts.append(count)
        }
        return counts
    }

    /// The debug context's options.
    func debugOptions() throws -> DebugOptions {
        var options = DebugOptions()
        if let closedQueue { options.closedQueue = closedQueue }
        if let onViolation {
            guard let policy = ViolationPolicy(rawValue: onViolation) else {
                throw UsageError("--on-violation must be abort or collect, got '\(onViolation)'")
            }
            options.onViolation = policy
        }
        options.backtraces = backtraces
        do {
            try options.validate()
        } catch let error as ConfigurationError {
            throw UsageError(error.description)
        }
        return options
    }

    /// The values of the options one owner declares, checked by its declarations; a value given
    /// for an option only others declare is checked by theirs and noted as ignored.
    func values(declaredBy declarations: [OptionDeclaration], all: [OptionDeclaration], owner: String, note: (String) -> Void)
        throws -> OptionValues
    {
        var values = OptionValues()
        for declaration in all {
            guard let text = declared[declaration.name] else { continue }
            let own = declarations.first { $0.name == declaration.name }
            do {
                let value = try (own ?? declaration).parse(text)
                if own != nil { values.set(declaration.name, to: value) }
            } catch let error as ConfigurationError {
                throw UsageError(error.description)
            }
            if own == nil, let reason = declaration.refusalElsewhere {
                throw UsageError("\(declaration.flag): \(owner) does not take it; \(reason)")
            }
            if own == nil { note("\(owner) does not use \(declaration.flag); ignored") }
        }
        return values
    }
}
