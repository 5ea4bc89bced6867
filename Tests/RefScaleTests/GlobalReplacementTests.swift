import Testing
@testable import RefScale

/// Two threads' streams interleaved by hand on one pool: a call of thread A loads a global, then
/// thread B replaces that global (dropping the global's reference to the old object), then A goes
/// on using its handle. The handle must keep the object alive until A's call returns.
struct GlobalReplacement<S: CountingScheme> {
    /// Kept alive for as long as the contexts, as a run keeps it.
    let shared: S.Shared
    let pool: ObjectPool
    let channels: Channels
    let mailboxes: Mailboxes
    let globals: UnsafeMutablePointer<UInt>
    var a: S
    var b: S
    let memoryA: ThreadMemory
    let memoryB: ThreadMemory
    var checksum: UInt64 = 0

    init(shared: S.Shared) {
        self.shared = shared
        pool = ObjectPool(count: 2, alignment: 128, threadSlots: 4)
        channels = Channels(count: 0, capacity: 1)
        mailboxes = Mailboxes(count: 0, contextType: S.self)
        globals = .allocate(capacity: 1)
        globals.initialize(to: 0)
        a = S(shared: shared, threadID: 2)
        b = S(shared: shared, threadID: 3)
        let (globals, pool, channels, mailboxes) = (globals, pool, channels, mailboxes)
        func memory(_ thread: Int) -> ThreadMemory {
            let registers = UnsafeMutablePointer<Handle>.allocate(capacity: 2)
            registers.initialize(repeating: .null, count: 2)
            let fields = UnsafeMutablePointer<UInt>.allocate(capacity: 1)
            fields.initialize(to: 0)
            return ThreadMemory(
                registers: registers, fields: fields, names: fields, globals: globals, pool: pool, channels: channels, inbox: -1,
                threadID: thread, mailboxes: mailboxes)
        }
        memoryA = memory(2)
        memoryB = memory(3)
    }

    mutating func runA(_ operations: [Operation]) {
        operations.withUnsafeBufferPointer { _ = execute($0, on: &a, memory: memoryA, checksum: &checksum) }
    }

    mutating func runB(_ operations: [Operation]) {
        operations.withUnsafeBufferPointer { _ = execute($0, on: &b, memory: memoryB, checksum: &checksum) }
    }

    /// Plays the interleaving; returns what A read through its handle after the replacement, and
    /// whether the old object was still alive then.
    mutating func play() -> (read: UInt64, aliveAfterReplacement: Bool) {
        runB([.new(object: 0, into: 0), .store(0, into: .global(0)), .close(0)])
        b.safePoint()
        runA([.enter, .load(.global(0), into: 0)])
        runB([.new(object: 1, into: 0), .store(0, into: .global(0)), .close(0)])
        b.safePoint()
        let alive = pool[0].isAlive
        let before = checksum
        runA([.read(0), .store(0, into: .field(0)), .close(0), .exit])
        let read = checksum &- before
        runA([.clear(.field(0))])
        runB([.clear(.global(0))])
        a.safePoint()
        b.safePoint()
        return (read, alive)
    }

    /// Ends both threads; returns the pool's lifetime check.
    mutating func end() -> String? {
        a.threadExit()
        b.threadExit()
        let problems = pool.validateLifetimes()
        for memory in [memoryA, memoryB] {
            memory.registers.deallocate()
            memory.fields.deallocate()
        }
        globals.deallocate()
        channels.deallocate()
        mailboxes.deallocate(contextType: S.self)
        pool.deallocate()
        return problems
    }
}

@Suite struct GlobalReplacementTests {
    /// Before the fix, arena's open of a loaded object took no reference: B's replacement freed
    /// the object under A's live handle, A read the poison and wrote the freed object's count.
    @Test func anArenaHandleLoadedFromAGlobalKeepsItsObjectAliveWhenAnotherThreadReplacesTheGlobal() {
        var run = GlobalReplacement<ArenaScheme>(shared: ArenaScheme.makeShared(options: SchemeOptions(), threads: 2))
        let outcome = run.play()
        #expect(outcome.aliveAfterReplacement, "the old object was freed under a live handle")
        #expect(outcome.read == 1, "the read returned the freed object's poison, not its payload")
        #expect(run.pool[0].timesFreed == 1, "freed once A's call returned")
        #expect(run.end() == nil)
    }

    @Test func everyCountingSchemeKeepsALoadedObjectAliveAcrossAReplacement() throws {
        func check<S: CountingScheme>(_: S.Type) throws {
            var run = GlobalReplacement<S>(shared: try S.makeShared(options: SchemeOptions(), threads: 2))
            let outcome = run.play()
            #expect(outcome.aliveAfterReplacement, "\(S.name)")
            #expect(outcome.read == 1, "\(S.name)")
            #expect(run.end() == nil, "\(S.name)")
        }
        try check(AtomicScheme.self)
        try check(HandleLocalScheme.self)
        try check(HandleTableScheme.self)
        try check(ArenaScheme.self)
    }
}
