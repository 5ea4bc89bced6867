// What Swift cannot call directly, and the plain-C reference loops that refscale's kernels are
// measured against. Every symbol carries the crefscale_ prefix.
#ifndef CREFSCALE_H
#define CREFSCALE_H

#include <stdint.h>

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC).
uint64_t crefscale_monotonic_ns(void);

/// The reference for the `atomic` scheme: `pairs` times, a relaxed fetch-add then an
/// acquire-release fetch-sub on `*counter`, compiled by the C compiler at -O2.
/// Returns the counter's final value so the loop cannot be discarded.
int64_t crefscale_atomic_pair_loop(int64_t *counter, int64_t pairs);

/// The reference for plain counting: `pairs` times, a volatile increment then a volatile
/// decrement of `*counter` (memory the compiler must touch, no atomics).
int64_t crefscale_plain_pair_loop(volatile int64_t *counter, int64_t pairs);

/// The reference for `biased`'s owner path: `pairs` times, the free-threaded `Py_INCREF` then
/// `Py_DECREF` of an object the calling thread owns, on CPython's free-threaded header (`ob_tid`
/// word at 0, 32-bit `ob_ref_local` at 12, `ob_ref_shared` at 16): a relaxed 32-bit load of the
/// local count, the immortality test, a compare of `ob_tid` with `tid`, a relaxed 32-bit store;
/// the decrement likewise. The object must hold one reference of its own, so the local count
/// never reaches 0. Returns the local count.
uint32_t crefscale_biased_owner_pair_loop(void *object, uintptr_t tid, int64_t pairs);

/// The CPU the calling thread runs on (sched_getcpu), or -1.
int crefscale_current_cpu(void);

/// Pins the calling thread to one CPU (CPU_ZERO, CPU_SET, pthread_setaffinity_np).
/// Returns pthread_setaffinity_np's result: 0, or an error number.
int crefscale_pin_current_thread(int cpu);

/// The CPUs the calling process may run on (sched_getaffinity), ascending, into `cpus`.
/// Returns how many there are (at most `capacity` are written), or -errno.
int crefscale_allowed_cpus(int *cpus, int capacity);

/// The calling thread's slot in the run (its thread ID), kept in a C thread-local variable so
/// code that frees an object knows which thread frees it without carrying it around.
extern __thread int crefscale_thread_slot_value;
static inline void crefscale_set_thread_slot(int slot) { crefscale_thread_slot_value = slot; }
static inline int crefscale_thread_slot(void) { return crefscale_thread_slot_value; }

/// A number that names the calling OS thread for the life of the process (never reused, never
/// 0), so the debug context can tell whether the thread calling it is the one it belongs to.
extern __thread uint64_t crefscale_thread_serial_value;
uint64_t crefscale_next_thread_serial(void);
static inline uint64_t crefscale_thread_serial(void) {
    uint64_t serial = crefscale_thread_serial_value;
    if (__builtin_expect(serial == 0, 0)) serial = crefscale_thread_serial_value = crefscale_next_thread_serial();
    return serial;
}

/// The debug context the calling thread made last (its own), or NULL: where a report about
/// another thread's context is filed.
extern __thread void *crefscale_debug_current_value;
static inline void *crefscale_debug_current(void) { return crefscale_debug_current_value; }
static inline void crefscale_set_debug_current(void *state) { crefscale_debug_current_value = state; }

/// The calling thread's stack as symbol lines (backtrace(3) and backtrace_symbols), leaving out
/// the innermost `skip` frames. Returns a malloc'd array of `*count` strings (free the array
/// only), or NULL.
char **crefscale_backtrace_symbols(int skip, int *count);
#endif
