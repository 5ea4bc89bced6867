import CRefScale
import Foundation
import Synchronization
import Testing
@testable import RefScale

/// The rules of `gil`: counting happens only under the global lock, the lock is taken lazily and
/// given up at `suspend`, `threadExit` and the end of a slice, and threads take turns.
@Suite(.tags(.threaded)) struct GilSchemeTests {
    /// A run's shared state and a pool of `objects` objects, freed with the fixture.
    final class Fixture {
        let shared: GilScheme.Shared
        let pool: ObjectPool

        init(slice: Double = 0.005, objects: Int = 2) throws {
            var options = SchemeOptions()
            options[GilScheme.gilSlice] = slice
            shared = try GilScheme.makeShared(options: options, threads: 2)
            pool = ObjectPool(count: objects, alignment: 128)
        }

        deinit { pool.deallocate() }

        func context(_ threadID: Int) -> GilScheme { GilScheme(shared: shared, threadID: threadID) }
    }

    @Test func aSliceOfZeroOrLessOrBeyondAnHourIsRefused() throws {
        let gil = try Registry.scheme(named: GilScheme.name)
        for slice in [0.0, -0.005, Double.nan, Double.infinity, 1e300] {
            var options = SchemeOptions()
            options[GilScheme.gilSlice] = slice
            #expect(throws: ConfigurationError.self) { try gil.check(options) }
        }
    }

    @Test func theDefaultSliceIsCPythonsSwitchIntervalOfFiveMilliseconds() throws {
        #expect(SchemeOptions()[GilScheme.gilSlice] == 0.005)
        #expect(try GilScheme.makeShared(options: SchemeOptions(), threads: 1).sliceNanoseconds == 5_000_000)
    }

    @Test func theLockIsTakenLazilyByTheFirstCountingOperation() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        #expect(!main.holdsLock)
        #expect(!fixture.shared.lock.isTaken)
        let handle = main.new(fixture.pool.bear(0, flags: .shared))
        #expect(main.holdsLock)
        #expect(fixture.shared.lock.isTaken)
        #expect(main.read(handle) == 1)
        main.close(handle)
        #expect(fixture.pool[0].timesFreed == 1)
    }

    @Test func readNeedsNoLock() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        let handle = main.new(fixture.pool.bear(0, flags: []))
        main.suspend()
        #expect(main.read(handle) == 1)
        #expect(!main.holdsLock)
        #expect(!fixture.shared.lock.isTaken)
    }

    @Test func suspendReleasesTheLockAndTheNextCountingOperationTakesItAgain() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        let handle = main.new(fixture.pool.bear(0, flags: .shared))
        main.suspend()
        #expect(!main.holdsLock)
        #expect(!fixture.shared.lock.isTaken)
        main.suspend()
        #expect(!fixture.shared.lock.isTaken, "a second suspend releases nothing")
        _ = main.dup(handle)
        #expect(main.holdsLock)
        #expect(fixture.shared.lock.isTaken)
        #expect(GilScheme.referenceCount(of: fixture.pool[0]) == 2)
    }

    @Test func threadExitReleasesTheLock() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        main.close(main.new(fixture.pool.bear(0, flags: [])))
        main.threadExit()
        #expect(!main.holdsLock)
        #expect(!fixture.shared.lock.isTaken)
    }

    @Test func countsAreNonatomicCounts() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        let object = fixture.pool.bear(0, flags: .shared)
        let handle = main.new(object)
        _ = main.dup(handle)
        _ = main.open(object)
        #expect(object.plainCount == 3)
        main.close(handle)
        main.close(handle)
        #expect(object.timesFreed == 0)
        main.close(handle)
        #expect(object.timesFreed == 1)
        #expect(main.counters.frees == 1)
    }

    @Test func theLockPassingToAnotherThreadIsOneHandoff() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let handle = main.new(fixture.pool.bear(0, flags: .shared))
        main.suspend()
        _ = worker.dup(handle)
        worker.suspend()
        main.close(handle)
        main.suspend()
        #expect(main.counters.lockHandoffs == 1, "main took it back from the worker; its first take was from no one")
        #expect(worker.counters.lockHandoffs == 1)
        _ = main.dup(handle)
        main.suspend()
        #expect(main.counters.lockHandoffs == 1, "taking the lock back from oneself is no handoff")
    }

    @Test func aSafePointWithinTheSliceKeepsTheLock() throws {
        let fixture = try Fixture(slice: 60)
        var main = fixture.context(1)
        _ = main.new(fixture.pool.bear(0, flags: []))
        let ticket = fixture.shared.lock.word(GlobalLock.nextTicketLine).pointee.load(ordering: .relaxed)
        main.safePoint()
        #expect(main.holdsLock)
        #expect(fixture.shared.lock.word(GlobalLock.nextTicketLine).pointee.load(ordering: .relaxed) == ticket)
    }

    @Test func aSafePointAfterTheSliceServesAWaitingThreadFirst() throws {
        let fixture = try Fixture(slice: 1e-9)
        var main = fixture.context(1)
        let handle = main.new(fixture.pool.bear(0, flags: .shared))
        _ = main.dup(handle)
        let lock = fixture.shared.lock
        let workerCounted = TestFlag()
        let workerDone = TestFlag()
        let box = UncheckedBox(fixture)
        let waiter = Thread {
            var worker = box.value.context(2)
            worker.close(handle)                  // waits for the main thread's safe point
            workerCounted.set()
            worker.threadExit()
            workerDone.set()
        }
        waiter.start()
        // Wait until the worker has taken its ticket and waits behind the main thread.
        while lock.word(GlobalLock.nextTicketLine).pointee.load(ordering: .acquiring)
            - lock.word(GlobalLock.nowServingLine).pointee.load(ordering: .acquiring) < 2 { sched_yield() }
        #expect(!workerCounted.isSet)
        main.safePoint()
        #expect(workerCounted.isSet, "the worker was served before the main thread's new ticket")
        #expect(main.holdsLock)
        #expect(main.counters.lockHandoffs == 1)
        while !workerDone.isSet { sched_yield() }
        #expect(fixture.pool[0].plainCount == 1)
        main.close(handle)
        main.threadExit()
        #expect(fixture.pool[0].timesFreed == 1)
        #expect(!lock.isTaken)
    }
}

extension GilSchemeTests {
    /// Threads hammer the same two objects' plain counts with a slice of half a millisecond:
    /// each takes the lock from another thread several times within its loop (not only before
    /// it), and no count is lost.
    @Test(arguments: [2, 4])
    func threadsTakeTurnsWithinTheLoopAndLoseNoCount(threads: Int) throws {
        let fixture = try Fixture(slice: 0.0005, objects: 2)
        var main = fixture.context(1)
        let objects = [fixture.pool.bear(0, flags: .shared), fixture.pool.bear(1, flags: .shared)]
        let handles = objects.map { main.new($0) }
        main.suspend()
        let pairs = 50_000, turns = 3
        let deadline = crefscale_clock_monotonic_ns() + 20_000_000_000
        // The threads that have had their turns. Every thread stays in the loop until all have:
        // one that left could no longer hold the lock for another to take, and a thread still
        // short of its turns would then wait alone until the deadline.
        let served = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: 1)
        served.initialize(to: Atomic(0))
        defer { served.deinitialize(count: 1); served.deallocate() }
        let contexts = runTogether(GilScheme.self, shared: fixture.shared, threads: threads) { context, index in
            var step = 0
            var counted = false
            // At least `pairs` steps, and on until every thread has had `turns` turns (or 20 s).
            while step < pairs || (served.pointee.load(ordering: .relaxed) < threads && crefscale_clock_monotonic_ns() < deadline) {
                let opened = context.open(objects[(step + index) % 2])
                let duplicate = context.dup(handles[step % 2])
                context.close(duplicate)
                context.close(opened)
                step += 1
                if step % 100 == 0 {
                    context.safePoint()
                    if !counted && context.counters.lockHandoffs >= turns {
                        counted = true
                        served.pointee.add(1, ordering: .relaxed)
                    }
                }
            }
        }
        for (index, context) in contexts.enumerated() {
            #expect(context.counters.lockHandoffs >= turns, "thread \(index + 2) took the lock from another \(context.counters.lockHandoffs) times")
        }
        #expect(objects.map(\.plainCount) == [1, 1], "no count was lost: every change ran under the lock")
        #expect(objects.allSatisfy { $0.timesFreed == 0 })
        handles.forEach { main.close($0) }
        main.threadExit()
        #expect(objects.allSatisfy { $0.timesFreed == 1 })
        #expect(!fixture.shared.lock.isTaken)
    }
}

/// Carries a value into a thread's closure; the test orders every access itself.
struct UncheckedBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A flag one thread raises and another watches.
final class TestFlag: Sendable {
    private let raised = Atomic<Bool>(false)
    func set() { raised.store(true, ordering: .sequentiallyConsistent) }
    var isSet: Bool { raised.load(ordering: .sequentiallyConsistent) }
}
