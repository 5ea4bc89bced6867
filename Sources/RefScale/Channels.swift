import Glibc
import Synchronization

/// The run's channels: bounded single-producer single-consumer rings that carry objects (as
/// non-local references) from one thread to another. The producer owns `tail` and the
/// consumer `head`, each on its own line; the slots follow. Each side keeps, in its own line, the
/// other side's index as it last read it, and reads the other's line again only when that copy
/// says the ring is full (producer) or empty (consumer): a line crosses between the CPUs once per
/// batch of items rather than twice per item, for every scheme alike (the cached-index ring of
/// Lee, Bu and Chandramouli's MCRingBuffer, 2009).
///
/// Ending protocol (what keeps a stopped run from deadlocking or losing an object): the
/// producer marks `producerDone` after its last send; the consumer marks `consumerGone` when it
/// stops taking objects, waits for `producerDone`, then takes and ends what is left. A producer
/// that finds the ring full and the consumer gone ends the object itself.
struct Channels: @unchecked Sendable {
    let block: UnsafeMutableRawPointer
    let count: Int
    let capacity: Int

    static let lineSize = 128

    init(count: Int, capacity: Int) {
        precondition(capacity > 0 && capacity & (capacity - 1) == 0, "channel capacity must be a power of two")
        self.count = count
        self.capacity = capacity
        let bytes = max(1, count) * Channels.bytesPerChannel(capacity)
        block = .allocate(byteCount: bytes, alignment: Channels.lineSize)
        block.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    func deallocate() { block.deallocate() }

    static func bytesPerChannel(_ capacity: Int) -> Int { 2 * lineSize + (capacity * 8 + lineSize - 1) / lineSize * lineSize }

    struct Ring {
        let base: UnsafeMutableRawPointer
        let mask: Int

        var tail: UnsafeMutablePointer<Atomic<Int>> { base.assumingMemoryBound(to: Atomic<Int>.self) }
        var producerDone: UnsafeMutablePointer<Atomic<Int>> { (base + 8).assumingMemoryBound(to: Atomic<Int>.self) }
        /// The producer's copy of `head`; only the producer touches it.
        var headSeenByProducer: UnsafeMutablePointer<Int> { (base + 16).assumingMemoryBound(to: Int.self) }
        var head: UnsafeMutablePointer<Atomic<Int>> { (base + lineSize).assumingMemoryBound(to: Atomic<Int>.self) }
        var consumerGone: UnsafeMutablePointer<Atomic<Int>> { (base + lineSize + 8).assumingMemoryBound(to: Atomic<Int>.self) }
        /// The consumer's copy of `tail`; only the consumer touches it.
        var tailSeenByConsumer: UnsafeMutablePointer<Int> { (base + lineSize + 16).assumingMemoryBound(to: Int.self) }
        func slot(_ position: Int) -> UnsafeMutablePointer<UInt> {
            (base + 2 * lineSize + (position & mask) * 8).assumingMemoryBound(to: UInt.self)
        }

        /// Puts the object in the ring; false when it is full.
        func tryPush(_ object: ObjectRef) -> Bool {
            let tail = self.tail.pointee.load(ordering: .relaxed)
            if tail - headSeenByProducer.pointee > mask {
                headSeenByProducer.pointee = head.pointee.load(ordering: .acquiring)
                guard tail - headSeenByProducer.pointee <= mask else { return false }
            }
            slot(tail).pointee = UInt(bitPattern: object.address)
            self.tail.pointee.store(tail + 1, ordering: .releasing)
            return true
        }

        /// Takes the oldest object; nil when the ring is empty.
        func tryPop() -> ObjectRef? {
            let head = self.head.pointee.load(ordering: .relaxed)
            if head == tailSeenByConsumer.pointee {
                tailSeenByConsumer.pointee = tail.pointee.load(ordering: .acquiring)
                guard head != tailSeenByConsumer.pointee else { return nil }
            }
            let address = slot(head).pointee
            self.head.pointee.store(head + 1, ordering: .releasing)
            return ObjectRef(address: UnsafeMutableRawPointer(bitPattern: address)!)
        }
    }

    @inline(__always)
    func ring(_ channel: Int) -> Ring {
        Ring(base: block + channel * Channels.bytesPerChannel(capacity), mask: capacity - 1)
    }
}

/// Channel operations in terms of a scheme; waits release what the scheme must release before
/// a thread blocks.
extension Channels {
    /// Sends the handle's object; while the ring is full, takes what waits in `inbox` (if the
    /// thread has one), so threads that send to each other in a ring cannot all wait. Returns the
    /// handle operations that taking performed.
    func send<S: CountingScheme>(_ handle: Handle, to channel: Int, inbox: Int, on scheme: inout S) -> Int {
        let ring = ring(channel)
        let object = scheme.transfer(handle)
        var operations = 0
        var suspended = false
        while !ring.tryPush(object) {
            if ring.consumerGone.pointee.load(ordering: .acquiring) != 0 {
                if suspended { scheme.resume() }
                scheme.close(scheme.adopt(object))
                return operations
            }
            if inbox >= 0 {
                operations += receiveAll(from: inbox, on: &scheme, suspended: &suspended)
            }
            // Taking from the inbox may have taken a global lock again: give it up every time.
            scheme.suspend()
            suspended = true
            sched_yield()
        }
        if suspended { scheme.resume() }
        return operations
    }

    /// Takes one object, waiting for it; nil when the producer has finished and nothing is left.
    func receive<S: CountingScheme>(from channel: Int, on scheme: inout S) -> Handle? {
        let ring = ring(channel)
        var suspended = false
        while true {
            if let object = ring.tryPop() {
                if suspended { scheme.resume() }
                return scheme.adopt(object)
            }
            if ring.producerDone.pointee.load(ordering: .acquiring) != 0 {
                if suspended { scheme.resume() }
                return ring.tryPop().map { scheme.adopt($0) }
            }
            if !suspended {
                scheme.suspend()
                suspended = true
            }
            sched_yield()
        }
    }

    /// Takes and closes every object waiting now; returns the handle operations performed. With a
    /// ledger, each close is the object's last reference dropped (`LastDrops`), and is stamped.
    func receiveAll<S: CountingScheme>(from channel: Int, on scheme: inout S, ledger: DropLedger? = nil) -> Int {
        var suspended = false
        return receiveAll(from: channel, on: &scheme, ledger: ledger, suspended: &suspended)
    }

    /// `receiveAll` by a thread that may be suspended: it resumes before its first operation.
    func receiveAll<S: CountingScheme>(
        from channel: Int, on scheme: inout S, ledger: DropLedger? = nil, suspended: inout Bool
    ) -> Int {
        let ring = ring(channel)
        var operations = 0
        while let object = ring.tryPop() {
            if suspended {
                scheme.resume()
                suspended = false
            }
            let handle = scheme.adopt(object)
            ledger?.lastReferenceDropped(object)
            scheme.close(handle)
            operations += 2
        }
        return operations
    }

    func finishSending(to channel: Int) {
        ring(channel).producerDone.pointee.store(1, ordering: .releasing)
    }

    func drain<S: CountingScheme>(_ channel: Int, on scheme: inout S) {
        let ring = ring(channel)
        ring.consumerGone.pointee.store(1, ordering: .releasing)
        scheme.suspend()
        while ring.producerDone.pointee.load(ordering: .acquiring) == 0 { sched_yield() }
        scheme.resume()
        while let object = ring.tryPop() { scheme.close(scheme.adopt(object)) }
    }
}
