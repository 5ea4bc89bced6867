import CRefScale
import Synchronization
import Testing
@testable import RefScale
@testable import RefScaleHarness

@Suite("handle-table scheme")
struct HandleTableSchemeTests {
    final class Fixture {
        let pool: ObjectPool
        let shared: HandleTableScheme.Shared
        var context: HandleTableScheme

        init(objects: Int = 4, discipline: HandleTableScheme.Discipline = .lockFree) {
            pool = ObjectPool(count: objects, alignment: 8)
            shared = HandleTableScheme.Shared(discipline: discipline)
            context = HandleTableScheme(shared: shared, threadID: 2)
        }

        deinit { pool.deallocate() }

        /// The indices on the free list, top first (at most `limit`, so a cycle ends the walk).
        func freeList(limit: Int = 1 << 20) -> [Int] {
            var indices: [Int] = []
            var index = Int(shared.head.pointee.load(ordering: .relaxed) & HandleTableScheme.indexMask)
            while index != 0 && indices.count < limit {
                indices.append(index)
                let word = shared.entries[index].load(ordering: .relaxed)
                precondition(word & HandleTableScheme.freeTag != 0, "a listed entry holds an object")
                index = Int(word >> 1)
            }
            return indices
        }
    }

    @Test func openTakesAnIndexAndASharedReferenceAndCloseGivesBothBack() {
        let f = Fixture()
        let object = f.pool.bear(0, flags: [])
        let made = f.context.new(object)
        #expect(made.bits == 1, "index 0 is HPy_NULL; the first index is 1")
        #expect(countWord(object) == 1)
        let opened = f.context.open(object)
        let duplicate = f.context.dup(opened)
        #expect(Set([made.bits, opened.bits, duplicate.bits]).count == 3, "every handle is its own entry")
        #expect(f.context.object(of: duplicate) == object && f.context.read(duplicate) == object.payload)
        #expect(countWord(object) == 3, "each entry holds one shared reference: the table is a GC root")
        f.context.close(duplicate)
        f.context.close(opened)
        #expect(f.freeList() == [Int(opened.bits), Int(duplicate.bits)], "close pushes; the last closed is on top")
        #expect(f.context.open(object).bits == opened.bits, "open pops the top")
        #expect(countWord(object) == 2)
        f.context.close(Handle(bits: opened.bits))
        f.context.close(made)
        #expect(object.timesFreed == 1)
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func transferAndAdoptMoveTheEntrysReferenceWithoutCounting() {
        let f = Fixture()
        let object = f.pool.bear(0, flags: [])
        let made = f.context.new(object)
        let duplicate = f.context.dup(made)
        let atomics = f.context.counters.atomicRMW
        let sent = f.context.transfer(duplicate)
        #expect(sent == object && countWord(object) == 2)
        let received = f.context.adopt(sent)
        #expect(countWord(object) == 2, "the reference moved back into an entry")
        #expect(f.context.counters.atomicRMW == atomics + 2, "one compare-and-swap each for the push and the pop, no count")
        f.context.close(received)
        f.context.close(made)
        #expect(object.timesFreed == 1)
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func immortalObjectsTakeEntriesButAreNeverCounted() {
        let f = Fixture()
        let object = f.pool.bear(0, flags: [.immortal])
        let handle = f.context.open(object)
        #expect(f.context.object(of: handle) == object)
        f.context.close(f.context.dup(handle))
        f.context.close(handle)
        #expect(countWord(object) == 0 && object.isAlive)
    }

    /// Threads pop and push the one free list; each writes its own mark beside every index it
    /// holds and checks the mark is still its own before pushing the index back. Returns the
    /// indices two threads held at once, and the free list at the end.
    static func hammer(_ f: Fixture, threads: Int, iterations: Int, held: Int) -> (conflicts: Int, pops: Int, list: [Int]) {
        let marks = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: HandleTableScheme.capacity)
        defer { marks.deallocate() }
        UnsafeMutableRawPointer(marks).initializeMemory(as: UInt8.self, repeating: 0, count: 8 * HandleTableScheme.capacity)
        let started = Atomic<Int>(0)
        let conflicts = Atomic<Int>(0)
        let pops = Atomic<Int>(0)
        let shared = f.shared
        let workers = (0..<threads).map { thread in
            WorkerThread {
                var context = HandleTableScheme(shared: shared, threadID: thread + 2)
                started.wrappingAdd(1, ordering: .acquiringAndReleasing)
                while started.load(ordering: .acquiring) < threads {}
                var mine: [Int] = []
                var popped = 0
                for _ in 0..<iterations {
                    for _ in 0..<held {
                        let index = context.popIndex()
                        popped += 1
                        if marks[index].exchange(thread + 1, ordering: .relaxed) != 0 { conflicts.wrappingAdd(1, ordering: .relaxed) }
                        mine.append(index)
                    }
                    while let index = mine.popLast() {
                        if marks[index].exchange(0, ordering: .relaxed) != thread + 1 { conflicts.wrappingAdd(1, ordering: .relaxed) }
                        context.pushIndex(index)
                    }
                }
                pops.wrappingAdd(popped, ordering: .relaxed)
            }
        }
        workers.forEach { $0.join() }
        return (conflicts.load(ordering: .relaxed), pops.load(ordering: .relaxed), f.freeList())
    }

    @Test func theSharedFreeListLosesNoIndexUnderContention() {
        let f = Fixture()
        let (threads, iterations, held) = (4, 20_000, 3)
        let result = Self.hammer(f, threads: threads, iterations: iterations, held: held)
        #expect(result.conflicts == 0, "two threads held one index")
        #expect(result.pops == threads * iterations * held)
        let fresh = f.shared.fresh.pointee.load(ordering: .relaxed)
        #expect(fresh - 1 <= threads * held, "indices are recycled: never more than were held at once")
        #expect(result.list.count == fresh - 1 && Set(result.list).count == result.list.count,
                "every index ever handed out is back on the list, once")
    }

    /// Two threads pop at once: A reads the head, B pops, then A completes its pop from what it
    /// read. Played step by step with the scheme's own pop.
    static func interleavedPops(_ discipline: HandleTableScheme.Discipline) -> (a: Int, b: Int) {
        let f = Fixture(discipline: discipline)
        var a = HandleTableScheme(shared: f.shared, threadID: 2)
        var b = HandleTableScheme(shared: f.shared, threadID: 3)
        let indices = (0..<3).map { _ in a.popIndex() }
        indices.reversed().forEach { a.pushIndex($0) }
        let read = f.shared.head.pointee.load(ordering: .acquiring)
        let taken = b.popIndex()
        var attempt = a.tryPop(from: read)
        while attempt.index == 0 { attempt = a.tryPop(from: attempt.head) }
        return (attempt.index, taken)
    }

    @Test func aPopRacingAnotherTakesADifferentIndex() {
        let pops = Self.interleavedPops(.lockFree)
        #expect(pops.a != pops.b, "the compare-and-swap saw B's pop and A retried")
    }

    /// The positive control: PyPy's free list as it is, with no synchronisation, in the same
    /// interleaving. The check that passes the lock-free list must catch it.
    @Test func theUnsynchronisedFreeListGivesTwoRacingPopsOneIndex() {
        let pops = Self.interleavedPops(.unsynchronised)
        #expect(pops.a == pops.b, "both threads hold one entry: each close frees the other's handle")
    }
}
