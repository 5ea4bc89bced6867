import Dispatch
import Testing
@testable import RefScale

@Suite("arena scheme", .tags(.threaded))
struct ArenaSchemeTests {
    /// A pool and one thread's context; the test ends the context and frees the pool.
    struct Fixture {
        let pool: ObjectPool
        var context: Arena<AtomicRuntime>

        init(objects: Int = 4) {
            pool = ObjectPool(count: objects, alignment: 8)
            context = Arena<AtomicRuntime>(shared: Arena<AtomicRuntime>.makeShared(options: SchemeOptions(), threads: 1), threadID: 2)
        }

        func count(_ object: ObjectRef) -> Int { Arena<AtomicRuntime>.referenceCount(of: object)! }

        mutating func end() {
            context.threadExit()
            pool.deallocate()
        }
    }

    @Test func dupAndCloseOfBorrowedHandlesChangeNoCount() {
        var fixture = Fixture()
        let object = fixture.pool.bear(0, flags: [])
        let held = fixture.context.new(object)
        #expect(fixture.count(object) == 1)
        let rmwBefore = fixture.context.counters.atomicRMW

        fixture.context.enterScope()
        let first = fixture.context.dup(held)
        let second = fixture.context.dup(first)
        let opened = fixture.context.open(object)
        #expect(fixture.count(object) == 1)
        #expect(fixture.context.object(of: first) == object)
        #expect(fixture.context.object(of: second) == object)
        #expect(fixture.context.object(of: opened) == object)
        #expect(first != second, "each dup is a new arena entry")
        #expect(fixture.context.read(second) == object.payload)
        fixture.context.close(second)
        fixture.context.close(opened)
        fixture.context.close(first)
        #expect(fixture.count(object) == 1)
        fixture.context.exitScope()

        #expect(fixture.count(object) == 1)
        #expect(fixture.context.counters.atomicRMW == rmwBefore)
        #expect(object.timesFreed == 0)
        fixture.context.close(held)
        #expect(object.timesFreed == 1)
        fixture.end()
    }

    /// Found by `refscale stress`: a call loads a handle from a field, then overwrites the field;
    /// the handle must still name a live object until the call returns.
    @Test func referencesDroppedInsideAScopeAreGivenBackWhenTheOutermostScopeExits() {
        var fixture = Fixture()
        let object = fixture.pool.bear(0, flags: [])
        let made = fixture.context.new(object)
        fixture.context.retain(object)  // the field
        fixture.context.close(made)
        #expect(fixture.count(object) == 1, "only the field keeps it")

        fixture.context.enterScope()
        let loaded = fixture.context.open(object)
        fixture.context.enterScope()
        fixture.context.release(object)  // the field is overwritten in a nested call
        fixture.context.exitScope()
        #expect(object.isAlive, "the outer call's local handle still names it")
        fixture.context.retain(fixture.context.object(of: loaded))  // stored into another field
        fixture.context.close(loaded)
        #expect(fixture.count(object) == 2)
        fixture.context.exitScope()
        #expect(fixture.count(object) == 1, "the dropped reference was given back at the outermost exit")
        fixture.context.release(object)
        #expect(object.timesFreed == 1)
        #expect(fixture.pool.validateLifetimes() == nil)
        fixture.end()
    }

    @Test func closingANonLocalHandleInsideAScopeKeepsItsLocalDupsValid() {
        var fixture = Fixture()
        let object = fixture.pool.bear(0, flags: [])
        fixture.context.enterScope()
        let created = fixture.context.new(object)
        fixture.context.enterScope()
        let returned = fixture.context.returning(fixture.context.dup(created))
        fixture.context.exitScope()
        let duplicate = fixture.context.dup(returned)
        fixture.context.close(returned)
        #expect(fixture.context.read(duplicate) == object.payload)
        #expect(object.isAlive)
        fixture.context.close(duplicate)
        fixture.context.close(created)
        fixture.context.exitScope()
        #expect(object.timesFreed == 1)
        #expect(fixture.pool.validateLifetimes() == nil)
        fixture.end()
    }

    @Test func objectsCreatedInAScopeAreFreedAtScopeExit() {
        var fixture = Fixture()
        let objects = (0..<3).map { fixture.pool.bear($0, flags: []) }
        fixture.context.enterScope()
        let handles = objects.map { fixture.context.new($0) }
        let duplicate = fixture.context.dup(handles[1])
        fixture.context.close(duplicate)
        fixture.context.close(handles[0])
        #expect(objects.allSatisfy { $0.timesFreed == 0 }, "closing a local handle frees nothing")
        fixture.context.exitScope()

        #expect(objects.allSatisfy { $0.timesFreed == 1 })
        #expect(fixture.context.counters.frees == 3)
        #expect(fixture.context.counters.atomicRMW == 0, "an object that never escaped is freed with no atomic")
        #expect(fixture.pool.validateLifetimes() == nil)
        fixture.end()
    }

    @Test func anEscapedObjectSurvivesScopeExitAndIsFreedWhenItsSharedReferenceEnds() {
        var fixture = Fixture()
        let object = fixture.pool.bear(0, flags: [])
        fixture.context.enterScope()
        let local = fixture.context.new(object)
        let kept = fixture.context.escape(fixture.context.dup(local))
        #expect(kept.bits & Arena<AtomicRuntime>.localTag == 0, "an escaped reference is non-local")
        #expect(fixture.count(object) == 2)
        fixture.context.exitScope()

        #expect(object.timesFreed == 0)
        #expect(fixture.count(object) == 1)
        #expect(fixture.context.object(of: kept) == object)
        fixture.context.close(kept)
        #expect(object.timesFreed == 1)
        #expect(fixture.pool.validateLifetimes() == nil)
        fixture.end()
    }

    @Test func nestedScopesReleaseOnlyTheirOwnObjects() {
        var fixture = Fixture()
        let outer = fixture.pool.bear(0, flags: [])
        let inner = fixture.pool.bear(1, flags: [])
        fixture.context.enterScope()
        let outerHandle = fixture.context.new(outer)
        fixture.context.enterScope()
        let innerHandle = fixture.context.new(inner)
        _ = fixture.context.dup(outerHandle)
        fixture.context.exitScope()
        #expect(inner.timesFreed == 1)
        #expect(outer.timesFreed == 0)
        #expect(fixture.context.object(of: outerHandle) == outer, "the outer scope's handles outlive the inner scope")
        #expect(fixture.context.arena.count == Int(truncatingIfNeeded: innerHandle.bits >> 1), "exit resets the arena to the inner scope's entry")
        fixture.context.exitScope()
        #expect(outer.timesFreed == 1)
        fixture.end()
    }

    @Test func theArenaGrowsAndItsHandlesStayValid() {
        var fixture = Fixture(objects: 2)
        let objects = (0..<2).map { fixture.pool.bear($0, flags: []) }
        let held = objects.map { fixture.context.new($0) }
        fixture.context.enterScope()
        let count = Arena<AtomicRuntime>.initialArenaCapacity * 3 + 5
        let handles = (0..<count).map { fixture.context.dup(held[$0 % 2]) }
        // The held handles are non-local (made outside any scope), so the arena holds exactly the
        // scope's dups: one entry each, however often it grew.
        #expect(fixture.context.arena.count == count, "\(fixture.context.arena.count) entries for \(count) dups")
        #expect(handles.indices.allSatisfy { fixture.context.object(of: handles[$0]) == objects[$0 % 2] })
        fixture.context.exitScope()
        #expect(fixture.context.arena.count == 0)
        #expect(objects.allSatisfy { fixture.count($0) == 1 })
        held.forEach { fixture.context.close($0) }
        #expect(fixture.pool.validateLifetimes() == nil)
        fixture.end()
    }

    @Test func nonLocalReferencesCountAtomically() {
        var fixture = Fixture()
        let object = fixture.pool.bear(0, flags: [])
        let first = fixture.context.new(object)
        let opened = fixture.context.open(object)
        let duplicate = fixture.context.dup(first)
        #expect(fixture.count(object) == 3)
        #expect(fixture.context.counters.atomicRMW == 2)
        #expect([opened, duplicate].allSatisfy { $0.bits & Arena<AtomicRuntime>.localTag == 0 })

        // Four threads, each with its own context, take and give back references outside any scope.
        let threads = 4, rounds = 20_000
        let pool = fixture.pool
        let rmw = UnsafeMutableBufferPointer<Int>.allocate(capacity: threads)
        defer { rmw.deallocate() }
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            var context = Arena<AtomicRuntime>(shared: Arena<AtomicRuntime>.makeShared(options: SchemeOptions(), threads: threads), threadID: thread + 3)
            let object = pool[0]
            for _ in 0..<rounds {
                let handle = context.open(object)
                context.close(context.dup(handle))
                context.close(handle)
            }
            rmw[thread] = context.counters.atomicRMW
            context.threadExit()
        }
        #expect(fixture.count(object) == 3)
        #expect(rmw.allSatisfy { $0 == 4 * rounds })

        fixture.context.close(duplicate)
        fixture.context.close(opened)
        #expect(object.timesFreed == 0)
        fixture.context.close(first)
        #expect(object.timesFreed == 1)
        fixture.end()
    }

    @Test func immortalObjectsAreNeitherCountedNorOwned() {
        var fixture = Fixture()
        let object = fixture.pool.bear(0, flags: .immortal)
        fixture.context.enterScope()
        let local = fixture.context.new(object)
        let kept = fixture.context.escape(local)
        fixture.context.exitScope()
        fixture.context.close(kept)
        #expect(object.timesFreed == 0)
        #expect(fixture.context.counters.atomicRMW == 0)
        fixture.end()
    }
}

/// Issue 18's untested arena paths: transfer, adopt, and a thread exiting with scopes open.
@Suite struct ArenaTransferAdoptExitTests {
    @Test func transferOfALocalHandleTakesASharedReferenceAndOfANonLocalOneMovesIt() {
        var fixture = ArenaSchemeTests.Fixture()
        let object = fixture.pool.bear(0, flags: [])
        let held = fixture.context.new(object)
        fixture.context.enterScope()
        let local = fixture.context.dup(held)
        let sent = fixture.context.transfer(local)
        #expect(sent == object && fixture.count(object) == 2, "a local handle owns nothing: the send takes a reference")
        fixture.context.exitScope()
        #expect(fixture.count(object) == 2, "the sent reference outlives the scope")
        let moved = fixture.context.transfer(held)
        #expect(moved == object && fixture.count(object) == 2, "a non-local handle is a reference and moves")
        fixture.context.release(sent)
        fixture.context.release(moved)
        #expect(object.timesFreed == 1)
        #expect(fixture.pool.validateLifetimes() == nil)
        fixture.end()
    }

    @Test func adoptInsideAScopeHandsTheReferenceToTheScopeAndOutsideMakesItTheHandle() {
        var fixture = ArenaSchemeTests.Fixture()
        let object = fixture.pool.bear(0, flags: [])
        let held = fixture.context.new(object)
        fixture.context.retain(object)
        fixture.context.enterScope()
        let received = fixture.context.adopt(object)
        #expect(received.bits & Arena<AtomicRuntime>.localTag != 0, "a local handle")
        #expect(fixture.count(object) == 2)
        fixture.context.exitScope()
        #expect(fixture.count(object) == 1, "the scope gave the adopted reference back at its exit")
        fixture.context.retain(object)
        let outside = fixture.context.adopt(object)
        #expect(outside.bits & Arena<AtomicRuntime>.localTag == 0 && fixture.count(object) == 2, "outside a scope the reference is the handle")
        fixture.context.close(outside)
        fixture.context.close(held)
        #expect(object.timesFreed == 1)
        #expect(fixture.pool.validateLifetimes() == nil)
        fixture.end()
    }

    @Test func threadExitWithScopesOpenReleasesWhatTheyOwnAndWhatTheyDeferred() {
        var fixture = ArenaSchemeTests.Fixture()
        let made = fixture.pool.bear(0, flags: [])
        let dropped = fixture.pool.bear(1, flags: [])
        let field = fixture.context.new(dropped)
        fixture.context.enterScope()
        _ = fixture.context.new(made)
        fixture.context.enterScope()
        _ = fixture.context.dup(field)
        fixture.context.close(field)
        #expect(dropped.timesFreed == 0, "dropped inside a scope: given back at the outermost exit")
        fixture.context.threadExit()
        #expect(made.timesFreed == 1 && dropped.timesFreed == 1)
        #expect(fixture.pool.validateLifetimes() == nil)
        fixture.pool.deallocate()
    }
}

/// `arena` on CPython 3.13t's counting (`--runtime biased`, the default).
@Suite("arena on the biased runtime")
struct ArenaOnBiasedTests {
    @Test func aCallsTemporaryAndItsBorrowedArgumentsTakeNoAtomicAndAnEscapeByANonOwnerTakesOne() throws {
        let pool = ObjectPool(count: 2, alignment: 16)
        defer { pool.deallocate() }
        let shared = ArenaScheme.makeShared(options: SchemeOptions(), threads: 2)
        var maker = ArenaScheme(shared: shared, threadID: 1)
        var caller = ArenaScheme(shared: shared, threadID: 2)
        let argument = pool.bear(0, flags: []), temporary = pool.bear(1, flags: [])
        let kept = maker.new(argument)  // outside any scope: the maker's reference, in ob_ref_local
        caller.enterScope()
        let borrowed = caller.open(argument)
        caller.close(caller.dup(borrowed))
        let made = caller.new(temporary)
        #expect(temporary.ownerThread.pointee.load(ordering: .relaxed) == 2)
        caller.close(made)
        caller.exitScope()
        #expect(temporary.timesFreed == 1, "the scope's reference was the owner's last: freed at its exit")
        #expect(caller.counters.atomicRMW == 0, "borrowed handles count nothing; the owner's steps are plain")
        caller.enterScope()
        let escaped = caller.returning(caller.open(argument))
        caller.exitScope()
        #expect(caller.counters.atomicRMW == 1, "a non-owner's Py_INCREF is atomic")
        #expect(ArenaScheme.referenceCount(of: argument) == 2)
        caller.close(escaped)
        maker.close(kept)
        caller.threadExit()
        maker.threadExit()
        #expect(argument.timesFreed == 1)
        #expect(pool.validateLifetimes() == nil)
    }
}
