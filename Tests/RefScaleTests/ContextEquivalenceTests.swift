import CRefScale
import Testing
@testable import RefScale

/// The same operation stream, run by the kernel on a scheme directly, through its universal
/// table and through the debug context, must count the same: the contexts change how an
/// operation is reached, never what it does.
@Suite struct ContextEquivalenceTests {
    /// What one single-threaded run leaves behind: the worker's counters and checksum, and each
    /// object's births and frees.
    struct Trace: Equatable {
        var counters: SchemeCounters
        var checksum: UInt64
        var lives: [[Int]]
        var lifetimeProblem: String?
    }

    /// Runs the main thread's set-up, one worker's set-up, `passes` passes, the worker's
    /// teardown and the main thread's teardown, in this thread, on context type `C`.
    func trace<C: CountingScheme>(_: C.Type, workload: any Workload, passes: Int = 3) throws -> Trace {
        var options = SchemeOptions()
        options.debug.onViolation = .collect
        let threads = 1
        let pool = ObjectPool(
            count: workload.poolSize(threads: threads), alignment: options.objectAlignment,
            regionSize: workload.regionSize(threads: threads), threadSlots: threads + 2)
        let channels = Channels(count: workload.channels(threads: threads), capacity: 256)
        let globals = RunSession<C>.slots(workload.globals(threads: threads))
        let mailboxes = Mailboxes(count: workload.mailboxes(threads: threads), contextType: C.self)
        defer {
            mailboxes.deallocate(contextType: C.self)
            channels.deallocate()
            globals.deallocate()
            pool.deallocate()
        }
        let shared = try C.makeShared(options: options, threads: threads)
        let mainProgram = workload.mainProgram(threads: threads, seed: 7)
        let workerProgram = workload.workerProgram(thread: 0, threads: threads, seed: 7)
        let mainMemory = RunSession<C>.memory(
            for: mainProgram, threadID: 1, pool: pool, channels: channels, globals: globals, mailboxes: mailboxes)
        let workerMemory = RunSession<C>.memory(
            for: workerProgram, threadID: 2, pool: pool, channels: channels, globals: globals, mailboxes: mailboxes)
        defer {
            for memory in [mainMemory, workerMemory] {
                memory.registers.deallocate()
                memory.fields.deallocate()
            }
        }
        var main = C(shared: shared, threadID: 1)
        var worker = C(shared: shared, threadID: 2)
        var checksum: UInt64 = 0
        func run(_ operations: [Operation], on context: inout C, memory: ThreadMemory) {
            crefscale_thread_set_slot(Int32(memory.threadID))
            operations.withUnsafeBufferPointer { _ = execute($0, on: &context, memory: memory, checksum: &checksum) }
        }
        run(mainProgram.setup, on: &main, memory: mainMemory)
        main.suspend()
        run(workerProgram.setup, on: &worker, memory: workerMemory)
        for _ in 0..<passes {
            run(workerProgram.pass, on: &worker, memory: workerMemory)
            worker.safePoint()
        }
        run(workerProgram.teardown, on: &worker, memory: workerMemory)
        worker.safePoint()
        worker.threadExit()
        run(mainProgram.teardown, on: &main, memory: mainMemory)
        main.safePoint()
        main.threadExit()
        crefscale_thread_set_slot(0)
        if let contract = C.contractSummary(of: shared) {
            #expect(contract.total == 0, "\(contract.reports.first?.description ?? "")")
            #expect(contract.checkedOperations > 0)
        }
        return Trace(
            counters: worker.counters, checksum: checksum,
            lives: (0..<pool.count).map { [pool[$0].timesBorn, pool[$0].timesFreed] },
            lifetimeProblem: pool.validateLifetimes())
    }

    func expectSameCounting<S: UniversalScheme>(_: S.Type, workload: String) throws {
        var options = OptionValues()
        options[CommonOptions.readFraction] = 0.2
        let made = try Registry.workload(named: workload).make(options)
        let direct = try trace(S.self, workload: made)
        #expect(direct.lifetimeProblem == nil)
        #expect(direct.lives.contains { $0[0] > 0 } && direct.checksum != 0, "the stream made or read nothing")
        #expect(try trace(UniversalContext<S>.self, workload: made) == direct, "\(S.name) on \(workload): universal")
        #expect(try trace(DebugContext<S>.self, workload: made) == direct, "\(S.name) on \(workload): debug")
    }

    @Test(arguments: ["private", "shared-hot", "mixed", "call", "churn"])
    func universalAndDebugCountExactlyAsDirect(workload: String) throws {
        try expectSameCounting(HandleLocalScheme.self, workload: workload)
        try expectSameCounting(ArenaScheme.self, workload: workload)
        try expectSameCounting(AtomicScheme.self, workload: workload)
        try expectSameCounting(BiasedScheme.self, workload: workload)
        try expectSameCounting(NonatomicScheme.self, workload: workload)
        try expectSameCounting(NoopScheme.self, workload: workload)
    }

    @Test func universalContextCallsTheSchemesOwnEntries() throws {
        let pool = ObjectPool(count: 1, alignment: 128)
        defer { pool.deallocate() }
        let shared = try UniversalContext<AtomicScheme>.makeShared(options: SchemeOptions(), threads: 1)
        var context = UniversalContext<AtomicScheme>(shared: shared, threadID: 1)
        let object = pool.bear(0, flags: [])
        let handle = context.new(object)
        let duplicate = context.dup(handle)
        #expect(duplicate == handle, "atomic's handle is the object's address")
        #expect(AtomicScheme.referenceCount(of: object) == 2)
        #expect(context.read(handle) == object.payload)
        context.close(duplicate)
        context.close(handle)
        context.threadExit()
        #expect(context.counters.frees == 1 && context.counters.atomicRMW == 3)
        #expect(pool.validateLifetimes() == nil)
    }
}
