import Synchronization
import Testing
@testable import RefScale

/// Two threads' tables over one pool of objects aligned just enough for the index (8 bytes for
/// `low3`, the talk's proposal): `maker` (thread 1) makes objects, `user` (thread 2) opens them.
final class HandleLocalFixture {
    let pool: ObjectPool
    let shared: HandleLocal<AtomicRuntime>.Shared
    var maker: HandleLocal<AtomicRuntime>
    var user: HandleLocal<AtomicRuntime>

    init(objects: Int = 16, index: HandleIndex = .low3, release: ReleasePolicy = .lazy) throws {
        var options = SchemeOptions()
        options[HandleLocal<AtomicRuntime>.handleIndex] = index
        options[HandleLocal<AtomicRuntime>.release] = release
        options.objectAlignment = index.requiredAlignment
        pool = ObjectPool(count: objects, alignment: options.objectAlignment)
        shared = try HandleLocal<AtomicRuntime>.makeShared(options: options, threads: 2)
        maker = HandleLocal<AtomicRuntime>(shared: shared, threadID: 1)
        user = HandleLocal<AtomicRuntime>(shared: shared, threadID: 2)
    }

    private var makerExited = false
    private var userExited = false

    func exitMaker() {
        maker.threadExit()
        makerExited = true
    }

    func exitUser() {
        user.threadExit()
        userExited = true
    }

    /// Ends the contexts a test left running (their tables are freed), then the pool.
    deinit {
        if !userExited { user.threadExit() }
        if !makerExited { maker.threadExit() }
        pool.deallocate()
    }

    func bear(_ index: Int) -> ObjectRef { pool.bear(index, flags: []) }
}

extension HandleLocal<AtomicRuntime> {
    func slotIndex(of handle: Handle) -> Int { table.slot(of: handle) }
    func slotIndex(_ handle: Handle) -> Int { table.slot(of: handle) }
    func objectAddress(inSlot slot: Int) -> UInt { table.objectWord(slot).pointee }
    func count(inSlot slot: Int) -> Int { table.count(slot) }
    func parked(inSlot slot: Int) -> Int { table.extraReferences(slot) }
}

@Suite struct HandleLocalSchemeTests {
    @Test func newTakesASlotWithCountOneAndOneSharedReference() throws {
        let f = try HandleLocalFixture()
        let object = f.bear(0)
        let handle = f.maker.new(object)
        #expect(f.maker.slotIndex(of: handle) == 1)
        #expect(f.maker.object(of: handle) == object)
        #expect(f.maker.objectAddress(inSlot: 1) == UInt(bitPattern: object.address))
        #expect(f.maker.count(inSlot: 1) == 1)
        #expect(countWord(object) == 1)
        #expect(f.maker.read(handle) == object.payload)
    }

    @Test func dupAndCloseOfAHandleWithASlotTouchOnlyTheTable() throws {
        let f = try HandleLocalFixture()
        let object = f.bear(0)
        let handle = f.maker.new(object)
        let header = headerWords(object)
        let atomics = f.maker.counters.atomicRMW
        let duplicates = (0..<3).map { _ in f.maker.dup(handle) }
        #expect(duplicates.allSatisfy { $0 == handle })
        #expect(f.maker.count(inSlot: 1) == 4)
        duplicates.forEach { f.maker.close($0) }
        #expect(f.maker.count(inSlot: 1) == 1)
        #expect(headerWords(object) == header, "dup/close of a slotted handle wrote to the object")
        #expect(countWord(object) == 1)
        #expect(f.maker.counters.atomicRMW == atomics)
        #expect(f.maker.counters.localDupClose == 6)
        #expect(f.maker.counters.tableHits == 0, "hits count opens only")
    }

    @Test func openOfASecondHandleToTheSameObjectHitsTheSameSlot() throws {
        let f = try HandleLocalFixture()
        let object = f.bear(0)
        let made = f.maker.new(object)
        let first = f.user.open(object)  // the user's table takes one shared reference
        #expect(countWord(object) == 2)
        #expect(f.user.counters.atomicRMW == 1)
        #expect(f.user.counters.tableMisses == 1)

        let second = f.user.open(object)
        #expect(second == first)
        #expect(f.user.slotIndex(of: second) == 1)
        #expect(f.user.count(inSlot: 1) == 2)
        #expect(f.user.counters.tableHits == 1)
        #expect(f.user.counters.atomicRMW == 1, "a hit takes no new shared reference")
        #expect(countWord(object) == 2)

        // The maker's own new handle is a hit in its own table too.
        #expect(f.maker.open(object) == made)
        #expect(f.maker.count(inSlot: 1) == 2)
    }

    @Test func fullTableFallsBackToIndexZeroWithAnAtomicSharedReference() throws {
        let f = try HandleLocalFixture()
        let held = (0..<HandleIndex.low3.slotCount).map { f.user.new(f.bear($0)) }
        #expect(held.map { f.user.slotIndex(of: $0) } == Array(1...7))

        let object = f.bear(7)
        let made = f.maker.new(object)
        let atomics = f.user.counters.atomicRMW
        let fallback = f.user.open(object)
        #expect(fallback.bits & HandleIndex.low3.mask == 0)
        #expect(f.user.object(of: fallback) == object)
        #expect(countWord(object) == 2)
        #expect(f.user.counters.fallbacks == 1)
        #expect(f.user.counters.atomicRMW == atomics + 1)
        #expect(f.user.counters.evictions == 0, "no slot had count 0, so none may be evicted")

        let duplicate = f.user.dup(fallback)
        #expect(countWord(object) == 3, "a fallback handle is itself one shared reference")
        f.user.close(duplicate)
        f.user.close(fallback)
        #expect(countWord(object) == 1)
        #expect(f.user.counters.fallbacks == 1, "fallbacks count opens only")
        #expect(f.user.counters.localDupClose == 0, "dup and close of index 0 are not table work")
        #expect(f.user.counters.atomicRMW == atomics + 4)

        f.maker.close(made)
        f.maker.flush()
        #expect(object.timesFreed == 1)
        held.forEach { f.user.close($0) }
        f.exitUser()
        f.exitMaker()
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func newWithAFullTableFallsBackToIndexZeroAndItsCloseFrees() throws {
        let f = try HandleLocalFixture()
        let held = (0..<7).map { f.maker.new(f.bear($0)) }
        let object = f.bear(7)
        let handle = f.maker.new(object)
        #expect(handle == Handle(object))
        #expect(countWord(object) == 1)
        #expect(f.maker.counters.fallbacks == 0, "a birth is not an open")
        f.maker.close(handle)
        #expect(object.timesFreed == 1)
        held.forEach { f.maker.close($0) }
        f.exitMaker()
    }

    @Test func lazyReleaseKeepsACountZeroSlotAndItsSharedReferenceUntilTheSafePoint() throws {
        let f = try HandleLocalFixture(release: .lazy)
        let object = f.bear(0)
        let handle = f.maker.new(object)
        f.maker.close(handle)
        #expect(f.maker.count(inSlot: 1) == 0)
        #expect(f.maker.objectAddress(inSlot: 1) == UInt(bitPattern: object.address))
        #expect(countWord(object) == 1, "the slot still holds the thread's shared reference")
        #expect(object.timesFreed == 0)

        // A later open finds the kept slot again without an atomic.
        let atomics = f.maker.counters.atomicRMW
        let reopened = f.maker.open(object)
        #expect(reopened == handle)
        #expect(f.maker.counters.atomicRMW == atomics)
        f.maker.close(reopened)

        f.maker.flush()
        #expect(object.timesFreed == 1)
        #expect(f.maker.objectAddress(inSlot: 1) == 0)
        #expect(f.maker.counters.frees == 1)
        f.exitMaker()
    }

    @Test func lazyReleaseAtTheSafePointDoesNotFreeAnObjectOthersStillHold() throws {
        let f = try HandleLocalFixture(release: .lazy)
        let object = f.bear(0)
        let made = f.maker.new(object)
        let opened = f.user.open(object)
        f.user.close(opened)
        f.user.flush()
        #expect(countWord(object) == 1)
        #expect(object.timesFreed == 0)
        f.maker.close(made)
        f.maker.flush()
        #expect(object.timesFreed == 1)
        #expect(f.maker.counters.frees == 1)
        f.exitUser()
        f.exitMaker()
    }

    @Test func eagerReleaseFreesAtTheCloseThatBringsTheSlotCountToZero() throws {
        let f = try HandleLocalFixture(release: .eager)
        let object = f.bear(0)
        let handle = f.maker.new(object)
        let duplicate = f.maker.dup(handle)
        f.maker.close(duplicate)
        #expect(object.timesFreed == 0)
        #expect(countWord(object) == 1)
        f.maker.close(handle)
        #expect(object.timesFreed == 1)
        #expect(f.maker.objectAddress(inSlot: 1) == 0, "the slot must be free again")
        #expect(f.maker.counters.frees == 1)
        f.exitMaker()
    }

    @Test func eagerReleaseGivesBackTheSharedReferenceButKeepsAnObjectOthersHold() throws {
        let f = try HandleLocalFixture(release: .eager)
        let object = f.bear(0)
        let made = f.maker.new(object)
        f.user.close(f.user.open(object))
        #expect(countWord(object) == 1)
        #expect(f.user.objectAddress(inSlot: 1) == 0)
        #expect(object.timesFreed == 0)
        f.maker.close(made)
        #expect(object.timesFreed == 1)
        f.exitUser()
        f.exitMaker()
    }

    @Test func fullTableEvictsACountZeroSlotForANewObject() throws {
        let f = try HandleLocalFixture(release: .lazy)
        let objects = (0..<7).map { f.bear($0) }
        let held = objects.map { f.maker.new($0) }
        f.maker.close(held[2])  // slot 3 now has count 0 and keeps its reference (lazy)
        #expect(objects[2].timesFreed == 0)

        let object = f.bear(7)
        let handle = f.maker.new(object)
        #expect(f.maker.slotIndex(of: handle) == 3)
        #expect(f.maker.counters.evictions == 1)
        #expect(f.maker.counters.fallbacks == 0)
        #expect(objects[2].timesFreed == 1, "the evicted slot held the last reference")

        f.maker.close(handle)
        held.enumerated().filter { $0.offset != 2 }.forEach { f.maker.close($0.element) }
        f.exitMaker()
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func fullTableEvictsACountZeroSlotForAnOpen() throws {
        let f = try HandleLocalFixture(release: .lazy)
        let object = f.bear(7)
        let made = f.maker.new(object)
        let held = (0..<7).map { f.user.new(f.bear($0)) }
        f.user.close(held[0])
        let opened = f.user.open(object)
        #expect(f.user.slotIndex(of: opened) == 1)
        #expect(f.user.counters.evictions == 1)
        #expect(countWord(object) == 2)
        f.user.close(opened)
        held.dropFirst().forEach { f.user.close($0) }
        f.exitUser()
        f.maker.close(made)
        f.exitMaker()
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func threadExitWithAnOpenHandleLeavesTheObjectUnfreedForValidationToReport() throws {
        let f = try HandleLocalFixture()
        let object = f.bear(0)
        _ = f.maker.new(object)
        f.exitMaker()
        #expect(object.timesFreed == 0)
        #expect(countWord(object) == 1)
        let problem = try #require(f.pool.validateLifetimes())
        #expect(problem.contains("object 0 never freed"))
    }

    @Test func low4IndexesFifteenSlots() throws {
        let f = try HandleLocalFixture(objects: 17, index: .low4)
        let handles = (0..<16).map { f.maker.new(f.bear($0)) }
        #expect(handles.prefix(15).map { f.maker.slotIndex(of: $0) } == Array(1...15))
        #expect(handles[15].bits & HandleIndex.low4.mask == 0)
        #expect(f.maker.counters.fallbacks == 0, "a birth is not an open")
        handles.forEach { f.maker.close($0) }
        f.exitMaker()
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test(arguments: [(HandleIndex.low3, 4), (.low4, 8)])
    func objectAlignmentSmallerThanTheIndexNeedsIsRejected(index: HandleIndex, alignment: Int) {
        var options = SchemeOptions()
        options[HandleLocal<AtomicRuntime>.handleIndex] = index
        options.objectAlignment = alignment
        #expect(throws: ConfigurationError.self) {
            _ = try HandleLocal<AtomicRuntime>.makeShared(options: options, threads: 1)
        }
        options.objectAlignment = index.requiredAlignment
        #expect(throws: Never.self) {
            _ = try HandleLocal<AtomicRuntime>.makeShared(options: options, threads: 1)
        }
    }

    @Test(arguments: ReleasePolicy.allCases)
    func immortalObjectIsNeverCountedOrFreed(release: ReleasePolicy) throws {
        var options = SchemeOptions()
        options[HandleLocal<AtomicRuntime>.release] = release
        options.objectAlignment = 8
        try expectImmortalObjectIsNeverCountedOrFreed(HandleLocal<AtomicRuntime>.self, options: options)
    }
}

/// Issue 12's handle-local: lazy release across calls, eviction by use, adoption, the pending
/// list, and the parked references.
@Suite struct HandleLocalLazyTableTests {
    @Test func lazyKeepsAnObjectOpenedInEveryCallInItsSlotAcrossScopeExits() throws {
        let f = try HandleLocalFixture()
        let object = f.bear(0)
        let made = f.maker.new(object)
        let atomics = f.user.counters.atomicRMW
        for _ in 0..<100 {
            f.user.enterScope()
            f.user.close(f.user.open(object))
            f.user.exitScope()
        }
        #expect(f.user.counters.atomicRMW == atomics + 1, "one shared reference for 100 calls, taken by the first")
        #expect(f.user.counters.tableMisses == 1 && f.user.counters.tableHits == 99)
        #expect(countWord(object) == 2)
        f.user.flush()
        #expect(countWord(object) == 1, "the safe point gives the reference back")
        f.maker.close(made)
        f.maker.flush()
        #expect(object.timesFreed == 1)
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func evictionPassesOverSlotsOpenedAgainAndTakesOneOpenedOnce() throws {
        let f = try HandleLocalFixture()
        let objects = (0..<8).map { f.bear($0) }
        // Each object's one non-local reference, held elsewhere.
        objects.forEach { $0.count.pointee.store(1, ordering: .relaxed) }
        // Slots 1...7 hold objects 0...6, all at count 0; then objects 0, 2...6 are opened again,
        // so object 1 (slot 2) is the only one opened once.
        for object in objects.prefix(7) { f.user.close(f.user.open(object)) }
        for index in [0, 2, 3, 4, 5, 6] { f.user.close(f.user.open(objects[index])) }
        let newcomer = f.user.open(objects[7])
        #expect(f.user.slotIndex(of: newcomer) == 2, "the lowest slot of count 0 would be 1; the clock passes it (opened again) and takes 2")
        #expect(f.user.table.word(1, 16).pointee == 0, "slot 1 lost the use the hand took")
        #expect(f.user.counters.evictions == 1)
        #expect(countWord(objects[1]) == 1, "the evicted slot gave its reference back")
        f.user.close(newcomer)
        f.exitUser()
        #expect(objects.allSatisfy { countWord($0) == 1 })
        objects.forEach { f.maker.release($0) }
        #expect(objects.allSatisfy { $0.timesFreed == 1 })
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func adoptMovesTheReceivedReferenceIntoASlotWithNoAtomic() throws {
        let f = try HandleLocalFixture()
        let object = f.bear(0)
        let made = f.maker.new(object)
        let sent = f.maker.transfer(f.maker.dup(made))
        #expect(countWord(object) == 2, "the sent reference is a shared reference")
        let atomics = f.user.counters.atomicRMW
        let received = f.user.adopt(sent)
        #expect(f.user.slotIndex(of: received) != 0)
        #expect(f.user.counters.atomicRMW == atomics, "the reference moved into the slot")
        #expect(countWord(object) == 2)
        // A second received reference to the same object is parked in its slot.
        let again = f.user.adopt(f.maker.transfer(f.maker.dup(made)))
        #expect(again == received && f.user.count(inSlot: f.user.slotIndex(of: received)) == 2)
        #expect(f.user.parked(inSlot: f.user.slotIndex(of: received)) == 1)
        #expect(f.user.counters.atomicRMW == atomics)
        f.user.close(again)
        f.user.close(received)
        f.user.flush()
        #expect(countWord(object) == 1, "both references given back by one subtraction")
        #expect(f.user.counters.atomicRMW == atomics + 1)
        f.maker.close(made)
        f.maker.flush()
        #expect(object.timesFreed == 1)
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func transferOfASlotHandleTakesAReferenceAndClosesTheHandle() throws {
        let f = try HandleLocalFixture()
        let object = f.bear(0)
        let handle = f.maker.new(object)
        let kept = f.maker.dup(handle)
        let sent = f.maker.transfer(handle)
        #expect(sent == object)
        #expect(countWord(object) == 2, "the slot's reference and the sent one")
        #expect(f.maker.count(inSlot: 1) == 1, "the transferred handle is closed")
        // A parked reference is handed over without an atomic.
        f.maker.retain(object)
        f.maker.release(object)
        #expect(f.maker.parked(inSlot: 1) == 1)
        let atomics = f.maker.counters.atomicRMW
        let second = f.maker.transfer(f.maker.dup(kept))
        #expect(f.maker.counters.atomicRMW == atomics && f.maker.parked(inSlot: 1) == 0)
        f.user.release(sent)
        f.user.release(second)
        f.maker.close(kept)
        f.maker.flush()
        #expect(object.timesFreed == 1)
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func aReleasedFieldReferenceIsParkedAndTheLastReferencesFreeWithNoAtomic() throws {
        let f = try HandleLocalFixture()
        let object = f.bear(0)
        let handle = f.maker.new(object)
        f.maker.retain(object)
        #expect(countWord(object) == 2)
        let atomics = f.maker.counters.atomicRMW
        f.maker.release(object)
        #expect(f.maker.counters.atomicRMW == atomics, "parked, not given back")
        #expect(countWord(object) == 2 && f.maker.parked(inSlot: 1) == 1)
        f.maker.close(handle)
        f.maker.flush()
        #expect(object.timesFreed == 1)
        #expect(f.maker.counters.atomicRMW == atomics, "every reference was the thread's: freed without an atomic")
        #expect(f.pool.validateLifetimes() == nil)
    }

    /// Each slot is listed once however often its count reaches 0, so the list never overflows;
    /// a flush visits exactly the listed slots.
    @Test func thePendingListHoldsEachSlotOnce() throws {
        let f = try HandleLocalFixture(objects: 200, index: .high16)
        let objects = (0..<200).map { f.bear($0) }
        let handles = objects.map { f.user.new($0) }
        for _ in 0..<3 {
            handles.forEach { f.user.close($0) }
            handles.forEach { _ = f.user.open(f.user.object(of: $0)) }
        }
        handles.forEach { f.user.close($0) }
        #expect(f.user.table.pendingCount.pointee == 200, "each slot listed once, however often it reached 0")
        #expect(objects.allSatisfy { $0.timesFreed == 0 })
        f.user.flush()
        #expect(f.user.table.pendingCount.pointee == 0)
        #expect(objects.allSatisfy { $0.timesFreed == 1 })
        #expect(f.pool.validateLifetimes() == nil)
    }

    /// DESIGN: a lazy slot is given back only at eviction, a safe point or thread exit; however
    /// many slots of a hashed table wait, no close flushes them.
    @Test func closesNeverFlushTheHashedTableOnlyItsFlushPointsDo() throws {
        let count = 300
        let f = try HandleLocalFixture(objects: count, index: .high16)
        let objects = (0..<count).map { f.bear($0) }
        let handles = objects.map { f.user.new($0) }
        handles.forEach { f.user.close($0) }
        #expect(objects.allSatisfy { $0.timesFreed == 0 }, "no close flushed")
        #expect(f.user.table.pendingCount.pointee == count)
        for _ in 0..<(HandleLocal<AtomicRuntime>.safePointsPerFlush - 1) { f.user.safePoint() }
        #expect(objects.allSatisfy { $0.timesFreed == 0 })
        f.user.safePoint()
        #expect(objects.allSatisfy { $0.timesFreed == 1 }, "the safe point that flushes released them all")
        #expect(f.user.table.pendingCount.pointee == 0)
        #expect(f.pool.validateLifetimes() == nil)
    }

    /// The header's cadence: a lazy table flushes at the `safePointsPerFlush`-th safe point
    /// (about every 65536 operations), the first flush included, not at the first safe point.
    @Test(arguments: [HandleIndex.low3, .high16])
    func theFirstFlushComesAtTheSixteenthSafePointAndEachNextSixteenLater(index: HandleIndex) throws {
        let f = try HandleLocalFixture(objects: 3, index: index)
        let perFlush = HandleLocal<AtomicRuntime>.safePointsPerFlush
        #expect(perFlush == 16)
        for round in 0..<3 {
            let object = f.bear(round)
            f.user.close(f.user.new(object))
            for point in 1..<perFlush {
                f.user.safePoint()
                #expect(object.timesFreed == 0, "round \(round): flushed at safe point \(point) of \(perFlush)")
            }
            f.user.safePoint()
            #expect(object.timesFreed == 1, "round \(round): the \(perFlush)th safe point flushes")
        }
        #expect(f.pool.validateLifetimes() == nil)
    }

    @Test func aSlotReopenedBeforeTheFlushKeepsItsObject() throws {
        let f = try HandleLocalFixture()
        let object = f.bear(0)
        let handle = f.user.new(object)
        f.user.close(handle)
        let reopened = f.user.open(object)
        f.user.flush()
        #expect(object.timesFreed == 0, "the listed slot's count is 1 again at the flush")
        f.user.close(reopened)
        f.user.flush()
        #expect(object.timesFreed == 1)
        #expect(f.pool.validateLifetimes() == nil)
    }
}


/// `handle-local` on CPython 3.13t's counting (`--runtime biased`): everything that is not a local
/// handle takes `biased`'s own steps, so an owner's references are plain and a non-owner's atomic.
@Suite("handle-local on the biased runtime")
struct HandleLocalOnBiasedTests {
    static func contexts(threads: Int = 2) throws -> (HandleLocalScheme.Shared, ObjectPool) {
        let options = SchemeOptions()
        #expect(options[RuntimeChoice.option] == .biased, "biased is the default runtime")
        return (try HandleLocalScheme.makeShared(options: options, threads: threads), ObjectPool(count: 4, alignment: options.objectAlignment))
    }

    @Test func theOwnersBirthsOpensStoresAndLastDropTakeNoAtomic() throws {
        let (shared, pool) = try Self.contexts()
        defer { pool.deallocate() }
        var owner = HandleLocalScheme(shared: shared, threadID: 2)
        let object = pool.bear(0, flags: [])
        let made = owner.new(object)
        #expect(object.ownerThread.pointee.load(ordering: .relaxed) == 2, "_Py_NewReference: the creating thread owns it")
        let opened = owner.open(object)
        owner.close(owner.dup(opened))
        owner.close(opened)
        #expect(HandleLocalScheme.referenceCount(of: object) == 1, "the slot holds the owner's one reference, in ob_ref_local")
        #expect(object.localCount == 1 && object.sharedCount.pointee.load(ordering: .relaxed) == 0)
        owner.close(made)
        owner.flush()
        #expect(object.timesFreed == 1, "the owner's last Py_DECREF with a shared word of 0 frees")
        #expect(owner.counters.atomicRMW == 0, "every step was the owner's: plain")
        #expect(pool.validateLifetimes() == nil)
        owner.threadExit()
    }

    @Test func aNonOwnersSlotTakesOneAtomicReferenceWhateverTheOpensAndGivesItBackAtTheFlush() throws {
        let (shared, pool) = try Self.contexts()
        defer { pool.deallocate() }
        var maker = HandleLocalScheme(shared: shared, threadID: 1)
        var user = HandleLocalScheme(shared: shared, threadID: 2)
        let object = pool.bear(0, flags: [])
        let made = maker.new(object)
        for _ in 0..<100 {
            let handle = user.open(object)
            user.close(user.dup(handle))
            user.close(handle)
        }
        #expect(user.counters.atomicRMW == 1, "one atomic Py_INCREF by a non-owner fills the slot; the rest are the table's")
        #expect(user.counters.tableHits == 99 && user.counters.tableMisses == 1)
        #expect(object.sharedCount.pointee.load(ordering: .relaxed) == BiasedScheme.sharedOne, "the slot's reference is in ob_ref_shared")
        user.flush()
        #expect(HandleLocalScheme.referenceCount(of: object) == 1, "the flush gave the slot's reference back")
        maker.close(made)
        maker.flush()
        #expect(object.timesFreed == 1)
        #expect(pool.validateLifetimes() == nil)
        user.threadExit()
        maker.threadExit()
    }

    @Test func aStoreIsTheRuntimesStoreAndTheRuntimesCountersAreReported() throws {
        let (shared, pool) = try Self.contexts()
        defer { pool.deallocate() }
        var maker = HandleLocalScheme(shared: shared, threadID: 1)
        var user = HandleLocalScheme(shared: shared, threadID: 2)
        let referenceShared = BiasedScheme.makeShared(options: SchemeOptions(), threads: 2)
        var referenceMaker = BiasedScheme(shared: referenceShared, threadID: 1)
        var reference = BiasedScheme(shared: referenceShared, threadID: 2)
        let object = pool.bear(0, flags: []), twin = pool.bear(1, flags: [])
        let made = maker.new(object)
        let twinMade = referenceMaker.new(twin)
        // The same non-owner store of the same kind of object on both: the composed scheme
        // counts what `biased` counts (Py_INCREF by a non-owner). With no weak references asked
        // for (--weakref-share 0), that is one atomic add of one shared reference.
        user.retain(object)
        reference.retain(twin)
        #expect(user.counters.atomicRMW == reference.counters.atomicRMW && user.counters.atomicRMW == 1)
        #expect(object.sharedCount.pointee.load(ordering: .relaxed) == twin.sharedCount.pointee.load(ordering: .relaxed))
        #expect(object.sharedCount.pointee.load(ordering: .relaxed) == BiasedScheme.sharedOne)
        user.release(object)
        reference.release(twin)
        #expect(user.counters.atomicRMW == reference.counters.atomicRMW, "and its release is biased's decrement")
        maker.close(made)
        referenceMaker.close(twinMade)
        user.threadExit()
        reference.threadExit()
        maker.threadExit()
        referenceMaker.threadExit()
        #expect(object.timesFreed == 1 && twin.timesFreed == 1)
        #expect(pool.validateLifetimes() == nil)
    }

    /// A store that takes a reference parked in the object's slot is, besides the counting the
    /// slot already did, what `biased`'s store is besides counting: `Py_INCREF` alone, with no
    /// MAYBE_WEAKREF and no atomic (3.13: only `init_weakref` sets the flag).
    @Test func aStoreOfAParkedReferenceSetsNoFlagAndTakesNoAtomic() throws {
        let (shared, pool) = try Self.contexts()
        defer { pool.deallocate() }
        var owner = HandleLocalScheme(shared: shared, threadID: 1)
        let referenceShared = BiasedScheme.makeShared(options: SchemeOptions(), threads: 2)
        var reference = BiasedScheme(shared: referenceShared, threadID: 1)
        let object = pool.bear(0, flags: []), twin = pool.bear(1, flags: [])
        let made = owner.new(object)
        let twinMade = reference.new(twin)
        // A field takes a reference, gives it up (parked in the slot), and takes it back.
        owner.retain(object)
        owner.release(object)
        #expect(owner.table.extraReferences(1) == 1, "the field's reference is parked")
        owner.retain(object)
        #expect(owner.table.extraReferences(1) == 0, "the store took the parked reference")
        reference.retain(twin)
        reference.release(twin)
        reference.retain(twin)
        #expect(object.sharedCount.pointee.load(ordering: .relaxed) == 0, "no MAYBE_WEAKREF: a store is Py_INCREF alone")
        #expect(object.sharedCount.pointee.load(ordering: .relaxed) == twin.sharedCount.pointee.load(ordering: .relaxed))
        #expect(object.localCount == twin.localCount)
        #expect(owner.counters.atomicRMW == 0 && reference.counters.atomicRMW == 0)
        owner.release(object)
        reference.release(twin)
        owner.close(made)
        reference.close(twinMade)
        owner.threadExit()
        reference.threadExit()
        #expect(object.timesFreed == 1 && twin.timesFreed == 1)
        #expect(pool.validateLifetimes() == nil)
    }

    /// handle-local does not declare `--weakref-share` (biased and perthread do), so its runtime
    /// makes no weak reference even when the options carry a share for other schemes (an
    /// experiment file's `scheme_options` reach every scheme of the file): no store, parked or
    /// not, sets MAYBE_WEAKREF.
    @Test func aWeakrefShareGivenForOtherSchemesSetsNoFlagInHandleLocal() throws {
        #expect(!HandleLocalScheme.declaredOptions.contains { $0.name == BiasedScheme.weakrefShare.name })
        var options = SchemeOptions()
        options[BiasedScheme.weakrefShare] = 1
        let shared = try HandleLocalScheme.makeShared(options: options, threads: 2)
        let pool = ObjectPool(count: 2, alignment: options.objectAlignment)
        defer { pool.deallocate() }
        var owner = HandleLocalScheme(shared: shared, threadID: 1)
        let object = pool.bear(0, flags: []), unslotted = pool.bear(1, flags: [])
        let made = owner.new(object)
        owner.retain(object)
        owner.release(object)
        owner.retain(object)
        owner.release(object)
        #expect(object.sharedCount.pointee.load(ordering: .relaxed) == 0, "a parked reference's store made no weak reference")
        // An object without a slot in this thread: the runtime's own store.
        var maker = HandleLocalScheme(shared: shared, threadID: 2)
        let unslottedMade = maker.new(unslotted)
        owner.retain(unslotted)
        #expect(unslotted.sharedCount.pointee.load(ordering: .relaxed) == BiasedScheme.sharedOne, "the runtime's store made no weak reference")
        owner.release(unslotted)
        owner.close(made)
        maker.close(unslottedMade)
        owner.threadExit()
        maker.threadExit()
        #expect(object.timesFreed == 1 && unslotted.timesFreed == 1)
        #expect(pool.validateLifetimes() == nil)
    }

    @Test func runtimeTakesOnlyItsWordsAndTheRegistryReadsIt() throws {
        #expect(throws: ConfigurationError.self) { try RuntimeChoice.option.declaration.parse("tracing") }
        #expect(try RuntimeChoice.option.declaration.parse("atomic") == .word("atomic"))
        for name in ["handle-local", "arena"] {
            let entry = try Registry.scheme(named: name)
            #expect(entry.declaredOptions.contains { $0.name == RuntimeChoice.option.name })
            #expect(entry.reportedCounters.contains(.merges), "biased's merges are reported")
        }
        #expect(try !Registry.scheme(named: "atomic").declaredOptions.contains { $0.name == RuntimeChoice.option.name })
    }
}
