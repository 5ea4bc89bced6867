// The embedded CPython (3.11, libpython3-dev), with what Swift cannot call directly: macros
// (PyTuple_GET_ITEM, PyUnicode_DATA), the error fetch-and-format dance, and the plain-C reference loop
// of a Py_INCREF/Py_DECREF pair. Every helper carries the crefscale_py_ prefix. Py_INCREF,
// Py_DECREF, Py_REFCNT and Py_TYPE are static inline functions in 3.11 and import as they are.
#ifndef CREFSCALE_PYTHON_H
#define CREFSCALE_PYTHON_H

// Python.h sets feature macros (_GNU_SOURCE, _XOPEN_SOURCE) before it includes the C library,
// and so declares structures such as fd_set differently from Swift's Glibc module, which
// clang then refuses to merge. The C library headers Python.h uses are included first, so they
// come from the Glibc module as everyone else sees them, and Python.h finds them included.
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/param.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>
#include <wctype.h>

#define PY_SSIZE_T_CLEAN
#include <Python.h>

/// The kinds of object the cpython scheme makes, cycling by pool index.
enum {
    CREFSCALE_PY_INT = 0,   ///< an int whose value is the pool object's address
    CREFSCALE_PY_STR = 1,   ///< a str "refscale object <hex address>"
    CREFSCALE_PY_TUPLE = 2, ///< a 1-tuple holding such an int
    CREFSCALE_PY_KINDS = 3
};

static const char crefscale_py_str_prefix[] = "refscale object ";

/// A new object of `kind` that names `pool_address` in its value, with a reference count of 1
/// (never a cached small int, an interned or a one-character string); NULL with a Python error
/// set when creation fails. Needs the GIL.
static inline PyObject *crefscale_py_make(int kind, void *pool_address) {
    switch (kind) {
    case CREFSCALE_PY_STR: {
        char text[64];
        snprintf(text, sizeof text, "%s%llx", crefscale_py_str_prefix, (unsigned long long)(uintptr_t)pool_address);
        return PyUnicode_FromString(text);
    }
    case CREFSCALE_PY_TUPLE: {
        PyObject *item = PyLong_FromVoidPtr(pool_address);
        if (item == NULL) return NULL;
        PyObject *tuple = PyTuple_Pack(1, item);
        Py_DECREF(item);
        return tuple;
    }
    default:
        return PyLong_FromVoidPtr(pool_address);
    }
}

/// A creation that fails the way real code fails: int('not a number'), a ValueError.
static inline PyObject *crefscale_py_make_failing(void) {
    return PyLong_FromString("not a number", NULL, 10);
}

/// The pool address an object of crefscale_py_make names. Reads only immutable parts of the
/// object (an int's digits, an ASCII string's bytes, a tuple's first item), so it needs no GIL
/// while the caller holds a reference. NULL for an object it did not make.
static inline void *crefscale_py_pool_address(PyObject *object) {
    if (PyTuple_CheckExact(object) && PyTuple_GET_SIZE(object) > 0) object = PyTuple_GET_ITEM(object, 0);
    if (PyUnicode_CheckExact(object) && PyUnicode_IS_COMPACT_ASCII(object)) {
        const char *text = (const char *)PyUnicode_DATA(object);
        size_t prefix = sizeof crefscale_py_str_prefix - 1;
        if (strncmp(text, crefscale_py_str_prefix, prefix) != 0) return NULL;
        return (void *)(uintptr_t)strtoull(text + prefix, NULL, 16);
    }
    if (PyLong_CheckExact(object)) return PyLong_AsVoidPtr(object);
    return NULL;
}

/// Takes the pending Python error and writes "Type: message" into `buffer` (truncated to
/// `capacity`). Returns 0 when no error was pending. Needs the GIL.
static inline int crefscale_py_take_error(char *buffer, size_t capacity) {
    PyObject *type = NULL, *value = NULL, *traceback = NULL;
    PyErr_Fetch(&type, &value, &traceback);
    if (type == NULL) return 0;
    PyErr_NormalizeException(&type, &value, &traceback);
    const char *name = PyExceptionClass_Check(type) ? PyExceptionClass_Name(type) : "exception";
    const char *dot = strrchr(name, '.');
    PyObject *text = value != NULL ? PyObject_Str(value) : NULL;
    const char *message = text != NULL ? PyUnicode_AsUTF8(text) : NULL;
    snprintf(buffer, capacity, "%s: %s", dot != NULL ? dot + 1 : name, message != NULL ? message : "(no message)");
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    PyErr_Clear();
    return 1;
}

/// The reference loop of calibrate: `pairs` times Py_INCREF then Py_DECREF of `object` (which
/// must stay alive), each followed by a compiler barrier, so every count change is a load and a
/// store to memory as in the interpreter, never folded away. Returns the final count. Needs the GIL.
static inline int64_t crefscale_py_incref_decref_loop(PyObject *object, int64_t pairs) {
    for (int64_t i = 0; i < pairs; i++) {
        Py_INCREF(object);
        __asm__ volatile("" ::: "memory");
        Py_DECREF(object);
        __asm__ volatile("" ::: "memory");
    }
    return (int64_t)Py_REFCNT(object);
}

#endif
