#if CPYTHON_313T
import CPython
import CRefScale
import Glibc
import Synchronization
#endif

/// The name and summary of `cpython-313t`, known to every build: the ordinary one lists the
/// scheme and hands runs of it to the build that has it.
public enum CPython313tIdentity {
    public static let name = "cpython-313t"
    public static let summary = "real free-threaded CPython 3.13t objects: its own Py_INCREF/Py_DECREF (biased), merge queue, immortality and GC; no GIL"
}

#if CPYTHON_313T
/// `cpython-313t`: real objects of the free-threaded CPython 3.13t (Debian's python3.13 3.13.5
/// built with `--disable-gil`, Tools/cpython-313t/build.sh), counted by 3.13t's own inline
/// `Py_INCREF` and `Py_DECREF` (Include/object.h): its biased counting, its merge queue
/// (Python/brc.c), its immortality and its GC, with no GIL. The ground truth for `biased`.
///
/// How it runs: one process cannot hold two libpythons, so this scheme lives in a second build
/// of refscale, made with `REFSCALE_CPYTHON_313T` (Package.swift: the module `CPython` is 3.13t
/// there, and this scheme is registered in place of `cpython`). That build is all of refscale:
/// the same harness, the same hot loop, the same validation, every model scheme. The ordinary
/// binary, asked for this scheme, hands the whole command to it (`DelegatedScheme`), so a
/// model and the real 3.13t run in one binary and the harness costs both sides the same.
///
/// Invariants:
/// - A handle is the object's `PyObject*` itself (HPy's CPython ABI), as in `cpython`: `dup` is
///   `Py_INCREF`, `close` is `Py_DECREF`, `open` and `retain` a `Py_INCREF` of the object the
///   pool object records, `transfer` and `adopt` move the reference and count nothing.
/// - Objects are made as `cpython` makes them (crefscale_python.h: an int, a str or a 1-tuple
///   naming the pool object, the kind cycling by pool index); all three are mortal, not deferred,
///   and counted biased, their types static and immortal. Every mortal object is born with
///   `Py_REFCNT` 1 (checked at birth), owned by the thread that made it (`ob_tid`).
/// - An object of kind `class` (`--shared-kind class`) is a class made as a `class` statement makes
///   it (`type(name, (base,), {})`, named "refscale object <address>"): deferred, so immortal in
///   3.13t once a second thread has started (checked at birth; the pool object is then marked
///   immortal, as `biased` marks it). Its duplicates and closes are 3.13t's no-ops on an immortal
///   object. Its base (crefscale_python313t.h `crefscale_py313t_instance_base`, one static type
///   for the process, as `object` is one) gives its instances one word for their pool object's
///   address, as in `class C(Base): pass` over an extension's base; a class of `object` alone
///   has no such word.
/// - An object of kind `ext-type` is an extension type made as an extension makes one:
///   `PyType_FromSpec` (crefscale_python313t.h `crefscale_py313t_make_extension_type`; Objects/
///   typeobject.c `_PyType_FromMetaclass_impl`), named "refscale object <address>.Instance", its
///   one slot a `tp_dealloc` that frees the instance and then drops its type with the public
///   `Py_DECREF(type)`. 3.13 never defers such a type (only `type_new_alloc`, the `class`
///   statement's path, calls `_PyObject_SetDeferredRefcount`), so it stays mortal and biased. At
///   birth the scheme checks that: a heap type, not immortal (`_Py_IsImmortal`), not deferred
///   (`ob_gc_bits` without `_PyGC_BITS_DEFERRED`), owned by the thread that made it (`ob_tid`,
///   `_Py_IsOwnedByCurrentThread`), and `Py_REFCNT` exactly 1 + the references its own parts hold
///   to it. Those are found as the cycle collector finds internal references (`update_refs`,
///   `visit_decref`, Python/gc_free_threading.c): `tp_traverse` over every tracked, mortal object
///   reachable from the type (`type_traverse`: its `tp_mro` holds it, and so may descriptors in
///   its `tp_dict`). A failed check stops the run (`failure(of:)`). The pool object's count that
///   validation expects back after the workers is `Py_REFCNT` read after set-up, so it includes
///   those references.
/// - Where a workload makes instances of a type (`churn`, `handoff`: the created object's
///   `ObjectRef.typeWord` names a pool object of kind `ext-type` or `class`), each is a real
///   instance, made by the type's `tp_alloc` as `object_new` and an extension's `tp_new` make it:
///   `PyType_GenericAlloc` (Objects/typeobject.c), whose `_PyObject_Init` is 3.13t's own
///   `Py_INCREF(type)`. For an extension type its deallocation is the `tp_dealloc` above, 3.13t's
///   own `Py_DECREF(type)`: both biased, atomics for every thread but the type's maker. For a
///   class the allocation also tracks the instance for the cycle collector, and its deallocation is
///   the class's `subtype_dealloc`, which calls the base's deallocator (`tp_free`, as
///   `object_dealloc`) and then `Py_DECREF(type)`: both on an immortal class, so both 3.13t's
///   no-ops. Either instance keeps its pool object's address in its body (`crefscale_py313t_instance`,
///   one layout for both), which the tracer reads. At birth the scheme checks its type, its
///   `Py_REFCNT` 1 and its owner; for a class's, that the collector tracks it and the class is
///   immortal. A failed check stops the run.
/// - How an extension type's life ends. Its own parts hold it (`tp_mro`'s first item is the type
///   itself), so the harness's last `Py_DECREF` leaves `Py_REFCNT` at those references and frees
///   nothing: the type and its parts are then a cycle nothing else reaches, which only a
///   collection frees. The context that made extension types runs one (`PyGC_Collect`) in its
///   `threadExit()`, attached, after its teardown has dropped its references: the run's main
///   thread, after every worker has exited and the baseline has been checked. The collector finds
///   the cycle unreachable (`deduce_unreachable_heap`), gives each object of it one reference of
///   its own (`merge_refcount`), clears it (`type_clear` drops `tp_mro` and `tp_dict`) and drops
///   those references, so the type's count reaches 0 and `_Py_Dealloc` calls the reference tracer
///   before `type_dealloc`: the pool object is freed there, once, as every other. A type still
///   referenced then (a reference the run leaked) is not collected, and validation reports it
///   never freed. With the collector disabled (`PyGC_IsEnabled`) the run stops with that reason.
/// - `REFSCALE_PLANTED_313T_DEFECT` plants a defect for Tests/cpython-313t-tests.sh, whose checks
///   must then fail: `no-collection` (the maker runs no collection: every extension type is
///   reported never freed), `class-for-ext-type` (a class of a `class` statement in place of an
///   extension type: the birth check finds it immortal), `extra-type-reference` (one reference
///   more at birth: the birth check finds the count), `data-for-class-instance` (an int, a str or a
///   tuple, as made before a class had instances, in place of each instance of a class: the
///   instance's birth check finds its type).
/// - The pool object's life ends when 3.13t deallocates its `PyObject`, wherever that happens:
///   in the `Py_DECREF` of the owner, of another thread (`_Py_DecRefShared`), in a merge of the
///   owner's queue, at thread exit. A reference tracer (`PyRefTracer_SetTracer`, 3.13; called by
///   `_Py_Dealloc` just before `tp_dealloc`) ends it. Unlike `cpython`, a close cannot test
///   `Py_REFCNT == 1` first: without a GIL two threads could both see 2 and both decrement. So
///   each pool object is freed exactly once, when its `PyObject` is, and `referenceCount(of:)`
///   is the real `Py_REFCNT` (`ob_ref_local + (ob_ref_shared >> 2)`).
/// - Cost beyond 3.13t's own: while a run lasts, the tracer is called at every creation and
///   every deallocation in the interpreter (`_PyReftracerTrack`: one indirect call; for a
///   deallocation it reads the dying object's value, or for an object of another type its type's
///   size, and one word of the pool object); each `new` may widen the tracer's span of pool
///   memory (two relaxed loads, a store only while it grows). A `new` of an object that is not a
///   type loads its type word to tell an instance of an extension type or a class; an instance's
///   birth check reads its header and its type's.
/// - No GIL and no slices: a thread attaches its thread state when its context is made
///   (`PyGILState_Ensure`: in a free-threaded build it makes and attaches a thread state, it takes
///   no lock), detaches it in `suspend()` (`PyEval_SaveThread`) so that a stop-the-world pause
///   never waits for a blocked thread, attaches again in `resume()` (`PyEval_RestoreThread`),
///   which the runner calls before the first operation after a suspend, and deletes it in
///   `threadExit()` (`PyGILState_Release`, which merges the thread's merge queue:
///   `_Py_brc_remove_thread`). So no counting operation checks for its thread state, as an
///   extension's code, which runs attached, does not: a check in every operation cost 3
///   instructions per operation on `private` (Tools/kernel-instructions/count.sh: 19.05 with it,
///   16.05 without; `biased` 16.55), which the model does not pay.
/// - Creating a second thread state makes 3.13t immortalise every deferred object and every one
///   made later (Python/pystate.c new_threadstate, `_PyGC_ImmortalizeDeferredObjects`,
///   gh-117783; `_PyObject_SetDeferredRefcount`): classes from a `class` statement, functions,
///   modules, code. Before the first run the process starts one Python thread
///   (`threading.Thread`, started and joined), as a threaded program does, so every run, the first one
///   included, counts on an interpreter past that point, as `biased` assumes.
/// - `safePoint()` is the eval loop's check (Python/bytecodes.c RESUME_CHECK): it reads the
///   thread's eval breaker, and when an event bit is set it calls a Python function whose RESUME
///   handles it (`_Py_HandlePending`): merging the objects other threads queued for this owner
///   (`_Py_brc_merge_refcounts`), a stop-the-world pause, a scheduled GC. Between safe points,
///   as in an extension's C code, nothing is merged.
/// - Immortal objects: an object the workload marks immortal gets one more reference at birth
///   that is never given back (as `cpython` does), not 3.13t's immortal count: `_Py_SetImmortal`
///   is not exported. Its duplicates and closes are counted, biased, like any mortal object's.
/// - A Python error while making an object is kept, with Python's own message, for
///   `failure(of:)`, which stops the run; the object is made as an int instead.
/// - `frees` counts the deallocations of the run's objects that happened on each thread.
public struct CPython313tScheme: CountingScheme {
    public static let name = CPython313tIdentity.name
    public static let summary = CPython313tIdentity.summary
    public static let reportedCounters: Set<CounterKind> = [.frees]
    public static let isThreadSafe = true

    /// A defect planted for the tests (`REFSCALE_PLANTED_313T_DEFECT`); none in every real run.
    enum PlantedDefect: String {
        case noCollection = "no-collection"
        case classForExtensionType = "class-for-ext-type"
        case extraTypeReference = "extra-type-reference"
        case dataForClassInstance = "data-for-class-instance"
    }

    public final class Shared {
        let tracer: UnsafeMutablePointer<crefscale_py313t_tracer>
        /// Deallocations of the run's objects, per harness thread slot, each on its own line.
        let frees: UnsafeMutableRawPointer
        let freeSlots: Int
        let failure = LockedValue<String?>(nil)
        let plantedDefect: PlantedDefect?

        init(threads: Int, plantedDefect: PlantedDefect?) {
            self.plantedDefect = plantedDefect
            freeSlots = threads + 2
            frees = .allocate(byteCount: freeSlots * 128, alignment: 128)
            frees.initializeMemory(as: UInt8.self, repeating: 0, count: freeSlots * 128)
            tracer = crefscale_py313t_tracer_make(32, ObjectRef.headerSize, { poolAddress, context in
                CPython313tScheme.endLife(of: ObjectRef(address: poolAddress.unsafelyUnwrapped), shared: context.unsafelyUnwrapped)
            }, nil).unsafelyUnwrapped
            tracer.pointee.context = Unmanaged.passUnretained(self).toOpaque()
            EmbeddedPython313t.withAttachedThread { crefscale_py313t_tracer_install(tracer) }
        }

        deinit {
            EmbeddedPython313t.withAttachedThread { crefscale_py313t_tracer_remove(tracer) }
            free(tracer)
            frees.deallocate()
        }

        func freeCount(slot: Int) -> UnsafeMutablePointer<Int> {
            (frees + (slot < freeSlots && slot >= 0 ? slot : 0) * 128).assumingMemoryBound(to: Int.self)
        }

        func record(_ message: String) {
            failure.withLock { if $0 == nil { $0 = message } }
        }
    }

    let shared: Unmanaged<Shared>
    let tracer: UnsafeMutablePointer<crefscale_py313t_tracer>
    let threadID: Int
    /// Whether this context's thread state is attached now.
    var attached = false
    /// Whether `PyGILState_Ensure` is in effect (until `threadExit`), and what it returned.
    var ensured = false
    var gilState = PyGILState_UNLOCKED
    /// The thread state `PyEval_SaveThread` gave back when it was last detached mid-life.
    var savedThreadState: UnsafeMutablePointer<PyThreadState>?
    /// Whether this context made an extension type, whose life ends at the collection this
    /// context runs when its thread exits.
    var madeExtensionTypes = false

    public var counters: SchemeCounters {
        var counters = SchemeCounters()
        counters.frees = shared.takeUnretainedValue().freeCount(slot: threadID).pointee
        return counters
    }

    public static func makeShared(options: SchemeOptions, threads: Int) throws -> Shared {
        EmbeddedPython313t.startSecondThread()
        let planted = getenv("REFSCALE_PLANTED_313T_DEFECT").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        let defect = try planted.map { name in
            guard let defect = PlantedDefect(rawValue: name) else { throw RunFailure("REFSCALE_PLANTED_313T_DEFECT=\(name): not a planted defect") }
            return defect
        }
        return Shared(threads: threads, plantedDefect: defect)
    }

    /// Made on the thread that counts with it, which attaches at once.
    public init(shared: Shared, threadID: Int) {
        self.shared = Unmanaged.passUnretained(shared)
        tracer = shared.tracer
        self.threadID = threadID
        attach()
    }

    /// The tracer's call: the interpreter is deallocating the `PyObject` of `object`. Runs on the
    /// thread that deallocates it.
    static func endLife(of object: ObjectRef, shared context: UnsafeMutableRawPointer) {
        let shared = Unmanaged<Shared>.fromOpaque(context).takeUnretainedValue()
        ObjectPool.free(object)
        shared.freeCount(slot: Int(crefscale_thread_slot())).pointee += 1
    }

    // MARK: The thread state

    @inline(__always)
    mutating func attach() {
        if _slowPath(!attached) { attachThreadState() }
    }

    @inline(never)
    mutating func attachThreadState() {
        if let saved = savedThreadState {
            PyEval_RestoreThread(saved)
            savedThreadState = nil
        } else {
            precondition(!ensured, "cpython-313t: a context that exited its thread counts again")
            gilState = PyGILState_Ensure()
            ensured = true
        }
        attached = true
    }

    mutating func detach() {
        guard attached else { return }
        attached = false
        savedThreadState = PyEval_SaveThread()
    }

    // MARK: Objects and handles

    @inline(__always)
    static func pythonObject(_ handle: Handle) -> UnsafeMutablePointer<PyObject> {
        UnsafeMutablePointer<PyObject>(bitPattern: UInt(handle.bits)).unsafelyUnwrapped
    }

    @inline(__always)
    static func pythonObject(of object: ObjectRef) -> UnsafeMutablePointer<PyObject> {
        UnsafeMutablePointer<PyObject>(bitPattern: UInt(object.payload)).unsafelyUnwrapped
    }

    @inline(__always)
    static func handle(_ object: UnsafeMutablePointer<PyObject>) -> Handle {
        Handle(bits: UInt64(UInt(bitPattern: object)))
    }

    /// Makes the pool object's `PyObject` (the kind cycling by pool index, as `cpython` does) and
    /// records it in the pool object. Runs attached.
    @inline(never)
    mutating func make(_ object: ObjectRef) -> UnsafeMutablePointer<PyObject> {
        let kind = Int32(truncatingIfNeeded: (object.payload &- 1) % UInt64(CREFSCALE_PY_KINDS))
        crefscale_py313t_tracer_note(tracer, object.address)
        if object.isDeferred { return makeClass(object) }
        if object.isExtensionType { return makeExtensionType(object) }
        if let type = UnsafeMutableRawPointer(bitPattern: object.typeWord.pointee.load(ordering: .relaxed)).map(ObjectRef.init(address:)),
           type.isExtensionType || type.isDeferred {
            return makeInstance(object, of: type, kind: kind)
        }
        var made = crefscale_py_make(kind, object.address)
        if made == nil {
            let message = EmbeddedPython.takeError() ?? "no Python error set"
            shared.takeUnretainedValue().record("cpython-313t: making a Python object failed: \(message)")
            made = crefscale_py_make(Int32(CREFSCALE_PY_INT), object.address)
        }
        guard let made else {
            preconditionFailure("cpython-313t: making a Python int failed: \(EmbeddedPython.takeError() ?? "no Python error set")")
        }
        precondition(Py_REFCNT(made) == 1, "cpython-313t: a new object has Py_REFCNT \(Py_REFCNT(made)), not 1")
        return recorded(made, in: object)
    }

    /// Records a new `PyObject` in its pool object; an object the workload marks immortal gets one
    /// reference more that is never given back.
    func recorded(_ made: UnsafeMutablePointer<PyObject>, in object: ObjectRef) -> UnsafeMutablePointer<PyObject> {
        if object.isImmortal { Py_INCREF(made) }
        object.payload = UInt64(UInt(bitPattern: made))
        return made
    }

    /// A class for an object of kind `class`; immortal, as 3.13t makes a deferred object once a
    /// second thread has started.
    mutating func makeClass(_ object: ObjectRef) -> UnsafeMutablePointer<PyObject> {
        guard let made = crefscale_py313t_make_class(EmbeddedPython313t.instanceBase, object.address) else {
            preconditionFailure("cpython-313t: making a class failed: \(EmbeddedPython.takeError() ?? "no Python error set")")
        }
        precondition(_Py_IsImmortal(made) != 0, "cpython-313t: a new class is not immortal (Py_REFCNT \(Py_REFCNT(made))): no second thread has started")
        object.makeImmortal()
        object.payload = UInt64(UInt(bitPattern: made))
        return made
    }

    /// An extension type for an object of kind `ext-type`, checked mortal, biased and counted as
    /// the header says; a failed check is the run's failure.
    mutating func makeExtensionType(_ object: ObjectRef) -> UnsafeMutablePointer<PyObject> {
        let planted = shared.takeUnretainedValue().plantedDefect
        let made = planted == .classForExtensionType
            ? crefscale_py313t_make_class(EmbeddedPython313t.instanceBase, object.address)
            : crefscale_py313t_make_extension_type(object.address)
        guard let made else {
            preconditionFailure("cpython-313t: making an extension type failed: \(EmbeddedPython.takeError() ?? "no Python error set")")
        }
        if planted == .extraTypeReference { Py_INCREF(made) }
        madeExtensionTypes = true
        if let problem = CPython313tScheme.problemAtBirth(ofExtensionType: made) {
            shared.takeUnretainedValue().record("cpython-313t: a new extension type \(problem)")
        }
        return recorded(made, in: object)
    }

    /// What is wrong with a type just made by `PyType_FromSpec` on this thread, or nil: it must be
    /// a heap type, mortal, not deferred, owned by this thread, and counted 1 (the maker's) + the
    /// references its own parts hold to it.
    static func problemAtBirth(ofExtensionType type: UnsafeMutablePointer<PyObject>) -> String? {
        if crefscale_py313t_is_heap_type(type) == 0 { return "is not a heap type" }
        if _Py_IsImmortal(type) != 0 { return "is immortal (Py_REFCNT \(Py_REFCNT(type)))" }
        if crefscale_py313t_is_deferred(type) != 0 { return "has a deferred count (_PyGC_BITS_DEFERRED)" }
        if crefscale_py313t_is_owned_here(type) == 0 { return "is not owned by the thread that made it (ob_tid \(type.pointee.ob_tid))" }
        let within = crefscale_py313t_references_within(type)
        if within < 0 { return "reaches more objects than the walk for its internal references holds" }
        if Py_REFCNT(type) != 1 + within {
            return "has Py_REFCNT \(Py_REFCNT(type)), not 1 + the \(within) reference(s) its own parts hold to it"
        }
        return nil
    }

    /// A real instance of `type`, a pool object of kind `ext-type` or `class`, made by the type's own
    /// allocation, which takes the instance's reference to the type (`_PyObject_Init`); checked at
    /// birth, a failed check being the run's failure. `kind` is what `make` would make otherwise,
    /// which the planted defect `data-for-class-instance` makes in place of a class's instance.
    mutating func makeInstance(_ object: ObjectRef, of type: ObjectRef, kind: Int32) -> UnsafeMutablePointer<PyObject> {
        let python = CPython313tScheme.pythonObject(of: type)
        let isClass = type.isDeferred
        let made = isClass && shared.takeUnretainedValue().plantedDefect == .dataForClassInstance
            ? crefscale_py_make(kind, object.address) : crefscale_py313t_make_instance(python, object.address)
        guard let made else {
            preconditionFailure("cpython-313t: making an instance of \(isClass ? "a class" : "an extension type") failed: \(EmbeddedPython.takeError() ?? "no Python error set")")
        }
        if let problem = CPython313tScheme.problemAtBirth(ofInstance: made, of: python, isClass: isClass) {
            shared.takeUnretainedValue().record("cpython-313t: a new instance of \(isClass ? "a class" : "an extension type") \(problem)")
        }
        return recorded(made, in: object)
    }

    /// What is wrong with `instance`, just made on this thread as an instance of `type`, or nil: its
    /// type must be `type`, its `Py_REFCNT` 1 and its owner this thread; an instance of a class must
    /// be tracked by the cycle collector, as every instance of a class statement's class is, and
    /// its class immortal, so that the reference its allocation took was 3.13t's no-op.
    static func problemAtBirth(ofInstance instance: UnsafeMutablePointer<PyObject>, of type: UnsafeMutablePointer<PyObject>, isClass: Bool) -> String? {
        let instanceType = Py_TYPE(instance)
        if UnsafeMutableRawPointer(instanceType) != UnsafeMutableRawPointer(type) {
            let name = instanceType.flatMap { $0.pointee.tp_name }.map { String(cString: $0) } ?? "no type"
            return "is not an instance of it: its type is \(name)"
        }
        if Py_REFCNT(instance) != 1 { return "has Py_REFCNT \(Py_REFCNT(instance)), not 1" }
        if crefscale_py313t_is_owned_here(instance) == 0 { return "is not owned by the thread that made it (ob_tid \(instance.pointee.ob_tid))" }
        if isClass {
            if crefscale_py313t_is_tracked(instance) == 0 { return "is not tracked by the cycle collector" }
            if _Py_IsImmortal(type) == 0 { return "has a class that is not immortal (Py_REFCNT \(Py_REFCNT(type)))" }
        }
        return nil
    }

    @inline(__always)
    public mutating func new(_ object: ObjectRef) -> Handle {
        return CPython313tScheme.handle(make(object))
    }

    @inline(__always)
    public mutating func open(_ object: ObjectRef) -> Handle {
        let python = CPython313tScheme.pythonObject(of: object)
        Py_INCREF(python)
        return CPython313tScheme.handle(python)
    }

    @inline(__always)
    public mutating func dup(_ handle: Handle) -> Handle {
        Py_INCREF(CPython313tScheme.pythonObject(handle))
        return handle
    }

    @inline(__always)
    public mutating func close(_ handle: Handle) {
        Py_DECREF(CPython313tScheme.pythonObject(handle))
    }

    @inline(__always)
    public func read(_ handle: Handle) -> UInt64 {
        UInt64(UInt(bitPattern: Py_TYPE(CPython313tScheme.pythonObject(handle))))
    }

    @inline(__always)
    public func object(of handle: Handle) -> ObjectRef {
        ObjectRef(address: UnsafeMutableRawPointer(bitPattern: crefscale_py313t_named_address(CPython313tScheme.pythonObject(handle))).unsafelyUnwrapped)
    }

    public mutating func retain(_ object: ObjectRef) {
        Py_INCREF(CPython313tScheme.pythonObject(of: object))
    }

    public mutating func release(_ object: ObjectRef) { close(CPython313tScheme.handle(CPython313tScheme.pythonObject(of: object))) }
    /// The handle is a counted reference already: it moves.
    public mutating func transfer(_ handle: Handle) -> ObjectRef { object(of: handle) }
    public mutating func adopt(_ object: ObjectRef) -> Handle { CPython313tScheme.handle(CPython313tScheme.pythonObject(of: object)) }

    /// The eval loop's check of the eval breaker; a pending event is handled by running Python.
    /// It attaches first: a thread waiting for its region runs safe points while suspended.
    public mutating func safePoint() {
        attach()
        guard crefscale_py313t_events_pending() != 0 else { return }
        if let error = EmbeddedPython313t.handlePendingEvents() {
            shared.takeUnretainedValue().record("cpython-313t: handling the eval breaker's events failed: \(error)")
        }
    }

    public mutating func suspend() { detach() }
    public mutating func resume() { attach() }

    public mutating func threadExit() {
        guard ensured else { return }
        if let saved = savedThreadState {
            PyEval_RestoreThread(saved)
            savedThreadState = nil
        }
        if madeExtensionTypes { endExtensionTypes() }
        attached = false
        ensured = false
        PyGILState_Release(gilState)
    }

    /// Ends the lives of the extension types this context made, which its teardown has dropped:
    /// a collection, attached, whose deallocations the tracer sees (the header says how).
    mutating func endExtensionTypes() {
        madeExtensionTypes = false
        if shared.takeUnretainedValue().plantedDefect == .noCollection { return }
        guard PyGC_IsEnabled() != 0 else {
            shared.takeUnretainedValue().record("cpython-313t: the cycle collector is disabled, so no extension type's life can end (gc.enable())")
            return
        }
        _ = PyGC_Collect()
    }

    /// The real `Py_REFCNT`; 0 for an object whose life has ended.
    public static func referenceCount(of object: ObjectRef) -> Int? {
        object.isAlive ? Py_REFCNT(pythonObject(of: object)) : 0
    }

    public static func failure(of shared: Shared) -> String? { shared.failure.withLock { $0 } }

    public static var pythonVersion: String? { EmbeddedPython.version + "t" }
    public static let refusesExtensionObjects: String? = "counts real CPython objects, whose record takes the pool object's payload, where refscale's HPyContext keeps its own"
}

/// What the 3.13t scheme needs of the embedded interpreter beyond `EmbeddedPython`.
enum EmbeddedPython313t {
    /// A Python function of no arguments that does nothing: calling it runs its RESUME, the eval
    /// loop's check of the eval breaker. Made once, when first needed, and never freed.
    nonisolated(unsafe) static let evalBreakerCheck: UnsafeMutablePointer<PyObject> = withAttachedThread {
        let globals = PyDict_New()
        guard let globals, PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0,
              let result = PyRun_StringFlags("def refscale_eval_breaker_check(): pass\n", Py_file_input, globals, globals, nil),
              let function = PyDict_GetItemString(globals, "refscale_eval_breaker_check")
        else { preconditionFailure("cpython-313t: making the eval-breaker check failed: \(EmbeddedPython.takeError() ?? "no Python error set")") }
        Py_DECREF(result)
        Py_INCREF(function)
        Py_DECREF(globals)
        return function
    }

    /// Starts and joins one Python thread, once per process: 3.13t immortalises deferred objects
    /// then, and makes every later one immortal at once.
    static let secondThreadStarted: Void = withAttachedThread {
        let program = "import threading\nthread = threading.Thread(target=int)\nthread.start()\nthread.join()\n"
        guard let globals = PyDict_New(), PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) == 0,
              let result = PyRun_StringFlags(program, Py_file_input, globals, globals, nil)
        else { preconditionFailure("cpython-313t: starting a Python thread failed: \(EmbeddedPython.takeError() ?? "no Python error set")") }
        Py_DECREF(result)
        Py_DECREF(globals)
    }

    static func startSecondThread() { secondThreadStarted }

    /// The base of every class the scheme makes (crefscale_py313t_instance_base), readied once per
    /// process, before the first class, and never freed (a static type, immortal).
    nonisolated(unsafe) static let instanceBase: UnsafeMutablePointer<PyObject> = withAttachedThread {
        guard let base = crefscale_py313t_instance_base() else {
            preconditionFailure("cpython-313t: readying the classes' base failed: \(EmbeddedPython.takeError() ?? "no Python error set")")
        }
        return base
    }

    /// Handles the calling thread's pending eval-breaker events, as the eval loop does at RESUME;
    /// Python's error when that fails. Needs an attached thread state.
    static func handlePendingEvents() -> String? {
        guard let result = PyObject_CallNoArgs(evalBreakerCheck) else { return EmbeddedPython.takeError() ?? "no Python error set" }
        Py_DECREF(result)
        return nil
    }

    /// Runs `body` with a thread state attached to the calling thread.
    static func withAttachedThread<T>(_ body: () -> T) -> T {
        EmbeddedPython.start()
        let state = PyGILState_Ensure()
        defer { PyGILState_Release(state) }
        return body()
    }
}

extension CPython313tScheme: UniversalScheme {
    public static let universalTable = UniversalTable(
        new: { Entries.new($0, $1) }, open: { Entries.open($0, $1) }, load: { Entries.load($0, $1) }, dup: { Entries.dup($0, $1) },
        close: { Entries.close($0, $1) }, read: { Entries.read($0, $1) }, object: { Entries.object($0, $1) },
        retain: { Entries.retain($0, $1) }, release: { Entries.release($0, $1) },
        transfer: { Entries.transfer($0, $1) }, adopt: { Entries.adopt($0, $1) },
        returning: { Entries.returning($0, $1) }, enterScope: { Entries.enterScope($0, $1) },
        exitScope: { Entries.exitScope($0, $1) })
}
#endif
