import Synchronization
import Testing
@testable import RefScale

/// Two threads' contexts over one pool: `owner` (thread 1) makes the objects, `other` (thread 2)
/// holds references they hand it. A third context (thread 3) is available as `third`.
final class BiasedFixture {
    let pool: ObjectPool
    let shared: BiasedScheme.Shared
    var owner: BiasedScheme
    var other: BiasedScheme
    var third: BiasedScheme

    init(objects: Int = 1, weakrefShare: Double = 0) {
        pool = ObjectPool(count: objects, alignment: 16)
        var options = SchemeOptions()
        options[BiasedScheme.weakrefShare] = weakrefShare
        shared = BiasedScheme.makeShared(options: options, threads: 2)
        owner = BiasedScheme(shared: shared, threadID: 1)
        other = BiasedScheme(shared: shared, threadID: 2)
        third = BiasedScheme(shared: shared, threadID: 3)
    }

    deinit { pool.deallocate() }

    /// A mortal object born in the owner's thread, with its first handle.
    func newObject(_ index: Int = 0) -> (ObjectRef, Handle) {
        let object = pool.bear(index, flags: [])
        return (object, owner.new(object))
    }

    /// The objects waiting in thread `id`'s merge queue, the most recent last.
    func queued(for id: UInt) -> [ObjectRef] {
        let queue = shared.queues.queue(of: id)
        return (0..<queue.count).map { ObjectRef(address: UnsafeMutableRawPointer(bitPattern: queue.storage![2 + $0])!) }
    }

    /// Whether thread `id`'s eval-breaker word asks it to merge its queue.
    func mergeRequested(for id: UInt) -> Bool { AtomicBiasedMemory(queues: shared.queues, thread: id).mergeRequested(of: id) }

    /// Whether thread `id` is in its bucket (it has not exited).
    func isRegistered(_ id: UInt) -> Bool { AtomicBiasedMemory(queues: shared.queues, thread: id).isRegistered(id) }
}

/// The object's `ob_ref_shared`.
func sharedWord(_ object: ObjectRef) -> Int { object.sharedCount.pointee.load(ordering: .relaxed) }

/// Whether `ObjectPool.free` poisoned the object's shared word.
func sharedWordIsPoisoned(_ object: ObjectRef) -> Bool { UInt64(UInt(bitPattern: sharedWord(object))) == ObjectRef.poison }

/// The shared word holding `count` references with `flag`.
func biasedWord(count: Int, _ flag: Int) -> Int { count << BiasedScheme.flagBits | flag }

@Suite struct BiasedSchemeTests {
    @Test func newObjectIsOwnedByItsMakerWithLocalOneAndSharedZero() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        #expect(handle == Handle(object))
        #expect(object.ownerThread.pointee.load(ordering: .relaxed) == 1)
        #expect(object.localCount == 1)
        #expect(sharedWord(object) == 0)
        #expect(f.owner.counters.atomicRMW == 0)
    }

    @Test func ownerDupAndCloseChangeOnlyTheLocalCountWithoutAtomic() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        let duplicates = (0..<3).map { _ in f.owner.dup(handle) }
        #expect(object.localCount == 4)
        #expect(sharedWord(object) == 0)
        let opened = f.owner.open(object)
        #expect(object.localCount == 5)
        f.owner.close(opened)
        duplicates.forEach { f.owner.close($0) }
        #expect(object.localCount == 1)
        #expect(sharedWord(object) == 0)
        #expect(f.owner.counters.atomicRMW == 0)
        #expect(object.timesFreed == 0)
    }

    @Test func ownerDecrementToZeroWithNoSharedReferencesFreesWithoutAtomic() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        f.owner.close(f.owner.dup(handle))
        #expect(object.timesFreed == 0)
        f.owner.close(handle)
        #expect(object.timesFreed == 1)
        #expect(sharedWordIsPoisoned(object))
        #expect(f.owner.counters.atomicRMW == 0)
        #expect(f.owner.counters.merges == 0)
        #expect(f.owner.counters.frees == 1)
    }

    @Test func nonOwnerIncrementAddsSharedOneToTheSharedWord() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        _ = f.other.dup(handle)
        #expect(sharedWord(object) == BiasedScheme.sharedOne)
        _ = f.other.open(object)
        #expect(sharedWord(object) == 2 * BiasedScheme.sharedOne)
        #expect(object.localCount == 1, "a non-owner must not touch the owner's count")
        #expect(f.other.counters.atomicRMW == 2)
        #expect(f.owner.counters.atomicRMW == 0)
    }

    @Test func nonOwnerDecrementAtSharedCountZeroSetsQueuedWithoutSubtractingAndQueuesOnTheOwner() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        let given = f.owner.dup(handle)  // counted in `local`, handed to the other thread
        f.other.close(given)
        #expect(sharedWord(object) == BiasedScheme.QUEUED, "the count part must stay 0: the queue holds that reference")
        #expect(object.localCount == 2)
        #expect(f.other.counters.queued == 1)
        #expect(f.queued(for: 1) == [object])
        #expect(f.mergeRequested(for: 1), "queueing must set the owner's eval-breaker bit")
        #expect(!f.mergeRequested(for: 2))
        #expect(object.timesFreed == 0)
    }

    @Test func nonOwnerDecrementAboveSharedCountZeroSubtractsWithoutQueueing() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        let duplicate = f.other.dup(handle)
        f.other.close(duplicate)
        #expect(sharedWord(object) == biasedWord(count: 0, BiasedScheme.INIT))
        #expect(f.other.counters.queued == 0)
        #expect(f.queued(for: 1).isEmpty)
        #expect(!f.mergeRequested(for: 1))
    }

    @Test func ownerSafePointMergesAQueuedObjectAndFreesItAtMergedCountZero() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        f.other.close(handle)  // the owner's only reference was handed over and dropped there
        #expect(sharedWord(object) == BiasedScheme.QUEUED)
        f.owner.safePoint()
        #expect(object.timesFreed == 1)
        #expect(sharedWordIsPoisoned(object))
        #expect(f.owner.counters.merges == 1)
        #expect(f.owner.counters.frees == 1)
        #expect(f.queued(for: 1).isEmpty)
        #expect(!f.mergeRequested(for: 1), "the check clears the bit it acted on")
    }

    @Test func ownerSafePointMergeKeepsAnObjectWithOtherReferencesAsCountShiftedOrMerged() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        let given = f.owner.dup(handle)
        let kept = f.owner.dup(handle)  // local 3: the owner's two, the one given away
        f.other.close(given)
        let sharedReference = f.third.dup(kept)  // shared count 1 while QUEUED
        #expect(sharedWord(object) == biasedWord(count: 1, BiasedScheme.QUEUED))

        f.owner.safePoint()
        // rc = shared 1 + local 3 - the queue's 1 = 3
        #expect(sharedWord(object) == biasedWord(count: 3, BiasedScheme.MERGED))
        #expect(object.localCount == 0)
        #expect(object.ownerThread.pointee.load(ordering: .relaxed) == 0)
        #expect(object.timesFreed == 0)
        #expect(f.owner.counters.merges == 1)

        // After the merge the former owner counts in the shared word like everyone else.
        f.owner.close(kept)
        f.third.close(sharedReference)
        #expect(sharedWord(object) == biasedWord(count: 1, BiasedScheme.MERGED))
        #expect(object.timesFreed == 0)
        f.owner.close(handle)
        #expect(object.timesFreed == 1)
        #expect(f.owner.counters.frees == 1)
    }

    @Test func ownerLocalReachingZeroWithSharedReferencesSetsMergedAndTheLastSharedDecrementFrees() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        let sharedReference = f.other.dup(handle)
        f.owner.close(handle)
        #expect(sharedWord(object) == biasedWord(count: 1, BiasedScheme.MERGED))
        #expect(object.ownerThread.pointee.load(ordering: .relaxed) == 0)
        #expect(f.owner.counters.merges == 1)
        #expect(object.timesFreed == 0)

        f.other.close(sharedReference)
        #expect(object.timesFreed == 1)
        #expect(f.other.counters.frees == 1)
        #expect(f.other.counters.queued == 0)
        #expect(f.owner.counters.frees == 0)
    }

    @Test func exitedOwnersQueueIsMergedByTheQueuingThreadWhichFrees() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        f.owner.threadExit()
        #expect(!f.isRegistered(1))
        #expect(f.isRegistered(2))

        f.other.close(handle)
        #expect(object.timesFreed == 1)
        #expect(f.other.counters.queued == 1)
        #expect(f.other.counters.merges == 1)
        #expect(f.other.counters.frees == 1)
        #expect(f.queued(for: 1).isEmpty, "nothing may be queued for an exited thread")
        #expect(!f.isRegistered(1))
    }

    @Test func exitedOwnersObjectWithOtherReferencesIsMergedNotFreedByTheQueuingThread() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        let second = f.owner.dup(handle)
        f.owner.threadExit()
        f.other.close(handle)
        #expect(sharedWord(object) == biasedWord(count: 1, BiasedScheme.MERGED))
        #expect(object.timesFreed == 0)
        f.other.close(second)
        #expect(object.timesFreed == 1)
        #expect(f.other.counters.merges == 1)
    }

    @Test func ownerThreadExitDrainsItsQueue() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        f.other.close(handle)
        f.owner.threadExit()
        #expect(object.timesFreed == 1)
        #expect(f.owner.counters.merges == 1)
    }

    @Test func sharedCountGoingNegativeWhileQueuedStillEndsExact() {
        let f = BiasedFixture()
        let (object, own) = f.newObject()
        let first = f.owner.dup(own)
        let second = f.owner.dup(own)  // local 3: the owner's, and two handed to the other thread
        f.other.close(first)
        f.other.close(second)
        let word = sharedWord(object)
        #expect(word >> BiasedScheme.flagBits == -1)
        #expect(word & BiasedScheme.flagMask == BiasedScheme.QUEUED)
        #expect(f.other.counters.queued == 1, "an object is queued at most once")

        f.owner.close(own)
        #expect(object.timesFreed == 0)
        f.owner.safePoint()  // rc = -1 + 2 - 1 = 0
        #expect(object.timesFreed == 1)
        #expect(f.owner.counters.frees == 1)
    }

    @Test func sharedCountNegativeWhileQueuedMergedBeforeTheOwnerClosesStillEndsExact() {
        let f = BiasedFixture()
        let (object, own) = f.newObject()
        let first = f.owner.dup(own)
        let second = f.owner.dup(own)
        f.other.close(first)
        f.other.close(second)
        f.owner.safePoint()  // rc = -1 + 3 - 1 = 1: the owner's own reference
        #expect(sharedWord(object) == biasedWord(count: 1, BiasedScheme.MERGED))
        #expect(object.timesFreed == 0)
        f.owner.close(own)
        #expect(object.timesFreed == 1)
    }

    /// The owner may close references that were counted in the shared word (handed back to it), so
    /// its local count can reach 0 while the object still waits, QUEUED, in its own queue. The
    /// queue's reference is still counted, so the object must survive until the queue is drained.
    @Test func ownerLocalReachingZeroWhileQueuedKeepsTheObjectForTheQueue() {
        let f = BiasedFixture()
        let (object, own) = f.newObject()
        let first = f.owner.dup(own)
        let second = f.owner.dup(own)  // local 3
        f.other.close(first)  // QUEUED
        let back1 = f.other.dup(second)
        let back2 = f.other.dup(second)  // shared 2, handed back to the owner
        f.owner.close(back1)
        f.owner.close(back2)
        f.owner.close(own)  // local 0 with the shared word QUEUED | 2
        #expect(sharedWord(object) == biasedWord(count: 2, BiasedScheme.MERGED))
        #expect(object.timesFreed == 0)
        f.other.close(second)
        #expect(object.timesFreed == 0, "the queue still holds a reference")
        f.owner.safePoint()
        #expect(object.timesFreed == 1)
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func localCountSaturatingAtItsMaximumMakesTheObjectImmortal() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        object.localCount = UInt32.max - 2
        _ = f.owner.dup(handle)
        #expect(object.localCount == UInt32.max - 1)
        #expect(BiasedScheme.referenceCount(of: object) != nil)
        _ = f.owner.dup(handle)
        #expect(object.localCount == UInt32.max)
        #expect(BiasedScheme.referenceCount(of: object) == nil, "UInt32.max is immortal")
        f.owner.close(handle)
        _ = f.other.dup(handle)
        f.other.close(handle)
        #expect(object.localCount == UInt32.max, "an immortal object is no longer counted")
        #expect(sharedWord(object) == 0)
        #expect(f.owner.counters.atomicRMW + f.other.counters.atomicRMW == 0)
    }

    @Test func immortalObjectIsNeverCountedOrFreed() throws {
        try expectImmortalObjectIsNeverCountedOrFreed(BiasedScheme.self)
    }

    // MARK: Fields and globals (_Py_TryIncrefCompare, _PyObject_SetMaybeWeakref)

    /// 3.13: only `init_weakref` sets MAYBE_WEAKREF; a dict, list or attribute store is a plain
    /// `Py_INCREF`, which for the owner touches no shared word.
    @Test func aStoreIntoASlotIsAPlainIncrementAndLeavesTheFlagsAlone() {
        let f = BiasedFixture()
        let (object, _) = f.newObject()
        f.owner.retain(object)
        f.owner.retain(object)
        #expect(object.localCount == 3)
        #expect(sharedWord(object) == BiasedScheme.INIT)
        #expect(f.owner.counters.atomicRMW == 0)
    }

    /// A stored temporary the owner drops is freed on the fast path, with no atomic, as in 3.13.
    @Test func aStoredTemporaryReleasedByItsOwnerIsFreedWithoutAnAtomic() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        f.owner.retain(object)
        f.owner.close(handle)
        f.owner.release(object)
        #expect(object.timesFreed == 1)
        #expect(f.owner.counters.atomicRMW == 0 && f.owner.counters.merges == 0)
    }

    @Test func aStoreThatMakesAWeakReferenceSetsMaybeWeakrefOnce() {
        let f = BiasedFixture(weakrefShare: 1)
        let (object, _) = f.newObject()
        f.owner.retain(object)
        #expect(object.localCount == 2)
        #expect(sharedWord(object) == BiasedScheme.MAYBE_WEAKREF)
        f.owner.retain(object)
        #expect(sharedWord(object) == BiasedScheme.MAYBE_WEAKREF, "set once; the flags only move upward")
        #expect(f.owner.counters.atomicRMW == 1)
    }

    /// `--weakref-share 0.25`: the fourth, eighth, ... store of a thread makes a weak reference.
    @Test func aWeakrefShareMarksThatShareOfTheStores() {
        let f = BiasedFixture(objects: 8, weakrefShare: 0.25)
        let objects = (0..<8).map { f.newObject($0).0 }
        for object in objects { f.owner.retain(object) }
        let marked = objects.indices.filter { sharedWord(objects[$0]) == BiasedScheme.MAYBE_WEAKREF }
        #expect(marked == [3, 7])
    }

    /// At `--weakref-share 0` (the default) a store is `Py_INCREF` and nothing else: the running
    /// sum of the share is not touched, so even a credit left at 1 or more (which no run at share
    /// 0 builds) makes no weak reference.
    @Test func atShareZeroAStoreTakesNoWeakrefStep() {
        let f = BiasedFixture()
        let (object, _) = f.newObject()
        f.owner.weakrefCredit = 1.5
        f.owner.retain(object)
        #expect(f.owner.weakrefCredit == 1.5, "the credit was not added to")
        #expect(sharedWord(object) == 0, "no MAYBE_WEAKREF")
        #expect(object.localCount == 2 && f.owner.counters.atomicRMW == 0)
    }

    /// The step is skipped at share 0 only: at a share above 0 the same stores are marked as
    /// before, whatever the share (1/3 is not exact in binary: every third store).
    @Test(arguments: [(1.0 / 3, [2, 5, 8]), (0.5, [1, 3, 5, 7, 9]), (0.25, [3, 7])])
    func aShareAboveZeroMarksTheStoresItsRunningSumNames(share: Double, marked expected: [Int]) {
        let f = BiasedFixture(objects: 10, weakrefShare: share)
        let objects = (0..<10).map { f.newObject($0).0 }
        for object in objects { f.owner.retain(object) }
        var credit = 0.0
        let byRunningSum = objects.indices.filter { _ in
            credit += share
            guard credit >= 1 else { return false }
            credit -= 1
            return true
        }
        let marked = objects.indices.filter { sharedWord(objects[$0]) == BiasedScheme.MAYBE_WEAKREF }
        #expect(marked == byRunningSum)
        #expect(marked == expected)
    }

    @Test func aNonOwnersLoadTakesASharedReferenceByCASWhenMaybeWeakrefIsSet() {
        let f = BiasedFixture(weakrefShare: 1)
        let (object, _) = f.newObject()
        f.owner.retain(object)
        var slot = UInt(bitPattern: object.address)
        let handle = f.other.load(from: &slot)
        #expect(handle == Handle(object))
        #expect(sharedWord(object) == biasedWord(count: 1, BiasedScheme.MAYBE_WEAKREF))
        #expect(f.other.counters.atomicRMW == 1)
        #expect(object.localCount == 2, "the owner's count is not touched")
        let owned = f.owner.load(from: &slot)
        #expect(object.localCount == 3, "the owner's load is its fast path")
        f.owner.close(owned)
    }

    /// A shared word of 0 may belong to an object its owner is freeing without an atomic:
    /// `_Py_TryIncRefShared` refuses it, and the reader takes the container's locked path,
    /// which sets MAYBE_WEAKREF.
    @Test func aLoadRefusesASharedWordOfZeroAndTakesTheLockedPath() {
        let f = BiasedFixture()
        let (object, _) = f.newObject()
        var memory = AtomicBiasedMemory(queues: f.shared.queues, thread: 2)
        var counters = SchemeCounters()
        #expect(!BiasedCounting.tryIncrefCompare(object, thread: 2, reloadSlot: { object }, memory: &memory, counters: &counters))
        #expect(sharedWord(object) == 0)
        var slot = UInt(bitPattern: object.address)
        _ = f.other.load(from: &slot)
        #expect(sharedWord(object) == biasedWord(count: 1, BiasedScheme.MAYBE_WEAKREF))
    }

    @Test func aLoadWhoseSlotChangedMeanwhileDropsTheReferenceItTook() {
        let f = BiasedFixture(objects: 2, weakrefShare: 1)
        let (object, _) = f.newObject(0)
        let (replacement, _) = f.newObject(1)
        f.owner.retain(object)
        var memory = AtomicBiasedMemory(queues: f.shared.queues, thread: 2)
        var counters = SchemeCounters()
        #expect(!BiasedCounting.tryIncrefCompare(object, thread: 2, reloadSlot: { replacement }, memory: &memory, counters: &counters))
        #expect(sharedWord(object) == BiasedScheme.MAYBE_WEAKREF, "the reference taken was dropped again")
        #expect(counters.atomicRMW == 2)
    }

    // MARK: Transfer and adopt (send and receive)

    /// A handle sent to another thread moves as the counted reference it is: counted in the
    /// owner's local count, its drop in the other thread queues the object on the owner.
    @Test func aSentHandleMovesCountedInTheOwnersLocalCountAndItsRemoteDropQueues() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        let sent = f.owner.transfer(f.owner.dup(handle))
        #expect(sent == object)
        #expect(object.localCount == 2)
        let received = f.other.adopt(sent)
        #expect(received == Handle(object))
        #expect(sharedWord(object) == 0 && f.other.counters.atomicRMW == 0, "neither side counts on the way")
        f.other.close(received)
        #expect(sharedWord(object) == BiasedScheme.QUEUED)
        f.owner.close(handle)
        f.owner.safePoint()
        #expect(object.timesFreed == 1)
    }

    /// A send and a receive are calls, after which 3.13's interpreter checks the eval breaker
    /// (`_CHECK_PERIODIC`): the owner merges what was queued for it at its next send or receive.
    @Test func theOwnerMergesItsQueueAtItsNextSendAndAtItsNextReceive() {
        let f = BiasedFixture(objects: 4)
        for (first, second) in [(0, 1), (2, 3)] {
            let (queuedObject, queuedHandle) = f.newObject(first)
            let received = f.other.adopt(f.owner.transfer(f.owner.dup(queuedHandle)))
            f.owner.close(queuedHandle)
            f.other.close(received)
            #expect(f.mergeRequested(for: 1) && queuedObject.timesFreed == 0)
            let passes = f.owner.counters.mergePasses
            if first == 0 {
                let (_, handle) = f.newObject(second)
                f.other.close(f.other.adopt(f.owner.transfer(handle)))  // the owner's send
            } else {
                let handle = f.other.new(f.pool.bear(second, flags: []))
                f.owner.close(f.owner.adopt(f.other.transfer(handle)))  // the owner's receive
            }
            #expect(queuedObject.timesFreed == 1, "merged and freed at the owner's \(first == 0 ? "send" : "receive")")
            #expect(f.owner.counters.mergePasses == passes + 1)
        }
    }

    @Test func aHandleSentBackToItsOwnerIsClosedOnTheOwnersFastPath() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        let there = f.other.adopt(f.owner.transfer(f.owner.dup(handle)))
        let back = f.owner.adopt(f.other.transfer(there))
        f.owner.close(back)
        #expect(object.localCount == 1)
        #expect(f.owner.counters.atomicRMW + f.other.counters.atomicRMW == 0)
    }

    /// 3.13: a `PyType_FromSpec` type is not deferred, so it stays mortal and owned by its maker;
    /// another thread's instance takes its reference by an atomic add at allocation and drops it
    /// by a CAS at deallocation, and the owner's own instances touch only its local count.
    @Test func anExtensionTypeStaysMortalAndOtherThreadsInstancesCountItAtomically() {
        let f = BiasedFixture(objects: 3)
        let type = f.pool.bear(0, flags: SharedKind.extType.flags)
        _ = f.owner.new(type)
        #expect(!type.isImmortal && type.localCount == 1 && type.ownerThread.pointee.load(ordering: .relaxed) == 1)
        let remote = f.pool.bear(1, flags: [])
        remote.typeWord.pointee.store(UInt(bitPattern: type.address), ordering: .relaxed)
        let remoteHandle = f.other.new(remote)
        #expect(sharedWord(type) == BiasedScheme.sharedOne && f.other.counters.atomicRMW == 1)
        f.other.close(remoteHandle)
        #expect(remote.timesFreed == 1)
        #expect(sharedWord(type) == 0 && f.other.counters.atomicRMW == 2)
        let own = f.pool.bear(2, flags: [])
        own.typeWord.pointee.store(UInt(bitPattern: type.address), ordering: .relaxed)
        let ownHandle = f.owner.new(own)
        #expect(type.localCount == 2 && sharedWord(type) == 0, "the owner's instance holds its type in the local count")
        f.owner.close(ownHandle)
        #expect(own.timesFreed == 1)
        #expect(type.localCount == 1 && f.owner.counters.atomicRMW == 0)
    }

    @Test func deferredObjectsAreImmortalFromBirthAsIn313WithASecondThread() {
        let f = BiasedFixture()
        let object = f.pool.bear(0, flags: SharedKind.class.flags)
        let handle = f.owner.new(object)
        #expect(object.localCount == UInt32.max)
        #expect(object.ownerThread.pointee.load(ordering: .relaxed) == 0)
        #expect(object.isImmortal)
        f.other.close(f.other.dup(handle))
        #expect(sharedWord(object) == 0 && f.other.counters.atomicRMW == 0)
    }

    @Test func referenceCountSumsSharedAndLocalCounts() {
        let f = BiasedFixture()
        let (object, handle) = f.newObject()
        _ = f.owner.dup(handle)
        _ = f.other.dup(handle)
        #expect(BiasedScheme.referenceCount(of: object) == 3)
    }

    /// 3.13t around a blocking call (`detach_thread`, `_PyThreadState_Attach`, Python/pystate.c):
    /// suspend takes the thread's QSBR sequence offline and stores DETACHED; a second suspend
    /// (the runner gives up its slice at every wait) changes nothing; resume compare-and-swaps
    /// back to ATTACHED and copies the shared write sequence into the thread's. Only the
    /// suspending thread's words change, and no counter moves.
    @Test func suspendDetachesTheThreadStateAndResumeAttachesItByCompareAndSwap() {
        let f = BiasedFixture()
        let states = f.shared.threadStates
        #expect([1, 2, 3].map { states.currentState(of: $0) } == [ThreadStates.ATTACHED, ThreadStates.ATTACHED, ThreadStates.ATTACHED])
        #expect(states.readSequence(of: 2).pointee.load(ordering: .relaxed) == ThreadStates.QSBR_INITIAL)
        f.other.suspend()
        f.other.suspend()
        #expect([1, 2, 3].map { states.currentState(of: $0) } == [ThreadStates.ATTACHED, ThreadStates.DETACHED, ThreadStates.ATTACHED])
        #expect(states.readSequence(of: 2).pointee.load(ordering: .relaxed) == ThreadStates.QSBR_OFFLINE)
        #expect(states.readSequence(of: 1).pointee.load(ordering: .relaxed) == ThreadStates.QSBR_INITIAL)
        states.writeSequence.pointee.store(ThreadStates.QSBR_INITIAL + 2, ordering: .relaxed)
        f.other.resume()
        #expect(states.currentState(of: 2) == ThreadStates.ATTACHED)
        #expect(states.readSequence(of: 2).pointee.load(ordering: .relaxed) == ThreadStates.QSBR_INITIAL + 2, "QSBR online at the current write sequence")
        f.other.resume()
        #expect(states.currentState(of: 2) == ThreadStates.ATTACHED)
        #expect(f.other.counters == SchemeCounters())
        f.other.threadExit()
        #expect(states.readSequence(of: 2).pointee.load(ordering: .relaxed) == ThreadStates.QSBR_OFFLINE, "an exiting thread goes offline")
    }
}
