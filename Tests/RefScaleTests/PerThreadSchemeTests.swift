import Foundation
import Synchronization
import Testing
@testable import RefScale

/// The rules of `perthread`: objects with a unique id are counted in plain per-thread arrays,
/// deferred by a bias until the main thread's final merge; the others are counted as `biased`.
@Suite(.tags(.threaded)) struct PerThreadSchemeTests {
    /// A run's shared state for `workers` workers (thread IDs 2...) and a pool, freed with it.
    final class Fixture {
        let shared: PerThreadScheme.Shared
        let pool: ObjectPool

        init(uniqueIDs: UniqueIDPolicy = .shared, mergeInterval: Double = 0, workers: Int = 1, objects: Int = 4) throws {
            var options = SchemeOptions()
            options[PerThreadScheme.uniqueIDs] = uniqueIDs
            options[PerThreadScheme.mergeInterval] = mergeInterval
            shared = try PerThreadScheme.makeShared(options: options, threads: workers)
            pool = ObjectPool(count: objects, alignment: 128)
        }

        deinit { pool.deallocate() }

        func context(_ threadID: Int) -> PerThreadScheme { PerThreadScheme(shared: shared, threadID: threadID) }
    }

    /// The thread's unmerged entry for the object.
    func entry(_ context: PerThreadScheme, _ object: ObjectRef) -> Int {
        let id = object.uniqueID
        guard id >= 0, id < context.capacity, let entries = context.entries else { return 0 }
        return entries[id].load(ordering: .relaxed)
    }

    @Test func aNegativeMergeIntervalIsRefused() throws {
        let perthread = try Registry.scheme(named: PerThreadScheme.name)
        for interval in [-1.0, Double.nan, Double.infinity] {
            var options = SchemeOptions()
            options[PerThreadScheme.mergeInterval] = interval
            #expect(throws: ConfigurationError.self) { try perthread.check(options) }
        }
    }

    @Test func uniqueIDsSharedGivesIDsOnlyToMortalSharedObjects() throws {
        let fixture = try Fixture(objects: 3)
        var main = fixture.context(1)
        let shared = fixture.pool.bear(0, flags: .shared)
        let own = fixture.pool.bear(1, flags: [])
        let immortal = fixture.pool.bear(2, flags: [.shared, .immortal])
        _ = main.new(shared)
        _ = main.new(own)
        _ = main.new(immortal)
        #expect(shared.uniqueID == 0)
        #expect(own.uniqueID == -1)
        #expect(immortal.uniqueID == -1)
    }

    @Test func uniqueIDsAllGivesIDsToEveryMortalObject() throws {
        let fixture = try Fixture(uniqueIDs: .all, objects: 3)
        var main = fixture.context(1)
        let objects = [fixture.pool.bear(0, flags: .shared), fixture.pool.bear(1, flags: []), fixture.pool.bear(2, flags: .immortal)]
        objects.forEach { _ = main.new($0) }
        #expect(objects.map(\.uniqueID) == [0, 1, -1])
    }

    @Test func anObjectWithAnIDStartsDeferredWithItsFirstReferenceInTheMakersArray() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        let object = fixture.pool.bear(0, flags: .shared)
        _ = main.new(object)
        #expect(object.count.pointee.load(ordering: .relaxed) == PerThreadScheme.deferredBias)
        #expect(entry(main, object) == 1)
        #expect(PerThreadScheme.referenceCount(of: object) == 1)
    }

    @Test func dupAndCloseOfAnObjectWithAnIDChangeOnlyTheThreadsEntry() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let object = fixture.pool.bear(0, flags: .shared)
        let handle = main.new(object)
        let header = (0..<ObjectRef.headerSize / 8).map {
            (object.address + $0 * 8).assumingMemoryBound(to: UInt64.self).pointee
        }
        let opened = worker.open(object)
        _ = worker.dup(opened)
        _ = main.dup(handle)
        worker.close(opened)
        #expect(entry(worker, object) == 1)
        #expect(entry(main, object) == 2)
        #expect((0..<ObjectRef.headerSize / 8).map { (object.address + $0 * 8).assumingMemoryBound(to: UInt64.self).pointee } == header)
        #expect(worker.counters.atomicRMW == 0)
        #expect(PerThreadScheme.referenceCount(of: object) == 3)
    }

    @Test func entriesMayGoNegativeAndTheObjectIsNotFreedBeforeTheFinalMerge() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let object = fixture.pool.bear(0, flags: .shared)
        let handle = main.new(object)
        // The worker ends the main thread's reference as well as its own: its entry goes to -1.
        _ = worker.open(object)
        worker.close(handle)
        worker.close(handle)
        #expect(entry(worker, object) == -1)
        #expect(PerThreadScheme.referenceCount(of: object) == 0)
        #expect(object.timesFreed == 0)
        worker.safePoint()
        worker.threadExit()
        #expect(object.timesFreed == 0, "a worker's merge never frees")
        #expect(PerThreadScheme.referenceCount(of: object) == 0)
        main.safePoint()
        #expect(object.timesFreed == 0)
        main.threadExit()
        #expect(object.timesFreed == 1)
        #expect(main.counters.frees == 1)
    }

    @Test func theBiasKeepsTheSharedCountAboveZeroAfterANegativeMerge() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let object = fixture.pool.bear(0, flags: .shared)
        let handle = main.new(object)
        worker.close(handle)
        worker.threadExit()
        let shared = object.count.pointee.load(ordering: .relaxed)
        #expect(shared == PerThreadScheme.deferredBias - 1)
        #expect(shared > 0)
        #expect(entry(worker, object) == 0)
        #expect(PerThreadScheme.referenceCount(of: object) == 0, "shared minus bias plus the main thread's unmerged +1")
        main.threadExit()
        #expect(object.timesFreed == 1)
    }

    @Test func theFinalMergeIsCorrectWhateverOrderWorkersExitIn() throws {
        let orders = [[2, 3, 4], [4, 3, 2], [3, 2, 4], [2, 4, 3]]
        for order in orders {
            let fixture = try Fixture(workers: 3, objects: 2)
            var main = fixture.context(1)
            var workers = [2: fixture.context(2), 3: fixture.context(3), 4: fixture.context(4)]
            let dying = fixture.pool.bear(0, flags: .shared)
            let kept = fixture.pool.bear(1, flags: .shared)
            let dyingHandle = main.new(dying)
            let keptHandle = main.new(kept)
            // Worker 2 opens both; worker 3 ends the main thread's reference to `dying`; worker 4
            // ends worker 2's; one reference to `kept` is never ended (a leak).
            _ = workers[2]!.open(dying)
            _ = workers[2]!.open(kept)
            workers[3]!.close(dyingHandle)
            workers[4]!.close(dyingHandle)
            _ = workers[4]!.dup(keptHandle)
            workers[4]!.close(keptHandle)
            for threadID in order {
                workers[threadID]!.threadExit()
                #expect(dying.timesFreed == 0)
            }
            main.close(keptHandle)
            #expect(PerThreadScheme.referenceCount(of: dying) == 0)
            #expect(PerThreadScheme.referenceCount(of: kept) == 1)
            main.threadExit()
            #expect(dying.timesFreed == 1, "order \(order)")
            #expect(kept.timesFreed == 0, "order \(order)")
            // What is left is an ordinary merged biased object holding the leaked reference.
            #expect(kept.uniqueID == -1)
            #expect(PerThreadScheme.referenceCount(of: kept) == 1)
            #expect(kept.count.pointee.load(ordering: .relaxed) & BiasedScheme.flagMask == BiasedScheme.MERGED)
        }
    }

    @Test func objectsWithoutAnIDAreCountedAsBiased() throws {
        let fixture = try Fixture()
        var main = fixture.context(1)
        var worker = fixture.context(2)
        let object = fixture.pool.bear(0, flags: [])
        let handle = main.new(object)
        #expect(object.ownerThread.pointee.load(ordering: .relaxed) == 1)
        #expect(object.localCount == 1)
        _ = worker.dup(handle)
        #expect(object.count.pointee.load(ordering: .relaxed) == BiasedScheme.sharedOne)
        main.close(handle)
        #expect(object.timesFreed == 0)
        worker.close(handle)
        #expect(object.timesFreed == 1)
    }

    /// Runs the same steps on `biased` and on `perthread --unique-ids none`, comparing the header
    /// and the counters after each step. The steps cover the owner's plain counts, a non-owner's
    /// atomic counts, a queued object merged at a safe point, and a queue whose owner has exited.
    @Test func uniqueIDsNoneBehavesAsBiased() throws {
        let fixture = try Fixture(uniqueIDs: .none, objects: 3)
        let biasedShared = BiasedScheme.makeShared(options: SchemeOptions(), threads: 1)
        let biasedPool = ObjectPool(count: 3, alignment: 128)
        defer { biasedPool.deallocate() }
        var perthread = [fixture.context(1), fixture.context(2)]
        var biased = [BiasedScheme(shared: biasedShared, threadID: 1), BiasedScheme(shared: biasedShared, threadID: 2)]

        // Word 16 holds the run's state for perthread objects with an id, word 56 the pool's control block.
        func header(_ pool: ObjectPool, _ index: Int) -> [UInt64] {
            stride(from: 0, to: ObjectRef.headerSize, by: 8).filter { $0 != 16 && $0 != 56 }.map {
                (pool[index].address + $0).assumingMemoryBound(to: UInt64.self).pointee
            }
        }
        var step = 0
        func same(_ action: (inout PerThreadScheme, ObjectPool) -> Void, _ reference: (inout BiasedScheme, ObjectPool) -> Void, thread: Int) {
            step += 1
            action(&perthread[thread], fixture.pool)
            reference(&biased[thread], biasedPool)
            for index in 0..<3 where biasedPool[index].isBorn {
                #expect(header(fixture.pool, index) == header(biasedPool, index), "object \(index) after step \(step)")
                #expect(PerThreadScheme.referenceCount(of: fixture.pool[index]) == BiasedScheme.referenceCount(of: biasedPool[index]))
            }
            #expect(perthread[thread].counters == biased[thread].counters, "counters after step \(step)")
        }
        func handle(_ pool: ObjectPool, _ index: Int) -> Handle { Handle(pool[index]) }

        // The worker (thread 2) makes the objects and exits first; the main thread exits last.
        for index in 0..<3 {
            same({ _ = $0.new($1.bear(index, flags: .shared)) }, { _ = $0.new($1.bear(index, flags: .shared)) }, thread: 1)
        }
        same({ _ = $0.open($1[0]) }, { _ = $0.open($1[0]) }, thread: 0)
        same({ _ = $0.dup(handle($1, 0)) }, { _ = $0.dup(handle($1, 0)) }, thread: 1)
        same({ $0.close(handle($1, 0)) }, { $0.close(handle($1, 0)) }, thread: 1)
        same({ $0.close(handle($1, 0)) }, { $0.close(handle($1, 0)) }, thread: 1)   // owner at 0: merge
        same({ $0.close(handle($1, 0)) }, { $0.close(handle($1, 0)) }, thread: 0)   // shared to 0: free
        same({ $0.close(handle($1, 1)) }, { $0.close(handle($1, 1)) }, thread: 0)   // queued on the owner
        same({ s, _ in s.safePoint() }, { s, _ in s.safePoint() }, thread: 1)                      // merged, freed
        same({ s, _ in s.threadExit() }, { s, _ in s.threadExit() }, thread: 1)
        same({ $0.close(handle($1, 2)) }, { $0.close(handle($1, 2)) }, thread: 0)   // owner gone: merged at once
        same({ s, _ in s.threadExit() }, { s, _ in s.threadExit() }, thread: 0)
        for index in 0..<3 {
            #expect(fixture.pool[index].timesFreed == 1)
        }
    }

    @Test func theArrayGrowsOnDemandAndKeepsItsEntries() throws {
        let fixture = try Fixture(uniqueIDs: .all, objects: 200)
        var main = fixture.context(1)
        let handles = (0..<200).map { main.new(fixture.pool.bear($0, flags: [])) }
        #expect(main.capacity >= 200)
        handles.forEach { _ = main.dup($0) }
        #expect((0..<200).allSatisfy { PerThreadScheme.referenceCount(of: fixture.pool[$0]) == 2 })
        handles.forEach { main.close($0); main.close($0) }
        main.threadExit()
        #expect((0..<200).allSatisfy { fixture.pool[$0].timesFreed == 1 })
    }

    @Test func theIDTableFindsEveryIDAcrossChunks() throws {
        #expect(PerThreadState.chunk(of: 0) == (0, 0))
        #expect(PerThreadState.chunk(of: 63) == (0, 63))
        #expect(PerThreadState.chunk(of: 64) == (1, 0))
        #expect(PerThreadState.chunk(of: 191) == (1, 127))
        #expect(PerThreadState.chunk(of: 192) == (2, 0))
    }

    @Test func aPeriodicMergeWaitsForEveryRunningWorkerAndMergesEachArray() throws {
        let fixture = try Fixture(mergeInterval: 1e-9, workers: 2, objects: 1)
        var main = fixture.context(1)
        let object = fixture.pool.bear(0, flags: .shared)
        let handle = main.new(object)
        var second = fixture.context(3)
        _ = second.dup(handle)
        let released = TestFlag()
        let box = UncheckedBox(fixture)
        let first = Thread {
            var worker = box.value.context(2)
            _ = worker.dup(handle)
            worker.safePoint()                    // requests merge 1 and waits for worker 3
            released.set()
            worker.close(handle)
            worker.threadExit()
        }
        first.start()
        while fixture.shared.state.requestedMerge.pointee.load(ordering: .acquiring) < 1 { sched_yield() }
        #expect(!released.isSet)
        second.safePoint()                        // arrives last and completes the merge
        #expect(fixture.shared.state.completedMerge.pointee.load(ordering: .acquiring) == 1)
        while !released.isSet { sched_yield() }
        #expect(entry(second, object) == 0)
        #expect(second.counters.merges == 1)
        #expect(object.count.pointee.load(ordering: .relaxed) >= PerThreadScheme.deferredBias + 1)
        second.close(handle)
        second.threadExit()
        while PerThreadState.active(fixture.shared.state.rendezvous.pointee.load(ordering: .acquiring)) > 0 { sched_yield() }
        main.close(handle)
        main.threadExit()
        #expect(object.timesFreed == 1)
    }

    @Test func aWorkerWaitingAtAMergeIsReleasedWhenTheOtherWorkerExits() throws {
        let fixture = try Fixture(mergeInterval: 1e-9, workers: 2, objects: 1)
        var main = fixture.context(1)
        let object = fixture.pool.bear(0, flags: .shared)
        let handle = main.new(object)
        var leaving = fixture.context(3)
        _ = leaving.dup(handle)
        let released = TestFlag()
        let box = UncheckedBox(fixture)
        let waiting = Thread {
            var worker = box.value.context(2)
            worker.safePoint()                    // requests merge 1 and waits
            released.set()
            worker.threadExit()
        }
        waiting.start()
        let state = fixture.shared.state
        while PerThreadState.arrived(state.rendezvous.pointee.load(ordering: .acquiring)) < 1 { sched_yield() }
        #expect(!released.isSet)
        // The run stops: the other worker closes what it holds and exits without a safe point.
        leaving.close(handle)
        leaving.threadExit()
        while !released.isSet { sched_yield() }
        #expect(state.completedMerge.pointee.load(ordering: .acquiring) == 1)
        while PerThreadState.active(state.rendezvous.pointee.load(ordering: .acquiring)) > 0 { sched_yield() }
        #expect(PerThreadScheme.referenceCount(of: object) == 1)
        main.close(handle)
        main.threadExit()
        #expect(object.timesFreed == 1)
    }

    @Test func theMainThreadNeverTakesPartInPeriodicMerges() throws {
        let fixture = try Fixture(mergeInterval: 1e-9, workers: 1, objects: 1)
        var main = fixture.context(1)
        let object = fixture.pool.bear(0, flags: .shared)
        _ = main.new(object)
        main.safePoint()
        #expect(fixture.shared.state.requestedMerge.pointee.load(ordering: .relaxed) == 0)
        #expect(entry(main, object) == 1)
    }
}
