import CRefScale
import Testing
@testable import RefScale
@testable import RefScaleHarness

/// The C yardstick of `handle-local`'s table (`TableYardstick`, Sources/CRefScale/yardstick.c)
/// does what the Swift model does: on the same stream it makes and frees the same objects and
/// its table counts the same hits, misses, fallbacks, evictions and table dups and closes; and it
/// refuses what it does not run rather than run it wrongly.
@Suite struct TableYardstickTests {
    /// What a one-thread run of the Swift scheme did on a stream.
    struct SwiftRun {
        var counters: SchemeCounters
        var births: Int
        var lifetimeProblem: String?
        /// The times `create` found the thread's region used up (`ObjectPool.regionWaits`).
        var regionWaits: Int
        /// The sum of every `read`'s payload (each object's pool index plus one).
        var checksum: UInt64
    }

    /// Runs `stream` in this thread on scheme `S` as `RunSession.runWorker` runs a worker: the
    /// set-up, `passes` passes with a safe point after each, the teardown, a safe point, the exit.
    static func swiftRun<S: CountingScheme>(_: S.Type, _ stream: TableYardstick.Stream, options: SchemeOptions = SchemeOptions(), passes: Int) throws -> SwiftRun {
        let threadID = 2
        let pool = ObjectPool(
            count: stream.fixedObjects, alignment: options.objectAlignment, regionSize: stream.regionObjects, threadSlots: 3)
        let channels = Channels(count: 0, capacity: 256)
        let globals = RunSession<S>.slots(0)
        let mailboxes = Mailboxes(count: 0, contextType: S.self)
        let memory = RunSession<S>.memory(
            for: ThreadProgram(registers: stream.registers, fields: stream.fields), threadID: threadID, pool: pool,
            channels: channels, globals: globals, mailboxes: mailboxes)
        defer {
            memory.registers.deallocate()
            memory.fields.deallocate()
            memory.names.deallocate()
            mailboxes.deallocate(contextType: S.self)
            channels.deallocate()
            globals.deallocate()
            pool.deallocate()
        }
        let shared = try S.makeShared(options: options, threads: 1)
        var context = S(shared: shared, threadID: threadID)
        var checksum: UInt64 = 0
        crefscale_thread_set_slot(Int32(threadID))
        defer { crefscale_thread_set_slot(0) }
        func run(_ operations: [Operation]) {
            operations.withUnsafeBufferPointer { _ = execute($0, on: &context, memory: memory, checksum: &checksum) }
        }
        run(stream.setup)
        for _ in 0..<passes {
            run(stream.pass)
            context.safePoint()
        }
        run(stream.teardown)
        context.safePoint()
        context.threadExit()
        return SwiftRun(
            counters: context.counters, births: pool.totalBirths(), lifetimeProblem: pool.validateLifetimes(),
            regionWaits: pool.regionWaits(thread: threadID), checksum: checksum)
    }

    /// `call`'s options the comparisons run: the defaults, then a deeper call with duplicates held
    /// at once and an immortal argument.
    static let callOptions: [[String: Int]] = [[:], ["call_depth": 2, "dup_depth": 2, "temps": 3, "stores": 2]]

    static func callStream(_ given: [String: Int], immortalFraction: Double = 0) throws -> TableYardstick.Stream {
        var options = OptionValues()
        for (name, value) in given { options.set(name, to: .integer(value)) }
        if immortalFraction > 0 { options[CommonOptions.immortalFraction] = immortalFraction }
        return try TableYardstick.callStream(options: options)
    }

    @Test(arguments: [HandleIndex.low3, .high16], [0, 1])
    func theCTableOnCallsStreamCountsWhatTheSwiftTableCounts(index: HandleIndex, variant: Int) throws {
        let stream = try Self.callStream(Self.callOptions[variant], immortalFraction: variant == 1 ? 0.5 : 0)
        // Enough passes for the lazy table's first flush (the 16th safe point) and for a few
        // passes after it.
        let passes = 20
        var options = SchemeOptions()
        options[HandleLocalOptions.handleIndex] = index
        let swift = try Self.swiftRun(HandleLocalScheme.self, stream, options: options, passes: passes)
        let c = TableYardstick.run(.handleLocal(index, .lazy), on: stream, passes: passes)

        #expect(c.status == 0, "\(TableYardstick.describe(c.status)) at \(c.counts.failed_at)")
        #expect(c.problem == nil, "\(c.problem ?? "")")
        #expect(swift.lifetimeProblem == nil)
        #expect(c.counts.births + c.counts.immortal_births == swift.births)
        #expect(c.counts.births == c.counts.frees)
        #expect(c.counts.slots_held == 0 && c.counts.slot_counts == 0)
        #expect(Int(c.counts.frees) == swift.counters.frees)
        #expect(Int(c.counts.table_hits) == swift.counters.tableHits)
        #expect(Int(c.counts.table_misses) == swift.counters.tableMisses)
        #expect(Int(c.counts.fallbacks) == swift.counters.fallbacks)
        #expect(Int(c.counts.evictions) == swift.counters.evictions)
        #expect(Int(c.counts.local_dup_close) == swift.counters.localDupClose)
        #expect(Int(c.counts.atomic_rmw) == swift.counters.atomicRMW)
        #expect(Int(c.counts.merges) == swift.counters.merges)
        // The stream must exercise what it is compared on.
        #expect(swift.counters.tableHits > 0 && swift.counters.tableMisses > 0 && swift.counters.localDupClose > 0)
        if index == .low3 { #expect(swift.counters.evictions > 0, "7 slots and new temporaries every call: the clock must evict") }
        // The C run's reads: the same payloads as the Swift run's, so the same passes ran.
        #expect(c.counts.checksum == swift.checksum && c.counts.checksum != 0, "C \(c.counts.checksum), Swift \(swift.checksum)")
    }

    /// `HandleLocal.safePointsPerFlush`: a lazy table flushes at the 16th safe point, the 32nd, ...
    /// and not before, in C as in Swift. The final safe point after the teardown is one of them.
    @Test(arguments: [14, 15, 16, 30, 31, 47])
    func theCTableFlushesAtEverySixteenthSafePointStartingWithTheSixteenth(passes: Int) throws {
        let stream = try Self.callStream([:])
        let c = TableYardstick.run(.handleLocal(.low3, .lazy), on: stream, passes: passes)
        #expect(c.problem == nil, "\(c.problem ?? "")")
        let safePoints = passes + 1
        #expect(Int(c.counts.flushes) == safePoints / HandleLocalScheme.safePointsPerFlush)
        #expect(c.counts.region_waits == 0)
    }

    /// A lazy high16 table keeps every temporary of up to `safePointsPerFlush` passes until its
    /// flush (its 65535 slots seldom evict), and `call`'s region holds them: `create` never finds
    /// the region used up, so the run never waits on it (safe points and `sched_yield` inside the
    /// timed loop, which no runtime pays), in Swift or in C, across several flushes.
    @Test(arguments: [HandleIndex.high16, .low4, .low3], [ReleasePolicy.lazy, .eager])
    func handleLocalOnCallNeverWaitsOnItsRegionAcrossSeveralFlushes(index: HandleIndex, release: ReleasePolicy) throws {
        let stream = try Self.callStream([:])
        let passes = 4 * HandleLocalScheme.safePointsPerFlush + 3
        var options = SchemeOptions()
        options[HandleLocalOptions.handleIndex] = index
        options[HandleLocalOptions.release] = release
        let swift = try Self.swiftRun(HandleLocalScheme.self, stream, options: options, passes: passes)
        #expect(swift.regionWaits == 0, "the region ran dry \(swift.regionWaits) time(s)")
        #expect(swift.lifetimeProblem == nil)
        #expect(swift.births > 2 * stream.regionObjects, "the run reuses its region's objects")
        let c = TableYardstick.run(.handleLocal(index, release), on: stream, passes: passes)
        #expect(c.problem == nil, "\(c.problem ?? "")")
        #expect(c.counts.region_waits == 0, "the C run's region ran dry \(c.counts.region_waits) time(s)")
        #expect(Int(c.counts.frees) == swift.counters.frees && Int(c.counts.evictions) == swift.counters.evictions)
        if release == .lazy { #expect(Int(c.counts.flushes) == (passes + 1) / HandleLocalScheme.safePointsPerFlush) }
    }

    /// `call`'s region holds `safePointsPerFlush` passes of temporaries besides a call's own and
    /// its fields' objects; at the defaults that stays under a megabyte a thread.
    @Test(arguments: Self.callOptions)
    func callsRegionHoldsWhatALazyTableKeepsBetweenFlushes(given: [String: Int]) throws {
        var values = OptionValues()
        for (name, value) in given { values.set(name, to: .integer(value)) }
        let workload = try CallWorkload(options: values)
        let pass = workload.workerProgram(thread: 0, threads: 1, seed: 1).pass
        let temporariesPerPass = pass.filter { $0.code == Operation.Code.create.rawValue }.count
        #expect(workload.regionSize(threads: 1) >= HandleLocalScheme.safePointsPerFlush * temporariesPerPass)
        if given.isEmpty {
            #expect(temporariesPerPass == 546)
            #expect(workload.regionSize(threads: 1) * ObjectPool.stride(alignment: SchemeOptions().objectAlignment) < 1 << 20)
        }
    }

    /// No scheme's run on `call` at its default options waits on its region: what a scheme keeps
    /// alive between its safe points fits.
    @Test func noSchemeWaitsOnItsRegionOnCallAtDefaultOptions() throws {
        let stream = try Self.callStream([:])
        let passes = 2 * HandleLocalScheme.safePointsPerFlush + 1
        func waits<S: CountingScheme>(_ scheme: S.Type) throws -> Int {
            let run = try Self.swiftRun(scheme, stream, passes: passes)
            #expect(run.lifetimeProblem == nil, "\(S.self)")
            return run.regionWaits
        }
        let runs: [(String, Int)] = [
            ("nonatomic", try waits(NonatomicScheme.self)), ("gil", try waits(GilScheme.self)),
            ("atomic", try waits(AtomicScheme.self)), ("biased", try waits(BiasedScheme.self)),
            ("perthread", try waits(PerThreadScheme.self)), ("handle-local", try waits(HandleLocal<BiasedRuntime>.self)),
            ("handle-local atomic", try waits(HandleLocal<AtomicRuntime>.self)), ("arena", try waits(Arena<BiasedRuntime>.self)),
            ("handle-table", try waits(HandleTableScheme.self)), ("noop", try waits(NoopScheme.self)),
        ]
        for (name, waits) in runs { #expect(waits == 0, "\(name): the region ran dry \(waits) time(s)") }
    }

    /// The C steps of `atomic` and `biased` on `call`'s stream make, free and count what the Swift
    /// schemes do: one atomic per reference under `atomic`, none under `biased`'s owner.
    @Test(arguments: [0, 1])
    func theCAtomicAndBiasedStepsCountWhatTheSchemesCount(variant: Int) throws {
        let stream = try Self.callStream(Self.callOptions[variant], immortalFraction: variant == 1 ? 0.5 : 0)
        let passes = 5
        let atomicSwift = try Self.swiftRun(AtomicScheme.self, stream, passes: passes)
        let atomicC = TableYardstick.run(.atomic, on: stream, passes: passes)
        let biasedSwift = try Self.swiftRun(BiasedScheme.self, stream, passes: passes)
        let biasedC = TableYardstick.run(.biased, on: stream, passes: passes)
        for (swift, c) in [(atomicSwift, atomicC), (biasedSwift, biasedC)] {
            #expect(c.status == 0 && c.problem == nil, "\(c.steps): \(c.problem ?? "")")
            #expect(swift.lifetimeProblem == nil)
            #expect(Int(c.counts.births + c.counts.immortal_births) == swift.births, "\(c.steps)")
            #expect(Int(c.counts.frees) == swift.counters.frees, "\(c.steps)")
            #expect(Int(c.counts.atomic_rmw) == swift.counters.atomicRMW, "\(c.steps)")
            #expect(Int(c.counts.merges) == swift.counters.merges, "\(c.steps)")
            #expect(c.counts.table_hits + c.counts.local_dup_close == 0, "\(c.steps): no table")
        }
        #expect(atomicC.counts.atomic_rmw > Int64(passes * stream.passOperations) / 2, "atomic counts with atomics")
        #expect(biasedC.counts.atomic_rmw == 0, "one thread owns every object: biased takes no atomic")
    }

    @Test func theCNoopStepsMakeAndFreeWhatNoopDoes() throws {
        let stream = try Self.callStream([:])
        let swift = try Self.swiftRun(NoopScheme.self, stream, passes: 5)
        let c = TableYardstick.run(.noop, on: stream, passes: 5)
        #expect(c.status == 0 && c.problem == nil, "\(c.problem ?? "")")
        #expect(Int(c.counts.births) == swift.births && Int(c.counts.frees) == swift.counters.frees)
        #expect(c.counts.table_hits + c.counts.local_dup_close + c.counts.atomic_rmw == 0, "noop's steps count nothing")
    }

    @Test func theStreamIsTheOneRefscaleRunsForCall() throws {
        let stream = try Self.callStream([:])
        let workload = try Registry.workload(named: "call").make(OptionValues())
        let program = workload.workerProgram(thread: 0, threads: 1, seed: 1)
        #expect(stream.setup == program.setup && stream.teardown == program.teardown)
        #expect(stream.pass == LastDrops.mark([program.pass])[0])
        #expect(stream.passOperations == program.passOperations)
        #expect(stream.pass.contains { $0.code == Operation.Code.closeLast.rawValue }, "the pass as run has its last drops marked")
    }

    @Test func theCCodesAreTheOperationCodes() {
        let pairs: [(UInt32, Operation.Code)] = [
            (CREFSCALE_YARDSTICK_NEW.rawValue, .new), (CREFSCALE_YARDSTICK_OPEN.rawValue, .open), (CREFSCALE_YARDSTICK_DUP.rawValue, .dup),
            (CREFSCALE_YARDSTICK_CLOSE.rawValue, .close), (CREFSCALE_YARDSTICK_READ.rawValue, .read),
            (CREFSCALE_YARDSTICK_ENTER.rawValue, .enter), (CREFSCALE_YARDSTICK_EXIT.rawValue, .exit),
            (CREFSCALE_YARDSTICK_DUP_CLOSE.rawValue, .dupClose), (CREFSCALE_YARDSTICK_CREATE.rawValue, .create),
            (CREFSCALE_YARDSTICK_STORE.rawValue, .store), (CREFSCALE_YARDSTICK_CLEAR.rawValue, .clear),
            (CREFSCALE_YARDSTICK_RET.rawValue, .ret), (CREFSCALE_YARDSTICK_CLOSE_LAST.rawValue, .closeLast),
        ]
        for (c, swift) in pairs { #expect(c == UInt32(swift.rawValue), "\(swift)") }
    }

    @Test func aStreamWithACodeTheInterpretersDoNotRunIsRefused() throws {
        var stream = try Self.callStream([:])
        stream.pass.insert(.send(0, to: 0), at: 3)
        for steps in [TableYardstick.Steps.noop, .handleLocal(.low3, .lazy)] {
            let run = TableYardstick.run(steps, on: stream, passes: 2)
            #expect(run.status == CREFSCALE_YARDSTICK_UNKNOWN_CODE.rawValue)
            #expect(run.counts.failed_at == 3)
            #expect(run.counts.births == 0, "refused before the first step")
            #expect(run.problem?.contains("operation code") == true)
        }
    }

    @Test func anOperandCallNeverHasIsRefused() throws {
        var stream = try Self.callStream([:])
        stream.pass[1] = .store(0, into: .global(0))
        let run = TableYardstick.run(.handleLocal(.low3, .lazy), on: stream, passes: 1)
        #expect(run.status == CREFSCALE_YARDSTICK_BAD_OPERAND.rawValue && run.counts.failed_at == 1)
        #expect(run.problem != nil)
    }

    @Test(arguments: [HandleIndex.low3, .high16])
    func theDupCloseLoopTouchesOnlyItsSlotAndFreesItsObject(index: HandleIndex) {
        let run = TableYardstick.dupClosePairs(index, pairs: 1000)
        #expect(run.problem == nil, "\(run.problem ?? "")")
        #expect(run.counts.births == 1 && run.counts.frees == 1)
        #expect(run.counts.local_dup_close == 2001)
        #expect(run.counts.atomic_rmw == 0 && run.counts.table_hits == 0)
        #expect(run.operations == 2000)
    }

    @Test func countsThatDoNotCheckAreNamed() {
        var run = TableYardstick.dupClosePairs(pairs: 10)
        #expect(run.problem == nil)
        run.counts.frees -= 1
        #expect(run.problem?.contains("1 born, 0 freed") == true)
        run.counts.frees += 1
        run.counts.slots_held = 1
        #expect(run.problem?.contains("after the final flush") == true)
    }
}
