// The embedded free-threaded CPython 3.13t (Tools/cpython-313t/build.sh), for the build of
// refscale made with REFSCALE_CPYTHON_313T (Package.swift). It has every helper of the 3.11
// module (crefscale_python.h: the same kinds of object, made and named the same way) and what
// only the 3.13t scheme needs: a reference tracer that tells the harness when the interpreter
// deallocates one of its objects, and the eval breaker's event bits. Py_INCREF, Py_DECREF and
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
/// (), {}), which runs type_new as __build_class__ does (Objects/typeobject.c type_new_impl; its
/// type_new_alloc gives it a deferred count, _PyObject_SetDeferredRefcount). NULL with a Python
/// error set when making it fails. Needs an attached thread state.
static inline PyObject *crefscale_py313t_make_class(void *pool_address) {
    char name[64];
    snprintf(name, sizeof name, "%s%llx", crefscale_py_str_prefix, (unsigned long long)(uintptr_t)pool_address);
    PyObject *namespace = PyDict_New();
    if (namespace == NULL) return NULL;
    PyObject *made = PyObject_CallFunction((PyObject *)&PyType_Type, "s()O", name, namespace);
    Py_DECREF(namespace);
    return made;
}

/// The pool address an object of crefscale_py_make or crefscale_py313t_make_class names, read
/// without any call that can set a Python error (a tracer runs inside deallocation): 0 for any
/// other object.
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
