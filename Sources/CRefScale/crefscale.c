#define _GNU_SOURCE
#include "crefscale.h"
#include <errno.h>
#include <pthread.h>
#include <execinfo.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

uint64_t crefscale_monotonic_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t crefscale_atomic_pair_loop(int64_t *counter, int64_t pairs) {
    _Atomic int64_t *c = (_Atomic int64_t *)counter;
    for (int64_t i = 0; i < pairs; i++) {
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(c, 1, memory_order_acq_rel);
    }
    return atomic_load_explicit(c, memory_order_relaxed);
}

int64_t crefscale_plain_pair_loop(volatile int64_t *counter, int64_t pairs) {
    for (int64_t i = 0; i < pairs; i++) {
        *counter = *counter + 1;
        *counter = *counter - 1;
    }
    return *counter;
}

uint32_t crefscale_biased_owner_pair_loop(void *object, uintptr_t tid, int64_t pairs) {
    _Atomic uintptr_t *ob_tid = (_Atomic uintptr_t *)object;
    _Atomic uint32_t *ob_ref_local = (_Atomic uint32_t *)((char *)object + 12);
    _Atomic int64_t *ob_ref_shared = (_Atomic int64_t *)((char *)object + 16);
    for (int64_t i = 0; i < pairs; i++) {
        uint32_t local = atomic_load_explicit(ob_ref_local, memory_order_relaxed) + 1;
        if (local != 0) {
            if (atomic_load_explicit(ob_tid, memory_order_relaxed) == tid) {
                atomic_store_explicit(ob_ref_local, local, memory_order_relaxed);
            } else {
                atomic_fetch_add_explicit(ob_ref_shared, 4, memory_order_relaxed);
            }
        }
        local = atomic_load_explicit(ob_ref_local, memory_order_relaxed);
        if (local != UINT32_MAX) {
            if (atomic_load_explicit(ob_tid, memory_order_relaxed) == tid) {
                atomic_store_explicit(ob_ref_local, local - 1, memory_order_relaxed);
            } else {
                atomic_fetch_sub_explicit(ob_ref_shared, 4, memory_order_acq_rel);
            }
        }
    }
    return atomic_load_explicit(ob_ref_local, memory_order_relaxed);
}

int crefscale_current_cpu(void) {
    return sched_getcpu();
}

int crefscale_pin_current_thread(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int crefscale_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        if (count < capacity) cpus[count] = cpu;
        count++;
    }
    return count;
}
__thread int crefscale_thread_slot_value = 0;

__thread uint64_t crefscale_thread_serial_value = 0;
static _Atomic uint64_t crefscale_thread_serials = 0;

uint64_t crefscale_next_thread_serial(void) {
    return atomic_fetch_add_explicit(&crefscale_thread_serials, 1, memory_order_relaxed) + 1;
}

__thread void *crefscale_debug_current_value = 0;

char **crefscale_backtrace_symbols(int skip, int *count) {
    void *frames[64];
    int depth = backtrace(frames, 64);
    if (depth <= skip) { *count = 0; return 0; }
    *count = depth - skip;
    return backtrace_symbols(frames + skip, depth - skip);
}
