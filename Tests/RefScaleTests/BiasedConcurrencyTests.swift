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
}
