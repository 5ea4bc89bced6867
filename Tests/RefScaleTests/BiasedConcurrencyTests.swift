import CRefScale
import Glibc
import Synchronization
import Testing
@testable import RefScale
@testable import RefScaleHarness

/// Atomic words two test threads share: a mailbox of handles, one per object, and flags.
final class Mailbox: @unchecked Sendable {
    private let words: UnsafeMutableRawPointer
    let slots: Int

    init(slots: Int, flags: Int) {
        self.slots = slots
        let bytes = (slots + flags) * 8
        words = .allocate(byteCount: bytes, alignment: 128)
        words.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    deinit { words.deallocate() }

    private func word(_ index: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (words + index * 8).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    func send(_ handle: Handle, to slot: Int) { word(slot).pointee.store(handle.bits, ordering: .releasing) }

    /// Waits until slot `slot` holds a handle, and takes it.
    func receive(_ slot: Int) -> Handle {
        while true {
            let bits = word(slot).pointee.load(ordering: .acquiring)
            if bits != 0 { return Handle(bits: bits) }
            sched_yield()
        }
    }

    func raise(_ flag: Int) { word(slots + flag).pointee.store(1, ordering: .releasing) }
    func isRaised(_ flag: Int) -> Bool { word(slots + flag).pointee.load(ordering: .acquiring) != 0 }
    func wait(for flag: Int) { while !isRaised(flag) { sched_yield() } }
}

@Suite(.tags(.threaded)) struct BiasedConcurrencyTests {
    /// `PyMutex` (Python/lock.c): a thread that finds its owner's bucket held yields 40 times,
    /// sets `_Py_HAS_PARKED` and parks; the holder's unlock sees the flag and wakes it. Thread B
    /// waits on a bucket thread A holds until the flag shows B has parked; then A unlocks.
    @Test func aWaiterOnAHeldBucketYieldsThenParksAndTheUnlockWakesIt() {
        let shared = BiasedScheme.makeShared(options: SchemeOptions(), threads: 2)
        let queues = shared.queues
        let mailbox = Mailbox(slots: 0, flags: 3)
        let locked = 0, acquired = 1, release = 2
        var holderCounters = SchemeCounters(), waiterCounters = SchemeCounters()
        let holder = WorkerThread {
            let memory = AtomicBiasedMemory(queues: queues, thread: 2)
            memory.recordThreadIdentity(of: 2)
            memory.lockBucket(of: 2, counters: &holderCounters)
            mailbox.raise(locked)
            mailbox.wait(for: release)
            memory.unlockBucket(of: 2)
        }
        mailbox.wait(for: locked)
        let waiter = WorkerThread {
            let memory = AtomicBiasedMemory(queues: queues, thread: 3)
            memory.lockBucket(of: 2, counters: &waiterCounters)
            mailbox.raise(acquired)
            memory.unlockBucket(of: 2)
        }
        let word = queues.mutex(of: 2)
        var waited = 0
        while word.pointee.load(ordering: .relaxed) & BiasedMergeQueues.hasParked == 0 && waited < 10_000 {
            usleep(1000)
            waited += 1
        }
        #expect(word.pointee.load(ordering: .relaxed) == BiasedMergeQueues.locked | BiasedMergeQueues.hasParked)
        #expect(!mailbox.isRaised(acquired), "the waiter cannot have the lock while the holder keeps it")
        mailbox.raise(release)
        holder.join()
        waiter.join()
        #expect(mailbox.isRaised(acquired))
        #expect(holderCounters.mutexContended == 0 && holderCounters.mutexParks == 0)
        #expect(waiterCounters.mutexContended == 1)
        #expect(waiterCounters.mutexParks >= 1)
        #expect(word.pointee.load(ordering: .relaxed) == 0)
    }

    /// A thread's bucket is its `_Py_ThreadId` (its thread-control-block address) modulo 257,
    /// read on the thread itself: two threads' ids differ, and so, for threads glibc starts
    /// with 8 MiB stacks, do their buckets, where consecutive small ids would sit in neighbouring
    /// buckets on one cache line.
    @Test func eachThreadsBucketIsItsThreadControlBlockAddressModulo257() {
        let shared = BiasedScheme.makeShared(options: SchemeOptions(), threads: 2)
        // Each thread writes its own word; the joins order the writes before the reads.
        let words = UnsafeMutablePointer<UInt>.allocate(capacity: 2)
        words.initialize(repeating: 0, count: 2)
        defer { words.deallocate() }
        let threads = (0..<2).map { index in
            WorkerThread {
                _ = BiasedScheme(shared: shared, threadID: 2 + index)
                words[index] = UInt(crefscale_thread_tcb())
            }
        }
        threads.forEach { $0.join() }
        let identities = [words[0], words[1]]
        for index in 0..<2 {
            #expect(shared.queues.threadIdentity(of: UInt(2 + index)).pointee.load(ordering: .relaxed) == identities[index])
            let bucket = (UnsafeRawPointer(shared.queues.mutex(of: UInt(2 + index))) - UnsafeRawPointer(shared.queues.buckets)) / BiasedMergeQueues.bucketSize
            #expect(bucket == Int(identities[index] % 257))
        }
        #expect(identities[0] != identities[1] && identities.allSatisfy { $0 != 0 })
        let buckets = identities.map { $0 % 257 }
        #expect(buckets[0] != buckets[1], "TCB addresses \(identities) share a bucket")
    }

    /// Thread A makes every object, keeps one reference and sends a second to thread B, which
    /// duplicates, reads and drops what it receives. B's last decrement of each object finds the
    /// shared count at 0, so every object is queued on A. The first half is dropped while A runs
    /// and drains its queue at safe points; the second half only after A has exited, so B merges
    /// those itself. Every object must end freed exactly once, never written after.
    @Test func objectsDroppedByAnotherThreadAreQueuedMergedAndFreedExactlyOnce() {
        let objects = 4096
        let half = objects / 2
        let halfDropped = 0, ownerExited = 1
        let pool = ObjectPool(count: objects, alignment: 64)
        defer { pool.deallocate() }
        let shared = BiasedScheme.makeShared(options: SchemeOptions(), threads: 2)
        let mailbox = Mailbox(slots: objects, flags: 2)
        var countersA = SchemeCounters(), countersB = SchemeCounters()
        var badReads = 0

        let threadA = WorkerThread {
            var context = BiasedScheme(shared: shared, threadID: 2)
            var kept: [Handle] = []
            kept.reserveCapacity(objects)
            for index in 0..<objects {
                let handle = context.new(pool.bear(index, flags: []))
                mailbox.send(context.dup(handle), to: index)
                kept.append(handle)
                if index % 64 == 0 { context.safePoint() }
            }
            for (index, handle) in kept.enumerated() {
                context.close(handle)
                if index % 16 == 0 { context.safePoint() }
            }
            while !mailbox.isRaised(halfDropped) {
                context.safePoint()
                sched_yield()
            }
            context.threadExit()
            mailbox.raise(ownerExited)
            countersA = context.counters
        }

        let threadB = WorkerThread {
            var context = BiasedScheme(shared: shared, threadID: 3)
            func drop(_ range: Range<Int>) {
                for index in range {
                    let handle = mailbox.receive(index)
                    let duplicate = context.dup(handle)
                    if context.read(duplicate) != UInt64(index) + 1 { badReads += 1 }
                    context.close(duplicate)
                    context.close(handle)
                    if index % 32 == 0 { context.safePoint() }
                }
            }
            drop(0..<half)
            mailbox.raise(halfDropped)
            mailbox.wait(for: ownerExited)
            drop(half..<objects)
            context.threadExit()
            countersB = context.counters
        }

        threadA.join()
        threadB.join()

        #expect(badReads == 0)
        #expect(pool.validateLifetimes() == nil)
        #expect((0..<objects).allSatisfy { pool[$0].timesFreed == 1 })
        #expect(countersB.queued == objects, "B's last decrement of every object finds shared count 0")
        #expect(countersA.merges == half, "A merges what was queued while it ran")
        #expect(countersA.frees == half)
        #expect(countersB.merges == half, "B merges what it queues for the exited A")
        #expect(countersB.frees == half)
        #expect(countersA.queued == 0)
    }

    /// Two non-owners hammer one object's shared word (an atomic add per dup, a CAS loop per
    /// close, retried when the other thread got in between) while the owner dups and closes
    /// locally and checks its queue: the counts must come out exact, and nothing is freed or
    /// queued, since no close ever finds the shared count at 0 with a reference counted locally.
    @Test func nonOwnersHammeringOneObjectKeepTheCountExact() {
        let pairs = 200_000
        let pool = ObjectPool(count: 1, alignment: 16)
        defer { pool.deallocate() }
        let shared = BiasedScheme.makeShared(options: SchemeOptions(), threads: 3)
        var owner = BiasedScheme(shared: shared, threadID: 1)
        let object = pool.bear(0, flags: [])
        let handle = owner.new(object)
        let mailbox = Mailbox(slots: 0, flags: 1)
        let results = UnsafeMutablePointer<SchemeCounters>.allocate(capacity: 3)
        results.initialize(repeating: SchemeCounters(), count: 3)
        defer { results.deallocate() }
        let workers = (0..<3).map { index in
            WorkerThread {
                var context = index == 0 ? owner : BiasedScheme(shared: shared, threadID: 1 + index)
                while !mailbox.isRaised(0) { sched_yield() }
                for pair in 0..<pairs {
                    context.close(context.dup(handle))
                    if pair % 1024 == 0 { context.safePoint() }
                }
                results[index] = context.counters
            }
        }
        mailbox.raise(0)
        workers.forEach { $0.join() }
        let counters = Array(UnsafeBufferPointer(start: results, count: 3))
        #expect(sharedWord(object) == 0)
        #expect(object.localCount == 1)
        #expect(object.timesFreed == 0)
        #expect(counters[0].atomicRMW == 0, "the owner never needs an atomic")
        #expect(counters[1].atomicRMW - counters[1].casRetries == 2 * pairs, "one add and one successful CAS per pair")
        #expect(counters[2].atomicRMW - counters[2].casRetries == 2 * pairs)
        #expect(counters.allSatisfy { $0.queued == 0 && $0.frees == 0 })
        owner.close(handle)
        #expect(object.timesFreed == 1)
    }
}
