import Synchronization

/// `perthread`: CPython 3.14t, where heap types and code objects get a *unique id* and a
/// deferred count instead of 3.13's immortality (`Python/uniqueid.c`: "per-thread reference
/// counting is only used for heap types"; `_PyObject_SetDeferredRefcount`, `_Py_INCREF_TYPE`,
/// `_PyObject_MergePerThreadRefcounts`): the shared objects of kind `class` and `ext-type`, a
/// replayed trace's classes and code.
///
/// Which references are per thread: only those the runtime itself takes to an object with an
/// id. Here that is an instance's reference to its type, taken when the instance is allocated
/// (`_PyObject_Init` → `_Py_INCREF_TYPE`, which tests only `Py_TPFLAGS_HEAPTYPE`, so an
/// extension's `PyType_FromSpec` type too) and dropped when it is freed: by `subtype_dealloc`'s
/// `_Py_DECREF_TYPE` for a class, which reaches the thread's entry; by the extension's own
/// `tp_dealloc` for an extension type, whose `Py_DECREF(tp)` is the public, biased decrement
/// that never reads the per-thread array (Include/refcount.h): an atomic on the type's shared
/// word for every thread but its maker. Every handle operation — `dup`, `close`, `open`,
/// `retain`, `release`, `load`, `send` — is an extension's `Py_INCREF`/`Py_DECREF` and goes
/// through `biased` (a `BiasedScheme` context held inside), atomic for non-owners, on objects
/// with an id as on any other.
///
/// Invariants for an object with an id:
/// - Its count is `(ob_ref_shared >> 2) - deferredBias + ob_ref_local + Σ entry[id]` over the
///   threads' arrays. `_PyObject_SetDeferredRefcount` put `deferredBias` (`_Py_REF_DEFERRED`,
///   `PY_SSIZE_T_MAX / 8`) in the shared word, so no biased step can bring it to 0: only the
///   collector frees it.
/// - A thread's entry is written by that thread alone, plainly, while it is attached; a
///   collection reads and zeroes it only with the world stopped. Entries may go negative (an
///   instance made in one thread and freed in another).
/// - Ids come from the run's pool (`PerThreadState`): a freed object's id goes on a free list
///   and is handed out again. Its `type` word, which for a type object would name the immortal
///   metatype, holds the address of the run's state, so `referenceCount(of:)` can add the
///   unmerged entries.
///
/// Merges: at a collection and at thread exit. Each allocation and deallocation counts in the
/// thread's allocation count, added to the young count every ±512 (`record_allocation`); an
/// allocation that takes the young count past `--gc-threshold` (2000, CPython's) schedules a
/// collection, which runs at the thread's next eval-breaker check (as `_Py_ScheduleGC` sets the
/// eval-breaker bit). The collecting thread stops the world — every other worker suspends
/// itself at its next check, or, while it is detached (blocked, `suspend`), is suspended by the
/// collector's compare-and-swap on its state word — merges every thread's array in turn,
/// restarts the world, and records the pause (`merge_pauses`, `merge_pause_ns`). A worker
/// merges its own array when it exits. The run's main thread only makes and releases the
/// objects: its final merge, after every worker has exited, frees the objects with an id whose
/// count is then 0 and turns the others into ordinary merged objects; it takes no part in a stop.
///
/// Detach and attach, as 3.14t's `_PyThreadState_Detach` and `_PyThreadState_Attach`
/// (Python/pystate.c; `ThreadStates`, `PerThreadState`): a worker detaches in `suspend` —
/// `_Py_qsbr_detach` (Python/qsbr.c), a release store of QSBR_OFFLINE, then
/// `tstate_set_detached`, a store of DETACHED into its own state word, no lock and no wake-up —
/// and attaches in `resume`, or at its first allocation, type drop, check or exit after a wait
/// the runner did not end with `resume` — `tstate_try_attach`, a compare-and-swap DETACHED →
/// ATTACHED, then `_Py_qsbr_attach`. A collector moves each detached thread to SUSPENDED by
/// compare-and-swap (`park_detached_threads`) and back to DETACHED when it restarts the world
/// (`start_the_world`); an attach that finds SUSPENDED waits for that store
/// (`tstate_wait_attach`), so no thread touches its array while the world is stopped. A thread
/// that detaches during a stop wakes no one: the collector finds it at its next scan, 1 ms
/// later at most (`PyEvent_WaitTimed` in `stop_the_world`), which the pause includes, as in
/// CPython.
///
/// Where the model is a choice: a collection frees nothing but merges; the objects with ids
/// are kept by the main thread for the whole run, so no collection during it could free one.
/// CPython's collector also merges the biased queues of every thread; here each thread merges
/// its own at its checks. The please-stop bit CPython sets in each attached thread's eval
/// breaker is one run-wide word every worker loads at its checks. When a check finds the stop
/// already over, CPython still detaches and attaches once; the model skips that pair. Two
/// differences remain, named here until they are modelled:
/// - Every allocation counts toward a collection; CPython counts only GC-tracked ones
///   (`record_allocation` from `gc_alloc`, Python/gc_free_threading.c) and also requires the
///   young count to pass `long_lived_total / 4` (`gc_should_collect`): with nothing long-lived
///   here that second test is always passed.
/// - `biased` charges no collection at all, though 3.13t has the same trigger
///   (`gc_should_collect`, 3.13.5): its pauses are left out of `biased`'s figures, and
///   `perthread`'s pause leaves out the heap walk and the queued-object drain of
///   `gc_collect_internal`, so it is a lower bound. `--gc-threshold 0` turns collections off
///   in `perthread` for a like-for-like comparison with `biased`.
public struct PerThreadScheme: AddressHandleScheme {
    public static let name = "perthread"
    public static let summary = "CPython 3.14t: runtime type references in per-thread arrays merged at collections; every handle operation biased"
    public static let reportedCounters: Set<CounterKind> = [
        .atomicRMW, .casRetries, .merges, .queued, .frees, .mutexContended, .mutexParks, .mergePasses, .mergePauses, .mergePauseNanoseconds,
    ]
    public static let isThreadSafe = true
    public static let uniqueIDs = DeclaredOption<UniqueIDPolicy>(
        "unique_ids", default: .type, help: "perthread: the objects given a unique id and a deferred count (type: as 3.14)")
    /// CPython's `gc.get_threshold()[0]`: net allocations after which a collection, which merges
    /// every thread's array with the world stopped, is scheduled.
    public static let gcThreshold = DeclaredOption<Int>(
        "gc_threshold", default: 2000,
        help: "perthread: net allocations that schedule a collection, which merges the per-thread counts; 0: at the run's end only",
        check: OptionCheck.atLeast(0))
    public static let declaredOptions = [PerThreadScheme.uniqueIDs.declaration, gcThreshold.declaration, BiasedScheme.weakrefShare.declaration]

    /// `_Py_REF_DEFERRED` (`PY_SSIZE_T_MAX / 8`), in references.
    public static let deferredBias = Int.max / 8
    /// The run's main thread, which makes the final merge.
    static let mainThreadID = 1

    public final class Shared {
        let biased: BiasedScheme.Shared
        let state: PerThreadState
        let uniqueIDs: UniqueIDPolicy

        init(options: SchemeOptions, threadIDs: Int) {
            biased = BiasedScheme.makeShared(options: options, threads: threadIDs - 2)
            state = PerThreadState(threadIDs: threadIDs, gcThreshold: options[PerThreadScheme.gcThreshold], threadStates: biased.threadStates)
            uniqueIDs = options[PerThreadScheme.uniqueIDs]
        }

        deinit { state.deallocate() }
    }

    var biased: BiasedScheme
    let state: PerThreadState
    /// Keeps `state`'s raw block alive as long as this context (`BiasedScheme.owner`).
    let owner: Shared
    let threadID: Int
    let uniqueIDs: UniqueIDPolicy
    /// An allocation passed the threshold: collect at the next eval-breaker check.
    var collectionScheduled = false
    var ownCounters = SchemeCounters()

    public var counters: SchemeCounters { biased.counters + ownCounters }

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        Shared(options: options, threadIDs: threads + 2)
    }

    public init(shared: Shared, threadID: Int) {
        state = shared.state
        owner = shared
        biased = BiasedScheme(shared: shared.biased, threadID: threadID, perThread: state)
        self.threadID = threadID
        uniqueIDs = shared.uniqueIDs
        if isWorker { state.enter(thread: threadID) }
    }

    var isWorker: Bool { threadID != PerThreadScheme.mainThreadID }

    // MARK: - Operations

    public mutating func new(_ object: ObjectRef) -> Handle {
        state.attachIfDetached(thread: threadID)
        if state.recordAllocation(thread: threadID) && isWorker { collectionScheduled = true }
        let type = object.typeWord.pointee.load(ordering: .relaxed)
        if type != 0 { incrementType(ObjectRef(address: UnsafeMutableRawPointer(bitPattern: type)!)) }
        if getsUniqueID(object) {
            newDeferred(object)
        } else if object.isImmortal {
            BiasedScheme.setImmortal(object)
        } else {
            biased.newOwned(object)
        }
        return Handle(object)
    }

    /// `_Py_INCREF_TYPE`: the thread's entry when the type has an id, else `Py_INCREF`.
    @inline(__always)
    mutating func incrementType(_ type: ObjectRef) {
        let id = type.uniqueID
        if id >= 0 {
            state.incrementEntry(id, thread: threadID)
        } else {
            _ = biased.dup(Handle(type))
        }
    }

    func getsUniqueID(_ object: ObjectRef) -> Bool {
        guard !object.isImmortal else { return false }
        switch uniqueIDs {
        case .type: return object.isExtensionType || (object.isDeferred && object.isShared)
        case .shared: return object.isShared
        case .all: return object.homeThread == 0
        case .none: return false
        }
    }

    /// `_PyObject_SetDeferredRefcount` and `_PyObject_AssignUniqueId` on a new object.
    mutating func newDeferred(_ object: ObjectRef) {
        biased.newOwned(object)
        guard let id = state.assignUniqueID(to: object) else { return }
        object.sharedCount.pointee.store(PerThreadScheme.deferredBias << BiasedCounting.flagBits, ordering: .relaxed)
        object.uniqueID = id
        object.typeWord.pointee.store(UInt(bitPattern: state.block), ordering: .relaxed)
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle { biased.open(object) }
    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle { biased.dup(handle) }
    @inline(__always)
    public mutating func close(_ handle: Handle) { biased.close(handle) }
    public mutating func retain(_ object: ObjectRef) { biased.retain(object) }
    public mutating func release(_ object: ObjectRef) { biased.release(object) }
    public mutating func load(from slot: UnsafeMutablePointer<UInt>) -> Handle { biased.load(from: slot) }
    /// A send and a receive are calls, after which the interpreter checks the eval breaker.
    public mutating func transfer(_ handle: Handle) -> ObjectRef {
        let object = biased.transfer(handle)
        evalBreakerCheck()
        return object
    }
    public mutating func adopt(_ object: ObjectRef) -> Handle {
        let handle = biased.adopt(object)
        evalBreakerCheck()
        return handle
    }

    // MARK: - Eval-breaker checks, collections, exit

    @inline(__always)
    public mutating func enterScope() {
        biased.enterScope()
        evalBreakerCheck()
    }

    public mutating func safePoint() {
        biased.safePoint()
        evalBreakerCheck()
    }

    @inline(__always)
    mutating func evalBreakerCheck() {
        guard isWorker else { return }
        state.parkIfStopRequested(thread: threadID)
        if _slowPath(collectionScheduled) { collect() }
    }

    @inline(never)
    mutating func collect() {
        collectionScheduled = false
        guard let (adds, pause) = state.collect(thread: threadID) else { return }
        ownCounters.atomicRMW &+= adds
        ownCounters.merges &+= 1
        ownCounters.mergePauses &+= 1
        ownCounters.mergePauseNanoseconds &+= pause
    }

    /// Blocking (the start barrier, a full or empty channel): the thread detaches
    /// (`_PyThreadState_Detach`: QSBR offline, a store of DETACHED).
    public mutating func suspend() {
        if isWorker { state.detach(thread: threadID) }
    }

    /// After blocking: the thread attaches (`_PyThreadState_Attach`: a compare-and-swap from
    /// DETACHED, which waits out a stop that suspended the thread, then QSBR online).
    public mutating func resume() {
        if isWorker { state.attachIfDetached(thread: threadID) }
    }

    /// A worker merges its array and leaves; the main thread makes the final merge.
    public mutating func threadExit() {
        if isWorker { state.attachIfDetached(thread: threadID) }
        biased.threadExit()
        if isWorker {
            ownCounters.atomicRMW &+= state.leave(thread: threadID)
            ownCounters.merges &+= 1
        } else {
            finalMerge()
        }
    }

    /// After every worker's exit and the main thread's own teardown: merges the main thread's
    /// array, then frees each object with an id whose count is 0 (giving its id back) and turns
    /// the others into ordinary merged objects.
    mutating func finalMerge() {
        let running = state.running.pointee.load(ordering: .relaxed)
        precondition(running == 0, "perthread: the final merge must follow every worker's exit, \(running) still running")
        ownCounters.atomicRMW &+= state.mergeEntries(of: threadID)
        ownCounters.merges &+= 1
        for id in 0..<state.idCount {
            guard let object = state.object(withID: id) else { continue }
            let count = PerThreadScheme.deferredCount(of: object)
            object.uniqueID = -1
            object.typeWord.pointee.store(0, ordering: .relaxed)
            state.releaseUniqueID(id)
            if count == 0 {
                ObjectPool.free(object)
                ownCounters.frees &+= 1
            } else {
                object.ownerThread.pointee.store(0, ordering: .relaxed)
                object.localCount = 0
                object.sharedCount.pointee.store(count << BiasedCounting.flagBits | BiasedCounting.MERGED, ordering: .relaxed)
            }
        }
    }

    /// The biased part of a deferred object's count, less the bias.
    static func deferredCount(of object: ObjectRef) -> Int {
        (object.sharedCount.pointee.load(ordering: .acquiring) >> BiasedCounting.flagBits) - deferredBias + Int(object.localCount)
    }

    /// The true count when no thread runs: for an object with an id, its biased count less the
    /// bias plus every thread's unmerged entry.
    public static func referenceCount(of object: ObjectRef) -> Int? {
        let id = object.uniqueID
        guard id >= 0 else { return BiasedScheme.referenceCount(of: object) }
        let state = PerThreadState(block: UnsafeMutableRawPointer(bitPattern: object.typeWord.pointee.load(ordering: .relaxed))!)
        var count = deferredCount(of: object)
        for thread in 0..<state.threadIDs {
            let (entries, capacity) = state.entries(of: thread)
            if let entries, id < capacity { count += entries[id].load(ordering: .relaxed) }
        }
        return count
    }
}

extension PerThreadScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
