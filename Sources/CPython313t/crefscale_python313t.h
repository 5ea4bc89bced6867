// The embedded free-threaded CPython 3.13t (Tools/cpython-313t/build.sh), for the build of
// refscale made with REFSCALE_CPYTHON_313T (Package.swift). It has every helper of the 3.11
// module (crefscale_python.h: the same kinds of object, made and named the same way) and what
// only the 3.13t scheme needs: a reference tracer that tells the harness when the interpreter
// deallocates one of its objects, the eval breaker's event bits, classes (with the base their
// instances' layout comes from) and extension types (PyType_FromSpec), the instances of both, and
// the count of the references a type's own parts hold to it. Py_INCREF, Py_DECREF and
// Py_REFCNT are 3.13t's own static inline functions (Include/object.h) and import as they are.
#ifndef CREFSCALE_PYTHON313T_H
#define CREFSCALE_PYTHON313T_H

#include "../CPython/crefscale_python.h"

#ifndef Py_GIL_DISABLED
#error "crefscale_python313t.h needs the free-threaded CPython 3.13t's headers (Py_GIL_DISABLED)"
#endif

/// The low bits of PyThreadState.eval_breaker that are events (stop the world, pending calls,
/// merge queued objects, run the GC): CPython 3.13 Include/internal/pycore_ceval.h
/// _PY_EVAL_EVENTS_BITS 8; the bits above are the instrumentation version.
#define CREFSCALE_PY313T_EVAL_EVENTS_MASK ((uintptr_t)0xff)

/// Whether the calling thread's eval breaker has an event pending: the test the eval loop makes at
/// RESUME and at every backward jump (Python/bytecodes.c, RESUME_CHECK). Needs an attached thread.
static inline int crefscale_py313t_events_pending(void) {
    PyThreadState *state = PyThreadState_GetUnchecked();
    return state != NULL && (__atomic_load_n(&state->eval_breaker, __ATOMIC_RELAXED) & CREFSCALE_PY313T_EVAL_EVENTS_MASK) != 0;
}

/// Called when the interpreter deallocates an object made by crefscale_py_make: the pool object
/// it names, and the context given to crefscale_py313t_tracer_make.
typedef void (*crefscale_py313t_end_of_life)(void *pool_address, void *context);

/// What the reference tracer needs: the span of pool memory the run's objects were seen in
/// (grown as objects are made), where a pool object keeps its PyObject*, and whom to tell.
struct crefscale_py313t_tracer {
    uintptr_t low, high;  // [low, high): every byte of a pool object seen so far; atomics
    size_t payload_offset;
    size_t object_size;
    crefscale_py313t_end_of_life end_of_life;
    void *context;
};

static inline struct crefscale_py313t_tracer *crefscale_py313t_tracer_make(
    size_t payload_offset, size_t object_size, crefscale_py313t_end_of_life end_of_life, void *context) {
    struct crefscale_py313t_tracer *tracer = (struct crefscale_py313t_tracer *)calloc(1, sizeof *tracer);
    if (tracer == NULL) return NULL;
    tracer->low = UINTPTR_MAX;
    tracer->payload_offset = payload_offset;
    tracer->object_size = object_size;
    tracer->end_of_life = end_of_life;
    tracer->context = context;
    return tracer;
}

/// Widens the span to the pool object at `pool_address`. The pool is one block of memory, so
/// every address between two of its objects is its memory. Stores only while the span grows.
static inline void crefscale_py313t_tracer_note(struct crefscale_py313t_tracer *tracer, void *pool_address) {
    uintptr_t start = (uintptr_t)pool_address, end = start + tracer->object_size;
    uintptr_t low = __atomic_load_n(&tracer->low, __ATOMIC_RELAXED);
    while (start < low && !__atomic_compare_exchange_n(&tracer->low, &low, start, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    uintptr_t high = __atomic_load_n(&tracer->high, __ATOMIC_RELAXED);
    while (end > high && !__atomic_compare_exchange_n(&tracer->high, &high, end, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
}

/// A class named "refscale object <hex address>", as a `class` statement makes it: type(name,
/// (base,), {}), which runs type_new as __build_class__ does (Objects/typeobject.c type_new_impl; its
/// type_new_alloc gives it a deferred count, _PyObject_SetDeferredRefcount, and sets tp_alloc =
/// PyType_GenericAlloc and tp_dealloc = subtype_dealloc). `base` is crefscale_py313t_instance_base,
/// as in `class C(Base): pass`, so an instance has the layout crefscale_py313t_instance. NULL with a
/// Python error set when making it fails. Needs an attached thread state.
static inline PyObject *crefscale_py313t_make_class(PyObject *base, void *pool_address) {
    char name[64];
    snprintf(name, sizeof name, "%s%llx", crefscale_py_str_prefix, (unsigned long long)(uintptr_t)pool_address);
    PyObject *namespace = PyDict_New();
    if (namespace == NULL) return NULL;
    PyObject *made = PyObject_CallFunction((PyObject *)&PyType_Type, "s(O)O", name, base, namespace);
    Py_DECREF(namespace);
    return made;
}

/// _PyGC_BITS_DEFERRED of CPython 3.13's Include/internal/pycore_gc.h: the bit of ob_gc_bits that
/// marks an object with a deferred count (_PyObject_SetDeferredRefcount). The internal header
/// needs Py_BUILD_CORE, so the value is named here.
#define CREFSCALE_PY313T_GC_BITS_DEFERRED ((uint8_t)64)

/// _PyGC_BITS_TRACKED of the same header: the bit of ob_gc_bits that says the cycle collector
/// tracks the object (_PyObject_GC_IS_TRACKED).
#define CREFSCALE_PY313T_GC_BITS_TRACKED ((uint8_t)1)

/// Whether the cycle collector tracks `object`, read as _PyObject_GC_IS_TRACKED reads it; an
/// object whose type is not collected is never tracked.
static inline int crefscale_py313t_is_tracked(PyObject *object) {
    return (__atomic_load_n(&object->ob_gc_bits, __ATOMIC_RELAXED) & CREFSCALE_PY313T_GC_BITS_TRACKED) != 0;
}

/// Whether `object` has a deferred count: ob_gc_bits has _PyGC_BITS_DEFERRED, as
/// _PyObject_HasDeferredRefcount (Include/internal/pycore_object.h) reads it.
static inline int crefscale_py313t_is_deferred(PyObject *object) {
    return (__atomic_load_n(&object->ob_gc_bits, __ATOMIC_RELAXED) & CREFSCALE_PY313T_GC_BITS_DEFERRED) != 0;
}

/// Whether `object` is a heap type (Py_TPFLAGS_HEAPTYPE), as every type PyType_FromSpec makes is.
static inline int crefscale_py313t_is_heap_type(PyObject *object) {
    return PyType_Check(object) && PyType_HasFeature((PyTypeObject *)object, Py_TPFLAGS_HEAPTYPE);
}

/// Whether the calling thread owns `object` (ob_tid, biased counting's owner): 3.13t's own
/// _Py_IsOwnedByCurrentThread (Include/object.h).
static inline int crefscale_py313t_is_owned_here(PyObject *object) {
    return _Py_IsOwnedByCurrentThread(object);
}

/// An instance of an extension type made by crefscale_py313t_make_extension_type or of a class
/// made by crefscale_py313t_make_class: the header and the pool object it names, a word that is
/// no object, which neither the collector (tp_traverse) nor a deallocator reads.
typedef struct {
    PyObject_HEAD
    void *pool_address;
} crefscale_py313t_instance;

/// The deallocator of crefscale_py313t_instance_base, as `object`'s (object_dealloc,
/// Objects/typeobject.c): free the instance with its type's tp_free. Its class's subtype_dealloc
/// calls it last and then drops the instance's reference to the class (Py_DECREF(type): the base
/// is not a heap type, so subtype_dealloc's type_needs_decref holds).
static inline void crefscale_py313t_instance_base_dealloc(PyObject *self) {
    Py_TYPE(self)->tp_free(self);
}

/// The base of every class crefscale_py313t_make_class makes: a static type, as `object` is, whose
/// instances have one word more, the pool object's address. A class statement's class gets its
/// layout from its base; a class of `object` alone has no word of its own (its instance's body is
/// inline attribute values, each an object), so without this base an instance could not name its
/// pool object as an extension type's instance does. What changes against `class C: pass`: the
/// instances keep their attributes in a dict made on demand, not inline (type_ready_managed_dict
/// gives Py_TPFLAGS_INLINE_VALUES only to a basic size of sizeof(PyObject)); their counting does
/// not change. One static type per unit that includes this header: call it from one place, once,
/// before any thread uses it (PyType_Ready is not safe to race). NULL with a Python error set when
/// PyType_Ready fails. Needs an attached thread state.
static inline PyObject *crefscale_py313t_instance_base(void) {
    static PyTypeObject base = {
        PyVarObject_HEAD_INIT(NULL, 0)
        .tp_name = "refscale.InstanceBase",
        .tp_basicsize = sizeof(crefscale_py313t_instance),
        .tp_dealloc = crefscale_py313t_instance_base_dealloc,
        .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    };
    if (PyType_Ready(&base) < 0) return NULL;
    return (PyObject *)&base;
}

/// The tp_dealloc of those types, as an extension writes one for a heap type: free the instance,
/// then drop the reference to its type that allocation took (PyType_GenericAlloc → _PyObject_Init's
/// Py_INCREF(type)) with the public Py_DECREF, biased like any other.
static inline void crefscale_py313t_instance_dealloc(PyObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    type->tp_free(self);
    Py_DECREF(type);
}

/// An extension type named "refscale object <hex address>.Instance" (the module part before the
/// dot, as a spec's name has it), made as an extension makes one: PyType_FromSpec
/// (Objects/typeobject.c _PyType_FromMetaclass_impl), instances of crefscale_py313t_instance, not
/// collected (no Py_TPFLAGS_HAVE_GC), its one slot crefscale_py313t_instance_dealloc. NULL with a
/// Python error set when making it fails. Needs an attached thread state.
static inline PyObject *crefscale_py313t_make_extension_type(void *pool_address) {
    char name[80];
    snprintf(name, sizeof name, "%s%llx.Instance", crefscale_py_str_prefix, (unsigned long long)(uintptr_t)pool_address);
    PyType_Slot slots[] = {
        {Py_tp_dealloc, (void *)crefscale_py313t_instance_dealloc},
        {0, NULL},
    };
    PyType_Spec spec = {
        .name = name,  // copied into the type (_ht_tpname)
        .basicsize = (int)sizeof(crefscale_py313t_instance),
        .itemsize = 0,
        .flags = Py_TPFLAGS_DEFAULT,
        .slots = slots,
    };
    return PyType_FromSpec(&spec);
}

/// A new instance of `type` (made by crefscale_py313t_make_extension_type or
/// crefscale_py313t_make_class) naming `pool_address`: PyType_GenericAlloc, the tp_alloc of both
/// (inherited from `object` by an extension type; set by type_new for a class), which object_new
/// calls and an extension's tp_new calls. Its _PyObject_Init takes a reference to the type,
/// Py_INCREF(type): biased for an extension type (an atomic for every thread but the type's
/// owner), nothing for a class, immortal. It tracks a class's instance for the cycle collector
/// (a class is collected: type_new_alloc sets Py_TPFLAGS_HAVE_GC). NULL with a Python error set
/// when it fails. Needs an attached thread state.
static inline PyObject *crefscale_py313t_make_instance(PyObject *type, void *pool_address) {
    PyObject *made = PyType_GenericAlloc((PyTypeObject *)type, 0);
    if (made != NULL) ((crefscale_py313t_instance *)made)->pool_address = pool_address;
    return made;
}

/// What crefscale_py313t_references_within walks: the object whose references it counts, the
/// objects seen so far, and the references found.
struct crefscale_py313t_walk {
    PyObject *target;
    PyObject *seen[256];
    size_t count;
    Py_ssize_t references;
    int overflowed;
};

static inline int crefscale_py313t_walk_visit(PyObject *object, void *argument) {
    struct crefscale_py313t_walk *walk = (struct crefscale_py313t_walk *)argument;
    if (object == walk->target) {
        walk->references += 1;
        return 0;
    }
    // What the collector leaves out: objects it does not track, immortal ones (update_refs,
    // Python/gc_free_threading.c). Their references are external, as the collector counts them.
    if (!PyObject_IS_GC(object) || !PyObject_GC_IsTracked(object) || _Py_IsImmortal(object)) return 0;
    for (size_t index = 0; index < walk->count; index++) {
        if (walk->seen[index] == object) return 0;
    }
    if (walk->count == sizeof walk->seen / sizeof walk->seen[0]) {
        walk->overflowed = 1;
        return 1;
    }
    walk->seen[walk->count++] = object;
    return Py_TYPE(object)->tp_traverse(object, crefscale_py313t_walk_visit, argument);
}

/// The references to `target` held by the objects reachable from it: what the cycle collector
/// subtracts as internal when `target` and those objects are unreachable (update_refs and
/// visit_decref, Python/gc_free_threading.c), found the same way: tp_traverse of every tracked,
/// mortal object reachable from `target` (for a heap type: type_traverse → tp_dict, tp_mro,
/// tp_bases, ...), each once. -1 when more than 256 objects are reachable. Needs an attached
/// thread state, and no other thread changing those objects.
static inline Py_ssize_t crefscale_py313t_references_within(PyObject *target) {
    struct crefscale_py313t_walk walk = {.target = target};
    if (!PyObject_IS_GC(target)) return 0;
    if (Py_TYPE(target)->tp_traverse(target, crefscale_py313t_walk_visit, &walk) != 0 || walk.overflowed) return -1;
    return walk.references;
}

/// Whether `object` is an instance of a type crefscale_py313t_make_extension_type or
/// crefscale_py313t_make_class made: its type is a heap type of that basic size whose name has the
/// prefix. Not the deallocator's address: a static function of this header has one copy in each
/// unit that includes it. Reads only the type, which the instance keeps alive.
static inline int crefscale_py313t_is_instance(PyObject *object) {
    PyTypeObject *type = Py_TYPE(object);
    return type->tp_basicsize == (Py_ssize_t)sizeof(crefscale_py313t_instance) && PyType_HasFeature(type, Py_TPFLAGS_HEAPTYPE)
        && type->tp_name != NULL && strncmp(type->tp_name, crefscale_py_str_prefix, sizeof crefscale_py_str_prefix - 1) == 0;
}

/// The pool address an object of crefscale_py_make, crefscale_py313t_make_class,
/// crefscale_py313t_make_extension_type or crefscale_py313t_make_instance names, read without any
/// call that can set a Python error (a tracer runs inside deallocation): 0 for any other object.
static inline uintptr_t crefscale_py313t_named_address(PyObject *object) {
    if (PyType_CheckExact(object)) {
        const char *name = ((PyTypeObject *)object)->tp_name;
        size_t prefix = sizeof crefscale_py_str_prefix - 1;
        if (name == NULL || strncmp(name, crefscale_py_str_prefix, prefix) != 0) return 0;
        return (uintptr_t)strtoull(name + prefix, NULL, 16);
    }
    if (PyTuple_CheckExact(object)) {
        if (PyTuple_GET_SIZE(object) != 1) return 0;
        object = PyTuple_GET_ITEM(object, 0);  // NULL in a tuple whose making failed
        if (object == NULL) return 0;
    }
    if (PyUnicode_CheckExact(object)) {
        if (!PyUnicode_IS_COMPACT_ASCII(object)) return 0;
        const char *text = (const char *)PyUnicode_DATA(object);
        size_t prefix = sizeof crefscale_py_str_prefix - 1;
        if (strncmp(text, crefscale_py_str_prefix, prefix) != 0) return 0;
        return (uintptr_t)strtoull(text + prefix, NULL, 16);
    }
    if (PyLong_CheckExact(object)) {
        uintptr_t value = 0;
        // Never fails for an int; the bytes it needed tell an int wider than an address.
        Py_ssize_t needed = PyLong_AsNativeBytes(object, &value, sizeof value,
                                                 Py_ASNATIVEBYTES_NATIVE_ENDIAN | Py_ASNATIVEBYTES_UNSIGNED_BUFFER);
        return needed >= 0 && (size_t)needed <= sizeof value ? value : 0;
    }
    if (crefscale_py313t_is_instance(object)) return (uintptr_t)((crefscale_py313t_instance *)object)->pool_address;
    return 0;
}

/// The reference tracer (PyRefTracer_SetTracer, CPython 3.13): _Py_Dealloc calls it with
/// PyRefTracer_DESTROY just before an object's tp_dealloc. An object of the run is one that names
/// a pool object inside the span whose payload is this very PyObject*.
static inline int crefscale_py313t_trace(PyObject *object, PyRefTracerEvent event, void *data) {
    if (event != PyRefTracer_DESTROY) return 0;
    struct crefscale_py313t_tracer *tracer = (struct crefscale_py313t_tracer *)data;
    uintptr_t pool_address = crefscale_py313t_named_address(object);
    if (pool_address < __atomic_load_n(&tracer->low, __ATOMIC_RELAXED)) return 0;
    if (pool_address > __atomic_load_n(&tracer->high, __ATOMIC_RELAXED) - tracer->object_size) return 0;
    uint64_t payload = __atomic_load_n((uint64_t *)(pool_address + tracer->payload_offset), __ATOMIC_RELAXED);
    if (payload != (uint64_t)(uintptr_t)object) return 0;
    tracer->end_of_life((void *)pool_address, tracer->context);
    return 0;
}

/// Installs `tracer` for the whole interpreter. Needs an attached thread state.
static inline void crefscale_py313t_tracer_install(struct crefscale_py313t_tracer *tracer) {
    PyRefTracer_SetTracer(crefscale_py313t_trace, tracer);
}

/// Removes `tracer` if it is the one installed (a later run's may have replaced it). Needs an
/// attached thread state.
static inline void crefscale_py313t_tracer_remove(struct crefscale_py313t_tracer *tracer) {
    void *installed = NULL;
    if (PyRefTracer_GetTracer(&installed) == crefscale_py313t_trace && installed == tracer) PyRefTracer_SetTracer(NULL, NULL);
}

#endif
