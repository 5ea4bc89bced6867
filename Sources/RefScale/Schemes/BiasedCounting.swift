/// The steps of biased reference counting (PEP 703) as CPython 3.13 and 3.14 take them, written
/// once over a memory-access protocol (`BiasedMemory`) so that the same code runs on the
/// objects' real atomics (`BiasedScheme`, through `AtomicBiasedMemory`) and under the
/// interleaving checker's scheduler (the tests' `ScheduledBiasedMemory`, which may stop a thread
/// before any access and run another). On real memory `Interruption` is `Never`: every `try`
/// below compiles to nothing, and the steps inline into plain loads, stores and `lock`
/// instructions.
///
/// Each step names the CPython function it follows; the state machine is DESIGN.md's:
/// - `increment` (`Py_INCREF`, Include/refcount.h): one load of `ob_ref_local`; if adding one
///   wraps to 0 the object is immortal and nothing is written; the owner stores `local + 1`
///   (no atomic); any other thread adds `1 << 2` to `ob_ref_shared` atomically.
/// - `decrement` (`Py_DECREF`): immortal (local == UInt32.max) → nothing; owner → store
///   `local - 1`, and at 0 `mergeZeroLocal`; other → `decrementShared`.
/// - `mergeZeroLocal` (`_Py_MergeZeroLocalRefcount`, Objects/object.c): shared word 0 → free with
///   no atomic; else `ob_tid = 0` first (gh-121794), then CAS the flags to MERGED, and free if the
///   word is then exactly MERGED.
/// - `decrementShared` (`_Py_DecRefShared`): CAS loop; count 0 with flags INIT or MAYBE_WEAKREF →
///   QUEUED without subtracting (the queue holds that reference) and `queueObject`; otherwise
///   subtract `1 << 2` (the count may go negative) and free if the word is exactly MERGED.
/// - `queueObject` (`_Py_brc_queue_object`, Python/brc.c): `ob_tid == 0` → the owner merged
///   meanwhile: an ordinary decrement; else lock the owner's bucket; owner not registered (it
///   has exited) → explicit merge dropping the queue's reference, under the lock, free at 0;
///   else push onto the owner's stack and set its eval-breaker bit; unlock.
/// - `handlePending` (`_Py_HandlePending`, Python/ceval_gil.c): merge bit set → clear it and
///   `mergeQueued` (`_Py_brc_merge_refcounts`): lock, move the whole stack to the thread's local
///   stack, unlock, then an explicit merge of each object dropping the queue's reference.
/// - `explicitMerge` (`_Py_ExplicitMergeRefcount`): `ob_ref_local = 0` and `ob_tid = 0` *before*
///   the CAS that publishes `count << 2 | MERGED` (gh-119999: once MERGED is published another
///   thread may free the object, so nothing may be written after it).
/// - `tryIncrefCompare` (`_Py_TryIncrefCompare`, pycore_object.h): the owner's fast path
///   (`_Py_TryIncrefFast`), else a CAS loop that refuses a shared word of 0 or MERGED
///   (`_Py_TryIncRefShared`), then a re-read of the slot and a drop if it changed.
/// - `setMaybeWeakref` (`_PyObject_SetMaybeWeakref`): what making a weak reference does to its
///   referent (`init_weakref`, Objects/weakrefobject.c); `newReferenceWithLock`
///   (`_Py_NewRefWithLock`): what a locked reader does.
public enum BiasedCounting {
    /// The shared word's low bits.
    public static let flagBits = 2
    public static let flagMask = 3
    /// No flag: the owner's counts are not merged.
    public static let INIT = 0
    /// The object may be reached by a lock-free read or a weak reference: a shared count of 0
    /// no longer means "no other thread may take a reference" (`_Py_REF_MAYBE_WEAKREF`).
    public static let MAYBE_WEAKREF = 1
    /// A non-owner dropped a reference at shared count 0; the object waits in the owner's queue.
    public static let QUEUED = 2
    /// Local and shared counts are merged into the shared word; the owner counts no more.
    public static let MERGED = 3
    /// One reference in the shared word (`1 << _Py_REF_SHARED_SHIFT`).
    public static let sharedOne = 1 << flagBits
    /// `_Py_IMMORTAL_REFCNT_LOCAL`: a local count of UInt32.max is immortal.
    public static let immortalLocal = UInt32.max

    // MARK: Increment and decrement

    @inline(__always)
    public static func increment<M: BiasedMemory>(
        _ object: M.Object, thread: UInt, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        let local = try memory.localCount(object) &+ 1
        if local == 0 { return }
        if try memory.ownerThread(object) == thread {
            try memory.setLocalCount(object, local)
        } else {
            try memory.addShared(object, sharedOne)
            counters.atomicRMW &+= 1
        }
    }

    @inline(__always)
    public static func decrement<M: BiasedMemory>(
        _ object: M.Object, thread: UInt, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        var local = try memory.localCount(object)
        if local == immortalLocal { return }
        if try memory.ownerThread(object) == thread {
            local &-= 1
            try memory.setLocalCount(object, local)
            if local == 0 { try mergeZeroLocal(object, memory: &memory, counters: &counters) }
        } else {
            try decrementShared(object, thread: thread, memory: &memory, counters: &counters)
        }
    }

    public static func mergeZeroLocal<M: BiasedMemory>(
        _ object: M.Object, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        var shared = try memory.sharedCountAcquiring(object)
        if shared == 0 {
            try free(object, memory: &memory, counters: &counters)
            return
        }
        try memory.setOwnerThread(object, 0)
        var merged: Int
        while true {
            merged = (shared & ~flagMask) | MERGED
            let (exchanged, current) = try memory.compareExchangeShared(object, expected: shared, desired: merged)
            counters.atomicRMW &+= 1
            if exchanged { break }
            counters.casRetries &+= 1
            shared = current
        }
        counters.merges &+= 1
        if merged == MERGED { try free(object, memory: &memory, counters: &counters) }
    }

    @inline(__always)
    public static func decrementShared<M: BiasedMemory>(
        _ object: M.Object, thread: UInt, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        var shared = try memory.sharedCount(object)
        var updated: Int
        var queue: Bool
        while true {
            queue = shared == INIT || shared == MAYBE_WEAKREF
            updated = queue ? QUEUED : shared &- sharedOne
            let (exchanged, current) = try memory.compareExchangeShared(object, expected: shared, desired: updated)
            counters.atomicRMW &+= 1
            if exchanged { break }
            counters.casRetries &+= 1
            shared = current
        }
        if queue {
            counters.queued &+= 1
            try queueObject(object, thread: thread, memory: &memory, counters: &counters)
        } else if updated == MERGED {
            try free(object, memory: &memory, counters: &counters)
        }
    }

    // MARK: The merge queue (Python/brc.c)

    public static func queueObject<M: BiasedMemory>(
        _ object: M.Object, thread: UInt, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        let owner = try memory.ownerThread(object)
        if owner == 0 {
            try decrement(object, thread: thread, memory: &memory, counters: &counters)
            return
        }
        try memory.lockBucket(of: owner, counters: &counters)
        counters.atomicRMW &+= 1
        guard try memory.isRegistered(owner) else {
            let count = try explicitMerge(object, extra: -1, memory: &memory, counters: &counters)
            try memory.unlockBucket(of: owner)
            counters.atomicRMW &+= 1
            if count == 0 { try free(object, memory: &memory, counters: &counters) }
            return
        }
        try memory.push(object, ontoQueueOf: owner)
        try memory.requestMerge(of: owner)
        try memory.unlockBucket(of: owner)
        counters.atomicRMW &+= 2
    }

    /// The eval-breaker check: merges the thread's queue if another thread asked for it.
    @inline(__always)
    public static func handlePending<M: BiasedMemory>(
        thread: UInt, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        guard try memory.mergeRequested(of: thread) else { return }
        try memory.clearMergeRequest(of: thread)
        counters.atomicRMW &+= 1
        counters.mergePasses &+= 1
        try mergeQueued(thread: thread, memory: &memory, counters: &counters)
    }

    /// `_Py_brc_merge_refcounts`: takes the whole queue under the bucket's lock, merges outside it.
    public static func mergeQueued<M: BiasedMemory>(
        thread: UInt, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        try memory.lockBucket(of: thread, counters: &counters)
        _ = try memory.takeQueue(of: thread)
        try memory.unlockBucket(of: thread)
        counters.atomicRMW &+= 2
        try mergeTaken(thread: thread, memory: &memory, counters: &counters)
    }

    /// `merge_queued_objects`: an explicit merge of each taken object, dropping the queue's reference.
    static func mergeTaken<M: BiasedMemory>(
        thread: UInt, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        while let object = try memory.popTaken(of: thread) {
            if try explicitMerge(object, extra: -1, memory: &memory, counters: &counters) == 0 {
                try free(object, memory: &memory, counters: &counters)
            }
        }
    }

    /// `_Py_ExplicitMergeRefcount`: returns the merged count.
    public static func explicitMerge<M: BiasedMemory>(
        _ object: M.Object, extra: Int, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) -> Int {
        let local = Int(try memory.localCount(object))
        try memory.setLocalCount(object, 0)
        try memory.setOwnerThread(object, 0)
        var shared = try memory.sharedCount(object)
        var count: Int
        while true {
            count = (shared >> flagBits) &+ local &+ extra
            let (exchanged, current) = try memory.compareExchangeShared(
                object, expected: shared, desired: count << flagBits | MERGED)
            counters.atomicRMW &+= 1
            if exchanged { break }
            counters.casRetries &+= 1
            shared = current
        }
        counters.merges &+= 1
        return count
    }

    /// `_Py_brc_init_thread`: enters the thread in its bucket.
    public static func registerThread<M: BiasedMemory>(
        _ thread: UInt, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        try memory.lockBucket(of: thread, counters: &counters)
        try memory.setRegistered(thread, true)
        try memory.unlockBucket(of: thread)
    }

    /// `_Py_brc_remove_thread`: merges until the queue is found empty under the lock, and leaves
    /// the bucket in the same critical section; from then on queuers merge this thread's objects.
    public static func removeThread<M: BiasedMemory>(
        _ thread: UInt, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        var tookAny = true
        while tookAny {
            try mergeTaken(thread: thread, memory: &memory, counters: &counters)
            try memory.lockBucket(of: thread, counters: &counters)
            tookAny = try memory.takeQueue(of: thread)
            if !tookAny { try memory.setRegistered(thread, false) }
            try memory.unlockBucket(of: thread)
        }
    }

    // MARK: Lock-free reads of shared slots

    /// `_Py_TryIncrefCompare`: a reference to `object`, just read from a slot, if the slot still
    /// holds it afterwards.
    @inline(__always)
    public static func tryIncrefCompare<M: BiasedMemory>(
        _ object: M.Object, thread: UInt, reloadSlot: () -> M.Object?, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) -> Bool {
        let local = try memory.localCount(object) &+ 1
        if local == 0 { return true }
        if try memory.ownerThread(object) == thread {
            try memory.setLocalCount(object, local)
            return true
        }
        var shared = try memory.sharedCount(object)
        while true {
            if shared == 0 || shared == MERGED { return false }
            let (exchanged, current) = try memory.compareExchangeShared(object, expected: shared, desired: shared &+ sharedOne)
            counters.atomicRMW &+= 1
            if exchanged { break }
            counters.casRetries &+= 1
            shared = current
        }
        if reloadSlot() != object {
            try decrement(object, thread: thread, memory: &memory, counters: &counters)
            return false
        }
        return true
    }

    /// `_Py_NewRefWithLock`: the reference a reader takes with the container's lock held (the
    /// path a failed lock-free read falls back to); sets MAYBE_WEAKREF on a non-owner's way.
    public static func newReferenceWithLock<M: BiasedMemory>(
        _ object: M.Object, thread: UInt, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        let local = try memory.localCount(object) &+ 1
        if local == 0 { return }
        if try memory.ownerThread(object) == thread {
            try memory.setLocalCount(object, local)
            return
        }
        var shared = try memory.sharedCount(object)
        while true {
            var updated = shared &+ sharedOne
            if shared & flagMask == 0 { updated |= MAYBE_WEAKREF }
            let (exchanged, current) = try memory.compareExchangeShared(object, expected: shared, desired: updated)
            counters.atomicRMW &+= 1
            if exchanged { return }
            counters.casRetries &+= 1
            shared = current
        }
    }

    /// `_PyObject_SetMaybeWeakref`: what making a weak reference to `object` does to it
    /// (`init_weakref`, Objects/weakrefobject.c, its one caller in 3.13).
    @inline(__always)
    public static func setMaybeWeakref<M: BiasedMemory>(
        _ object: M.Object, memory: inout M, counters: inout SchemeCounters
    ) throws(M.Interruption) {
        if try memory.localCount(object) == immortalLocal { return }
        var shared = try memory.sharedCount(object)
        while shared & flagMask == 0 {
            let (exchanged, current) = try memory.compareExchangeShared(object, expected: shared, desired: shared | MAYBE_WEAKREF)
            counters.atomicRMW &+= 1
            if exchanged { return }
            counters.casRetries &+= 1
            shared = current
        }
    }

    @inline(__always)
    static func free<M: BiasedMemory>(_ object: M.Object, memory: inout M, counters: inout SchemeCounters) throws(M.Interruption) {
        try memory.free(object, counters: &counters)
        counters.frees &+= 1
    }
}

/// The memory the biased steps read and write: the object's header and the merge queues. Each
/// requirement is one access (or one critical section's worth: a push or a take under a lock
/// the caller holds), so a scheduler that may switch threads before any requirement sees every
/// interleaving the steps allow.
public protocol BiasedMemory {
    associatedtype Object: Equatable
    /// What stops a thread between two accesses under a scheduler; `Never` on real memory.
    associatedtype Interruption: Error

    mutating func ownerThread(_ object: Object) throws(Interruption) -> UInt
    mutating func setOwnerThread(_ object: Object, _ thread: UInt) throws(Interruption)
    mutating func localCount(_ object: Object) throws(Interruption) -> UInt32
    mutating func setLocalCount(_ object: Object, _ count: UInt32) throws(Interruption)
    mutating func sharedCount(_ object: Object) throws(Interruption) -> Int
    mutating func sharedCountAcquiring(_ object: Object) throws(Interruption) -> Int
    mutating func compareExchangeShared(_ object: Object, expected: Int, desired: Int) throws(Interruption) -> (exchanged: Bool, original: Int)
    mutating func addShared(_ object: Object, _ delta: Int) throws(Interruption)
    /// `_Py_Dealloc`: the object's life ends, and with it the reference it held to its type.
    mutating func free(_ object: Object, counters: inout SchemeCounters) throws(Interruption)

    /// The mutex of the thread's bucket (`PyMutex_Lock`); waits while another thread holds it,
    /// counting a contended acquisition and each park in `counters`.
    mutating func lockBucket(of thread: UInt, counters: inout SchemeCounters) throws(Interruption)
    mutating func unlockBucket(of thread: UInt) throws(Interruption)
    /// Under the bucket's lock: whether the thread is in its bucket (`find_thread_state`).
    mutating func isRegistered(_ thread: UInt) throws(Interruption) -> Bool
    mutating func setRegistered(_ thread: UInt, _ registered: Bool) throws(Interruption)
    /// Under the bucket's lock: a push onto the thread's `objects_to_merge`.
    mutating func push(_ object: Object, ontoQueueOf thread: UInt) throws(Interruption)
    /// Under the bucket's lock: moves the whole queue to the thread's own stack
    /// (`_PyObjectStack_Merge`); returns whether the queue held anything.
    mutating func takeQueue(of thread: UInt) throws(Interruption) -> Bool
    /// The thread's own stack, which only the thread touches: the next object taken, or nil.
    mutating func popTaken(of thread: UInt) throws(Interruption) -> Object?
    /// The eval-breaker bit `_PY_EVAL_EXPLICIT_MERGE_BIT`: set by an atomic OR, read with a plain
    /// load at every check, cleared by an atomic AND.
    mutating func requestMerge(of thread: UInt) throws(Interruption)
    mutating func mergeRequested(of thread: UInt) throws(Interruption) -> Bool
    mutating func clearMergeRequest(of thread: UInt) throws(Interruption)
}
