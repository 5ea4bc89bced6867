import Synchronization

/// `biased`: biased reference counting as CPython 3.13t ships it (PEP 703).
///
/// The steps are `BiasedCounting`'s, each citing the CPython function it follows
/// (`Include/refcount.h`, `Include/internal/pycore_object.h`, `Objects/object.c`,
/// `Python/brc.c`); this file binds them to one thread's context on the objects' real header
/// (`ObjectRef`: `ob_tid` at 0, `ob_ref_local` (32 bits) at 12, `ob_ref_shared` at 16) and to
/// the merge queues of `BiasedMergeQueue.swift`.
///
/// Invariants:
/// - `ob_ref_local` is written only by the owner (`ob_tid`), never atomically; `ob_ref_shared`
///   (`count << 2 | flags`) only atomically. Its flags only move upward: INIT → MAYBE_WEAKREF →
///   QUEUED → MERGED. The true count is `(shared >> 2) + local`; while QUEUED the shared part
///   may be negative.
/// - Immortal is `ob_ref_local == UInt32.max`, read by the very load the increment uses; an
///   immortal object is never written. A local count that reaches UInt32.max is immortal too.
/// - An object is freed when its count reaches 0: by the owner with no atomic when the shared
///   word is 0; otherwise by whichever thread's CAS leaves the shared word exactly MERGED, or by
///   the explicit merge of a queued object that finds the merged count 0.
/// - An object is queued at most once in its life (QUEUED is entered only from INIT or
///   MAYBE_WEAKREF); the queue holds the reference whose drop queued it.
/// - Nothing is written to an object after the CAS that publishes MERGED (gh-119999).
///
/// Where the model is a choice:
/// - The eval-breaker check (`_Py_HandlePending`, where the owner merges its queue) runs where
///   3.13's interpreter checks it: at every simulated call (`enterScope`), as `RESUME` does on
///   entering the Python function that calls the extension; after every send and receive,
///   which are calls (`queue.put`, `queue.get`) ending in `_CHECK_PERIODIC`
///   (Python/bytecodes.c), so `handoff` checks about once per item; and at every safe point
///   (once per pass, about 4096 handle operations). The check costs one load of the thread's
///   own eval-breaker word, as in CPython; each check that finds the merge bit and drains the
///   queue counts in `merge_passes`.
/// - 3.13 makes objects with deferred counts — classes made by a `class` statement, top-level
///   functions, modules, code — immortal when a second thread starts (gh-117783:
///   `_PyGC_ImmortalizeDeferredObjects`, the world stopped; `_PyObject_SetDeferredRefcount`,
///   Objects/object.c, immortalizes at once when `gc.immortalize` is on). The run's main thread
///   makes the objects and is CPython's first thread, so the first worker is the second: no
///   worker ever sees such an object mortal, and `new` makes a deferred object
///   (`ObjectFlags.deferred`: kind `class`, a replayed trace's non-transient classes,
///   functions, modules and code) immortal at once (`_Py_SetImmortal`: `ob_tid` 0, local
///   UInt32.max, shared 0). A type made by `PyType_FromSpec` (kind `ext-type`) is never deferred
///   in 3.13: only `type_new_alloc` (Objects/typeobject.c, the `class` statement's path) calls
///   `_PyObject_SetDeferredRefcount`, `_PyType_FromMetaclass_impl` does not. It stays mortal,
///   owned by the main thread, and every instance a worker allocates or frees is an atomic on
///   its shared word. A replayed trace's nested functions die in the thread that made them and
///   stay mortal, as 3.13's `func_new` defers only functions without `CO_NESTED`.
/// - A store into a field or global is `Py_INCREF` alone: in 3.13 only creating a weak
///   reference sets MAYBE_WEAKREF (`init_weakref`, Objects/weakrefobject.c, the one caller of
///   `_PyObject_SetMaybeWeakref`); a dict, list or attribute store does not. A non-owner's load
///   of an object with a shared word of 0 is refused by `_Py_TryIncrefCompare` and takes the
///   container's locked path (`_Py_NewRefWithLock`, Objects/dictobject.c), which sets it.
///   `--weakref-share F` makes a share F of the stores also create a weak reference to the
///   stored object (`_PyObject_SetMaybeWeakref`): every store whose running sum of F passes a
///   whole number, so the same stores in every run. At F = 0, the default, a store takes no step
///   of the share at all (no add, no compare: CPython has none). It is a scheme option because
///   only the biased schemes read the flag (`biased`, `perthread`; the handle designs' runtime,
///   `BiasedRuntime`, runs at 0); the operation stream of every scheme is unchanged.
/// - A load from a field or global is `_Py_TryIncrefCompare`, falling back, when it refuses,
///   to the container's locked path (`_Py_NewRefWithLock`).
/// - A worker detaches before it blocks (`suspend`: the start barrier, a full or empty channel)
///   and attaches after (`resume`), as 3.13t's `PyEval_SaveThread` and `PyEval_RestoreThread`
///   do around a blocking call, with the steps of `ThreadStates` (Python/pystate.c,
///   Python/qsbr.c): detach (`detach_thread`) is `_Py_qsbr_detach`, a release store of
///   QSBR_OFFLINE into the thread's QSBR sequence, then `tstate_set_detached`, a sequentially
///   consistent store of DETACHED into its state word; attach (`_PyThreadState_Attach`) is
///   `tstate_try_attach`, a compare-and-swap DETACHED → ATTACHED, then `_Py_qsbr_attach`, a
///   load of the shared write sequence and a sequentially consistent store of it. A context
///   attaches its new thread state when it is made, and its exit takes the thread's QSBR
///   sequence offline (`_PyThreadState_DeleteCurrent`). Nothing in `biased` stops the world,
///   so no other thread ever moves a state to SUSPENDED and the compare-and-swap always
///   succeeds (checked: a failure stops the run); `tstate_wait_attach` is `perthread`'s. No
///   counter column counts these steps.
/// - A choice: 3.13t's collections are not modelled. 3.13t schedules them by the same
///   allocation trigger as 3.14t (`record_allocation`, `record_deallocation`,
///   `gc_should_collect`, Python/gc_free_threading.c: allocations less deallocations past the
///   threshold), which `perthread` models. Its effect, measured with `perthread` as the variant
///   beside it: `merge_pauses` is 0 on every workload of Experiments/scaling.json (and
///   `numeric`) and on every committed trace, at 1 and 2 threads (0.3 s runs), since their
///   objects die about as fast as they are born; so the trigger never fires there, in 3.13t
///   either, and no figure of those runs would carry a pause. Collections run only where live
///   objects pile up past the threshold (`perthread --objects 2048 --gc-threshold 1` on
///   `private`).
/// - A handle moves between threads (`send`) as the counted reference it is: a reference in the
///   owner's local count may end in another thread, which is what queues.
public struct BiasedScheme: AddressHandleScheme {
    public static let name = "biased"
    public static let summary = "CPython 3.13t biased counting: owner counts plainly, others atomically, brc.c merge queues"
    public static let reportedCounters: Set<CounterKind> = [.atomicRMW, .casRetries, .merges, .queued, .frees, .mutexContended, .mutexParks, .mergePasses]
    public static let isThreadSafe = true
    /// The share of stores into fields and globals that also create a weak reference to the
    /// stored object, setting its MAYBE_WEAKREF flag (`init_weakref`).
    public static let weakrefShare = DeclaredOption<Double>(
        "weakref_share", default: 0,
        help: "biased, perthread: share of stores that also create a weak reference to the stored object, in [0, 1]",
        check: OptionCheck.fraction)
    public static let declaredOptions = [weakrefShare.declaration]

    public static let flagBits = BiasedCounting.flagBits
    public static let flagMask = BiasedCounting.flagMask
    public static let INIT = BiasedCounting.INIT
    public static let MAYBE_WEAKREF = BiasedCounting.MAYBE_WEAKREF
    public static let QUEUED = BiasedCounting.QUEUED
    public static let MERGED = BiasedCounting.MERGED
    public static let sharedOne = BiasedCounting.sharedOne

    public final class Shared {
        let queues: BiasedMergeQueues
        /// Every thread's state word and QSBR sequence: what a detach and an attach write.
        let threadStates: ThreadStates
        let weakrefShare: Double

        init(threadIDs: Int, weakrefShare: Double = 0) {
            queues = BiasedMergeQueues(threadIDs: threadIDs)
            threadStates = ThreadStates(threadIDs: threadIDs)
            self.weakrefShare = weakrefShare
        }

        deinit {
            queues.deallocate()
            threadStates.deallocate()
        }
    }

    let threadID: UInt
    let weakrefShare: Double
    /// Whether any store makes a weak reference (`weakrefShare > 0`). At 0, the default, a store
    /// is `Py_INCREF` alone, as in CPython: no step of the share is taken.
    let makesWeakReferences: Bool
    /// The running sum of `weakrefShare` over this thread's stores, less the weak references made;
    /// untouched at share 0.
    var weakrefCredit = 0.0
    var memory: AtomicBiasedMemory
    let threadStates: ThreadStates
    /// The raw blocks `memory` and `threadStates` point into live as long as their owner: a
    /// context keeps it alive, so one outliving its maker's reference (a test's) stays valid.
    let owner: Shared
    public var counters = SchemeCounters()

    public static func makeShared(options: SchemeOptions, threads: Int) -> Shared {
        Shared(threadIDs: threads + 2, weakrefShare: options[weakrefShare])
    }

    /// `_Py_brc_init_thread`: the thread enters its bucket; its new thread state is attached.
    public init(shared: Shared, threadID: Int) {
        self.init(shared: shared, threadID: threadID, perThread: nil)
    }

    /// A context whose freed instances drop their type references into `perThread`'s arrays.
    init(shared: Shared, threadID: Int, perThread: PerThreadState?) {
        precondition(threadID > 0 && threadID < shared.queues.threadIDs, "thread ID \(threadID) out of range")
        self.threadID = UInt(threadID)
        weakrefShare = shared.weakrefShare
        makesWeakReferences = shared.weakrefShare > 0
        memory = AtomicBiasedMemory(queues: shared.queues, thread: UInt(threadID), perThread: perThread)
        memory.recordThreadIdentity(of: self.threadID)
        BiasedCounting.registerThread(self.threadID, memory: &memory, counters: &counters)
        threadStates = shared.threadStates
        owner = shared
        threadStates.attachNew(threadID)
    }

    /// `_Py_NewReference`: owned by the creating thread, local 1, shared 0; immortal for objects
    /// the workload marks immortal and, as in 3.13 with a second thread running, for deferred
    /// objects (kind `class`).
    /// An instance takes a reference to its type first (`PyType_GenericAlloc` → `_PyObject_Init`:
    /// `Py_INCREF(type)`): nothing for a class, which is immortal; a biased increment of an
    /// extension type, atomic for every thread but the type's maker.
    @inline(__always)
    public mutating func new(_ object: ObjectRef) -> Handle {
        let type = object.typeWord.pointee.load(ordering: .relaxed)
        if type != 0 {
            BiasedCounting.increment(
                ObjectRef(address: UnsafeMutableRawPointer(bitPattern: type)!), thread: threadID, memory: &memory, counters: &counters)
        }
        if object.isImmortal || object.isDeferred {
            BiasedScheme.setImmortal(object)
        } else {
            newOwned(object)
        }
        return Handle(object)
    }

    /// `_Py_NewReference`'s header: owned by this thread, local 1, shared 0.
    @inline(__always)
    func newOwned(_ object: ObjectRef) {
        object.ownerThread.pointee.store(threadID, ordering: .relaxed)
        object.localCount = 1
        object.sharedCount.pointee.store(0, ordering: .relaxed)
    }

    /// `_Py_SetImmortal`.
    static func setImmortal(_ object: ObjectRef) {
        object.makeImmortal()
        object.ownerThread.pointee.store(0, ordering: .relaxed)
        object.localCount = BiasedCounting.immortalLocal
        object.sharedCount.pointee.store(0, ordering: .relaxed)
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle {
        BiasedCounting.increment(object, thread: threadID, memory: &memory, counters: &counters)
        return Handle(object)
    }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        BiasedCounting.increment(ObjectRef(handle), thread: threadID, memory: &memory, counters: &counters)
        return handle
    }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        BiasedCounting.decrement(ObjectRef(handle), thread: threadID, memory: &memory, counters: &counters)
    }

    /// A store into a field or global: `Py_INCREF`, then what a store does besides counting
    /// (`noteStored`).
    public mutating func retain(_ object: ObjectRef) {
        BiasedCounting.increment(object, thread: threadID, memory: &memory, counters: &counters)
        noteStored(object)
    }

    /// What a store does besides counting: nothing at `--weakref-share 0` (the default), as in
    /// CPython; otherwise, for the stores that also make a weak reference,
    /// `_PyObject_SetMaybeWeakref` as `init_weakref` calls it. A handle design's store of a
    /// reference it had already counted (`BiasedRuntime.noteStored`) takes this step alone.
    @inline(__always)
    mutating func noteStored(_ object: ObjectRef) {
        if makesWeakReferences { creditWeakReference(object) }
    }

    /// One store's share of a weak reference: every store whose running sum of the share passes
    /// a whole number makes one, so the same stores in every run.
    mutating func creditWeakReference(_ object: ObjectRef) {
        weakrefCredit += weakrefShare
        if weakrefCredit >= 1 {
            weakrefCredit -= 1
            BiasedCounting.setMaybeWeakref(object, memory: &memory, counters: &counters)
        }
    }

    public mutating func release(_ object: ObjectRef) {
        BiasedCounting.decrement(object, thread: threadID, memory: &memory, counters: &counters)
    }

    /// A load from a field or global: `_Py_XGetRef`'s `_Py_TryIncrefCompare`, and the locked
    /// path when it refuses.
    public mutating func load(from slot: UnsafeMutablePointer<UInt>) -> Handle {
        let object = ObjectRef(address: UnsafeMutableRawPointer(bitPattern: slot.pointee)!)
        let held = BiasedCounting.tryIncrefCompare(
            object, thread: threadID, reloadSlot: { UnsafeMutableRawPointer(bitPattern: slot.pointee).map(ObjectRef.init(address:)) },
            memory: &memory, counters: &counters)
        if !held { BiasedCounting.newReferenceWithLock(object, thread: threadID, memory: &memory, counters: &counters) }
        return Handle(object)
    }

    /// A send is a call (`queue.put(item)`), and the interpreter checks the eval breaker after
    /// every call (`_CHECK_PERIODIC` ending `CALL`, Python/bytecodes.c): the handle moves as the
    /// counted reference it is, then the check.
    @inline(__always)
    public mutating func transfer(_ handle: Handle) -> ObjectRef {
        BiasedCounting.handlePending(thread: threadID, memory: &memory, counters: &counters)
        return ObjectRef(handle)
    }

    /// A receive is a call (`queue.get()`): the reference becomes a handle, then the check.
    @inline(__always)
    public mutating func adopt(_ object: ObjectRef) -> Handle {
        BiasedCounting.handlePending(thread: threadID, memory: &memory, counters: &counters)
        return Handle(object)
    }

    /// The eval-breaker check of the interpreter entering the calling Python function.
    @inline(__always)
    public mutating func enterScope() {
        BiasedCounting.handlePending(thread: threadID, memory: &memory, counters: &counters)
    }

    public mutating func safePoint() {
        BiasedCounting.handlePending(thread: threadID, memory: &memory, counters: &counters)
    }

    /// Blocking (the start barrier, a full or empty channel): `PyEval_SaveThread` →
    /// `_PyThreadState_Detach` (`ThreadStates.detach`). A thread already detached stays so: the
    /// runner may give up a slice more than once while it waits.
    public mutating func suspend() {
        let thread = Int(threadID)
        if threadStates.currentState(of: thread) == ThreadStates.ATTACHED { threadStates.detach(thread) }
    }

    /// `PyEval_RestoreThread` → `_PyThreadState_Attach`: the compare-and-swap from DETACHED, then
    /// `_Py_qsbr_attach`. Nothing here stops the world, so no other thread ever moves this one's
    /// state to SUSPENDED and the compare-and-swap cannot fail; `tstate_wait_attach` is
    /// `perthread`'s (`PerThreadState.attach`).
    public mutating func resume() {
        let thread = Int(threadID)
        guard threadStates.currentState(of: thread) != ThreadStates.ATTACHED else { return }
        let (exchanged, found) = threadStates.tryAttach(thread)
        precondition(exchanged, "biased: thread \(thread) attaches from state \(found): nothing stops the world in biased")
        threadStates.qsbrAttach(thread)
    }

    /// `_Py_brc_remove_thread`: merges until the queue is empty and leaves the bucket; objects
    /// queued for this thread afterwards are merged by the thread that queues them. Then
    /// `_PyThreadState_DeleteCurrent`'s `_Py_qsbr_detach`.
    public mutating func threadExit() {
        BiasedCounting.removeThread(threadID, memory: &memory, counters: &counters)
        threadStates.qsbrDetach(Int(threadID))
    }

    /// `(shared >> 2) + local`, nil for an immortal object.
    public static func referenceCount(of object: ObjectRef) -> Int? {
        let local = object.localCount
        guard local != BiasedCounting.immortalLocal else { return nil }
        return (object.sharedCount.pointee.load(ordering: .relaxed) >> flagBits) + Int(local)
    }
}

extension BiasedScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
