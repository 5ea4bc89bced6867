import CRefScale
import Glibc
import Synchronization

/// The shared state of a `perthread` run, in raw memory so a context holds only a pointer. It
/// models CPython 3.14t's: the unique-id pool of `Python/uniqueid.c` (`_PyObject_AssignUniqueId`,
/// `_PyObject_ReleaseUniqueId`, `_PyObject_MergePerThreadRefcounts`), the young generation's
/// allocation count of `Python/gc_free_threading.c` (`record_allocation`, `gc_should_collect`,
/// `_Py_ScheduleGC`), and the stop-the-world of `Python/pystate.c` (`_PyEval_StopTheWorld`,
/// `_PyEval_StartTheWorld`), in which one thread merges every thread's array.
///
///
///     line 0   the id pool: next never-used id, the free list's head (id + 1, 0 = empty), its lock
///     line 1   stop requested (the word every worker loads at each eval-breaker check)
///     line 2   the young generation's count of net allocations (`gcstate->young.count`)
///     line 3   constants: thread IDs, the collection threshold, the stop-the-world mutex and
///              condition (pthread), collections and their total pause (written under the mutex)
///     line 4   under the mutex: workers running, workers stopped (parked or detached)
///     line 5-7 the id table's directory: chunk k holds ids [64 (2^k - 1), 64 (2^(k+1) - 1))
///     line 8-  per thread ID, a line of its own (the thread writes it at every allocation): its
///              array's address and capacity, its allocation count not yet added to the young
///              count, whether it is detached
///
/// Chunks of the id table are made on demand and never move, so a thread can read an id's
/// object while another adds ids. A free id's table entry holds the next free id + 1 with bit 63
/// set, as `Python/uniqueid.c`'s free list threads through the table (`_PyObject_ReleaseUniqueId`).
public struct PerThreadState: @unchecked Sendable {
    let block: UnsafeMutableRawPointer

    static let lineSize = 128
    static let chunkCount = 48
    static let firstChunkIDs = 64
    static let slotsOffset = 8 * lineSize
    static let slotSize = 128
    static let freeEntryBit: UInt = 1 << 63
    /// `LOCAL_ALLOC_COUNT_THRESHOLD` (Python/gc_free_threading.c): a thread adds its allocation
    /// count to the young count once it reaches ±512.
    public static let localAllocationFlush = 512

    init(block: UnsafeMutableRawPointer) { self.block = block }

    init(threadIDs: Int, gcThreshold: Int) {
        let bytes = PerThreadState.slotsOffset + threadIDs * PerThreadState.slotSize
        block = .allocate(byteCount: bytes, alignment: PerThreadState.lineSize)
        block.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        word(3, 0).pointee.store(threadIDs, ordering: .relaxed)
        word(3, 8).pointee.store(gcThreshold, ordering: .relaxed)
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
        precondition(pthread_mutex_init(mutex, nil) == 0 && pthread_cond_init(condition, nil) == 0, "pthread_mutex_init failed")
        word(3, 16).pointee.store(Int(bitPattern: mutex), ordering: .relaxed)
        word(3, 24).pointee.store(Int(bitPattern: condition), ordering: .relaxed)
    }

    /// Frees the id table, any array a thread did not give back, and the block.
    func deallocate() {
        for k in 0..<PerThreadState.chunkCount {
            UnsafeMutableRawPointer(bitPattern: chunkWord(k).pointee.load(ordering: .acquiring))?.deallocate()
        }
        for thread in 0..<threadIDs { entries(of: thread).0?.deallocate() }
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(condition)
        mutex.deallocate()
        condition.deallocate()
        block.deallocate()
    }

    @inline(__always)
    func word(_ line: Int, _ offset: Int = 0) -> UnsafeMutablePointer<Atomic<Int>> {
        (block + line * PerThreadState.lineSize + offset).assumingMemoryBound(to: Atomic<Int>.self)
    }

    var nextID: UnsafeMutablePointer<Atomic<Int>> { word(0, 0) }
    var freeIDHead: UnsafeMutablePointer<Atomic<Int>> { word(0, 8) }
    var idLock: UnsafeMutablePointer<Atomic<Int>> { word(0, 16) }
    var stopRequested: UnsafeMutablePointer<Atomic<Int>> { word(1) }
    var youngCount: UnsafeMutablePointer<Atomic<Int>> { word(2) }
    public var threadIDs: Int { word(3, 0).pointee.load(ordering: .relaxed) }
    var gcThreshold: Int { word(3, 8).pointee.load(ordering: .relaxed) }
    var mutex: UnsafeMutablePointer<pthread_mutex_t> { UnsafeMutablePointer(bitPattern: word(3, 16).pointee.load(ordering: .relaxed))! }
    var condition: UnsafeMutablePointer<pthread_cond_t> { UnsafeMutablePointer(bitPattern: word(3, 24).pointee.load(ordering: .relaxed))! }
    var running: UnsafeMutablePointer<Atomic<Int>> { word(4, 0) }
    var stopped: UnsafeMutablePointer<Atomic<Int>> { word(4, 8) }

    // MARK: The id pool (Python/uniqueid.c)

    /// Ids `0..<idCount` have been handed out at least once.
    var idCount: Int { nextID.pointee.load(ordering: .acquiring) }

    func chunkWord(_ k: Int) -> UnsafeMutablePointer<Atomic<UInt>> {
        (block + 5 * PerThreadState.lineSize + k * 8).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    /// The chunk holding `id` and the id's place in it.
    static func chunk(of id: Int) -> (chunk: Int, offset: Int) {
        let k = Int.bitWidth - 1 - (id / firstChunkIDs + 1).leadingZeroBitCount
        return (k, id - firstChunkIDs * ((1 << k) - 1))
    }

    func entryWord(_ id: Int) -> UnsafeMutablePointer<Atomic<UInt>>? {
        let (k, offset) = PerThreadState.chunk(of: id)
        guard k < PerThreadState.chunkCount else { return nil }
        var chunk = chunkWord(k).pointee.load(ordering: .acquiring)
        if chunk == 0 {
            let bytes = (PerThreadState.firstChunkIDs << k) * 8
            let made = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 8)
            made.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            let (exchanged, current) = chunkWord(k).pointee.compareExchange(
                expected: 0, desired: UInt(bitPattern: made), ordering: .acquiringAndReleasing)
            if exchanged {
                chunk = UInt(bitPattern: made)
            } else {
                made.deallocate()
                chunk = current
            }
        }
        return (UnsafeMutableRawPointer(bitPattern: chunk)! + offset * 8).assumingMemoryBound(to: Atomic<UInt>.self)
    }

    func lockIDs() {
        while !idLock.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged { sched_yield() }
    }

    func unlockIDs() { idLock.pointee.store(0, ordering: .releasing) }

    /// `_PyObject_AssignUniqueId`: a free id if there is one, else the next; nil when the table
    /// is full.
    func assignUniqueID(to object: ObjectRef) -> Int? {
        lockIDs()
        defer { unlockIDs() }
        var id = freeIDHead.pointee.load(ordering: .relaxed) - 1
        if id >= 0 {
            let next = entryWord(id)!.pointee.load(ordering: .relaxed) & ~PerThreadState.freeEntryBit
            freeIDHead.pointee.store(Int(next), ordering: .relaxed)
        } else {
            id = nextID.pointee.load(ordering: .relaxed)
            guard entryWord(id) != nil else { return nil }
            nextID.pointee.store(id + 1, ordering: .releasing)
        }
        entryWord(id)!.pointee.store(UInt(bitPattern: object.address), ordering: .releasing)
        return id
    }

    /// `_PyObject_ReleaseUniqueId`: the id goes on the free list, for the next object to take.
    func releaseUniqueID(_ id: Int) {
        lockIDs()
        defer { unlockIDs() }
        entryWord(id)!.pointee.store(UInt(freeIDHead.pointee.load(ordering: .relaxed)) | PerThreadState.freeEntryBit, ordering: .relaxed)
        freeIDHead.pointee.store(id + 1, ordering: .relaxed)
    }

    /// The object with id `id`, nil for a free id.
    func object(withID id: Int) -> ObjectRef? {
        let entry = entryWord(id)!.pointee.load(ordering: .acquiring)
        guard entry & PerThreadState.freeEntryBit == 0, entry != 0 else { return nil }
        return ObjectRef(address: UnsafeMutableRawPointer(bitPattern: entry)!)
    }

    // MARK: Per-thread arrays

    @inline(__always)
    func slot(_ thread: Int, _ index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (block + PerThreadState.slotsOffset + thread * PerThreadState.slotSize + index * 8).assumingMemoryBound(to: Atomic<Int>.self)
    }

    func entries(of thread: Int) -> (UnsafeMutablePointer<Atomic<Int>>?, Int) {
        (UnsafeMutablePointer(bitPattern: slot(thread, 0).pointee.load(ordering: .relaxed)), slot(thread, 1).pointee.load(ordering: .relaxed))
    }

    func setEntries(of thread: Int, _ entries: UnsafeMutablePointer<Atomic<Int>>?, capacity: Int) {
        slot(thread, 0).pointee.store(Int(bitPattern: entries), ordering: .relaxed)
        slot(thread, 1).pointee.store(capacity, ordering: .relaxed)
    }

    /// `_Py_THREAD_INCREF_OBJECT`: one more reference in the thread's entry for `id`, the array
    /// grown to hold it first (`_PyObject_ThreadIncrefSlow`).
    @inline(__always)
    func incrementEntry(_ id: Int, thread: Int) {
        var (entries, capacity) = entries(of: thread)
        if _slowPath(id >= capacity) {
            grow(thread: thread, toHold: id)
            (entries, capacity) = self.entries(of: thread)
        }
        let entry = entries.unsafelyUnwrapped + id
        entry.pointee.store(entry.pointee.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    }

    /// `_Py_DECREF_TYPE`: one reference less in the thread's entry when the array holds the id;
    /// false when it does not (the caller then decrements the object itself: `Py_DECREF`).
    @inline(__always)
    func decrementTypeReference(_ type: ObjectRef, thread: Int) -> Bool {
        let id = type.uniqueID
        let (entries, capacity) = entries(of: thread)
        guard id >= 0 && id < capacity else { return false }
        attachIfDetached(thread: thread)
        let entry = entries.unsafelyUnwrapped + id
        entry.pointee.store(entry.pointee.load(ordering: .relaxed) &- 1, ordering: .relaxed)
        return true
    }

    @inline(never)
    func grow(thread: Int, toHold id: Int) {
        let (old, capacity) = entries(of: thread)
        var newCapacity = max(64, capacity)
        while newCapacity <= id { newCapacity *= 2 }
        let grown = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: newCapacity)
        let raw = UnsafeMutableRawPointer(grown)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: newCapacity * MemoryLayout<Int>.stride)
        if let old {
            raw.copyMemory(from: UnsafeRawPointer(old), byteCount: capacity * MemoryLayout<Int>.stride)
        }
        // Under the mutex: a collection reads the array's address and capacity.
        pthread_mutex_lock(mutex)
        setEntries(of: thread, grown, capacity: newCapacity)
        pthread_mutex_unlock(mutex)
        old?.deallocate()
    }

    /// `_PyObject_MergePerThreadRefcounts`: adds each non-zero entry of the thread's array into
    /// its object's shared word and zeroes it. Returns the atomic adds made.
    func mergeEntries(of thread: Int) -> Int {
        let (entries, capacity) = entries(of: thread)
        guard let entries else { return 0 }
        var adds = 0
        for id in 0..<capacity {
            let delta = entries[id].load(ordering: .relaxed)
            guard delta != 0, let object = object(withID: id) else { continue }
            object.sharedCount.pointee.wrappingAdd(delta << BiasedCounting.flagBits, ordering: .releasing)
            entries[id].store(0, ordering: .relaxed)
            adds += 1
        }
        return adds
    }

    // MARK: Allocation counts (Python/gc_free_threading.c: record_allocation, record_deallocation)

    /// Counts an allocation; true when the young count has passed the threshold and a collection
    /// should be scheduled (`gc_should_collect`).
    @inline(__always)
    func recordAllocation(thread: Int) -> Bool {
        let local = slot(thread, 2)
        let count = local.pointee.load(ordering: .relaxed) &+ 1
        guard count >= PerThreadState.localAllocationFlush else {
            local.pointee.store(count, ordering: .relaxed)
            return false
        }
        local.pointee.store(0, ordering: .relaxed)
        let young = youngCount.pointee.wrappingAdd(count, ordering: .relaxed).newValue
        let threshold = gcThreshold
        return threshold > 0 && young > threshold
    }

    @inline(__always)
    func recordDeallocation(thread: Int) {
        let local = slot(thread, 2)
        let count = local.pointee.load(ordering: .relaxed) &- 1
        guard count <= -PerThreadState.localAllocationFlush else {
            local.pointee.store(count, ordering: .relaxed)
            return
        }
        local.pointee.store(0, ordering: .relaxed)
        youngCount.pointee.wrappingAdd(count, ordering: .relaxed)
    }

    // MARK: Stopping the world (Python/pystate.c: _PyEval_StopTheWorld, detach and attach)

    /// A worker counts as running from its context's creation (before the start barrier).
    func enter(thread: Int) {
        pthread_mutex_lock(mutex)
        running.pointee.wrappingAdd(1, ordering: .relaxed)
        pthread_mutex_unlock(mutex)
    }

    /// At an eval-breaker check: waits out a stop another thread requested.
    @inline(__always)
    func parkIfStopRequested(thread: Int) {
        attachIfDetached(thread: thread)
        guard stopRequested.pointee.load(ordering: .relaxed) != 0 else { return }
        pthread_mutex_lock(mutex)
        waitWhileStopped()
        pthread_mutex_unlock(mutex)
    }

    /// Under the mutex: counted as stopped while a stop lasts.
    func waitWhileStopped() {
        while stopRequested.pointee.load(ordering: .relaxed) != 0 {
            stopped.pointee.wrappingAdd(1, ordering: .relaxed)
            pthread_cond_broadcast(condition)
            pthread_cond_wait(condition, mutex)
            stopped.pointee.wrappingSubtract(1, ordering: .relaxed)
        }
    }

    /// The thread is about to block: it counts as stopped until it attaches again, as a
    /// detached thread state does in CPython.
    func detach(thread: Int) {
        guard slot(thread, 3).pointee.load(ordering: .relaxed) == 0 else { return }
        pthread_mutex_lock(mutex)
        slot(thread, 3).pointee.store(1, ordering: .relaxed)
        stopped.pointee.wrappingAdd(1, ordering: .relaxed)
        pthread_cond_broadcast(condition)
        pthread_mutex_unlock(mutex)
    }

    /// Before the thread touches its array again: waits out a stop, then counts as running.
    @inline(__always)
    func attachIfDetached(thread: Int) {
        guard _slowPath(slot(thread, 3).pointee.load(ordering: .relaxed) != 0) else { return }
        pthread_mutex_lock(mutex)
        while stopRequested.pointee.load(ordering: .relaxed) != 0 { pthread_cond_wait(condition, mutex) }
        slot(thread, 3).pointee.store(0, ordering: .relaxed)
        stopped.pointee.wrappingSubtract(1, ordering: .relaxed)
        pthread_mutex_unlock(mutex)
    }

    /// A collection (`gc_collect_main`): stops the world, merges every thread's array in turn,
    /// empties the young generation and restarts the world. Returns the atomic adds the merge
    /// made and the pause in nanoseconds, or nil when another thread collected meanwhile.
    func collect(thread: Int) -> (adds: Int, pauseNanoseconds: Int)? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        waitWhileStopped()
        let threshold = gcThreshold
        guard threshold > 0 && youngCount.pointee.load(ordering: .relaxed) > threshold else { return nil }
        let start = crefscale_clock_monotonic_ns()
        stopRequested.pointee.store(1, ordering: .relaxed)
        while stopped.pointee.load(ordering: .relaxed) < running.pointee.load(ordering: .relaxed) - 1 {
            pthread_cond_wait(condition, mutex)
        }
        var adds = 0
        for other in 0..<threadIDs { adds += mergeEntries(of: other) }
        youngCount.pointee.store(0, ordering: .relaxed)
        stopRequested.pointee.store(0, ordering: .relaxed)
        pthread_cond_broadcast(condition)
        return (adds, Int(crefscale_clock_monotonic_ns() - start))
    }

    /// A worker leaves (`_PyObject_FinalizePerThreadRefcounts` at thread exit): merges and gives
    /// back its array, and no longer counts as running. Returns the atomic adds made.
    func leave(thread: Int) -> Int {
        attachIfDetached(thread: thread)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let adds = mergeEntries(of: thread)
        entries(of: thread).0?.deallocate()
        setEntries(of: thread, nil, capacity: 0)
        running.pointee.wrappingSubtract(1, ordering: .relaxed)
        pthread_cond_broadcast(condition)
        return adds
    }
}
