import CRefScale

/// What a run needs to know about itself.
public struct RunConfig: Sendable {
    public var threads: Int
    public var seed: UInt64
    public var scheme: SchemeOptions
    public var workload: any Workload
    /// Where the objects live (`--placement`); nil: the heap, zeroed by the main thread.
    public var poolMemory: PoolMemory?
    /// How the kernel reaches the scheme (`SchemeEntry.prepare` picks the context type from it).
    public var context: ContextKind

    public init(
        threads: Int, seed: UInt64, scheme: SchemeOptions, workload: any Workload, poolMemory: PoolMemory? = nil,
        context: ContextKind = .direct
    ) {
        self.threads = threads
        self.seed = seed
        self.scheme = scheme
        self.workload = workload
        self.poolMemory = poolMemory
        self.context = context
    }
}

/// A run made ready: objects allocated, streams generated, the main thread's objects made.
/// The harness starts one thread per worker, each calling `runWorker`, then calls `finish`.
public struct PreparedRun: Sendable {
    public let runWorker: @Sendable (_ index: Int, _ signals: WorkerSignals) -> Void
    public let finish: @Sendable () -> RunOutcome
    /// What stops the run (`CountingScheme.failure(of:)`), read once every worker waits at the
    /// start barrier.
    public let failure: @Sendable () -> String?

    init<S: CountingScheme>(_ session: RunSession<S>) {
        runWorker = { session.runWorker($0, signals: $1) }
        finish = { session.finish() }
        failure = { session.failure() }
    }
}

/// A run that cannot go on for a reason other than counting (a Python error while making an
/// object): the command stops with it rather than reporting a row.
public struct RunFailure: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public struct RunOutcome: Sendable {
    public var counters: SchemeCounters
    /// Handle operations each worker performed in all, warm-up and timed interval together.
    public var workerOperations: [Int]
    /// Sum of every value `read` returned; published so no read can be optimised away.
    public var checksum: UInt64
    /// Nil when every check passed; otherwise the first problems found.
    public var validationError: String?
    /// A hash of every thread's operation stream: equal for every scheme given the same workload,
    /// options, seed and thread count.
    public var streamDigest: UInt64
    /// Set when the run failed for a reason other than counting; its row must not be reported.
    public var failure: String? = nil
    /// What the debug contexts found; nil under the contexts that do not check.
    public var contract: ContractSummary?
    /// Peak live objects and the delay from last reference dropped to free (`Retention`).
    public var retention: Retention = .none
    /// The handles one pass opens on objects it reaches, averaged over the workers
    /// (`ThreadProgram.passOpens`): what the timed loop pays for opening.
    public var opensPerPass = 0.0
    /// Objects each replica of the workload's streams has a copy of (`Workload.replicatedObjects`).
    public var replicatedObjects: Int? = nil
    /// What the workers' extension calls did (`Workload.extensionCalls`); nil for other workloads.
    public var extensionCalls: ExtensionCallCounts? = nil
    /// Each object's costs under the `attribute` context; nil under the others.
    public var attribution: ObjectAttribution? = nil
    /// What the trace contexts counted; nil under the contexts that do not trace.
    public var trace: CallTraceSummary?
    /// Objects born over the whole run (set-up, warm-up, interval and drain), like `run_ops`.
    public var objectsAllocated = 0
    /// The times a thread found its region of the pool used up and waited for an object to come
    /// back (`ObjectPool.regionWaits`): 0 when the workload sized its regions for what every
    /// scheme keeps alive.
    public var regionWaits = 0

    public var valid: Bool { validationError == nil }
}

/// One run of scheme `S`. Every thread, the main one too, works through a context of its own;
/// the worker's context, memory and counters are locals of `runWorker`, so the timed loop
/// touches no property of this class.
/// The thread slot of each thread of a run (its pool region, its free lists, `crefscale_thread_slot`).
enum ThreadSlot {
    static let main = 1
    static func worker(_ index: Int) -> Int { index + 2 }
}

final class RunSession<S: CountingScheme>: @unchecked Sendable {
    private let pool: ObjectPool
    private let channels: Channels
    private let mailboxes: Mailboxes
    private let globals: UnsafeMutablePointer<UInt>
    private let globalCount: Int
    private let shared: S.Shared
    private let mainProgram: ThreadProgram
    private let workerPrograms: [ThreadProgram]
    /// Each worker's timed pass, copied out of its array so the loop needs no closure (a closure
    /// would capture the context by reference and keep it, and its counters, in memory).
    private let workerPasses: [UnsafeMutableBufferPointer<Operation>]
    private let mainMemory: ThreadMemory
    private var mainContext: S
    /// The count of every object alive once the main thread's set-up is done.
    private var baseline: [(object: ObjectRef, count: Int)] = []
    private let results: UnsafeMutablePointer<WorkerResult>
    private let streamDigest: UInt64
    private let workload: any Workload
    private let threads: Int

    private struct WorkerResult {
        var counters = SchemeCounters()
        var operations = 0
        var passes = 0
        var checksum: UInt64 = 0
    }

    static var mainThreadID: Int { ThreadSlot.main }
    static func workerThreadID(_ index: Int) -> Int { ThreadSlot.worker(index) }

    init(config: RunConfig) throws {
        let workload = config.workload
        let threads = config.threads
        self.workload = workload
        self.threads = threads
        pool = ObjectPool(
            count: workload.poolSize(threads: threads), alignment: config.scheme.objectAlignment,
            regionSize: workload.regionSize(threads: threads), threadSlots: threads + 2, memory: config.poolMemory)
        channels = Channels(count: workload.channels(threads: threads), capacity: 256)
        mailboxes = Mailboxes(count: workload.mailboxes(threads: threads), contextType: S.self)
        globalCount = workload.globals(threads: threads)
        globals = RunSession.slots(globalCount)
        shared = try S.makeShared(options: config.scheme, threads: threads)
        mainProgram = workload.mainProgram(threads: threads, seed: config.seed)
        workerPrograms = (0..<threads).map { workload.workerProgram(thread: $0, threads: threads, seed: config.seed) }
        // The passes as run: the stream digest above is of the workload's own operations.
        workerPasses = workload.lastDropsMarked(workerPrograms, stamping: config.context != .debug).map { marked in
            let pass = UnsafeMutableBufferPointer<Operation>.allocate(capacity: marked.count)
            _ = pass.initialize(from: marked)
            return pass
        }
        streamDigest = workload.streamDigest(main: mainProgram, workers: workerPrograms)
        results = .allocate(capacity: threads)
        results.initialize(repeating: WorkerResult(), count: threads)
        mainMemory = RunSession.memory(
            for: mainProgram, threadID: RunSession.mainThreadID, pool: pool, channels: channels, globals: globals,
            mailboxes: mailboxes)
        mainContext = S(shared: shared, threadID: RunSession.mainThreadID)

        crefscale_thread_set_slot(Int32(RunSession.mainThreadID))
        var checksum: UInt64 = 0
        mainProgram.setup.withUnsafeBufferPointer {
            _ = execute($0, on: &mainContext, memory: mainMemory, checksum: &checksum)
        }
        mainContext.suspend()
        if let failure = S.failure(of: shared) {
            mainContext.threadExit()
            throw RunFailure(failure)
        }
        if let failure = workload.setupFailure() {
            throw ConfigurationError(failure)
        }
        baseline = pool.usedIndices.joined().map { pool[$0] }
            .filter { $0.isAlive && !$0.isImmortal }
            .compactMap { object in S.referenceCount(of: object).map { (object, $0) } }
    }

    deinit {
        workerPasses.forEach { $0.deallocate() }
        for memory in [mainMemory] {
            memory.registers.deallocate()
            memory.fields.deallocate()
            memory.names.deallocate()
        }
        globals.deallocate()
        channels.deallocate()
        mailboxes.deallocate(contextType: S.self)
        pool.deallocate()
        results.deallocate()
    }

    static func slots(_ count: Int) -> UnsafeMutablePointer<UInt> {
        let slots = UnsafeMutablePointer<UInt>.allocate(capacity: max(1, count))
        slots.initialize(repeating: 0, count: max(1, count))
        return slots
    }

    static func memory(
        for program: ThreadProgram, threadID: Int, pool: ObjectPool, channels: Channels, globals: UnsafeMutablePointer<UInt>,
        mailboxes: Mailboxes
    ) -> ThreadMemory {
        let registers = UnsafeMutablePointer<Handle>.allocate(capacity: max(1, program.registers))
        registers.initialize(repeating: .null, count: max(1, program.registers))
        return ThreadMemory(
            registers: registers, fields: slots(program.fields), names: slots(program.names), globals: globals, pool: pool, channels: channels,
            inbox: program.inbox, threadID: threadID, mailboxes: mailboxes)
    }

    /// The scheme's failure so far; read when no worker can set it (they wait or are gone).
    func failure() -> String? { S.failure(of: shared) }

    func runWorker(_ index: Int, signals: WorkerSignals) {
        let program = workerPrograms[index]
        let threadID = RunSession.workerThreadID(index)
        crefscale_thread_set_slot(Int32(threadID))
        var context = S(shared: shared, threadID: threadID)
        let memory = RunSession.memory(
            for: program, threadID: threadID, pool: pool, channels: channels, globals: globals, mailboxes: mailboxes)
        defer {
            memory.registers.deallocate()
            memory.fields.deallocate()
            memory.names.deallocate()
        }
        var checksum: UInt64 = 0
        var operations = 0
        var passes = 0

        program.setup.withUnsafeBufferPointer {
            _ = execute($0, on: &context, memory: memory, checksum: &checksum)
        }
        context.suspend()
        signals.publishCPU(worker: index)
        signals.arriveAndWaitForStart()
        context.resume()
        let pass = UnsafeBufferPointer(workerPasses[index])
        let ledger = pool.dropLedger(thread: threadID)
        ledger.samplePeak(pool: pool)
        let passOperations = program.passOperations
        // At least one pass, so every stream is run and validated however late the worker starts.
        repeat {
            operations &+= execute(pass, on: &context, memory: memory, checksum: &checksum) &+ passOperations
            passes &+= 1
            signals.publish(worker: index, operations: operations)
            ledger.passEnded(operations: operations, pool: pool)
            context.safePoint()
        } while !signals.stopRequested
        program.teardown.withUnsafeBufferPointer {
            _ = execute($0, on: &context, memory: memory, checksum: &checksum)
        }
        context.safePoint()
        context.threadExit()
        results[index] = WorkerResult(counters: context.counters, operations: operations, passes: passes, checksum: checksum)
    }

    /// Called after every worker has returned: checks that every object alive before the
    /// workers started is back to its count, has the main thread release its objects, and
    /// checks every object's lifetime.
    func finish() -> RunOutcome {
        var problems: [String] = []
        let drifted = baseline.filter { S.referenceCount(of: $0.object) != $0.count }
        if let first = drifted.first {
            problems.append("\(drifted.count) object(s) not back to their count after the run (one has \(S.referenceCount(of: first.object).map(String.init) ?? "?"), expected \(first.count))")
        }
        let workers = UnsafeBufferPointer(start: results, count: workerPrograms.count)
        if let workloadProblem = workload.validate(
            afterWorkers: WorkersFinished(pool: pool, passes: workers.map(\.passes), referenceCount: { S.referenceCount(of: $0) }))
        {
            problems.append(workloadProblem)
        }
        crefscale_thread_set_slot(Int32(RunSession.mainThreadID))
        var checksum: UInt64 = 0
        mainContext.resume()
        mainProgram.teardown.withUnsafeBufferPointer {
            _ = execute($0, on: &mainContext, memory: mainMemory, checksum: &checksum)
        }
        mainContext.safePoint()
        mainContext.threadExit()
        if let lifetimeProblem = pool.validateLifetimes() { problems.append(lifetimeProblem) }
        let retention = pool.retention()

        return RunOutcome(
            counters: workers.reduce(mainContext.counters) { $0 + $1.counters },
            workerOperations: workers.map(\.operations),
            checksum: workers.reduce(checksum) { $0 &+ $1.checksum },
            validationError: problems.isEmpty ? nil : problems.joined(separator: "; "),
            streamDigest: streamDigest,
            failure: S.failure(of: shared),
            contract: S.contractSummary(of: shared),
            retention: retention,
            opensPerPass: workerPrograms.isEmpty ? 0 : Double(workerPrograms.reduce(0) { $0 + $1.passOpens }) / Double(workerPrograms.count),
            replicatedObjects: workload.replicatedObjects(threads: threads),
            extensionCalls: workload.extensionCalls(),
            attribution: S.attribution(of: shared),
            trace: S.traceSummary(of: shared),
            objectsAllocated: pool.totalBirths(),
            regionWaits: (0..<pool.threadSlots).reduce(0) { $0 + pool.regionWaits(thread: $1) }
        )
    }
}
