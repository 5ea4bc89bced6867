import CPython
import CRefScale
import Glibc
import Synchronization

/// `cpython`: real objects of the embedded CPython 3.11, counted by the interpreter's own
/// `Py_INCREF` and `Py_DECREF` under its real GIL. The measured ceiling of today's CPython, and
/// the calibration of the `nonatomic` model against the real object header.
///
/// Invariants:
/// - A handle is the object's `PyObject*` itself (HPy's CPython ABI): `dup` is `Py_INCREF`,
///   `close` is `Py_DECREF`, `open` and `retain` are a `Py_INCREF` of the object the pool object
///   records, `transfer` and `adopt` move the reference and count nothing.
/// - The pool object stays the harness's record of the object's life. Once born, its payload
///   holds the `PyObject*`; the `PyObject` in turn names the pool object in its value (an int
///   whose value is the pool address, a str spelling it, a 1-tuple of such an int; the kind
///   cycles by pool index), so a handle leads back to its pool object with no table and no lock.
/// - Every mortal object is born fresh with `Py_REFCNT` 1, the creating thread's reference
///   (checked at birth): no reference outside the harness exists, its baseline is 0. The close
///   that finds `Py_REFCNT` 1 ends the last reference: it frees the pool object
///   (`ObjectPool.free`), then its `Py_DECREF` deallocates the `PyObject`. So each pool object is
///   freed exactly once, by the close that ends its last reference, and `referenceCount(of:)` is
///   the real `Py_REFCNT`: a leaked `Py_INCREF` shows in validation.
/// - 3.11 has no immortal objects (PEP 683 came in 3.12): an object the workload marks immortal
///   gets one more reference at birth that is never given back, as `None`'s count in 3.11 never
///   falls to 0. Its duplicates and closes are counted, as 3.11 counts `None`'s.
/// - Every count change and every object creation runs with the real GIL held. A thread takes
///   it lazily, before its first such operation since it last gave it up: `PyGILState_Ensure`
///   the first time (it makes the thread state of a thread Python did not start),
///   `PyEval_RestoreThread` after. It holds the GIL for a slice (`--gil-slice`, 5 ms by default,
///   CPython's switch interval), read on the clock only where it is taken and at `safePoint()`.
///   It gives it up at a safe point whose slice has expired and in `suspend()`
///   (`PyEval_SaveThread`, keeping the thread state), and in `threadExit()` (`PyGILState_Release`,
///   which deletes the thread state Ensure made).
/// - Threads take turns, as CPython's forced switching makes them: a thread whose slice has
///   expired while another thread of the run waits for the GIL gives it up and waits until one
///   of them has taken it, then asks again. (CPython's own request to drop the GIL, set by a
///   waiter after 5 ms without a switch, never comes here: each slice's release is a switch, and
///   the releasing thread would take the GIL straight back.) Waiters are counted in `waiting`.
/// - The GIL belongs to the thread, not to a context: of several contexts in one thread, at most
///   one may hold it at a time (the others must have suspended or exited).
/// - `read` loads the object's type (`Py_TYPE`) and `object(of:)` its value; both read only
///   immutable parts of an object the thread holds a reference to, and need no GIL.
/// - A Python error while making an object is kept, with Python's own message, for
///   `failure(of:)`, which stops the run; the object is made as an int instead, so every thread
///   can still finish its stream.
/// - `lock_handoffs` counts the acquisitions whose previous holder in this run was another thread.
public struct CPythonScheme: CountingScheme {
    public static let name = "cpython"
    public static let summary = "real CPython 3.11 objects: Py_INCREF/Py_DECREF under the real GIL, held for a slice"
    public static let reportedCounters: Set<CounterKind> = [.frees, .lockHandoffs]
    public static let isThreadSafe = true
    public static let declaredOptions = [GilScheme.gilSlice.declaration]

    public final class Shared {
        let sliceNanoseconds: UInt64
        /// Each on its own 128-byte line: the thread ID of the last thread of this run to take
        /// the GIL (written under the GIL, read by a thread waiting for its turn to pass), and
        /// the threads of this run waiting to take it.
        let turn: UnsafeMutableRawPointer
        /// The first Python error of the run; written under the GIL.
        var failure: String?
        /// Tests: every creation fails as `int('not a number')` does. Set before any context.
        var createsFailingObjects = false

        init(sliceNanoseconds: UInt64) {
            self.sliceNanoseconds = sliceNanoseconds
            turn = .allocate(byteCount: 256, alignment: 128)
            turn.initializeMemory(as: UInt8.self, repeating: 0, count: 256)
        }

        deinit { turn.deallocate() }

        var lastHolder: UnsafeMutablePointer<Atomic<UInt32>> { turn.assumingMemoryBound(to: Atomic<UInt32>.self) }
        var waiting: UnsafeMutablePointer<Atomic<Int>> { (turn + 128).assumingMemoryBound(to: Atomic<Int>.self) }
    }

    let shared: Unmanaged<Shared>
    let lastHolder: UnsafeMutablePointer<Atomic<UInt32>>
    let waiting: UnsafeMutablePointer<Atomic<Int>>
    let threadID: UInt32
    let sliceNanoseconds: UInt64
    let createsFailingObjects: Bool
    /// Whether this context holds the GIL now.
    var holdsGIL = false
    /// Whether `PyGILState_Ensure` is in effect (until `threadExit`), and what it returned.
    var ensured = false
    var gilState = PyGILState_UNLOCKED
    /// The thread state `PyEval_SaveThread` gave back when the GIL was last given up mid-life.
    var savedThreadState: UnsafeMutablePointer<PyThreadState>?
    /// When the current slice ends (monotonic ns); meaningful only while `holdsGIL`.
    var sliceEnd: UInt64 = 0
    var frees = 0
    var lockHandoffs = 0

    public var counters: SchemeCounters {
        var counters = SchemeCounters()
        counters.frees = frees
        counters.lockHandoffs = lockHandoffs
        return counters
    }

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        EmbeddedPython.start()
        return Shared(sliceNanoseconds: max(1, UInt64(options[GilScheme.gilSlice] * 1e9)))
    }

    public init(shared: Shared, threadID: Int) {
        precondition(threadID > 0 && threadID <= Int(UInt32.max), "thread ID \(threadID) out of range")
        self.shared = Unmanaged.passUnretained(shared)
        lastHolder = shared.lastHolder
        waiting = shared.waiting
        self.threadID = UInt32(threadID)
        sliceNanoseconds = shared.sliceNanoseconds
        createsFailingObjects = shared.createsFailingObjects
    }

    // MARK: The GIL

    /// Takes the GIL if this context does not hold it: the one branch each counting operation adds.
    @inline(__always)
    mutating func holdGIL() {
        if _slowPath(!holdsGIL) { acquireGIL() }
    }

    @inline(never)
    mutating func acquireGIL() {
        waiting.pointee.wrappingAdd(1, ordering: .relaxed)
        if let saved = savedThreadState {
            PyEval_RestoreThread(saved)
            savedThreadState = nil
        } else {
            precondition(!ensured, "cpython: a context that exited its thread counts again")
            precondition(PyGILState_Check() == 0, "cpython: this thread holds the GIL through another context")
            gilState = PyGILState_Ensure()
            ensured = true
        }
        holdsGIL = true
        waiting.pointee.wrappingSubtract(1, ordering: .relaxed)
        let previous = lastHolder.pointee.exchange(threadID, ordering: .relaxed)
        if previous != 0 && previous != threadID { lockHandoffs += 1 }
        sliceEnd = crefscale_clock_monotonic_ns() &+ sliceNanoseconds
    }

    /// Gives the GIL up and keeps the thread state for the next slice.
    mutating func releaseGILIfHeld() {
        guard holdsGIL else { return }
        holdsGIL = false
        savedThreadState = PyEval_SaveThread()
    }

    // MARK: Objects and handles

    @inline(__always)
    static func pythonObject(_ handle: Handle) -> UnsafeMutablePointer<PyObject> {
        UnsafeMutablePointer<PyObject>(bitPattern: UInt(handle.bits)).unsafelyUnwrapped
    }

    /// The `PyObject*` a born pool object records.
    @inline(__always)
    static func pythonObject(of object: ObjectRef) -> UnsafeMutablePointer<PyObject> {
        UnsafeMutablePointer<PyObject>(bitPattern: UInt(object.payload)).unsafelyUnwrapped
    }

    @inline(__always)
    static func handle(_ object: UnsafeMutablePointer<PyObject>) -> Handle {
        Handle(bits: UInt64(UInt(bitPattern: object)))
    }

    /// Makes the pool object's `PyObject` (the kind cycling by pool index: `new` bears object `i`
    /// with payload `i + 1`) and records it in the pool object. Runs under the GIL.
    @inline(never)
    mutating func make(_ object: ObjectRef) -> UnsafeMutablePointer<PyObject> {
        let kind = Int32(truncatingIfNeeded: (object.payload &- 1) % UInt64(CREFSCALE_PY_KINDS))
        var made = createsFailingObjects ? crefscale_py_make_failing() : crefscale_py_make(kind, object.address)
        if made == nil {
            let message = EmbeddedPython.takeError() ?? "no Python error set"
            let shared = shared.takeUnretainedValue()
            if shared.failure == nil { shared.failure = "cpython: making a Python object failed: \(message)" }
            made = crefscale_py_make(Int32(CREFSCALE_PY_INT), object.address)
        }
        guard let made else {
            preconditionFailure("cpython: making a Python int failed: \(EmbeddedPython.takeError() ?? "no Python error set")")
        }
        precondition(Py_REFCNT(made) == 1, "cpython: a new object has Py_REFCNT \(Py_REFCNT(made)), not 1")
        if object.isImmortal { Py_INCREF(made) }
        object.payload = UInt64(UInt(bitPattern: made))
        return made
    }

    /// The last reference to `object` ends: the pool object's life ends with it.
    @inline(never)
    mutating func endLife(of object: UnsafeMutablePointer<PyObject>) {
        ObjectPool.free(ObjectRef(address: crefscale_py_pool_address(object).unsafelyUnwrapped))
        frees += 1
    }

    @inline(__always)
    public mutating func new(_ object: ObjectRef) -> Handle {
        holdGIL()
        return CPythonScheme.handle(make(object))
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle {
        holdGIL()
        let python = CPythonScheme.pythonObject(of: object)
        Py_INCREF(python)
        return CPythonScheme.handle(python)
    }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        holdGIL()
        Py_INCREF(CPythonScheme.pythonObject(handle))
        return handle
    }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        holdGIL()
        let python = CPythonScheme.pythonObject(handle)
        if Py_REFCNT(python) == 1 { endLife(of: python) }
        Py_DECREF(python)
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 {
        UInt64(UInt(bitPattern: Py_TYPE(CPythonScheme.pythonObject(handle))))
    }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef {
        ObjectRef(address: crefscale_py_pool_address(CPythonScheme.pythonObject(handle)).unsafelyUnwrapped)
    }

    public mutating func retain(_ object: ObjectRef) {
        holdGIL()
        Py_INCREF(CPythonScheme.pythonObject(of: object))
    }

    public mutating func release(_ object: ObjectRef) { close(CPythonScheme.handle(CPythonScheme.pythonObject(of: object))) }
    /// The handle is a counted reference already: it moves.
    public mutating func transfer(_ handle: Handle) -> ObjectRef { object(of: handle) }
    public mutating func adopt(_ object: ObjectRef) -> Handle { CPythonScheme.handle(CPythonScheme.pythonObject(of: object)) }

    /// At the end of a slice: gives the GIL up, and if another thread of the run waits for it,
    /// waits until one has taken it (CPython's forced switching); the next counting operation
    /// asks for it again.
    public mutating func safePoint() {
        guard holdsGIL, crefscale_clock_monotonic_ns() >= sliceEnd else { return }
        let othersWait = waiting.pointee.load(ordering: .relaxed) > 0
        releaseGILIfHeld()
        guard othersWait else { return }
        while lastHolder.pointee.load(ordering: .relaxed) == threadID && waiting.pointee.load(ordering: .relaxed) > 0 {
            sched_yield()
        }
    }

    public mutating func suspend() { releaseGILIfHeld() }

    public mutating func threadExit() {
        guard ensured else { return }
        if let saved = savedThreadState {
            PyEval_RestoreThread(saved)
            savedThreadState = nil
        }
        holdsGIL = false
        ensured = false
        PyGILState_Release(gilState)
    }

    /// The real `Py_REFCNT`; 0 for an object whose life has ended.
    public static func referenceCount(of object: ObjectRef) -> Int? {
        object.isAlive ? Py_REFCNT(pythonObject(of: object)) : 0
    }

    public static func failure(of shared: Shared) -> String? { shared.failure }

    public static var pythonVersion: String? { EmbeddedPython.version }
    public static let refusesExtensionObjects: String? = "counts real CPython objects, whose record takes the pool object's payload, where refscale's HPyContext keeps its own"
}

/// The process's one embedded interpreter: started the first time a `cpython` run (or anything
/// else) asks for it, finalised when the process exits.
public enum EmbeddedPython {
    /// The thread state of the thread that started the interpreter, which gives the GIL up at
    /// once; `finish` takes it back to finalise.
    nonisolated(unsafe) static let startingThreadState: UnsafeMutablePointer<PyThreadState> = {
        Py_InitializeEx(0)  // 0: no signal handlers of Python's own
        guard let state = PyEval_SaveThread() else { preconditionFailure("PyEval_SaveThread failed: no thread state") }
        let registered = atexit { EmbeddedPython.finish() }
        precondition(registered == 0, "atexit failed: \(registered)")
        return state
    }()

    /// Starts the interpreter if it is not running; the calling thread does not hold the GIL after.
    public static func start() { _ = startingThreadState }

    /// Takes the GIL back and finalises the interpreter (at exit, when no other thread holds it).
    static func finish() {
        PyEval_RestoreThread(startingThreadState)
        let result = Py_FinalizeEx()
        if result != 0 { fputs("refscale: note: Py_FinalizeEx failed: \(result)\n", stderr) }
    }

    /// The first word of `Py_GetVersion()`, as "3.11.2"; needs no running interpreter.
    public static var version: String {
        String(String(cString: Py_GetVersion()).prefix { $0 != " " })
    }

    /// Takes the pending Python error as "Type: message"; nil when none is pending. Needs the GIL.
    static func takeError() -> String? {
        var buffer = [CChar](repeating: 0, count: 512)
        guard crefscale_py_take_error(&buffer, buffer.count) != 0 else { return nil }
        return String(cString: buffer)
    }

    /// The plain-C reference loop of `calibrate`: `pairs` times a real `Py_INCREF` then `Py_DECREF`
    /// of one fresh object, on the calling thread with the GIL held. Nanoseconds per operation.
    public static func increfDecrefNanoseconds(pairs: Int) -> Double {
        start()
        let state = PyGILState_Ensure()
        defer { PyGILState_Release(state) }
        var anchor = 0
        guard let object = withUnsafeMutablePointer(to: &anchor, { crefscale_py_make(Int32(CREFSCALE_PY_INT), $0) }) else {
            preconditionFailure("cpython: making a Python int failed: \(takeError() ?? "no Python error set")")
        }
        defer { Py_DECREF(object) }
        let start = crefscale_clock_monotonic_ns()
        let count = crefscale_py_incref_decref_loop(object, Int64(pairs))
        let elapsed = crefscale_clock_monotonic_ns() - start
        precondition(count == 1, "cpython: the calibration object ended with Py_REFCNT \(count), not 1")
        return Double(elapsed) / Double(2 * pairs)
    }
}

extension CPythonScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
