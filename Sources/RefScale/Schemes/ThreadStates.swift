import Synchronization

/// The thread states of a free-threaded CPython (3.13t and 3.14t alike), as far as attaching and
/// detaching touch memory, in raw memory so a context holds only a pointer. `biased` (3.13t)
/// and `perthread` (3.14t) detach a worker before it blocks and attach it after, with these
/// steps; `perthread`'s collector also moves a detached thread to SUSPENDED and back
/// (`PerThreadState`).
///
///     line 0        the QSBR shared state (`struct _qsbr_shared`, Python/qsbr.c): the write
///                   sequence `wr_seq`, `rd_seq`, the address of the QSBR array (`array`)
///     line 1 - n    per thread ID, a line of its own: `PyThreadState.state` (a 32-bit int)
///     QSBR array    a block of its own: per thread ID a 64-byte `struct _qsbr_pad` whose first
///                   word is the thread's read sequence `seq`, 0 (QSBR_OFFLINE) while detached
///
/// What CPython does per call, with the GIL disabled (Python/pystate.c, Python/qsbr.c):
/// - detach (`_PyThreadState_Detach` → `detach_thread`): `_Py_qsbr_detach`, a release store of
///   QSBR_OFFLINE into the thread's `seq`; `tstate_deactivate`, a plain store in the thread's
///   own state; `tstate_set_detached`, a sequentially consistent store of DETACHED (or, at an
///   eval-breaker stop, SUSPENDED) into `tstate->state`; `current_fast_clear`, a thread-local
///   store; `_PyEval_ReleaseLock`, which returns after reading the thread's own `holds_gil`.
/// - attach (`_PyThreadState_Attach`): `_PyEval_AcquireLock` (`take_gil` returns after loading
///   the runtime's finalizing words and `gil->enabled`, read-only); `current_fast_set` and
///   `tstate_activate` (thread-local and own stores); `tstate_try_attach`, a sequentially
///   consistent compare-and-swap of `tstate->state` from DETACHED to ATTACHED, and on failure
///   (the state is SUSPENDED: a stop-the-world requester took it, `park_detached_threads`)
///   `tstate_wait_attach`, which parks until the state is DETACHED again and retries; a relaxed
///   load of `gil->enabled` (`_PyEval_IsGILEnabled`); `_Py_qsbr_attach`, an acquire load of the
///   shared `wr_seq` and a sequentially consistent store of it into the thread's `seq`. There is
///   no eval-breaker check on attach: the interpreter checks at its next RESUME or backward jump.
///
/// Modelled here: the state word's store and compare-and-swap and the two QSBR sequence words,
/// the only steps that touch memory another thread reads. Left out: the loads of words no
/// thread writes while a run lasts (finalizing, `gil->enabled`) and the thread's own plain and
/// thread-local stores. Nothing here advances `wr_seq` (no QSBR-deferred frees are modelled), so
/// it stays QSBR_INITIAL; the line is still read at every attach, as CPython reads it.
public struct ThreadStates: @unchecked Sendable {
    let block: UnsafeMutableRawPointer

    /// `_Py_THREAD_DETACHED`: the thread runs no Python code; a stop-the-world requester may take
    /// it (Include/internal/pycore_pystate.h).
    public static let DETACHED: Int32 = 0
    /// `_Py_THREAD_ATTACHED`: the thread may touch objects.
    public static let ATTACHED: Int32 = 1
    /// `_Py_THREAD_SUSPENDED`: detached and held by a stop-the-world; it may attach only after
    /// the requester restores DETACHED.
    public static let SUSPENDED: Int32 = 2
    /// `QSBR_OFFLINE`: a detached thread's read sequence (Include/internal/pycore_qsbr.h).
    public static let QSBR_OFFLINE: UInt64 = 0
    /// `QSBR_INITIAL`: the shared write sequence's first value.
    public static let QSBR_INITIAL: UInt64 = 1

    static let lineSize = 128
    /// `sizeof(struct _qsbr_pad)`.
    static let qsbrPadSize = 64

    init(block: UnsafeMutableRawPointer) { self.block = block }

    public init(threadIDs: Int) {
        let bytes = ThreadStates.lineSize * (1 + threadIDs)
        block = .allocate(byteCount: bytes, alignment: ThreadStates.lineSize)
        block.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        let qsbrBytes = ThreadStates.qsbrPadSize * threadIDs
        let qsbrArray = UnsafeMutableRawPointer.allocate(byteCount: qsbrBytes, alignment: ThreadStates.qsbrPadSize)
        qsbrArray.initializeMemory(as: UInt8.self, repeating: 0, count: qsbrBytes)
        qsbrArrayWord.pointee.store(UInt(bitPattern: qsbrArray), ordering: .relaxed)
        writeSequence.pointee.store(ThreadStates.QSBR_INITIAL, ordering: .relaxed)
    }

    public func deallocate() {
        UnsafeMutableRawPointer(bitPattern: qsbrArrayWord.pointee.load(ordering: .relaxed))?.deallocate()
        block.deallocate()
    }

    /// `_qsbr_shared.wr_seq`.
    var writeSequence: UnsafeMutablePointer<Atomic<UInt64>> { block.assumingMemoryBound(to: Atomic<UInt64>.self) }
    /// `_qsbr_shared.array`.
    var qsbrArrayWord: UnsafeMutablePointer<Atomic<UInt>> { (block + 16).assumingMemoryBound(to: Atomic<UInt>.self) }

    /// `tstate->state` of thread `thread`.
    @inline(__always)
    func state(of thread: Int) -> UnsafeMutablePointer<Atomic<Int32>> {
        (block + ThreadStates.lineSize * (1 + thread)).assumingMemoryBound(to: Atomic<Int32>.self)
    }

    /// `qsbr->seq` of thread `thread` (CPython keeps the pad's address in the thread state; here
    /// it is found from the array's, on the line `wr_seq` shares).
    @inline(__always)
    func readSequence(of thread: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        let array = UnsafeMutableRawPointer(bitPattern: qsbrArrayWord.pointee.load(ordering: .relaxed)).unsafelyUnwrapped
        return (array + ThreadStates.qsbrPadSize * thread).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    /// The thread's state, read by the thread itself or by a stop-the-world requester.
    @inline(__always)
    public func currentState(of thread: Int) -> Int32 { state(of: thread).pointee.load(ordering: .relaxed) }

    /// A new thread state attached by its own thread (`new_threadstate`, then
    /// `PyEval_AcquireThread`): nothing else holds a new state, so its compare-and-swap cannot
    /// fail; stored directly, so a test's second context for a thread ID starts attached too.
    public func attachNew(_ thread: Int) {
        state(of: thread).pointee.store(ThreadStates.ATTACHED, ordering: .sequentiallyConsistent)
        qsbrAttach(thread)
    }

    /// `detach_thread`: `_Py_qsbr_detach`, then `tstate_set_detached` to `detachedState`
    /// (DETACHED, or SUSPENDED for `_PyThreadState_Suspend`). The thread must be attached.
    @inline(__always)
    public func detach(_ thread: Int, to detachedState: Int32 = ThreadStates.DETACHED) {
        qsbrDetach(thread)
        state(of: thread).pointee.store(detachedState, ordering: .sequentiallyConsistent)
    }

    /// `tstate_try_attach`: DETACHED → ATTACHED by compare-and-swap; on failure, the state found.
    @inline(__always)
    public func tryAttach(_ thread: Int) -> (exchanged: Bool, found: Int32) {
        let (exchanged, found) = state(of: thread).pointee.compareExchange(
            expected: ThreadStates.DETACHED, desired: ThreadStates.ATTACHED, ordering: .sequentiallyConsistent)
        return (exchanged, found)
    }

    /// `_Py_qsbr_attach`: the thread's read sequence becomes the shared write sequence.
    @inline(__always)
    public func qsbrAttach(_ thread: Int) {
        let sequence = writeSequence.pointee.load(ordering: .acquiring)
        readSequence(of: thread).pointee.store(sequence, ordering: .sequentiallyConsistent)
    }

    /// `_Py_qsbr_detach`: the thread's read sequence becomes QSBR_OFFLINE.
    @inline(__always)
    public func qsbrDetach(_ thread: Int) {
        readSequence(of: thread).pointee.store(ThreadStates.QSBR_OFFLINE, ordering: .releasing)
    }

    /// `park_detached_threads`'s step for one thread: DETACHED → SUSPENDED by compare-and-swap;
    /// true when this call suspended it.
    public func suspendIfDetached(_ thread: Int) -> Bool {
        guard currentState(of: thread) == ThreadStates.DETACHED else { return false }
        return state(of: thread).pointee.compareExchange(
            expected: ThreadStates.DETACHED, desired: ThreadStates.SUSPENDED, ordering: .sequentiallyConsistent
        ).exchanged
    }

    /// `start_the_world`'s step for one thread: SUSPENDED → DETACHED by a store (the requester
    /// then wakes every thread waiting to attach).
    public func restoreSuspended(_ thread: Int) {
        let found = currentState(of: thread)
        precondition(found == ThreadStates.SUSPENDED, "start the world: thread \(thread) is in state \(found), not SUSPENDED")
        state(of: thread).pointee.store(ThreadStates.DETACHED, ordering: .sequentiallyConsistent)
    }
}
