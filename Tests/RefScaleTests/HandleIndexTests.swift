import Testing
@testable import RefScale

@Suite("handle-local index widths")
struct HandleIndexTests {
    static func context(_ index: HandleIndex, release: ReleasePolicy = .lazy) throws -> HandleLocal<AtomicRuntime> {
        var options = SchemeOptions()
        options[HandleLocalScheme.handleIndex] = index
        options[HandleLocalScheme.release] = release
        options.objectAlignment = index.requiredAlignment
        return HandleLocal<AtomicRuntime>(shared: try HandleLocal<AtomicRuntime>.makeShared(options: options, threads: 1), threadID: 2)
    }

    @Test func widthsHaveTheirSlotCountsMasksAndAlignments() {
        #expect(HandleIndex.low3.slotCount == 7 && HandleIndex.low3.mask == 0x7 && HandleIndex.low3.requiredAlignment == 8)
        #expect(HandleIndex.low4.slotCount == 15 && HandleIndex.low4.mask == 0xF && HandleIndex.low4.requiredAlignment == 16)
        #expect(HandleIndex.high16.slotCount == 65535 && HandleIndex.high16.mask == 0xFFFF_0000_0000_0000)
        #expect(HandleIndex.high16.requiredAlignment == 8)
    }

    @Test func high16NeedsOnlyEightByteAlignmentAndLow4NeedsSixteen() throws {
        var options = SchemeOptions()
        options.objectAlignment = 8
        options[HandleLocalScheme.handleIndex] = .high16
        _ = try HandleLocalScheme.makeShared(options: options, threads: 1)
        options[HandleLocalScheme.handleIndex] = .low4
        #expect(throws: ConfigurationError.self) { try HandleLocalScheme.makeShared(options: options, threads: 1) }
    }

    @Test func high16HandlesCarryTheIndexInBits48To63() throws {
        var context = try Self.context(.high16)
        let pool = ObjectPool(count: 64, alignment: 8)
        defer { pool.deallocate() }
        var slots = Set<UInt64>()
        for index in 0..<pool.count {
            let object = pool.bear(index, flags: [])
            let handle = context.new(object)
            let slot = handle.bits >> 48
            #expect(slot != 0)
            #expect(handle.bits & 0x0000_FFFF_FFFF_FFFF == UInt64(UInt(bitPattern: object.address)))
            #expect(context.slotIndex(handle) == Int(slot))
            #expect(context.object(of: handle) == object)
            #expect(context.read(handle) == object.payload)
            slots.insert(slot)
        }
        #expect(slots.count == pool.count, "distinct objects take distinct slots")
        #expect(context.counters.tableMisses == 0 && context.counters.fallbacks == 0, "births are not opens: no miss, no fallback")
        context.threadExit()
    }

    @Test func high16HitsTheTableForAThousandDistinctObjects() throws {
        var context = try Self.context(.high16)
        let pool = ObjectPool(count: 1000, alignment: 8)
        defer { pool.deallocate() }
        let objects = (0..<pool.count).map { pool.bear($0, flags: []) }
        let made = objects.map { context.new($0) }
        let opened = objects.map { context.open($0) }
        #expect(opened == made, "open finds the slot new filled")
        #expect(context.counters.tableHits == 1000)
        #expect(context.counters.tableMisses == 0, "births are not misses, so hit_rate is 1: every open of an existing object hit")
        #expect(context.counters.fallbacks == 0)
        #expect(context.counters.atomicRMW == 0, "a hit takes no shared reference")
        for handle in opened { context.close(context.dup(handle)) }
        #expect(context.counters.tableHits == 1000, "hits count opens only")
        #expect(context.counters.localDupClose == 2000)
        #expect(objects.allSatisfy { $0.plainCount == 1 }, "each slot holds one shared reference")

        opened.forEach { context.close($0) }
        made.forEach { context.close($0) }
        #expect(objects.allSatisfy { $0.timesFreed == 0 },
                "lazy: nothing is released before a flush point (eviction, safe point, thread exit), however many slots wait")
        context.flush()
        #expect(objects.allSatisfy { $0.timesFreed == 1 })
        #expect(pool.validateLifetimes() == nil)
        context.threadExit()
    }

    @Test(arguments: [(HandleIndex.low3, 7), (HandleIndex.low4, 15)])
    func lowWidthsGiveTheirSlotsThenFallBack(index: HandleIndex, slots: Int) throws {
        var context = try Self.context(index)
        let pool = ObjectPool(count: slots + 1, alignment: index.requiredAlignment)
        defer { pool.deallocate() }
        let objects = (0..<pool.count).map { pool.bear($0, flags: []) }
        let handles = objects.map { context.new($0) }
        #expect(Set(handles.prefix(slots).map { context.slotIndex($0) }) == Set(1...slots))
        #expect(context.slotIndex(handles[slots]) == 0, "slot \(slots + 1) does not exist")
        #expect(handles[slots].bits & index.mask == 0)
        #expect(context.counters.tableMisses == 0 && context.counters.fallbacks == 0, "births are not opens")
        let reopened = objects.map { context.open($0) }
        #expect(context.counters.tableHits == slots, "the born objects that have a slot are hits")
        #expect(context.counters.fallbacks == 1, "the one born without a slot still finds none")
        reopened.forEach { context.close($0) }
        let atomicsBefore = context.counters.atomicRMW

        context.close(context.dup(handles[slots]))
        #expect(context.counters.fallbacks == 1, "fallbacks count opens only: dup and close of index 0 are atomics")
        #expect(context.counters.atomicRMW - atomicsBefore == 2)
        handles.forEach { context.close($0) }
        context.flush()
        #expect(pool.validateLifetimes() == nil)
        context.threadExit()
    }

    @Test func evictionTakesASlotWhoseCountIsZero() throws {
        var context = try Self.context(.low3)
        let pool = ObjectPool(count: 8, alignment: 8)
        defer { pool.deallocate() }
        let objects = (0..<8).map { pool.bear($0, flags: []) }
        let handles = objects.prefix(7).map { context.new($0) }
        let kept = context.open(objects[0])
        context.close(handles[0])
        context.close(handles[3])
        #expect(objects[3].timesFreed == 0, "lazy: the slot keeps its reference")
        let newcomer = context.new(objects[7])
        #expect(context.slotIndex(newcomer) == context.slotIndex(handles[3]))
        #expect(context.counters.evictions == 1)
        #expect(objects[3].timesFreed == 1)
        ([kept, newcomer] + handles.filter { $0 != handles[0] && $0 != handles[3] }).forEach { context.close($0) }
        context.flush()
        #expect(pool.validateLifetimes() == nil)
        context.threadExit()
    }

    /// A small hashed table (127 slots, so probes collide, wrap, leave tombstones and evict),
    /// driven by random operations and checked against a model of who holds what.
    @Test(arguments: [ReleasePolicy.lazy, .eager])
    func aHashedTableStaysConsistentUnderRandomOperations(release: ReleasePolicy) {
        var context = HandleLocal(slotCount: 127, indexShift: 48, release: release, runtime: AtomicRuntime(shared: NoSharedState(), threadID: 2))
        #expect(context.table.isHashed)
        let pool = ObjectPool(count: 300, alignment: 8)
        defer { pool.deallocate() }
        // Another thread's context makes the objects and keeps them alive: one reference each.
        var maker = HandleLocal(slotCount: 127, indexShift: 48, release: release, runtime: AtomicRuntime(shared: NoSharedState(), threadID: 2))
        let objects = (0..<pool.count).map { pool.bear($0, flags: []) }
        let owners = objects.map { maker.new($0) }
        var held: [Handle] = []
        var generator = SplitMix64(seed: 7)
        var sawTombstone = false

        func checkTable() {
            sawTombstone = sawTombstone || (1...context.table.slotCount).contains { context.table.objectWord($0).pointee == LocalReferenceTable.tombstone }
            var occupants: [ObjectRef: Int] = [:]
            for slot in 1...context.table.slotCount where context.table.isOccupied(slot) {
                let object = context.table.occupant(of: slot)
                #expect(occupants[object] == nil, "object in two slots")
                occupants[object] = slot
            }
            var slotCounts: [Int: Int] = [:]
            var fallbackCounts: [ObjectRef: Int] = [:]
            for handle in held {
                let object = context.object(of: handle)
                let slot = context.slotIndex(handle)
                if slot == 0 {
                    fallbackCounts[object, default: 0] += 1
                } else {
                    #expect(occupants[object] == slot, "handle's slot holds another object")
                    slotCounts[slot, default: 0] += 1
                }
            }
            for (object, slot) in occupants {
                #expect(context.count(inSlot: slot) == slotCounts[slot, default: 0])
                #expect(object.plainCount == 2 + fallbackCounts[object, default: 0])
            }
            for object in objects where occupants[object] == nil {
                #expect(object.plainCount == 1 + fallbackCounts[object, default: 0])
            }
        }

        for step in 0..<20_000 {
            let choice = generator.next() % 8
            if choice < 3 || held.isEmpty {
                held.append(context.open(objects[Int(generator.next() % UInt64(objects.count))]))
            } else if choice < 4 {
                held.append(context.dup(held[Int(generator.next() % UInt64(held.count))]))
            } else {
                context.close(held.remove(at: Int(generator.next() % UInt64(held.count))))
            }
            if step % 64 == 0 { context.flush() }
            if step % 997 == 0 { checkTable() }
        }
        checkTable()
        #expect(sawTombstone, "the operations should have left tombstones to probe past")
        if release == .lazy {
            #expect(context.counters.evictions > 0)
        } else {
            #expect(context.counters.evictions == 0, "eager leaves no slot at count 0 to evict")
        }
        #expect(context.counters.tableHits > 0)
        held.forEach { context.close($0) }
        context.threadExit()
        #expect(objects.allSatisfy { $0.plainCount == 1 }, "thread exit gives back every slot's reference")
        owners.forEach { maker.close($0) }
        maker.threadExit()
        #expect(pool.validateLifetimes() == nil)
    }
}

@Suite struct LowThreeHPyTests {
    @Test func low3HPyKeepsBitZeroClearAndGivesThreeSlots() throws {
        var context = try HandleIndexTests.context(.low3HPy)
        #expect(HandleIndex.low3HPy.mask == 0b110 && HandleIndex.low3HPy.requiredAlignment == 8)
        let pool = ObjectPool(count: 4, alignment: 8)
        defer { pool.deallocate() }
        let objects = (0..<4).map { pool.bear($0, flags: []) }
        let handles = objects.map { context.new($0) }
        #expect(handles.allSatisfy { $0.bits & 1 == 0 }, "bit 0 is HPy's")
        #expect(handles.prefix(3).map { context.slotIndex($0) }.sorted() == [1, 2, 3])
        #expect(context.slotIndex(handles[3]) == 0)
        #expect(zip(handles, objects).allSatisfy { context.object(of: $0) == $1 })
        context.close(context.dup(handles[1]))
        #expect(context.counters.localDupClose == 2)
        handles.forEach { context.close($0) }
        context.flush()
        #expect(objects.allSatisfy { $0.timesFreed == 1 })
        #expect(pool.validateLifetimes() == nil)
        context.threadExit()
    }
}
