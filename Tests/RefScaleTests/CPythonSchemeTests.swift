import CPython
import CRefScale
import Foundation
import Testing
@testable import RefScale

/// The rules of `cpython`: a handle is the PyObject*, dup and close are Py_INCREF and Py_DECREF
/// (seen in the real Py_REFCNT), the pool object is freed by the close that ends the last
/// reference, and every count change runs under the real GIL, taken lazily and given up at
/// suspend, threadExit and an expired slice.
///
/// Every test ends each context it made (`threadExit`), so no test keeps the GIL from the others.
@Suite(.tags(.threaded)) struct CPythonSchemeTests {
    final class Fixture {
        let shared: CPythonScheme.Shared
        let pool: ObjectPool

        init(slice: Double = 0.005, objects: Int = 3) throws {
            var options = SchemeOptions()
            options[GilScheme.gilSlice] = slice
            shared = try CPythonScheme.makeShared(options: options, threads: 2)
            pool = ObjectPool(count: objects, alignment: 128)
        }

        deinit { pool.deallocate() }

        func context(_ threadID: Int) -> CPythonScheme { CPythonScheme(shared: shared, threadID: threadID) }
    }

    static func refcnt(_ handle: Handle) -> Int { Py_REFCNT(CPythonScheme.pythonObject(handle)) }

    @Test func theHandleIsThePyObjectPointerThePoolObjectRecords() throws {
        let fixture = try Fixture()
        var context = fixture.context(1)
        defer { context.threadExit() }
        let object = fixture.pool.bear(0, flags: [])
        let handle = context.new(object)
        #expect(handle.bits == object.payload)
        #expect(context.object(of: handle) == object)
        context.close(handle)
    }

    @Test func increfAndDecrefChangeTheRealReferenceCount() throws {
        let fixture = try Fixture()
        var context = fixture.context(1)
        defer { context.threadExit() }
        let object = fixture.pool.bear(0, flags: [])
        let handle = context.new(object)
        #expect(Self.refcnt(handle) == 1, "a new object holds only the creating thread's reference")
        let duplicate = context.dup(handle)
        #expect(duplicate == handle, "a dup of a PyObject* is the same PyObject*")
        #expect(Self.refcnt(handle) == 2)
        let opened = context.open(object)
        #expect(Self.refcnt(handle) == 3)
        #expect(CPythonScheme.referenceCount(of: object) == 3, "referenceCount is Py_REFCNT")
        context.close(duplicate)
        context.close(opened)
        #expect(Self.refcnt(handle) == 1)
        #expect(object.timesFreed == 0)
        context.close(handle)
        #expect(object.timesFreed == 1)
        #expect(CPythonScheme.referenceCount(of: object) == 0)
    }

    @Test func theCloseThatEndsTheLastReferenceFreesThePoolObjectOnce() throws {
        let fixture = try Fixture()
        var context = fixture.context(1)
        defer { context.threadExit() }
        let object = fixture.pool.bear(0, flags: [])
        let handle = context.new(object)
        context.retain(object)
        let duplicates = (0..<4).map { _ in context.dup(handle) }
        duplicates.forEach { context.close($0) }
        context.close(handle)
        #expect(object.timesFreed == 0, "the retained reference keeps it alive")
        context.release(object)
        #expect(object.timesFreed == 1)
        #expect(context.counters.frees == 1)
        #expect(fixture.pool.validateLifetimes() == nil)
    }

    @Test func objectsAreRealIntsStringsAndTuplesCyclingByPoolIndex() throws {
        let fixture = try Fixture(objects: 6)
        var context = fixture.context(1)
        defer { context.threadExit() }
        let handles = (0..<6).map { context.new(fixture.pool.bear($0, flags: [])) }
        let types = handles.map { String(cString: Py_TYPE(CPythonScheme.pythonObject($0)).pointee.tp_name) }
        #expect(types == ["int", "str", "tuple", "int", "str", "tuple"])
        for (index, handle) in handles.enumerated() {
            #expect(context.object(of: handle) == fixture.pool[index], "the object's value names its pool object")
            #expect(context.read(handle) == UInt64(UInt(bitPattern: Py_TYPE(CPythonScheme.pythonObject(handle)))))
        }
        handles.forEach { context.close($0) }
        #expect(fixture.pool.validateLifetimes() == nil)
    }

    @Test func transferAndAdoptMoveTheReferenceWithoutCounting() throws {
        let fixture = try Fixture()
        var context = fixture.context(1)
        defer { context.threadExit() }
        let object = fixture.pool.bear(0, flags: [])
        let handle = context.new(object)
        let moved = context.transfer(context.dup(handle))
        #expect(moved == object)
        #expect(Self.refcnt(handle) == 2)
        let adopted = context.adopt(moved)
        #expect(adopted == handle)
        #expect(Self.refcnt(handle) == 2)
        context.close(adopted)
        context.close(handle)
        #expect(object.timesFreed == 1)
    }

    @Test func anImmortalObjectKeepsAReferenceOfItsOwnAndIsNeverFreed() throws {
        let fixture = try Fixture()
        var context = fixture.context(1)
        defer { context.threadExit() }
        let object = fixture.pool.bear(0, flags: [.immortal])
        let handle = context.new(object)
        #expect(Self.refcnt(handle) == 2, "3.11 has no PEP 683: one reference stands for immortality")
        context.close(context.dup(handle))
        context.close(handle)
        #expect(object.timesFreed == 0)
        #expect(CPythonScheme.referenceCount(of: object) == 1)
        #expect(fixture.pool.validateLifetimes() == nil)
    }

    @Test func aPythonErrorWhileMakingAnObjectIsKeptWithPythonsOwnMessage() throws {
        let fixture = try Fixture()
        fixture.shared.createsFailingObjects = true
        var context = fixture.context(1)
        defer { context.threadExit() }
        let object = fixture.pool.bear(0, flags: [])
        let handle = context.new(object)
        let failure = try #require(CPythonScheme.failure(of: fixture.shared))
        #expect(failure.contains("ValueError: invalid literal for int() with base 10: 'not a number'"), "\(failure)")
        #expect(context.object(of: handle) == object, "an int stands in, so the stream can finish")
        context.close(handle)
        #expect(object.timesFreed == 1)
    }

    // MARK: The GIL

    @Test func theGILIsTakenLazilyAndGivenUpAtSuspend() throws {
        let fixture = try Fixture()
        var context = fixture.context(1)
        defer { context.threadExit() }
        #expect(!context.holdsGIL)
        #expect(PyGILState_Check() == 0)
        let handle = context.new(fixture.pool.bear(0, flags: []))
        #expect(context.holdsGIL)
        #expect(PyGILState_Check() == 1)
        context.suspend()
        #expect(!context.holdsGIL)
        #expect(PyGILState_Check() == 0)
        #expect(context.read(handle) != 0, "read needs no GIL")
        context.close(handle)
        #expect(context.holdsGIL)
        #expect(PyGILState_Check() == 1)
    }

    @Test func threadExitGivesTheGILAndTheThreadStateUp() throws {
        let fixture = try Fixture()
        var context = fixture.context(1)
        context.close(context.new(fixture.pool.bear(0, flags: [])))
        context.suspend()
        context.threadExit()
        #expect(!context.holdsGIL)
        #expect(!context.ensured)
        #expect(PyGILState_Check() == 0)
        context.threadExit()  // a second exit does nothing
    }

    @Test func aSafePointWithinTheSliceKeepsTheGIL() throws {
        let fixture = try Fixture(slice: 60)
        var context = fixture.context(1)
        defer { context.threadExit() }
        context.close(context.new(fixture.pool.bear(0, flags: [])))
        context.safePoint()
        #expect(context.holdsGIL)
    }

    @Test func aSafePointAfterTheSliceGivesTheGILUp() throws {
        let fixture = try Fixture(slice: 1e-9)
        var context = fixture.context(1)
        defer { context.threadExit() }
        context.close(context.new(fixture.pool.bear(0, flags: [])))
        context.safePoint()
        #expect(!context.holdsGIL)
        #expect(PyGILState_Check() == 0)
    }

    @Test func anExpiredSliceWaitsUntilAWaitingThreadHasTakenTheGIL() throws {
        let fixture = try Fixture(slice: 1e-9)
        var main = fixture.context(1)
        let object = fixture.pool.bear(0, flags: [.shared])
        let handle = main.new(object)
        _ = main.dup(handle)
        let box = UncheckedBox(fixture)
        let workerCounted = TestFlag()
        let workerDone = TestFlag()
        let waiter = Thread {
            var worker = box.value.context(2)
            worker.close(handle)  // waits for the main thread's safe point
            workerCounted.set()
            worker.threadExit()
            workerDone.set()
        }
        waiter.start()
        while fixture.shared.waiting.pointee.load(ordering: .acquiring) == 0 { sched_yield() }
        #expect(!workerCounted.isSet)
        main.safePoint()
        #expect(!main.holdsGIL)
        #expect(fixture.shared.lastHolder.pointee.load(ordering: .acquiring) == 2, "the worker took the GIL before the main thread went on")
        while !workerDone.isSet { sched_yield() }
        #expect(Self.refcnt(handle) == 1)
        main.close(handle)
        #expect(main.counters.lockHandoffs == 1)
        main.threadExit()
        #expect(object.timesFreed == 1)
    }

    /// Two threads released together count on one object under the real GIL with a 1 ms slice:
    /// each takes the GIL from the other several times within its loop, and no count is lost.
    @Test func twoThreadsTakeTurnsOnTheRealGIL() throws {
        let fixture = try Fixture(slice: 0.001)
        var main = fixture.context(1)
        let object = fixture.pool.bear(0, flags: [.shared])
        let handle = main.new(object)
        main.suspend()
        let pairs = 200_000, turns = 3
        let deadline = crefscale_clock_monotonic_ns() + 20_000_000_000
        let contexts = runTogether(CPythonScheme.self, shared: fixture.shared, threads: 2) { context, _ in
            var step = 0
            // At least `pairs` pairs, and on until the thread has had `turns` turns (or 20 s).
            while step < pairs || (context.counters.lockHandoffs < turns && crefscale_clock_monotonic_ns() < deadline) {
                context.close(context.dup(handle))
                step += 1
                if step % 1000 == 0 { context.safePoint() }
            }
        }
        for (index, context) in contexts.enumerated() {
            #expect(context.counters.lockHandoffs >= turns, "thread \(index + 2) took the GIL from the other \(context.counters.lockHandoffs) times")
        }
        #expect(Self.refcnt(handle) == 1, "no count was lost: every change ran under the GIL")
        main.close(handle)
        main.threadExit()
        #expect(object.timesFreed == 1)
    }
}
