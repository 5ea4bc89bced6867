import Foundation
import Glibc
import Synchronization
import Testing
@testable import RefScale
@testable import RefScaleHarness

/// The rules of `perthread` (CPython 3.14t): heap types (kinds `class`, `ext-type`) get a
/// unique id and a deferred count; only the runtime's references to them (an instance's to its
/// type) are counted in per-thread arrays; every handle operation is biased; arrays are merged
/// at collections, with the world stopped, and at thread exit.
@Suite(.tags(.threaded)) struct PerThreadSchemeTests {
    /// A run's shared state for `workers` workers (thread IDs 2...) and a pool, freed with it.
    final class Fixture {
        let shared: PerThreadScheme.Shared
        let pool: ObjectPool

        init(uniqueIDs: UniqueIDPolicy = .type, gcThreshold: Int = 2000, workers: Int = 2, objects: Int = 4) throws {
            var options = SchemeOptions()
            options[PerThreadScheme.uniqueIDs] = uniqueIDs
            options[PerThreadScheme.gcThreshold] = gcThreshold
            shared = try PerThreadScheme.makeShared(options: options, threads: workers)
            pool = ObjectPool(count: objects, alignment: 16)
        }

        deinit { pool.deallocate() }

        func context(_ threadID: Int) -> PerThreadScheme { PerThreadScheme(shared: shared, threadID: threadID) }

        /// Thread `thread`'s unmerged entry for the object, nil when the thread has no array
        /// that holds the object's id.
        func entry(of thread: Int, for object: ObjectRef) -> Int? {
            let (entries, capacity) = shared.state.entries(of: thread)
            let id = object.uniqueID
            guard let entries, id >= 0, id < capacity else { return nil }
            return entries[id].load(ordering: .relaxed)
        }

        /// A heap type made by thread 1: pool object `index`, a class unless `kind` says otherwise.
        func makeType(_ index: Int, by main: inout PerThreadScheme, kind: SharedKind = .class) -> (ObjectRef, Handle) {
            let type = pool.bear(index, flags: kind.flags)
            return (type, main.new(type))
        }

        /// An instance of `type`: pool object `index`, made by `context`.
        func makeInstance(_ index: Int, of type: ObjectRef, by context: inout PerThreadScheme) -> (ObjectRef, Handle) {
            let instance = pool.bear(index, flags: [])
            instance.typeWord.pointee.store(UInt(bitPattern: type.address), ordering: .relaxed)
            return (instance, context.new(instance))
        }
    }

    static let biasWord = PerThreadScheme.deferredBias << BiasedScheme.flagBits

    /// perthread's store is biased's (`BiasedScheme.retain`): at `--weakref-share 0` it takes no
    /// weak-reference step, even with a credit left at 1 or more.
    @Test func atShareZeroAStoreTakesNoWeakrefStep() throws {
        let f = try Fixture()
        var context = f.context(2)
        let object = f.pool.bear(0, flags: [])
        let made = context.new(object)
        context.biased.weakrefCredit = 1.5
        context.retain(object)
        #expect(context.biased.weakrefCredit == 1.5)
        #expect(object.sharedCount.pointee.load(ordering: .relaxed) == 0, "no MAYBE_WEAKREF")
        context.release(object)
        context.close(made)
        context.threadExit()
        #expect(object.timesFreed == 1)
    }

    @Test func aNegativeOrFractionalGCThresholdIsRefused() throws {
        var options = SchemeOptions()
        options[PerThreadScheme.gcThreshold] = -1
        #expect(throws: ConfigurationError.self) { try Registry.scheme(named: PerThreadScheme.name).check(options) }
        #expect(throws: ConfigurationError.self) { _ = try PerThreadScheme.gcThreshold.declaration.parse("0.5") }
    }

    @Test func uniqueIDsTypeGivesIDsOnlyToMortalObjectsOfKindType() throws {
        let fixture = try Fixture(objects: 4)
        var main = fixture.context(1)
        let type = fixture.pool.bear(0, flags: SharedKind.class.flags)
        let data = fixture.pool.bear(1, flags: .shared)
        let own = fixture.pool.bear(2, flags: [])
        let immortalType = fixture.pool.bear(3, flags: SharedKind.class.flags.union(.immortal))
        [type, data, own, immortalType].forEach { _ = main.new($0) }
        #expect([type, data, own, immortalType].map(\.uniqueID) == [0, -1, -1, -1])
        #expect(!type.isImmortal, "3.14 gives a type an id where 3.13 makes it immortal")
    }

    @Test func uniqueIDsSharedAndAllWidenTheObjectsWithIDs() throws {
        let shared = try Fixture(uniqueIDs: .shared, objects: 3)
        var main = shared.context(1)
        let objects = [shared.pool.bear(0, flags: .shared), shared.pool.bear(1, flags: []), shared.pool.bear(2, flags: SharedKind.class.flags)]
        objects.forEach { _ = main.new($0) }
        #expect(objects.map(\.uniqueID) == [0, -1, 1])

        let all = try Fixture(uniqueIDs: .all, objects: 3)
        var allMain = all.context(1)
        let allObjects = [all.pool.bear(0, flags: .shared), all.pool.bear(1, flags: []), all.pool.bear(2, flags: .immortal)]
        allObjects.forEach { _ = allMain.new($0) }
        #expect(allObjects.map(\.uniqueID) == [0, 1, -1])
    }

    @Test func anObjectWithAnIDIsOwnedByItsMakerAndCarriesTheDeferredBias() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        let (type, _) = fixture.makeType(0, by: &main)
        #expect(type.ownerThread.pointee.load(ordering: .relaxed) == 1)
        #expect(type.localCount == 1)
        #expect(sharedWord(type) == Self.biasWord)
        #expect(PerThreadScheme.referenceCount(of: type) == 1)
    }

    @Test func handleOperationsOnAnObjectWithAnIDAreBiasedAndAtomicForNonOwners() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let (type, handle) = fixture.makeType(0, by: &main)
        let duplicate = worker.dup(handle)
        #expect(sharedWord(type) == Self.biasWord + BiasedScheme.sharedOne)
        #expect(worker.counters.atomicRMW == 1)
        #expect(fixture.entry(of: 2, for: type) == nil, "an extension's reference never goes to the per-thread array")
        let ownerDuplicate = main.dup(handle)
        #expect(type.localCount == 2)
        worker.close(duplicate)
        main.close(ownerDuplicate)
        #expect(sharedWord(type) == Self.biasWord)
        #expect(PerThreadScheme.referenceCount(of: type) == 1)
    }

    @Test func anInstanceTakesItsTypeReferenceInTheThreadsEntryAndItsDeallocationDropsIt() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        var other = fixture.context(3)
        let (type, _) = fixture.makeType(0, by: &main)
        let (first, firstHandle) = fixture.makeInstance(1, of: type, by: &worker)
        let (_, secondHandle) = fixture.makeInstance(2, of: type, by: &worker)
        #expect(fixture.entry(of: 2, for: type) == 2)
        #expect(sharedWord(type) == Self.biasWord, "the type's header is not written")
        #expect(worker.counters.atomicRMW == 0)
        #expect(PerThreadScheme.referenceCount(of: type) == 3)

        worker.close(firstHandle)
        #expect(first.timesFreed == 1)
        #expect(fixture.entry(of: 2, for: type) == 1)

        // An instance made by the worker and freed by another thread: the drop lands in the
        // other thread's entry, which goes negative, and the sum stays exact.
        let (own, ownHandle) = fixture.makeInstance(3, of: type, by: &other)
        #expect(fixture.entry(of: 3, for: type) == 1)
        let second = ObjectRef(secondHandle)
        let otherReference = other.dup(secondHandle)
        worker.close(secondHandle)  // the owner's last: merged, the other thread holds the object
        other.close(otherReference)  // the last reference: freed in the other thread
        #expect(second.timesFreed == 1)
        #expect(fixture.entry(of: 2, for: type) == 1)
        #expect(fixture.entry(of: 3, for: type) == 0)
        other.close(ownHandle)
        #expect(own.timesFreed == 1)
        #expect(fixture.entry(of: 3, for: type) == -1)
        #expect(PerThreadScheme.referenceCount(of: type) == 1)
        #expect(sharedWord(type) == Self.biasWord, "no drop reached the type's header")
    }

    /// 3.14t, an extension type (`PyType_FromSpec`): a heap type, so it gets a unique id and an
    /// instance's allocation takes its reference in the thread's entry (`_PyObject_Init` →
    /// `_Py_INCREF_TYPE`, which tests only `Py_TPFLAGS_HEAPTYPE`); the extension's `tp_dealloc`
    /// drops it with the public `Py_DECREF(tp)`, which never reads the per-thread array: an
    /// atomic subtraction on the type's shared word for every thread but the type's maker. The
    /// entry climbs, the shared word falls, and their sum stays exact.
    @Test func anExtensionTypesInstancesTakeTheirTypeInTheEntryAndDropItAtomically() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let (type, _) = fixture.makeType(0, by: &main, kind: .extType)
        #expect(type.uniqueID == 0 && sharedWord(type) == Self.biasWord)
        let (first, firstHandle) = fixture.makeInstance(1, of: type, by: &worker)
        #expect(fixture.entry(of: 2, for: type) == 1)
        #expect(worker.counters.atomicRMW == 0, "the allocation's reference is per thread")
        worker.close(firstHandle)
        #expect(first.timesFreed == 1)
        #expect(fixture.entry(of: 2, for: type) == 1, "Py_DECREF(tp) does not reach the entry")
        #expect(sharedWord(type) == Self.biasWord - BiasedScheme.sharedOne)
        #expect(worker.counters.atomicRMW == 1)
        #expect(PerThreadScheme.referenceCount(of: type) == 1)
    }

    /// `_Py_DECREF_TYPE` in a thread whose array does not reach the type's id is `Py_DECREF`.
    @Test func aDropInAThreadWithoutAnArrayDecrementsTheTypeItself() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        var other = fixture.context(3)
        let (type, _) = fixture.makeType(0, by: &main)
        let (instance, handle) = fixture.makeInstance(1, of: type, by: &worker)
        let otherReference = other.dup(handle)
        worker.close(handle)
        other.close(otherReference)
        #expect(instance.timesFreed == 1)
        #expect(fixture.entry(of: 3, for: type) == nil)
        #expect(sharedWord(type) == Self.biasWord - BiasedScheme.sharedOne)
        #expect(PerThreadScheme.referenceCount(of: type) == 1)
    }

    @Test func withoutAnIDTheTypeReferenceIsAnAtomicIncrementOfTheType() throws {
        let fixture = try Fixture(uniqueIDs: .none)
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let (type, _) = fixture.makeType(0, by: &main)
        #expect(type.uniqueID == -1)
        let (_, instance) = fixture.makeInstance(1, of: type, by: &worker)
        #expect(sharedWord(type) == BiasedScheme.sharedOne)
        #expect(worker.counters.atomicRMW == 1)
        worker.close(instance)
        #expect(sharedWord(type) == 0, "the deallocation's Py_DECREF subtracts what the allocation added")
        #expect(worker.counters.atomicRMW == 2)
        #expect(BiasedScheme.referenceCount(of: type) == 1)
    }

    /// Replaces "entry is 0 after exit", which held even when nothing was merged: the exit must
    /// add the entry into the type's shared word and give the array back.
    @Test func aWorkersExitMergesItsEntriesIntoTheSharedWordAndGivesItsArrayBack() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let (type, _) = fixture.makeType(0, by: &main)
        _ = fixture.makeInstance(1, of: type, by: &worker)
        _ = fixture.makeInstance(2, of: type, by: &worker)
        worker.threadExit()
        #expect(sharedWord(type) == Self.biasWord + 2 * BiasedScheme.sharedOne)
        #expect(fixture.shared.state.entries(of: 2).0 == nil)
        #expect(PerThreadScheme.referenceCount(of: type) == 3)
    }

    @Test func theFinalMergeFreesObjectsWithIDsAtZeroKeepsTheOthersAndReusesIDs() throws {
        let fixture = try Fixture(objects: 5)
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let (dropped, droppedHandle) = fixture.makeType(0, by: &main)
        let (kept, keptHandle) = fixture.makeType(1, by: &main)
        let workerReference = worker.dup(keptHandle)
        main.close(droppedHandle)
        main.close(keptHandle)
        #expect(dropped.timesFreed == 0, "a deferred object is freed only by the collector")
        worker.threadExit()
        main.threadExit()
        #expect(dropped.timesFreed == 1)
        #expect(kept.timesFreed == 0)
        #expect(kept.uniqueID == -1)
        #expect(BiasedScheme.referenceCount(of: kept) == 1)
        // The ids of both are free again: new objects take them.
        let (reborn, _) = fixture.makeType(2, by: &main)
        #expect([0, 1].contains(reborn.uniqueID))
        #expect(fixture.shared.state.idCount == 2, "no new id is made while a freed one waits")
        _ = workerReference
    }

    /// Sending a handle to a type with an id moves the biased reference; its drop in the other
    /// thread is a biased decrement, never an entry of an array.
    @Test func aSentHandleToATypeMovesItsBiasedReference() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let (type, handle) = fixture.makeType(0, by: &main)
        let received = worker.adopt(main.transfer(main.dup(handle)))
        #expect(type.localCount == 2)
        worker.close(received)
        #expect(sharedWord(type) == Self.biasWord - BiasedScheme.sharedOne, "the bias keeps the word from 0: no queueing")
        #expect(worker.counters.queued == 0)
        #expect(fixture.entry(of: 2, for: type) == nil)
        #expect(PerThreadScheme.referenceCount(of: type) == 1)
    }

    @Test func theIDTableFindsEveryIDAcrossChunks() throws {
        let fixture = try Fixture(uniqueIDs: .all, objects: 300)
        var main = fixture.context(1)
        let objects = (0..<300).map { fixture.pool.bear($0, flags: []) }
        objects.forEach { _ = main.new($0) }
        #expect((0..<300).allSatisfy { fixture.shared.state.object(withID: objects[$0].uniqueID) == objects[$0] })
    }

    @Test func immortalObjectIsNeverCountedOrFreed() throws {
        try expectImmortalObjectIsNeverCountedOrFreed(PerThreadScheme.self)
    }

    /// Two workers: A allocates instances of a type until its young count passes the threshold
    /// and collects; B holds type references of its own and runs eval-breaker checks. The
    /// collection must wait for B to park, merge both arrays (B's too: the check the periodic
    /// merge lacked), and record one pause.
    @Test func aCollectionStopsTheWorldAndMergesEveryThreadsArray() throws {
        let fixture = try Fixture(gcThreshold: 100, workers: 2, objects: 1 + 2 * PerThreadState.localAllocationFlush + 8)
        var main = fixture.context(1)
        let (type, _) = fixture.makeType(0, by: &main)
        let mailbox = Mailbox(slots: 0, flags: 2)
        let bReady = 0, aDone = 1
        var countersA = SchemeCounters()
        var before: [Int?] = [], after: [Int?] = [], mergedWord = 0
        let b = WorkerThread {
            var context = fixture.context(3)
            for index in 0..<3 { _ = fixture.makeInstance(1 + 2 * PerThreadState.localAllocationFlush + index, of: type, by: &context) }
            mailbox.raise(bReady)
            while !mailbox.isRaised(aDone) {
                context.safePoint()
                sched_yield()
            }
            context.threadExit()
        }
        let a = WorkerThread {
            var context = fixture.context(2)
            mailbox.wait(for: bReady)
            for index in 0..<PerThreadState.localAllocationFlush {
                _ = fixture.makeInstance(1 + index, of: type, by: &context)
            }
            before = [fixture.entry(of: 2, for: type), fixture.entry(of: 3, for: type)]
            context.safePoint()
            countersA = context.counters
            after = [fixture.entry(of: 2, for: type), fixture.entry(of: 3, for: type)]
            mergedWord = sharedWord(type)
            mailbox.raise(aDone)
            context.threadExit()
        }
        a.join()
        b.join()
        #expect(before == [PerThreadState.localAllocationFlush, 3])
        #expect(after == [0, 0], "both arrays merged, B's by A while B was parked")
        #expect(mergedWord == Self.biasWord + (PerThreadState.localAllocationFlush + 3) * BiasedScheme.sharedOne)
        #expect(countersA.mergePauses == 1)
        #expect(countersA.mergePauseNanoseconds > 0)
        #expect(fixture.shared.state.youngCount.pointee.load(ordering: .relaxed) == 0)
    }

    /// A worker blocked elsewhere (detached by `suspend`) counts as stopped: the collection does
    /// not wait for it, and it waits for the collection before touching its array again.
    @Test func aDetachedWorkerCountsAsStoppedAndAttachesAfterTheCollection() throws {
        let fixture = try Fixture(gcThreshold: 100, workers: 2, objects: 1 + PerThreadState.localAllocationFlush + 2)
        var main = fixture.context(1)
        let (type, _) = fixture.makeType(0, by: &main)
        var a = fixture.context(2)
        var b = fixture.context(3)
        _ = fixture.makeInstance(1 + PerThreadState.localAllocationFlush, of: type, by: &b)
        b.suspend()
        for index in 0..<PerThreadState.localAllocationFlush { _ = fixture.makeInstance(1 + index, of: type, by: &a) }
        a.safePoint()  // would wait forever if the detached B were not counted as stopped
        #expect(a.counters.mergePauses == 1)
        #expect(fixture.entry(of: 3, for: type) == 0)
        _ = fixture.makeInstance(2 + PerThreadState.localAllocationFlush, of: type, by: &b)
        #expect(fixture.entry(of: 3, for: type) == 1, "B attached again and counts in its array")
        a.threadExit()
        b.threadExit()
    }

    /// `tstate_wait_attach` (Python/pystate.c): a requester that stops the world moves a detached
    /// thread's state to SUSPENDED by compare-and-swap (`park_detached_threads`); that thread's
    /// attach then fails its compare-and-swap and waits until `start_the_world` stores DETACHED,
    /// so it cannot touch its array while the world is stopped. B detaches, A's stop suspends it,
    /// B tries to attach (its `resume`, then an allocation into its array) on a thread of its own;
    /// for as long as the world stays stopped B must neither attach nor write its entry.
    @Test func aDetachedThreadsAttachDuringAStopWaitsUntilTheWorldRestarts() throws {
        let fixture = try Fixture(workers: 2, objects: 3)
        let state = fixture.shared.state
        let states = state.threadStates
        var main = fixture.context(1)
        let (type, _) = fixture.makeType(0, by: &main)
        var a = fixture.context(2)
        var b = fixture.context(3)
        _ = fixture.makeInstance(1, of: type, by: &b)
        b.suspend()
        #expect(states.currentState(of: 3) == ThreadStates.DETACHED)
        #expect(states.readSequence(of: 3).pointee.load(ordering: .relaxed) == ThreadStates.QSBR_OFFLINE, "a detach takes QSBR offline")

        pthread_mutex_lock(state.mutex)
        state.stopTheWorld(requester: 2)
        pthread_mutex_unlock(state.mutex)
        #expect(states.currentState(of: 3) == ThreadStates.SUSPENDED, "the requester took the detached thread by compare-and-swap")
        #expect(state.countdown.pointee.load(ordering: .relaxed) == 0)

        let mailbox = Mailbox(slots: 0, flags: 2)
        let attaching = 0, attached = 1
        let bThread = WorkerThread {
            mailbox.raise(attaching)
            b.resume()
            mailbox.raise(attached)
            _ = fixture.makeInstance(2, of: type, by: &b)
        }
        mailbox.wait(for: attaching)
        usleep(50_000)
        let attachedDuringTheStop = mailbox.isRaised(attached)
        let entryDuringTheStop = fixture.entry(of: 3, for: type)
        try #require(!attachedDuringTheStop, "B attached while the world was stopped")
        #expect(states.currentState(of: 3) == ThreadStates.SUSPENDED)
        #expect(entryDuringTheStop == 1, "B's array untouched while the world is stopped")

        pthread_mutex_lock(state.mutex)
        state.startTheWorld(requester: 2)
        pthread_mutex_unlock(state.mutex)
        bThread.join()
        #expect(mailbox.isRaised(attached))
        #expect(states.currentState(of: 3) == ThreadStates.ATTACHED)
        #expect(states.readSequence(of: 3).pointee.load(ordering: .relaxed) == ThreadStates.QSBR_INITIAL, "an attach brings QSBR online")
        #expect(fixture.entry(of: 3, for: type) == 2, "B counts in its array again after the restart")
        a.threadExit()
        b.threadExit()
    }

    /// A thread that was attached when the stop began and detaches without reaching a check (it
    /// blocks) wakes no one: the requester finds it DETACHED at its next scan (every 1 ms,
    /// `stop_the_world`) and suspends it, so the collection ends without that thread's help.
    @Test func aThreadThatDetachesDuringAStopIsSuspendedAtTheRequestersNextScan() throws {
        let fixture = try Fixture(gcThreshold: 100, workers: 2, objects: 1 + PerThreadState.localAllocationFlush + 1)
        let state = fixture.shared.state
        var main = fixture.context(1)
        let (type, _) = fixture.makeType(0, by: &main)
        var a = fixture.context(2)
        var b = fixture.context(3)
        _ = fixture.makeInstance(1 + PerThreadState.localAllocationFlush, of: type, by: &b)
        var pauses = 0
        let aThread = WorkerThread {
            for index in 0..<PerThreadState.localAllocationFlush { _ = fixture.makeInstance(1 + index, of: type, by: &a) }
            a.safePoint()
            pauses = a.counters.mergePauses
        }
        while state.stopRequested.pointee.load(ordering: .relaxed) == 0 { sched_yield() }
        #expect(state.threadStates.currentState(of: 3) == ThreadStates.ATTACHED, "B is attached: the requester waits for it")
        b.suspend()
        aThread.join()
        #expect(pauses == 1)
        #expect(fixture.entry(of: 3, for: type) == 0, "B's array was merged while B was suspended")
        #expect(state.threadStates.currentState(of: 3) == ThreadStates.DETACHED, "restored to DETACHED at the restart")
        b.resume()
        a.threadExit()
        b.threadExit()
    }
}
