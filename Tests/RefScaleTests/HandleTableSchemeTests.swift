import Synchronization
import Testing
@testable import RefScale
@testable import RefScaleHarness

@Suite("handle-table scheme", .tags(.threaded))
struct HandleTableSchemeTests {
    final class Fixture {
        let pool: ObjectPool
        let shared: HandleTableScheme.Shared
        var context: HandleTableScheme

        init(objects: Int = 4, policy: HandleTableScheme.FreeListPolicy = .perThread, threads: Int = 4) {
            pool = ObjectPool(count: objects, alignment: 8)
            shared = HandleTableScheme.Shared(policy: policy, threads: threads)
            context = HandleTableScheme(shared: shared, threadID: 2)
        }

        deinit { pool.deallocate() }
    }

    @Test(arguments: [HandleTableScheme.FreeListPolicy.perThread, .locked])
    func dupAndCloseWriteOnlyTheTableAndTheObjectDiesAtTheCollectionAfterItsLastEntry(policy: HandleTableScheme.FreeListPolicy) {
        let f = Fixture(policy: policy)
        let object = f.pool.bear(0, flags: [])
        let made = f.context.new(object)
        #expect(countWord(object) == 1, "born with one root: this thread's")
        let opened = f.context.open(object)
        let duplicate = f.context.dup(opened)
        #expect(Set([made.bits, opened.bits, duplicate.bits]).count == 3, "every handle is its own entry")
        #expect(f.context.object(of: duplicate) == object && f.context.read(duplicate) == object.payload)
        #expect(countWord(object) == 1, "an open of a rooted object and a dup write only the table")
        f.context.close(duplicate)
        f.context.close(opened)
        f.context.safePoint()
        #expect(object.timesFreed == 0, "a live entry keeps the object through a collection")
        f.context.close(made)
        #expect(object.timesFreed == 0 && countWord(object) == 1, "a close writes only the table: death waits for the collection")
        f.context.safePoint()
        #expect(object.timesFreed == 1, "the collection after the last entry closed frees it")
        if policy == .perThread {
            #expect(f.context.counters.atomicRMW == 1, "the only atomic is the collection's unrooting")
        } else {
            #expect(f.context.counters.atomicRMW == 1 + 6, "plus the lock's acquisition at each of 3 opens and 3 closes")
        }
        #expect(f.pool.validateLifetimes() == nil)
        f.context.threadExit()
    }

    @Test func theOutermostScopesExitCollectsAndAnInnerOneDoesNot() {
        let f = Fixture()
        let object = f.pool.bear(0, flags: [])
        f.context.enterScope()
        f.context.enterScope()
        f.context.close(f.context.new(object))
        f.context.exitScope()
        #expect(object.timesFreed == 0, "an inner call's return does not collect")
        f.context.exitScope()
        #expect(object.timesFreed == 1, "the return to the interpreter does")
        #expect(f.pool.validateLifetimes() == nil)
        f.context.threadExit()
    }

    @Test func anotherReferenceKeepsAnUnnamedObjectAliveAndItsEndFrees() {
        let f = Fixture()
        let object = f.pool.bear(0, flags: [])
        let made = f.context.new(object)
        f.context.retain(object)  // a field
        f.context.close(made)
        f.context.safePoint()
        #expect(object.timesFreed == 0 && countWord(object) == 1, "unrooted; the field holds it")
        f.context.release(object)
        #expect(object.timesFreed == 1, "the field's end was the last reference")
        #expect(f.pool.validateLifetimes() == nil)
        f.context.threadExit()
    }

    @Test func anEntryInAnotherThreadKeepsTheObjectAfterItsMakerAndTheFieldLetGo() {
        let f = Fixture()
        var other = HandleTableScheme(shared: f.shared, threadID: 3)
        let object = f.pool.bear(0, flags: [])
        let made = f.context.new(object)
        f.context.retain(object)
        let field = UnsafeMutablePointer<UInt>.allocate(capacity: 1)
        defer { field.deallocate() }
        field.pointee = UInt(bitPattern: object.address)
        let loaded = other.load(from: field)
        #expect(other.object(of: loaded) == object && countWord(object) == 3, "the loader roots it: maker, field, loader")
        f.context.close(made)
        f.context.safePoint()
        f.context.release(object)
        #expect(object.timesFreed == 0 && countWord(object) == 1, "only the other thread's entry holds it now")
        other.safePoint()
        #expect(object.timesFreed == 0, "its entry is live")
        other.close(loaded)
        other.safePoint()
        #expect(object.timesFreed == 1)
        #expect(f.pool.validateLifetimes() == nil)
        other.threadExit()
        f.context.threadExit()
    }

    @Test func transferAndAdoptMoveACountedReference() {
        let f = Fixture()
        var other = HandleTableScheme(shared: f.shared, threadID: 3)
        let object = f.pool.bear(0, flags: [])
        let made = f.context.new(object)
        let sent = f.context.transfer(f.context.dup(made))
        #expect(sent == object && countWord(object) == 2, "a root and the reference in flight")
        let received = other.adopt(sent)
        #expect(countWord(object) == 2, "the received reference became the receiver's root")
        let again = other.adopt({ other.retain(object); return object }())
        #expect(countWord(object) == 2, "a rooted object's received reference ends")
        other.close(received)
        other.close(again)
        f.context.close(made)
        other.safePoint()
        #expect(object.timesFreed == 0)
        f.context.safePoint()
        #expect(object.timesFreed == 1)
        other.threadExit()
        f.context.threadExit()
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func immortalObjectsTakeEntriesButAreNeverCountedOrRooted() {
        let f = Fixture()
        let object = f.pool.bear(0, flags: [.immortal])
        let handle = f.context.open(object)
        #expect(f.context.object(of: handle) == object)
        f.context.close(f.context.dup(handle))
        f.context.close(handle)
        f.context.safePoint()
        #expect(countWord(object) == 0 && object.isAlive && f.context.roots.count == 0)
        f.context.threadExit()
    }

    @Test func perThreadIndicesComeBackLastInFirstOutAndAForeignCloseGoesToTheOwnersRemoteList() {
        let f = Fixture()
        var other = HandleTableScheme(shared: f.shared, threadID: 3)
        let object = f.pool.bear(0, flags: [.immortal])
        let first = f.context.open(object), second = f.context.open(object)
        #expect(Int(first.bits) / f.shared.segmentSize == 2, "an index names its thread's segment")
        f.context.close(second)
        #expect(f.context.open(object) == second, "the last index freed is taken first")
        other.close(first)
        #expect(other.counters.atomicRMW == 1, "a foreign close is one compare-and-swap onto the owner's remote list")
        #expect(f.shared.remoteHead(of: 2).pointee.load(ordering: .relaxed) == UInt(first.bits))
        let atomics = f.context.counters.atomicRMW
        #expect(f.context.open(object) == first, "the owner, its own stack empty, takes the remote list back")
        #expect(f.context.counters.atomicRMW == atomics + 1, "with one exchange")
        #expect(f.shared.remoteHead(of: 2).pointee.load(ordering: .relaxed) == 0)
        other.threadExit()
        f.context.threadExit()
    }

    /// Threads take and give back indices at once; each marks every index it holds. No index is
    /// ever held by two threads, under either policy.
    @Test(arguments: [HandleTableScheme.FreeListPolicy.perThread, .locked])
    func noIndexIsHeldByTwoThreadsAtOnce(policy: HandleTableScheme.FreeListPolicy) {
        let f = Fixture(policy: policy)
        let threads = 4, iterations = 5_000, held = 3
        let marks = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: HandleTableScheme.capacity)
        defer { marks.deallocate() }
        UnsafeMutableRawPointer(marks).initializeMemory(as: UInt8.self, repeating: 0, count: 8 * HandleTableScheme.capacity)
        let conflicts = Atomic<Int>(0)
        let shared = f.shared
        let object = f.pool.bear(0, flags: [.immortal])
        let workers = (0..<threads).map { thread in
            WorkerThread {
                var context = HandleTableScheme(shared: shared, threadID: thread + 2)
                var mine: [Handle] = []
                for round in 0..<iterations {
                    for _ in 0..<held {
                        let handle = context.open(object)
                        if marks[Int(handle.bits)].exchange(thread + 1, ordering: .relaxed) != 0 { conflicts.wrappingAdd(1, ordering: .relaxed) }
                        mine.append(handle)
                    }
                    while let handle = mine.popLast() {
                        if marks[Int(handle.bits)].exchange(0, ordering: .relaxed) != thread + 1 { conflicts.wrappingAdd(1, ordering: .relaxed) }
                        context.close(handle)
                    }
                    if round % 1000 == 0 { context.safePoint() }
                }
                context.threadExit()
            }
        }
        workers.forEach { $0.join() }
        #expect(conflicts.load(ordering: .relaxed) == 0)
    }

    @Test func freeListTakesOnlyItsWords() throws {
        #expect(throws: ConfigurationError.self) { try HandleTableScheme.freeList.declaration.parse("lock-free") }
        #expect(try HandleTableScheme.freeList.declaration.parse("locked") == .word("locked"))
        #expect(HandleTableScheme.freeList.defaultValue == .perThread)
        #expect(try Registry.scheme(named: "handle-table").declaredOptions.contains { $0.name == "free_list" })
    }
}
