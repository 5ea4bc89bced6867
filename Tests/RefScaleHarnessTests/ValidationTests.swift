import CRefScale
import Glibc
import Synchronization
import Testing
@testable import RefScale
import RefScaleHarness

/// `atomic` with a deliberate bug: every 1000th `dup` of a thread forgets its increment, so a
/// count falls below the references that exist and an object dies while still referenced. The
/// loss is counted per thread, so it does not depend on how threads interleave.
struct LossyScheme: CountingScheme {
    static let name = "lossy-atomic"
    static let summary = "atomic counting that drops every 1000th increment (a broken scheme for the tests)"
    static let reportedCounters: Set<CounterKind> = [.atomicRMW, .frees]
    static let isThreadSafe = true
    static let lossPeriod = 1000

    var counters = SchemeCounters()
    var dups = 0

    static func makeShared(options: SchemeOptions, threads: Int) -> NoSharedState { NoSharedState() }
    init(shared: NoSharedState, threadID: Int) {}

    mutating func new(_ object: ObjectRef) -> Handle {
        object.count.pointee.store(1, ordering: .relaxed)
        return Handle(object)
    }

    mutating func open(_ object: ObjectRef) -> Handle { dup(Handle(object)) }

    mutating func dup(_ handle: Handle) -> Handle {
        let object = ObjectRef(handle)
        guard !object.isImmortal else { return handle }
        dups += 1
        if dups % LossyScheme.lossPeriod == 0 { return handle }
        object.count.pointee.wrappingAdd(1, ordering: .relaxed)
        counters.atomicRMW += 1
        return handle
    }

    mutating func close(_ handle: Handle) {
        let object = ObjectRef(handle)
        guard !object.isImmortal else { return }
        counters.atomicRMW += 1
        if object.count.pointee.wrappingSubtract(1, ordering: .acquiringAndReleasing).oldValue == 1 {
            ObjectPool.free(object)
            counters.frees += 1
        }
    }

    func read(_ handle: Handle) -> UInt64 { ObjectRef(handle).payload }
    func object(of handle: Handle) -> ObjectRef { ObjectRef(handle) }
    mutating func retain(_ object: ObjectRef) { _ = dup(Handle(object)) }
    mutating func release(_ object: ObjectRef) { close(Handle(object)) }
    mutating func safePoint() {}
    mutating func threadExit() {}
    static func referenceCount(of object: ObjectRef) -> Int? { object.count.pointee.load(ordering: .relaxed) }
}

/// `atomic` with the opposite bug: every 1000th `close` forgets its decrement, so objects leak.
struct LeakyScheme: CountingScheme {
    static let name = "leaky-atomic"
    static let summary = "atomic counting that drops every 1000th decrement (a broken scheme for the tests)"
    static let reportedCounters: Set<CounterKind> = [.atomicRMW, .frees]
    static let isThreadSafe = true

    var base = AtomicScheme(shared: NoSharedState(), threadID: 0)
    var closes = 0

    var counters: SchemeCounters { base.counters }

    static func makeShared(options: SchemeOptions, threads: Int) -> NoSharedState { NoSharedState() }
    init(shared: NoSharedState, threadID: Int) {}

    mutating func new(_ object: ObjectRef) -> Handle { base.new(object) }
    mutating func open(_ object: ObjectRef) -> Handle { base.open(object) }
    mutating func dup(_ handle: Handle) -> Handle { base.dup(handle) }

    mutating func close(_ handle: Handle) {
        closes += 1
        if closes % 1000 == 0 { return }
        base.close(handle)
    }

    func read(_ handle: Handle) -> UInt64 { base.read(handle) }
    func object(of handle: Handle) -> ObjectRef { base.object(of: handle) }
    mutating func retain(_ object: ObjectRef) { _ = dup(Handle(object)) }
    mutating func release(_ object: ObjectRef) { close(Handle(object)) }
    mutating func safePoint() {}
    mutating func threadExit() {}
    static func referenceCount(of object: ObjectRef) -> Int? { AtomicScheme.referenceCount(of: object) }
}

/// `atomic` with a planted lost update: its decrement is a load and a store, not one atomic
/// read-modify-write, so a change another thread makes between the two is overwritten. Every
/// access stays atomic, so ThreadSanitizer has no race to report: only the harness's count and
/// lifetime checks can catch it.
struct LostUpdateScheme: CountingScheme {
    static let name = "atomic-lost-update"
    static let summary = "atomic whose decrement is a load and a store (a broken scheme for the tests)"
    static let reportedCounters: Set<CounterKind> = [.atomicRMW, .frees]
    static let isThreadSafe = true

    static let yieldPeriod = 64

    var base = AtomicScheme(shared: NoSharedState(), threadID: 0)
    var closes = 0
    var counters: SchemeCounters { base.counters }

    static func makeShared(options: SchemeOptions, threads: Int) -> NoSharedState { NoSharedState() }
    init(shared: NoSharedState, threadID: Int) {}

    mutating func new(_ object: ObjectRef) -> Handle { base.new(object) }
    mutating func open(_ object: ObjectRef) -> Handle { base.open(object) }
    mutating func dup(_ handle: Handle) -> Handle { base.dup(handle) }

    mutating func close(_ handle: Handle) {
        let object = ObjectRef(handle)
        guard !object.isImmortal else { return }
        let count = object.count.pointee.load(ordering: .acquiring)
        // Every 64th decrement lets another thread run between its load and its store, as a
        // preemption there would: the race shows even when the two workers share one CPU.
        closes &+= 1
        if closes % LostUpdateScheme.yieldPeriod == 0 { sched_yield() }
        object.count.pointee.store(count - 1, ordering: .releasing)
        if count == 1 {
            ObjectPool.free(object)
            base.counters.frees += 1
        }
    }

    func read(_ handle: Handle) -> UInt64 { base.read(handle) }
    func object(of handle: Handle) -> ObjectRef { base.object(of: handle) }
    mutating func retain(_ object: ObjectRef) { _ = dup(Handle(object)) }
    mutating func release(_ object: ObjectRef) { close(Handle(object)) }
    mutating func safePoint() {}
    mutating func threadExit() {}
    static func referenceCount(of object: ObjectRef) -> Int? { AtomicScheme.referenceCount(of: object) }
}

@Suite(.tags(.threaded)) struct ValidationTests {
    @Test(arguments: [(PrivateWorkload.name, 1), (SharedHotWorkload.name, 2)])
    func schemeThatDropsIncrementsIsReportedInvalid(workload: String, threads: Int) throws {
        let row = try shortRun(SchemeEntry(LossyScheme.self), workload: workload, threads: threads)
        #expect(row["valid"].text == "false")
        #expect(!row.isValid)
        // A lost increment frees the object while a reference remains; the closes that follow
        // write its poisoned count, which the lifetime check finds.
        let error = row["validation_error"].text
        #expect(error.contains("written after it was freed"), "\(error)")
        if threads > 1 {
            #expect(error.contains("not back to their count"), "the shared objects' baseline check fires too: \(error)")
        }
    }

    @Test(arguments: [(PrivateWorkload.name, 1), (SharedHotWorkload.name, 2)])
    func schemeThatDropsDecrementsIsReportedInvalid(workload: String, threads: Int) throws {
        let row = try shortRun(SchemeEntry(LeakyScheme.self), workload: workload, threads: threads)
        #expect(row["valid"].text == "false")
        #expect(row["validation_error"].text.contains("never freed"), "\(row["validation_error"].text)")
    }

    @Test func sharedObjectNotBackToItsCountIsReported() throws {
        let row = try shortRun(SchemeEntry(LeakyScheme.self), workload: SharedHotWorkload.name, threads: 2)
        #expect(row["validation_error"].text.contains("not back to their count"), "\(row["validation_error"].text)")
    }

    /// Positive control for validation under contention: two workers on one shared object with a
    /// decrement that can lose updates. A lost decrement leaves the count high (not back to its
    /// count, never freed); a lost increment frees the object while referenced (freed twice,
    /// written after free). Up to ten runs are made; one caught is enough.
    @Test func aLostUpdateUnderContentionIsReportedInvalid() throws {
        var options = OptionValues()
        options.set("objects", to: .integer(1))
        var caught: RunRecord?
        for _ in 0..<10 where caught == nil {
            let row = try shortRun(SchemeEntry(LostUpdateScheme.self), workload: SharedHotWorkload.name, threads: 2, workloadOptions: options)
            if !row.isValid { caught = row }
        }
        let row = try #require(caught, "ten contended runs of a non-atomic decrement all passed validation")
        let error = row["validation_error"].text
        #expect(
            ["not back to their count", "never freed", "already freed", "written after"].contains { error.contains($0) },
            "\(error)")
    }

    @Test func lossySchemeLosesExactlyEveryThousandthIncrement() {
        let pool = ObjectPool(count: 1, alignment: 128)
        defer { pool.deallocate() }
        var context = LossyScheme(shared: NoSharedState(), threadID: 1)
        let object = pool.bear(0, flags: [])
        let handle = context.new(object)
        for _ in 0..<2500 { _ = context.dup(handle) }
        #expect(object.count.pointee.load(ordering: .relaxed) == 1 + 2500 - 2)
    }

    // The lifetime checks themselves, on a pool whose objects are set up by hand.

    @Test func objectNeverFreedIsReported() throws {
        let pool = ObjectPool(count: 2, alignment: 128)
        defer { pool.deallocate() }
        _ = pool.bear(0, flags: [])
        ObjectPool.free(pool.bear(1, flags: []))
        let problem = try #require(pool.validateLifetimes())
        #expect(problem.contains("object 0 never freed"))
        #expect(problem.hasPrefix("1 problem(s)"))
    }

    @Test func objectFreedTwiceIsReported() throws {
        let pool = ObjectPool(count: 1, alignment: 128)
        defer { pool.deallocate() }
        let object = pool.bear(0, flags: [])
        ObjectPool.free(object)
        ObjectPool.free(object)
        #expect(try #require(pool.validateLifetimes()).contains("1 free(s) of an object already freed"))
        #expect(object.timesFreed == 1, "the second free is recorded, not done")
    }

    @Test(arguments: ObjectRef.poisonedOffsets)
    func writeAfterFreeIsReported(offset: Int) throws {
        let pool = ObjectPool(count: 1, alignment: 128)
        defer { pool.deallocate() }
        let object = pool.bear(0, flags: [])
        ObjectPool.free(object)
        (object.address + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(7, ordering: .relaxed)
        #expect(try #require(pool.validateLifetimes()).contains("object 0 written after it was freed"))
    }

    @Test func immortalObjectFreedIsReported() throws {
        let pool = ObjectPool(count: 2, alignment: 128)
        defer { pool.deallocate() }
        _ = pool.bear(0, flags: [.immortal])
        ObjectPool.free(pool.bear(1, flags: [.immortal]))
        let problem = try #require(pool.validateLifetimes())
        #expect(problem.contains("immortal object 1 freed"))
        #expect(problem.hasPrefix("1 problem(s)"), "an immortal object that is never freed is correct")
    }

    @Test func writeAfterFreeIsReportedWhenTheObjectIsReborn() throws {
        let pool = ObjectPool(count: 0, alignment: 128, regionSize: 1, threadSlots: 3)
        defer { pool.deallocate() }
        let object = try #require(pool.allocate(thread: 2, flags: []))
        ObjectPool.free(object)
        object.plainCount = 5
        let reborn = try #require(pool.allocate(thread: 2, flags: []))
        #expect(reborn == object, "the region has one object, so it comes back")
        ObjectPool.free(reborn)
        #expect(try #require(pool.validateLifetimes()).contains("written after being freed, found when reborn"))
    }

    /// Where a freed region object goes depends on who frees it: its home thread puts it on its
    /// own list, any other thread on the home's remote list. Both come back to the home, and
    /// only to it.
    @Test(arguments: [(freeingThread: Int32(3), remote: true), (freeingThread: Int32(2), remote: false)])
    func aFreedObjectGoesBackToItsHomeByTheListOfWhoFreedIt(freeingThread: Int32, remote: Bool) throws {
        let pool = ObjectPool(count: 0, alignment: 128, regionSize: 2, threadSlots: 4)
        defer { pool.deallocate() }
        let previousSlot = crefscale_thread_slot()
        defer { crefscale_thread_set_slot(previousSlot) }
        let first = try #require(pool.allocate(thread: 2, flags: []))
        let second = try #require(pool.allocate(thread: 2, flags: []))
        #expect(pool.allocate(thread: 2, flags: []) == nil, "a region of two is exhausted by two")
        crefscale_thread_set_slot(freeingThread)
        ObjectPool.free(first)
        let home = pool.freeLists(2)
        let address = UInt(bitPattern: first.address)
        #expect(home.remote.pointee.load(ordering: .relaxed) == (remote ? address : 0))
        #expect(home.local.pointee.load(ordering: .relaxed) == (remote ? 0 : address))
        let other = try #require(pool.allocate(thread: 3, flags: []))
        #expect(other != first, "thread 3's region does not get thread 2's object")
        let again = try #require(pool.allocate(thread: 2, flags: []))
        #expect(again == first)
        #expect(first.timesBorn == 2)
        ObjectPool.free(again)
        ObjectPool.free(second)
        ObjectPool.free(other)
        #expect(pool.validateLifetimes() == nil)
    }

    @Test func unbornObjectsAreNotChecked() {
        let pool = ObjectPool(count: 3, alignment: 128)
        defer { pool.deallocate() }
        ObjectPool.free(pool.bear(1, flags: []))
        #expect(pool.validateLifetimes() == nil)
    }
}

// The broken schemes run under every context too: each lists its universal table.
extension LossyScheme: UniversalScheme {
    static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}

extension LeakyScheme: UniversalScheme {
    static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}

extension LostUpdateScheme: UniversalScheme {
    static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
