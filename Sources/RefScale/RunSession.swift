/// What a run needs to know about itself.
public struct RunConfig: Sendable {
    public var threads: Int
    public var seed: UInt64
    public var scheme: SchemeOptions
    public var workload: any Workload

    public init(threads: Int, seed: UInt64, scheme: SchemeOptions, workload: any Workload) {
        self.threads = threads
        self.seed = seed
        self.scheme = scheme
        self.workload = workload
    }
}

/// A run made ready: objects allocated, streams generated, the main thread's objects made.
/// The harness starts one thread per worker, each calling `runWorker`, then calls `finish`.
public struct PreparedRun: Sendable {
    public let runWorker: @Sendable (_ index: Int, _ signals: WorkerSignals) -> Void
    public let finish: @Sendable () -> RunOutcome
}

public struct RunOutcome: Sendable {
    public var counters: SchemeCounters
    /// Handle operations each worker performed in all, warm-up and timed interval together.
    public var workerOperations: [Int]
    /// Sum of every value `read` returned; published so no read can be optimised away.
    public var checksum: UInt64
    /// Nil when every check passed; otherwise the first problems found.
    public var validationError: String?

    public var valid: Bool { validationError == nil }
}

/// One run of scheme `S`. Every thread, the main one too, works through a context of its own;
/// the worker's context, registers and counters are locals of `runWorker`, so the timed loop
/// touches no property of this class.
final class RunSession<S: CountingScheme>: @unchecked Sendable {
    private let pool: ObjectPool
    private let shared: S.Shared
    private let mainProgram: ThreadProgram
    private let workerPrograms: [ThreadProgram]
    /// Each worker's timed pass, copied out of its array so the loop needs no closure (a closure
    /// would capture the context by reference and keep it, and its counters, in memory).
    private let workerPasses: [UnsafeMutableBufferPointer<Operation>]
    private let mainRegisters: UnsafeMutablePointer<Handle>
    private var mainContext: S
    private let results: UnsafeMutablePointer<WorkerResult>

    private struct WorkerResult {
        var counters = SchemeCounters()
        var operations = 0
        var checksum: UInt64 = 0
    }

    static var mainThreadID: Int { 1 }
    static func workerThreadID(_ index: Int) -> Int { index + 2 }

    init(config: RunConfig) throws {
        let workload = config.workload
        pool = ObjectPool(count: workload.poolSize(threads: config.threads), alignment: config.scheme.objectAlignment)
        shared = try S.makeShared(options: config.scheme, threads: config.threads)
        mainProgram = workload.mainProgram(threads: config.threads)
        workerPrograms = (0..<config.threads).map {
            workload.workerProgram(thread: $0, threads: config.threads, seed: config.seed)
        }
        workerPasses = workerPrograms.map { program in
            let pass = UnsafeMutableBufferPointer<Operation>.allocate(capacity: program.pass.count)
            _ = pass.initialize(from: program.pass)
            return pass
        }
        mainRegisters = .allocate(capacity: max(1, mainProgram.registers))
        mainRegisters.initialize(repeating: .null, count: max(1, mainProgram.registers))
        results = .allocate(capacity: config.threads)
        results.initialize(repeating: WorkerResult(), count: config.threads)
        mainContext = S(shared: shared, threadID: RunSession.mainThreadID)
        var checksum: UInt64 = 0
        mainProgram.setup.withUnsafeBufferPointer {
            execute($0, on: &mainContext, registers: mainRegisters, pool: pool, checksum: &checksum)
        }
        mainContext.suspend()
    }

    deinit {
        workerPasses.forEach { $0.deallocate() }
        pool.deallocate()
        mainRegisters.deallocate()
        results.deallocate()
    }

    func runWorker(_ index: Int, signals: WorkerSignals) {
        let program = workerPrograms[index]
        let pool = self.pool
        var context = S(shared: shared, threadID: RunSession.workerThreadID(index))
        let registers = UnsafeMutablePointer<Handle>.allocate(capacity: max(1, program.registers))
        registers.initialize(repeating: .null, count: max(1, program.registers))
        defer { registers.deallocate() }
        var checksum: UInt64 = 0
        var operations = 0

        program.setup.withUnsafeBufferPointer {
            execute($0, on: &context, registers: registers, pool: pool, checksum: &checksum)
        }
        context.suspend()
        signals.arriveAndWaitForStart()
        let pass = UnsafeBufferPointer(workerPasses[index])
        let passOperations = program.passOperations
        while !signals.stopRequested {
            execute(pass, on: &context, registers: registers, pool: pool, checksum: &checksum)
            operations &+= passOperations
            signals.publish(worker: index, operations: operations)
            context.safePoint()
        }
        program.teardown.withUnsafeBufferPointer {
            execute($0, on: &context, registers: registers, pool: pool, checksum: &checksum)
        }
        context.safePoint()
        context.threadExit()
        results[index] = WorkerResult(counters: context.counters, operations: operations, checksum: checksum)
    }

    /// Called after every worker has returned: checks that the objects the main thread holds are
    /// back to their starting counts, releases them, and checks every object's lifetime.
    func finish() -> RunOutcome {
        var problems: [String] = []
        var expected: [ObjectRef: Int] = [:]
        for register in 0..<mainProgram.registers where mainRegisters[register] != .null {
            expected[mainContext.object(of: mainRegisters[register]), default: 0] += 1
        }
        let drifted = expected.filter { object, references in
            guard !object.isImmortal, let count = S.referenceCount(of: object) else { return false }
            return count != references
        }
        if let (object, references) = drifted.first {
            problems.append("\(drifted.count) shared object(s) not back to their count after the run (one holds \(S.referenceCount(of: object)!), expected \(references))")
        }
        var checksum: UInt64 = 0
        mainProgram.teardown.withUnsafeBufferPointer {
            execute($0, on: &mainContext, registers: mainRegisters, pool: pool, checksum: &checksum)
        }
        mainContext.safePoint()
        mainContext.threadExit()
        if let lifetimeProblem = pool.validateLifetimes() { problems.append(lifetimeProblem) }

        let workers = UnsafeBufferPointer(start: results, count: workerPrograms.count)
        return RunOutcome(
            counters: workers.reduce(mainContext.counters) { $0 + $1.counters },
            workerOperations: workers.map(\.operations),
            checksum: workers.reduce(checksum) { $0 &+ $1.checksum },
            validationError: problems.isEmpty ? nil : problems.joined(separator: "; ")
        )
    }
}
