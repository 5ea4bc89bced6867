import Glibc
import Synchronization

/// The merge queues of `biased` as `Python/brc.c` builds them, in raw memory so a thread's
/// context holds only pointers:
///
/// - a table of 257 buckets (`_Py_BRC_NUM_BUCKETS`), the bucket of a thread being
///   `thread % 257`; each bucket is 24 bytes, as CPython's `struct _brc_bucket` (a `PyMutex` and
///   the head of a list of thread states), so neighbouring buckets share cache lines as there;
/// - per thread ID, two 128-byte lines: the eval-breaker word (other threads set the merge bit
///   by an atomic OR; the owner loads it at every eval-breaker check and clears it by an atomic
///   AND), and the thread's BRC state: whether it is in its bucket (`find_thread_state`), its
///   queue `objects_to_merge` and the stack it merges from (`local_objects_to_merge`), each an
///   array of object addresses (CPython: `_PyObjectStack`, chunks of pointers).
///
/// The mutex is a byte, locked by a CAS from 0 to 1 and unlocked by a CAS back, as `PyMutex`'s
/// fast paths do; a thread that finds it held spins, then yields (where `PyMutex` parks).
/// The queue and a registration change only under the bucket's mutex; the owner takes the whole
/// queue in O(1) by swapping it with its own empty stack, then merges outside the lock.
public struct BiasedMergeQueues: @unchecked Sendable {
    let buckets: UnsafeMutableRawPointer
    let threads: UnsafeMutableRawPointer
    public let threadIDs: Int

    /// `_Py_BRC_NUM_BUCKETS`.
    public static let bucketCount = 257
    /// `sizeof(struct _brc_bucket)` on a 64-bit build.
    static let bucketSize = 24
    static let lineSize = 128
    static let threadStride = 2 * lineSize
    /// `_PY_EVAL_EXPLICIT_MERGE_BIT` in the eval-breaker word.
    static let explicitMergeBit: UInt = 1 << 6
    static let spinsBeforeYield = 40

    public init(threadIDs: Int) {
        self.threadIDs = threadIDs
        let bucketBytes = BiasedMergeQueues.bucketCount * BiasedMergeQueues.bucketSize
        buckets = .allocate(byteCount: bucketBytes, alignment: BiasedMergeQueues.lineSize)
        buckets.initializeMemory(as: UInt8.self, repeating: 0, count: bucketBytes)
        let threadBytes = threadIDs * BiasedMergeQueues.threadStride
        threads = .allocate(byteCount: threadBytes, alignment: BiasedMergeQueues.lineSize)
        threads.initializeMemory(as: UInt8.self, repeating: 0, count: threadBytes)
    }

    /// Frees the arrays and the table; no thread may use them any more.
    public func deallocate() {
        for thread in 0..<threadIDs {
            for array in [queue(of: UInt(thread)), taken(of: UInt(thread))] {
                UnsafeMutableRawPointer(bitPattern: array.buffer.pointee.load(ordering: .relaxed))?.deallocate()
            }
        }
        buckets.deallocate()
        threads.deallocate()
    }

    @inline(__always)
    func mutex(of thread: UInt) -> UnsafeMutablePointer<Atomic<UInt8>> {
        (buckets + Int(thread % UInt(BiasedMergeQueues.bucketCount)) * BiasedMergeQueues.bucketSize)
            .assumingMemoryBound(to: Atomic<UInt8>.self)
    }

    @inline(__always)
    func evalBreaker(of thread: UInt) -> UnsafeMutablePointer<Atomic<UInt>> {
        (threads + Int(thread) * BiasedMergeQueues.threadStride).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    func stateWord(of thread: UInt, _ index: Int) -> UnsafeMutablePointer<Atomic<UInt>> {
        (threads + Int(thread) * BiasedMergeQueues.threadStride + BiasedMergeQueues.lineSize + index * 8)
            .assumingMemoryBound(to: Atomic<UInt>.self)
    }

    /// An array of object addresses: buffer, count, capacity.
    struct AddressArray {
        let buffer: UnsafeMutablePointer<Atomic<UInt>>
        let count: UnsafeMutablePointer<Atomic<UInt>>
        let capacity: UnsafeMutablePointer<Atomic<UInt>>

        var elements: UnsafeMutablePointer<UInt>? { UnsafeMutablePointer(bitPattern: buffer.pointee.load(ordering: .relaxed)) }

        func append(_ address: UInt) {
            let n = Int(count.pointee.load(ordering: .relaxed))
            var storage = elements
            if n == Int(capacity.pointee.load(ordering: .relaxed)) {
                let grown = max(64, 2 * n)
                storage = realloc(storage, grown * MemoryLayout<UInt>.stride)!.assumingMemoryBound(to: UInt.self)
                buffer.pointee.store(UInt(bitPattern: storage), ordering: .relaxed)
                capacity.pointee.store(UInt(grown), ordering: .relaxed)
            }
            storage![n] = address
            count.pointee.store(UInt(n + 1), ordering: .relaxed)
        }

        func removeLast() -> UInt? {
            let n = count.pointee.load(ordering: .relaxed)
            guard n > 0 else { return nil }
            count.pointee.store(n - 1, ordering: .relaxed)
            return elements![Int(n - 1)]
        }

        /// Exchanges the contents of two arrays.
        func swap(with other: AddressArray) {
            for (mine, theirs) in [(buffer, other.buffer), (count, other.count), (capacity, other.capacity)] {
                let value = mine.pointee.load(ordering: .relaxed)
                mine.pointee.store(theirs.pointee.load(ordering: .relaxed), ordering: .relaxed)
                theirs.pointee.store(value, ordering: .relaxed)
            }
        }
    }

    func registered(of thread: UInt) -> UnsafeMutablePointer<Atomic<UInt>> { stateWord(of: thread, 0) }
    func queue(of thread: UInt) -> AddressArray {
        AddressArray(buffer: stateWord(of: thread, 1), count: stateWord(of: thread, 2), capacity: stateWord(of: thread, 3))
    }
    func taken(of thread: UInt) -> AddressArray {
        AddressArray(buffer: stateWord(of: thread, 4), count: stateWord(of: thread, 5), capacity: stateWord(of: thread, 6))
    }
}

/// `BiasedMemory` on the objects' real header and the real queues: every access is the plain
/// load or store, or the `lock` instruction, CPython's code compiles to.
public struct AtomicBiasedMemory: BiasedMemory {
    public typealias Object = ObjectRef
    public typealias Interruption = Never

    let queues: BiasedMergeQueues
    /// The thread whose context this memory is.
    let thread: UInt
    /// `perthread`: the run's per-thread counts, where a freed instance drops its reference to a
    /// type with a unique id (`_Py_DECREF_TYPE`); nil for `biased`, where it is `Py_DECREF`.
    let perThread: PerThreadState?

    public init(queues: BiasedMergeQueues, thread: UInt, perThread: PerThreadState? = nil) {
        self.queues = queues
        self.thread = thread
        self.perThread = perThread
    }

    @inline(__always)
    public func ownerThread(_ object: ObjectRef) -> UInt { object.ownerThread.pointee.load(ordering: .relaxed) }
    @inline(__always)
    public func setOwnerThread(_ object: ObjectRef, _ thread: UInt) { object.ownerThread.pointee.store(thread, ordering: .relaxed) }
    @inline(__always)
    public func localCount(_ object: ObjectRef) -> UInt32 { object.localCountWord.pointee.load(ordering: .relaxed) }
    @inline(__always)
    public func setLocalCount(_ object: ObjectRef, _ count: UInt32) { object.localCountWord.pointee.store(count, ordering: .relaxed) }
    @inline(__always)
    public func sharedCount(_ object: ObjectRef) -> Int { object.sharedCount.pointee.load(ordering: .relaxed) }
    @inline(__always)
    public func sharedCountAcquiring(_ object: ObjectRef) -> Int { object.sharedCount.pointee.load(ordering: .acquiring) }
    @inline(__always)
    public func compareExchangeShared(_ object: ObjectRef, expected: Int, desired: Int) -> (exchanged: Bool, original: Int) {
        object.sharedCount.pointee.compareExchange(expected: expected, desired: desired, ordering: .acquiringAndReleasing)
    }
    @inline(__always)
    public func addShared(_ object: ObjectRef, _ delta: Int) { object.sharedCount.pointee.wrappingAdd(delta, ordering: .relaxed) }
    /// `_Py_Dealloc`, then the deallocator's drop of the type reference: `subtype_dealloc`'s
    /// `_Py_DECREF_TYPE` for a class (the thread's entry in 3.14), the extension's own
    /// `tp_dealloc`'s public `Py_DECREF(tp)` for an extension type (biased in 3.13 and 3.14).
    public func free(_ object: ObjectRef, counters: inout SchemeCounters) {
        let type = object.typeWord.pointee.load(ordering: .relaxed)
        ObjectPool.free(object)
        if let perThread {
            perThread.recordDeallocation(thread: Int(thread))
            if type != 0 {
                let typeObject = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: type)!)
                if !typeObject.isExtensionType && perThread.decrementTypeReference(typeObject, thread: Int(thread)) { return }
            }
        }
        if type != 0 {
            var memory = self
            BiasedCounting.decrement(ObjectRef(address: UnsafeMutableRawPointer(bitPattern: type)!), thread: thread, memory: &memory, counters: &counters)
        }
    }

    public func lockBucket(of thread: UInt) {
        let mutex = queues.mutex(of: thread)
        var spins = 0
        while !mutex.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged {
            spins += 1
            if spins >= BiasedMergeQueues.spinsBeforeYield { sched_yield() }
        }
    }
    public func unlockBucket(of thread: UInt) {
        _ = queues.mutex(of: thread).pointee.compareExchange(expected: 1, desired: 0, ordering: .releasing)
    }
    public func isRegistered(_ thread: UInt) -> Bool {
        Int(thread) < queues.threadIDs && queues.registered(of: thread).pointee.load(ordering: .relaxed) != 0
    }
    public func setRegistered(_ thread: UInt, _ registered: Bool) {
        queues.registered(of: thread).pointee.store(registered ? 1 : 0, ordering: .relaxed)
    }
    public func push(_ object: ObjectRef, ontoQueueOf thread: UInt) {
        queues.queue(of: thread).append(UInt(bitPattern: object.address))
    }
    public func takeQueue(of thread: UInt) -> Bool {
        let queue = queues.queue(of: thread)
        guard queue.count.pointee.load(ordering: .relaxed) > 0 else { return false }
        let taken = queues.taken(of: thread)
        precondition(taken.count.pointee.load(ordering: .relaxed) == 0, "the merge stack must be empty when the queue is taken")
        queue.swap(with: taken)
        return true
    }
    public func popTaken(of thread: UInt) -> ObjectRef? {
        queues.taken(of: thread).removeLast().map { ObjectRef(address: UnsafeMutableRawPointer(bitPattern: $0)!) }
    }
    public func requestMerge(of thread: UInt) {
        queues.evalBreaker(of: thread).pointee.bitwiseOr(BiasedMergeQueues.explicitMergeBit, ordering: .relaxed)
    }
    @inline(__always)
    public func mergeRequested(of thread: UInt) -> Bool {
        queues.evalBreaker(of: thread).pointee.load(ordering: .relaxed) & BiasedMergeQueues.explicitMergeBit != 0
    }
    public func clearMergeRequest(of thread: UInt) {
        queues.evalBreaker(of: thread).pointee.bitwiseAnd(~BiasedMergeQueues.explicitMergeBit, ordering: .relaxed)
    }
}
