// What one object's life costs the real free-threaded CPython 3.13t side of `refscale validate`
// outside counting: making a pool object's PyObject as `cpython-313t` makes it
// (crefscale_py_make: an int, a str or a 1-tuple naming the pool object), and its deallocation
// at the last Py_DECREF, first with no reference tracer, then with the tracer the scheme
// installs for a run (crefscale_py313t_trace, which reads the dying object's name back to find
// its pool object). The model's birth is a block from its pool; these are the nanoseconds per
// object a cell with births pays on the real side only. One thread, attached.
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "crefscale_python.h"
#include "crefscale_python313t.h"

#define POOL_OBJECTS 4096
#define OBJECT_BYTES 64
#define PAYLOAD_OFFSET 32

static _Alignas(64) char pool[POOL_OBJECTS * OBJECT_BYTES];
static long ended;

static void end_of_life(void *pool_address, void *context) { (void)pool_address; (void)context; ended++; }

static double nanoseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec * 1e9 + (double)now.tv_nsec;
}

/// ns per object of `objects` lives of `kind`: made, recorded in its pool object, dropped.
static double lives(int kind, long objects) {
    double start = nanoseconds();
    for (long index = 0; index < objects; index++) {
        char *pool_address = pool + (index % POOL_OBJECTS) * OBJECT_BYTES;
        PyObject *made = crefscale_py_make(kind, pool_address);
        if (made == NULL) {
            fprintf(stderr, "birth_cost: making a Python object failed\n");
            exit(1);
        }
        *(uint64_t *)(pool_address + PAYLOAD_OFFSET) = (uint64_t)(uintptr_t)made;
        Py_DECREF(made);
    }
    return (nanoseconds() - start) / (double)objects;
}

int main(int argc, char **argv) {
    long objects = argc > 1 ? atol(argv[1]) : 2000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (objects < 1 || rounds < 1) {
        fprintf(stderr, "usage: birth_cost [objects per figure, default 2000000] [rounds, default 5]\n");
        return 64;
    }
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    PyStatus status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        fprintf(stderr, "birth_cost: the interpreter did not start\n");
        return 1;
    }
    struct crefscale_py313t_tracer *tracer = crefscale_py313t_tracer_make(PAYLOAD_OFFSET, OBJECT_BYTES, end_of_life, NULL);
    crefscale_py313t_tracer_note(tracer, pool);
    crefscale_py313t_tracer_note(tracer, pool + (POOL_OBJECTS - 1) * OBJECT_BYTES);
    static const char *names[CREFSCALE_PY_KINDS] = {"int", "str", "tuple"};
    long expected = 0;
    printf("kind   ns per life, no tracer   with the run's tracer   (%d rounds of %ld objects, alternating)\n", rounds, objects);
    for (int round = 0; round < rounds; round++) {
        for (int kind = 0; kind < CREFSCALE_PY_KINDS; kind++) {
            double bare = lives(kind, objects);
            crefscale_py313t_tracer_install(tracer);
            double traced = lives(kind, objects);
            crefscale_py313t_tracer_remove(tracer);
            expected += objects;
            printf("%-6s %24.1f %23.1f\n", names[kind], bare, traced);
        }
    }
    if (ended != expected) {
        fprintf(stderr, "birth_cost: the tracer ended %ld lives, %ld expected\n", ended, expected);
        return 1;
    }
    printf("the tracer ended every traced life (%ld)\n", ended);
    return 0;
}
