/* refscale's recorder of reference-count operations, compiled into CPython 3.11 as
   Python/refscale_trace.c by Tools/cpython-trace/build.sh (the hooks that call it are in
   Tools/cpython-trace/cpython-3.11-trace.patch).

   Invariants:
   - Every call arrives with the GIL held (CPython 3.11 counts references only under it), so
     the recorder's globals need no locks or atomics: the GIL orders every event. The one
     exception is the warm-up timer thread, which only stores the enabled flag.
   - Each thread appends to its own buffer, a list of fixed-size chunks. Whenever the thread
     of an event differs from the thread of the previous event, a SEGMENT record holding the
     global number of the next event is appended first, so the reader can rebuild the one
     order in which the GIL ran the events (and so tell apart objects that reuse an address).
   - The site of an increment or decrement is where the code that counted lives: the return
     address of the (never inlined) hook, inside the interpreter's own image or not.
   - Every type seen is kept alive (its count raised once, without a traced event) until the
     dump, so a type's address is never reused within a trace and its name can be read then.
   - At most max_events events are recorded; then the flag goes off for good.
   - Counts CPython changes by a plain store are not events, except the repeat of a sequence
     (_PyRefTrace_IncrefBy): the resurrection of an object by its finalizer
     (PyObject_CallFinalizerFromDealloc) and the interning of a string (the interned dict's
     two references are not counted, PyUnicode_InternInPlace) are missing from a trace.

   Raw dump (little-endian, read by `refscale trace record`, which turns it into the trace
   format of Experiments/traces/FORMAT.md):
     "RSRAW001"  u32 threads  u32 types  u64 events  u32 len + version text
     types:   u64 address, u32 len + name            (per type)
     threads: u64 records, then records of 24 bytes   (per thread, in order of first event)
     record:  u64 object, u64 type, u32 count before the event (saturated), u8 kind,
              u8 site, u8 immortal-in-3.12, u8 zero; a SEGMENT record holds the global
              event number in `object`. */

#include "Python.h"
#include "pycore_runtime.h"       // _PyRuntime.global_objects

#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int _PyRefTrace_Enabled = 0;

enum {
    RECORD_BIRTH = 0,     /* _Py_NewReference: count set to 1 */
    RECORD_INCREF = 1,    /* Py_INCREF */
    RECORD_DECREF = 2,    /* Py_DECREF and the interpreter's specialised decrements */
    RECORD_DEATH = 3,     /* _Py_Dealloc or a specialised decrement reaching 0 */
    RECORD_SEGMENT = 4,   /* the thread changed; `object` holds the next event's number */
};

enum {
    SITE_INTERPRETER = 0, /* code in the interpreter's image (libpython, built-in modules) */
    SITE_EXTENSION = 1,   /* code in a shared object of its own (an extension module) */
};

#define CHUNK_RECORDS 65536
#define DEFAULT_MAX_EVENTS 1000000
#define TYPE_SET_INITIAL 1024

typedef struct {
    uint64_t object;
    uint64_t type;
    uint32_t count;
    uint8_t kind;
    uint8_t site;
    uint8_t immortal;
    uint8_t zero;
} RawRecord;

typedef struct Chunk {
    struct Chunk *next;
    size_t used;
    RawRecord records[CHUNK_RECORDS];
} Chunk;

typedef struct ThreadBuffer {
    struct ThreadBuffer *next;
    Chunk *first;
    Chunk *last;
    uint64_t records;
} ThreadBuffer;

static _Thread_local ThreadBuffer *current_thread;
static ThreadBuffer *threads_first, *threads_last;
static uint32_t thread_count;
static ThreadBuffer *previous_thread;
static uint64_t events_recorded;
static uint64_t max_events = DEFAULT_MAX_EVENTS;
static char *output_path;
static int finished;

/* The address range of the interpreter's own image (every loaded segment). */
static uintptr_t interpreter_low, interpreter_high;

/* The types seen: an open-addressing set of type addresses. */
static PyTypeObject **type_set;
static size_t type_set_capacity, type_set_count;

static void
fail(const char *what)
{
    fprintf(stderr, "refscale trace: %s\n", what);
    abort();
}

static int
find_interpreter_image(struct dl_phdr_info *info, size_t size, void *data)
{
    uintptr_t target = (uintptr_t)data;
    uintptr_t low = UINTPTR_MAX, high = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD) {
            continue;
        }
        uintptr_t start = info->dlpi_addr + segment->p_vaddr;
        uintptr_t end = start + segment->p_memsz;
        if (start < low) low = start;
        if (end > high) high = end;
    }
    if (target >= low && target < high) {
        interpreter_low = low;
        interpreter_high = high;
        return 1;
    }
    return 0;
}

static inline int
in_interpreter(uintptr_t address)
{
    return address >= interpreter_low && address < interpreter_high;
}

/* What CPython 3.12 makes immortal (PEP 683): None, True, False, Ellipsis, NotImplemented;
   the statically allocated objects of _PyRuntime (small ints, one-character and identifier
   strings, empty bytes); the empty tuple; interned strings (PyUnicode_InternInPlace);
   the built-in static types (_PyStaticType_InitBuiltin). */
static int
immortal_in_312(PyObject *op)
{
    if (op == Py_None || op == Py_True || op == Py_False
        || op == Py_Ellipsis || op == Py_NotImplemented) {
        return 1;
    }
    uintptr_t address = (uintptr_t)op;
    uintptr_t statics = (uintptr_t)&_PyRuntime.global_objects;
    if (address >= statics && address < statics + sizeof(_PyRuntime.global_objects)) {
        return 1;
    }
    PyTypeObject *type = Py_TYPE(op);
    if (type == &PyUnicode_Type) {
        return PyUnicode_CHECK_INTERNED(op) != 0;
    }
    if (type == &PyTuple_Type) {
        return Py_SIZE(op) == 0;
    }
    if (PyType_HasFeature(type, Py_TPFLAGS_TYPE_SUBCLASS)) {
        return !PyType_HasFeature((PyTypeObject *)op, Py_TPFLAGS_HEAPTYPE) && in_interpreter(address);
    }
    return 0;
}

static void
type_set_grow(void)
{
    size_t old_capacity = type_set_capacity;
    PyTypeObject **old = type_set;
    type_set_capacity = old_capacity ? old_capacity * 2 : TYPE_SET_INITIAL;
    type_set = calloc(type_set_capacity, sizeof(PyTypeObject *));
    if (type_set == NULL) fail("out of memory for the type set");
    for (size_t i = 0; i < old_capacity; i++) {
        if (old[i] == NULL) continue;
        size_t slot = ((uintptr_t)old[i] >> 4) & (type_set_capacity - 1);
        while (type_set[slot] != NULL) slot = (slot + 1) & (type_set_capacity - 1);
        type_set[slot] = old[i];
    }
    free(old);
}

/* Keeps `type` alive until the dump, the first time it is seen. */
static inline void
remember_type(PyTypeObject *type)
{
    size_t mask = type_set_capacity - 1;
    size_t slot = ((uintptr_t)type >> 4) & mask;
    while (type_set[slot] != NULL) {
        if (type_set[slot] == type) return;
        slot = (slot + 1) & mask;
    }
    type_set[slot] = type;
    type_set_count++;
    ((PyObject *)type)->ob_refcnt++;
    if (type_set_count * 2 > type_set_capacity) type_set_grow();
}

static ThreadBuffer *
new_thread_buffer(void)
{
    ThreadBuffer *buffer = calloc(1, sizeof(ThreadBuffer));
    if (buffer == NULL) fail("out of memory for a thread buffer");
    if (threads_last) threads_last->next = buffer; else threads_first = buffer;
    threads_last = buffer;
    thread_count++;
    return buffer;
}

static inline RawRecord *
append(ThreadBuffer *buffer)
{
    Chunk *chunk = buffer->last;
    if (chunk == NULL || chunk->used == CHUNK_RECORDS) {
        Chunk *fresh = malloc(sizeof(Chunk));
        if (fresh == NULL) fail("out of memory for events");
        fresh->next = NULL;
        fresh->used = 0;
        if (chunk) chunk->next = fresh; else buffer->first = fresh;
        buffer->last = fresh;
        chunk = fresh;
    }
    buffer->records++;
    return &chunk->records[chunk->used++];
}

static void
record(PyObject *op, uint8_t kind, uint8_t site)
{
    ThreadBuffer *buffer = current_thread;
    if (buffer == NULL) {
        buffer = current_thread = new_thread_buffer();
    }
    if (buffer != previous_thread) {
        RawRecord *segment = append(buffer);
        memset(segment, 0, sizeof(RawRecord));
        segment->object = events_recorded;
        segment->kind = RECORD_SEGMENT;
        previous_thread = buffer;
    }
    PyTypeObject *type = Py_TYPE(op);
    remember_type(type);
    RawRecord *event = append(buffer);
    Py_ssize_t count = Py_REFCNT(op);
    event->object = (uint64_t)(uintptr_t)op;
    event->type = (uint64_t)(uintptr_t)type;
    event->count = count < 0 ? 0 : (count > UINT32_MAX ? UINT32_MAX : (uint32_t)count);
    event->kind = kind;
    event->site = site;
    /* A new object's fields are not yet written: its flag comes from its later events. */
    event->immortal = kind == RECORD_BIRTH ? 0 : (uint8_t)immortal_in_312(op);
    event->zero = 0;
    if (++events_recorded >= max_events) {
        _PyRefTrace_Enabled = 0;
    }
}

static inline uint8_t
site_of(void *return_address)
{
    return in_interpreter((uintptr_t)return_address) ? SITE_INTERPRETER : SITE_EXTENSION;
}

__attribute__((noinline)) void
_PyRefTrace_Incref(PyObject *op)
{
    record(op, RECORD_INCREF, site_of(__builtin_return_address(0)));
}

__attribute__((noinline)) void
_PyRefTrace_Decref(PyObject *op)
{
    record(op, RECORD_DECREF, site_of(__builtin_return_address(0)));
}

/* A repeat of a sequence (list_repeat, tuple_repeat) adds n to each item's count in one store;
   it is recorded as the n increments it stands for, each with the count it passes. */
__attribute__((noinline)) void
_PyRefTrace_IncrefBy(PyObject *op, Py_ssize_t n)
{
    uint8_t site = site_of(__builtin_return_address(0));
    Py_ssize_t recorded = 0;
    for (; recorded < n && _PyRefTrace_Enabled; recorded++) {
        record(op, RECORD_INCREF, site);
        op->ob_refcnt++;
    }
    op->ob_refcnt -= recorded;
}

/* Births and deaths are always reached through the interpreter's own functions. */
void
_PyRefTrace_Birth(PyObject *op)
{
    record(op, RECORD_BIRTH, SITE_INTERPRETER);
}

void
_PyRefTrace_Death(PyObject *op)
{
    record(op, RECORD_DEATH, SITE_INTERPRETER);
}

static void *
warmup_timer(void *seconds)
{
    double wait = *(double *)seconds;
    free(seconds);
    struct timespec delay = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
    while (nanosleep(&delay, &delay) != 0) {
    }
    if (!finished) {
        __atomic_store_n(&_PyRefTrace_Enabled, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* The text of -X NAME=VALUE, or NULL. */
static const char *
x_option(PyObject *options, const char *name)
{
    PyObject *value = options ? PyDict_GetItemString(options, name) : NULL;
    return (value && PyUnicode_Check(value)) ? PyUnicode_AsUTF8(value) : NULL;
}

/* Called just before the main program runs: -X refscale-trace=FILE turns recording on,
   -X refscale-trace-max=N bounds the events, -X refscale-trace-warmup=S delays the start. */
void
_PyRefTrace_Start(void)
{
    PyObject *options = PySys_GetXOptions();
    const char *path = x_option(options, "refscale-trace");
    if (path == NULL) return;
    output_path = strdup(path);
    const char *max_text = x_option(options, "refscale-trace-max");
    if (max_text) {
        char *end;
        unsigned long long parsed = strtoull(max_text, &end, 10);
        if (*end != '\0' || parsed == 0) fail("-X refscale-trace-max must be a positive integer");
        max_events = parsed;
    }
    double warmup = 0;
    const char *warmup_text = x_option(options, "refscale-trace-warmup");
    if (warmup_text) {
        char *end;
        warmup = strtod(warmup_text, &end);
        if (*end != '\0' || !(warmup >= 0 && warmup < 1e6)) fail("-X refscale-trace-warmup must be seconds >= 0");
    }
    if (!dl_iterate_phdr(find_interpreter_image, (void *)(uintptr_t)&_PyRefTrace_Incref)) {
        fail("cannot find the interpreter's own image");
    }
    type_set_grow();
    if (warmup > 0) {
        double *seconds = malloc(sizeof(double));
        if (seconds == NULL) fail("out of memory");
        *seconds = warmup;
        pthread_t timer;
        if (pthread_create(&timer, NULL, warmup_timer, seconds) != 0) fail("pthread_create failed");
        pthread_detach(timer);
    } else {
        _PyRefTrace_Enabled = 1;
    }
}

static void
dump_bytes(FILE *file, const void *bytes, size_t length)
{
    if (length && fwrite(bytes, 1, length, file) != length) fail("cannot write the raw trace");
}

static void
dump_u32(FILE *file, uint32_t value) { dump_bytes(file, &value, 4); }

static void
dump_u64(FILE *file, uint64_t value) { dump_bytes(file, &value, 8); }

static void
dump_text(FILE *file, const char *text)
{
    size_t length = strlen(text);
    dump_u32(file, (uint32_t)length);
    dump_bytes(file, text, length);
}

/* Called by Py_FinalizeEx once the program's threads have ended, while every remembered type
   is still alive. */
void
_PyRefTrace_Finish(void)
{
    if (output_path == NULL || finished) return;
    finished = 1;
    _PyRefTrace_Enabled = 0;
    FILE *file = fopen(output_path, "wb");
    if (file == NULL) fail("cannot create the raw trace file");
    dump_bytes(file, "RSRAW001", 8);
    dump_u32(file, thread_count);
    dump_u32(file, (uint32_t)type_set_count);
    dump_u64(file, events_recorded);
    dump_text(file, Py_GetVersion());
    for (size_t i = 0; i < type_set_capacity; i++) {
        if (type_set[i] == NULL) continue;
        dump_u64(file, (uint64_t)(uintptr_t)type_set[i]);
        dump_text(file, type_set[i]->tp_name);
    }
    for (ThreadBuffer *buffer = threads_first; buffer; buffer = buffer->next) {
        dump_u64(file, buffer->records);
        for (Chunk *chunk = buffer->first; chunk; chunk = chunk->next) {
            dump_bytes(file, chunk->records, chunk->used * sizeof(RawRecord));
        }
    }
    if (fclose(file) != 0) fail("cannot finish the raw trace file");
}
