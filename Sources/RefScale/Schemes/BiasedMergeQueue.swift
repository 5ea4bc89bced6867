import Glibc
import Synchronization

import CRefScale

/// The merge queues of `biased` as `Python/brc.c` builds them, in raw memory so a thread's
/// context holds only pointers:
///
/// - a table of 257 buckets (`_Py_BRC_NUM_BUCKETS`), each 24 bytes as CPython's
///   `struct _brc_bucket` (a `PyMutex` and the head of a list of thread states), so neighbouring
///   buckets share cache lines as there. A thread's bucket is its id modulo 257, the id being
///   its thread-control-block address (`_Py_ThreadId`, read on the thread itself when its
///   context is made), so the buckets of a run's threads spread as CPython's do;
/// - per thread, two 128-byte lines: the eval-breaker word (other threads set the merge bit
///   by an atomic OR; the owner loads it at every eval-breaker check and clears it by an atomic
///   AND), and the thread's BRC state, written at registration and read by queuers: whether it
///   is in its bucket (`find_thread_state`), its bucket, and the heads of its queue
///   `objects_to_merge` and of the stack it merges from (`local_objects_to_merge`). Each is an
///   array of object addresses whose count lives in the array's own first word, as
///   `_PyObjectStackChunk`'s `n` lives beside its objects: a push or a pop writes the array,
///   never the state line.
///
/// The mutex is `PyMutex` (Python/lock.c `_PyMutex_LockTimed`): a CAS from unlocked to
/// `_Py_LOCKED`; a thread that finds it held yields up to 40 times (`MAX_SPIN_COUNT`), then sets
/// `_Py_HAS_PARKED` and parks. Unlocking is a CAS back to 0, or, when a waiter has parked,
/// clearing the word and waking. A choice: the parking lot is the kernel's futex on the mutex's
/// own word (CPython keeps its own hash table of waiters, `_PyParkingLot_Park`), and an unlock
/// wakes every waiter of the bucket where CPython wakes one and hands the lock over after 1 ms
/// of waiting (`TIME_TO_BE_FAIR_NS`). Contended acquisitions and parks are counted
/// (`mutex_contended`, `mutex_parks`).
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
    /// `_Py_LOCKED` and `_Py_HAS_PARKED` (Include/internal/pycore_lock.h).
    static let locked: UInt32 = 1
    static let hasParked: UInt32 = 2
    /// `MAX_SPIN_COUNT` (Python/lock.c): yields before a waiter parks.
    static let maxSpinCount = 40

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
                free(array.storage)
            }
        }
        buckets.deallocate()
        threads.deallocate()
    }

    /// The `PyMutex` of the thread's bucket, widened to the 32-bit word a futex waits on (CPython's
    /// is the first byte of the bucket, followed by padding).
    @inline(__always)
    func mutex(of thread: UInt) -> UnsafeMutablePointer<Atomic<UInt32>> {
        let bucket = Int(threadIdentity(of: thread).pointee.load(ordering: .relaxed) % UInt(BiasedMergeQueues.bucketCount))
        return (buckets + bucket * BiasedMergeQueues.bucketSize).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    /// The thread's id as CPython's `_Py_ThreadId` gives it, which picks its bucket.
    func threadIdentity(of thread: UInt) -> UnsafeMutablePointer<Atomic<UInt>> { stateWord(of: thread, 5) }

    @inline(__always)
    func evalBreaker(of thread: UInt) -> UnsafeMutablePointer<Atomic<UInt>> {
        (threads + Int(thread) * BiasedMergeQueues.threadStride).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    func stateWord(of thread: UInt, _ index: Int) -> UnsafeMutablePointer<Atomic<UInt>> {
        (threads + Int(thread) * BiasedMergeQueues.threadStride + BiasedMergeQueues.lineSize + index * 8)
            .assumingMemoryBound(to: Atomic<UInt>.self)
    }

    /// An array of object addresses: the head word (in the thread's state line) points to a
    /// buffer whose first word is the count, then the capacity, then the addresses.
    struct AddressArray {
        let head: UnsafeMutablePointer<Atomic<UInt>>

        var storage: UnsafeMutablePointer<UInt>? { UnsafeMutablePointer(bitPattern: head.pointee.load(ordering: .relaxed)) }
        var count: Int { storage.map { Int($0[0]) } ?? 0 }

        func append(_ address: UInt) {
            var buffer = storage
            let n = buffer.map { Int($0[0]) } ?? 0
            if buffer == nil || n == Int(buffer![1]) {
                let grown = max(64, 2 * n)
                buffer = realloc(buffer, (grown + 2) * MemoryLayout<UInt>.stride)!.assumingMemoryBound(to: UInt.self)
                buffer![0] = UInt(n)
                buffer![1] = UInt(grown)
                head.pointee.store(UInt(bitPattern: buffer), ordering: .relaxed)
            }
            buffer![2 + n] = address
            buffer![0] = UInt(n + 1)
        }

        func removeLast() -> UInt? {
            guard let buffer = storage, buffer[0] > 0 else { return nil }
            buffer[0] -= 1
            return buffer[2 + Int(buffer[0])]
        }

        /// Exchanges the contents of two arrays.
        func swap(with other: AddressArray) {
            let mine = head.pointee.load(ordering: .relaxed)
            head.pointee.store(other.head.pointee.load(ordering: .relaxed), ordering: .relaxed)
            other.head.pointee.store(mine, ordering: .relaxed)
        }
    }

    func registered(of thread: UInt) -> UnsafeMutablePointer<Atomic<UInt>> { stateWord(of: thread, 0) }
    func queue(of thread: UInt) -> AddressArray { AddressArray(head: stateWord(of: thread, 1)) }
    func taken(of thread: UInt) -> AddressArray { AddressArray(head: stateWord(of: thread, 2)) }
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

    /// `PyMutex_Lock` → `_PyMutex_LockTimed` with no timeout.
    public func lockBucket(of thread: UInt, counters: inout SchemeCounters) {
        let mutex = queues.mutex(of: thread)
        var bits = mutex.pointee.load(ordering: .relaxed)
        if bits & BiasedMergeQueues.locked == 0 {
            let (exchanged, current) = mutex.pointee.compareExchange(expected: bits, desired: bits | BiasedMergeQueues.locked, ordering: .acquiring)
            if exchanged { return }
            bits = current
        }
        counters.mutexContended &+= 1
        var spins = 0
        while true {
            if bits & BiasedMergeQueues.locked == 0 {
                let (exchanged, current) = mutex.pointee.compareExchange(expected: bits, desired: bits | BiasedMergeQueues.locked, ordering: .acquiring)
                if exchanged { return }
                bits = current
                continue
            }
            if bits & BiasedMergeQueues.hasParked == 0 && spins < BiasedMergeQueues.maxSpinCount {
                sched_yield()
                spins += 1
                bits = mutex.pointee.load(ordering: .relaxed)
                continue
            }
            var parked = bits
            if bits & BiasedMergeQueues.hasParked == 0 {
                parked = bits | BiasedMergeQueues.hasParked
                let (exchanged, current) = mutex.pointee.compareExchange(expected: bits, desired: parked, ordering: .relaxed)
                if !exchanged {
                    bits = current
                    continue
                }
            }
            counters.mutexParks &+= 1
            _ = crefscale_futex_wait(UnsafeMutableRawPointer(mutex).assumingMemoryBound(to: UInt32.self), parked)
            bits = mutex.pointee.load(ordering: .relaxed)
        }
    }

    /// `PyMutex_Unlock`: the fast CAS, or, with a waiter parked, the word cleared and the waiters woken.
    public func unlockBucket(of thread: UInt) {
        let mutex = queues.mutex(of: thread)
        if mutex.pointee.compareExchange(expected: BiasedMergeQueues.locked, desired: 0, ordering: .releasing).exchanged { return }
        mutex.pointee.store(0, ordering: .releasing)
        _ = crefscale_futex_wake(UnsafeMutableRawPointer(mutex).assumingMemoryBound(to: UInt32.self), Int32.max)
    }

    /// Records the calling thread's `_Py_ThreadId` as `thread`'s, which picks its bucket.
    public func recordThreadIdentity(of thread: UInt) {
        queues.threadIdentity(of: thread).pointee.store(UInt(crefscale_thread_tcb()), ordering: .relaxed)
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
        guard queue.count > 0 else { return false }
        let taken = queues.taken(of: thread)
        precondition(taken.count == 0, "the merge stack must be empty when the queue is taken")
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
