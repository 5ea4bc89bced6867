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
/// Stopping the world, as `stop_the_world`, `park_detached_threads` and `start_the_world` do it
/// (Python/pystate.c, 3.13 and 3.14 alike), on the thread states of `ThreadStates` (the run's
/// `BiasedScheme.Shared` holds them; each worker's `BiasedScheme` context attached its own):
/// - Detach is QSBR offline and a store of DETACHED into the thread's own state word; attach is
///   a compare-and-swap DETACHED → ATTACHED, then QSBR online. Neither takes a lock while no stop
///   is requested.
/// - The requester, under the run's mutex (CPython's HEAD_LOCK and stop-the-world mutex), sets
///   the stop-requested word, counts the other threads of the list, and then, until the count
///   is 0, moves every DETACHED thread to SUSPENDED by compare-and-swap, counting each, and waits
///   for the attached threads, each of which at its next eval-breaker check detaches itself to
///   SUSPENDED and counts itself (`_PyThreadState_Suspend`); the last one wakes the requester,
///   which otherwise scans again every 1 ms. A thread that leaves the list meanwhile counts
///   itself too (`tstate_delete_common`).
/// - With the count at 0 every other thread is SUSPENDED: none touches its array, and the
///   requester merges them all. It then stores DETACHED into every one and wakes them.
/// - A thread whose attach finds SUSPENDED waits until DETACHED and tries again
///   (`tstate_wait_attach`): a thread that blocked before or during a stop cannot touch its
///   array until the world restarts. A thread joining the list during a stop starts SUSPENDED
///   (`init_threadstate`).
/// - The stop-requested word is written only under the mutex; the state words change only by
///   the owner's detach, attach and suspend, the requester's compare-and-swap (DETACHED →
///   SUSPENDED) and its restoring store (SUSPENDED → DETACHED).
///
///     line 0   the id pool: next never-used id, the free list's head (id + 1, 0 = empty), its lock
///     line 1   stop requested (the word every worker loads at each eval-breaker check: the
///              please-stop bit of every thread's eval breaker, in one word)
///     line 2   the young generation's count of net allocations (`gcstate->young.count`)
///     line 3   constants: thread IDs, the collection threshold, the stop-the-world mutex, the
///              condition the requester waits on (`stop_event`), the condition a suspended thread
///              waits on to attach (the parking lot on its state word), the thread states' block
///     line 4   under the mutex: workers in the list, threads the requester still waits for
///              (`thread_countdown`), the requester's thread ID (0: none)
///     line 5-7 the id table's directory: chunk k holds ids [64 (2^k - 1), 64 (2^(k+1) - 1))
///     line 8-  per thread ID, a line of its own (the thread writes it at every allocation): its
///              array's address and capacity, its allocation count not yet added to the young
///              count, whether it is in the run's list of thread states (under the mutex)
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

    /// `_PyEval_StopTheWorld`'s wait between scans of the detached threads (`PyEvent_WaitTimed`,
    /// 1 ms, Python/pystate.c `stop_the_world`), in nanoseconds.
    static let stopScanInterval = 1_000_000

    init(threadIDs: Int, gcThreshold: Int, threadStates: ThreadStates) {
        let bytes = PerThreadState.slotsOffset + threadIDs * PerThreadState.slotSize
        block = .allocate(byteCount: bytes, alignment: PerThreadState.lineSize)
        block.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        word(3, 0).pointee.store(threadIDs, ordering: .relaxed)
        word(3, 8).pointee.store(gcThreshold, ordering: .relaxed)
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        let conditions = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 2)
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init failed")
        precondition(pthread_cond_init(conditions, nil) == 0 && pthread_cond_init(conditions + 1, nil) == 0, "pthread_cond_init failed")
        word(3, 16).pointee.store(Int(bitPattern: mutex), ordering: .relaxed)
        word(3, 24).pointee.store(Int(bitPattern: conditions), ordering: .relaxed)
        word(3, 32).pointee.store(Int(bitPattern: conditions + 1), ordering: .relaxed)
        word(3, 40).pointee.store(Int(bitPattern: threadStates.block), ordering: .relaxed)
    }

    /// Frees the id table, any array a thread did not give back, and the block.
    func deallocate() {
        for k in 0..<PerThreadState.chunkCount {
            UnsafeMutableRawPointer(bitPattern: chunkWord(k).pointee.load(ordering: .acquiring))?.deallocate()
        }
        for thread in 0..<threadIDs { entries(of: thread).0?.deallocate() }
        pthread_mutex_destroy(mutex)
        pthread_cond_destroy(worldStopped)
        pthread_cond_destroy(worldRestarted)
        mutex.deallocate()
        worldStopped.deallocate()
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
    /// `stw->stop_event`: the requester waits on it for the last thread to suspend itself.
    var worldStopped: UnsafeMutablePointer<pthread_cond_t> { UnsafeMutablePointer(bitPattern: word(3, 24).pointee.load(ordering: .relaxed))! }
    /// A suspended thread waits on it to attach (CPython parks on its own state word).
    var worldRestarted: UnsafeMutablePointer<pthread_cond_t> { UnsafeMutablePointer(bitPattern: word(3, 32).pointee.load(ordering: .relaxed))! }
    /// Every thread's state word and QSBR sequence (the run's `BiasedScheme.Shared` owns them).
    var threadStates: ThreadStates { ThreadStates(block: UnsafeMutableRawPointer(bitPattern: word(3, 40).pointee.load(ordering: .relaxed))!) }
    /// Workers in the run's list of thread states.
    var running: UnsafeMutablePointer<Atomic<Int>> { word(4, 0) }
    /// `stw->thread_countdown`: the threads a stop still waits for.
    var countdown: UnsafeMutablePointer<Atomic<Int>> { word(4, 8) }
    /// `stw->requester`: the thread stopping the world, 0 for none.
    var requester: UnsafeMutablePointer<Atomic<Int>> { word(4, 16) }

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

    /// Whether the thread is in the run's list of thread states; written under the mutex.
    func registered(_ thread: Int) -> UnsafeMutablePointer<Atomic<Int>> { slot(thread, 3) }

    func isRegistered(_ thread: Int) -> Bool { registered(thread).pointee.load(ordering: .relaxed) != 0 }

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

    // MARK: Stopping the world (Python/pystate.c: stop_the_world, start_the_world, attach)

    /// A worker's thread state joins the run's list (`add_threadstate`, under HEAD_LOCK) when its
    /// context is made; its `BiasedScheme` context has just attached it. As `init_threadstate`
    /// does, a thread that arrives during a stop starts SUSPENDED, uncounted by the requester
    /// (which counted the list before it came), and waits for the world to restart.
    func enter(thread: Int) {
        pthread_mutex_lock(mutex)
        registered(thread).pointee.store(1, ordering: .relaxed)
        running.pointee.wrappingAdd(1, ordering: .relaxed)
        let stopping = stopRequested.pointee.load(ordering: .relaxed) != 0
        if stopping { threadStates.detach(thread, to: ThreadStates.SUSPENDED) }
        pthread_mutex_unlock(mutex)
        if stopping { attach(thread: thread) }
    }

    /// At an eval-breaker check: a stop another thread requested is the please-stop bit
    /// (`_PY_EVAL_PLEASE_STOP_BIT`), which `_Py_HandlePending` answers by suspending the thread
    /// and attaching it again, which waits until the world restarts.
    @inline(__always)
    func parkIfStopRequested(thread: Int) {
        attachIfDetached(thread: thread)
        guard stopRequested.pointee.load(ordering: .relaxed) != 0 else { return }
        suspendForStop(thread: thread)
    }

    /// `_PyThreadState_Suspend`: under the mutex (HEAD_LOCK), if the stop is still requested,
    /// detach to SUSPENDED and count down the threads the requester waits for, waking it at 0
    /// (`decrement_stoptheworld_countdown`); then `_PyThreadState_Attach`. When the stop has
    /// ended meanwhile, CPython detaches to DETACHED and attaches again at once: the model
    /// skips that pair, whose compare-and-swap cannot fail.
    @inline(never)
    func suspendForStop(thread: Int) {
        pthread_mutex_lock(mutex)
        guard stopRequested.pointee.load(ordering: .relaxed) != 0, requester.pointee.load(ordering: .relaxed) != thread else {
            pthread_mutex_unlock(mutex)
            return
        }
        threadStates.detach(thread, to: ThreadStates.SUSPENDED)
        countDownStoppingThread()
        pthread_mutex_unlock(mutex)
        attach(thread: thread)
    }

    /// Under the mutex: one thread fewer for the requester to wait for (`decrement_stoptheworld_countdown`).
    func countDownStoppingThread() {
        if countdown.pointee.wrappingSubtract(1, ordering: .relaxed).newValue == 0 { pthread_cond_broadcast(worldStopped) }
    }

    /// The thread is about to block (`_PyThreadState_Detach`): QSBR offline and a store of
    /// DETACHED into its own state word. No lock, no wake-up: a stop-the-world requester finds the
    /// thread at its next scan. A thread already detached stays so.
    func detach(thread: Int) {
        guard threadStates.currentState(of: thread) == ThreadStates.ATTACHED else { return }
        threadStates.detach(thread)
    }

    /// Before the thread touches its array again: attaches when it is detached (the runner's
    /// `resume`, or the first step after a wait that did not resume).
    @inline(__always)
    func attachIfDetached(thread: Int) {
        guard _slowPath(threadStates.currentState(of: thread) != ThreadStates.ATTACHED) else { return }
        attach(thread: thread)
    }

    /// `_PyThreadState_Attach`: the compare-and-swap DETACHED → ATTACHED (`tstate_try_attach`);
    /// when a requester has moved the state to SUSPENDED, wait until it restores DETACHED and
    /// try again (`tstate_wait_attach`); then `_Py_qsbr_attach`.
    @inline(never)
    func attach(thread: Int) {
        while true {
            let (exchanged, found) = threadStates.tryAttach(thread)
            if exchanged { break }
            precondition(found == ThreadStates.SUSPENDED, "perthread: thread \(thread) attaches from state \(found)")
            // The parking lot's wait on the state word: the requester stores DETACHED and wakes
            // every waiter under the mutex, so no wake-up is lost between the test and the wait.
            pthread_mutex_lock(mutex)
            while threadStates.currentState(of: thread) == ThreadStates.SUSPENDED { pthread_cond_wait(worldRestarted, mutex) }
            pthread_mutex_unlock(mutex)
        }
        threadStates.qsbrAttach(thread)
    }

    /// `stop_the_world`, under the mutex, by an attached worker: counts the other threads of the
    /// list, then until none is left to wait for, suspends every detached one by compare-and-swap
    /// (`park_detached_threads`), the attached ones suspending themselves at their next check, and
    /// waits for the last of those to wake it, or 1 ms (CPython's `PyEvent_WaitTimed`), before
    /// scanning again: a thread that detaches meanwhile wakes no one.
    func stopTheWorld(requester thread: Int) {
        stopRequested.pointee.store(1, ordering: .relaxed)
        requester.pointee.store(thread, ordering: .relaxed)
        var others = 0
        for other in 0..<threadIDs where other != thread && isRegistered(other) { others += 1 }
        countdown.pointee.store(others, ordering: .relaxed)
        while true {
            var parked = 0
            for other in 0..<threadIDs where other != thread && isRegistered(other) {
                if threadStates.suspendIfDetached(other) { parked += 1 }
            }
            if countdown.pointee.wrappingSubtract(parked, ordering: .relaxed).newValue == 0 { break }
            var deadline = timespec()
            clock_gettime(CLOCK_REALTIME, &deadline)
            deadline.tv_nsec += PerThreadState.stopScanInterval
            if deadline.tv_nsec >= 1_000_000_000 {
                deadline.tv_sec += 1
                deadline.tv_nsec -= 1_000_000_000
            }
            pthread_cond_timedwait(worldStopped, mutex, &deadline)
        }
    }

    /// `start_the_world`, under the mutex: every other thread of the list, all SUSPENDED now,
    /// back to DETACHED, and every waiter woken (`_PyParkingLot_UnparkAll`).
    func startTheWorld(requester thread: Int) {
        stopRequested.pointee.store(0, ordering: .relaxed)
        for other in 0..<threadIDs where other != thread && isRegistered(other) { threadStates.restoreSuspended(other) }
        requester.pointee.store(0, ordering: .relaxed)
        pthread_cond_broadcast(worldRestarted)
    }

    /// A collection (`gc_collect_main`): stops the world, merges every thread's array in turn,
    /// empties the young generation and restarts the world. Returns the atomic adds the merge
    /// made and the pause in nanoseconds, or nil when another thread collected meanwhile.
    func collect(thread: Int) -> (adds: Int, pauseNanoseconds: Int)? {
        // Another thread's stop first: this thread is one it waits for.
        pthread_mutex_lock(mutex)
        while stopRequested.pointee.load(ordering: .relaxed) != 0 {
            pthread_mutex_unlock(mutex)
            parkIfStopRequested(thread: thread)
            pthread_mutex_lock(mutex)
        }
        defer { pthread_mutex_unlock(mutex) }
        let threshold = gcThreshold
        guard threshold > 0 && youngCount.pointee.load(ordering: .relaxed) > threshold else { return nil }
        let start = crefscale_clock_monotonic_ns()
        stopTheWorld(requester: thread)
        var adds = 0
        for other in 0..<threadIDs { adds += mergeEntries(of: other) }
        youngCount.pointee.store(0, ordering: .relaxed)
        startTheWorld(requester: thread)
        return (adds, Int(crefscale_clock_monotonic_ns() - start))
    }

    /// A worker leaves (`_PyObject_FinalizePerThreadRefcounts` at thread exit): merges and gives
    /// back its array, and leaves the list (`tstate_delete_common`): a stop requested meanwhile
    /// no longer waits for it. The thread is attached. Returns the atomic adds made.
    func leave(thread: Int) -> Int {
        attachIfDetached(thread: thread)
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let adds = mergeEntries(of: thread)
        entries(of: thread).0?.deallocate()
        setEntries(of: thread, nil, capacity: 0)
        registered(thread).pointee.store(0, ordering: .relaxed)
        running.pointee.wrappingSubtract(1, ordering: .relaxed)
        if stopRequested.pointee.load(ordering: .relaxed) != 0 { countDownStoppingThread() }
        return adds
    }
}
