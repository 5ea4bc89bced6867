// C thread-local variables (Swift cannot declare `__thread`): what the calling thread is to a run.
#ifndef CREFSCALE_THREAD_H
#define CREFSCALE_THREAD_H
#include <stdint.h>
#include <pthread.h>

/// The calling thread's thread-control-block address, what CPython's `_Py_ThreadId()`
/// (Include/object.h) returns and stores in `ob_tid`: `%fs:0` on x86-64, `tpidr_el0` on
/// AArch64, `pthread_self()` elsewhere.
static inline uintptr_t crefscale_thread_tcb(void) {
#if defined(__x86_64__)
    uintptr_t tcb;
    __asm__("movq %%fs:0, %0" : "=r"(tcb));
    return tcb;
#elif defined(__aarch64__)
    uintptr_t tcb;
    __asm__("mrs %0, tpidr_el0" : "=r"(tcb));
    return tcb;
#else
    return (uintptr_t)pthread_self();
#endif
}

/// The calling thread's slot in the run (its thread ID), kept in a C thread-local variable so
/// code that frees an object knows which thread frees it without carrying it around.
extern __thread int crefscale_thread_slot_value;
static inline void crefscale_thread_set_slot(int slot) { crefscale_thread_slot_value = slot; }
static inline int crefscale_thread_slot(void) { return crefscale_thread_slot_value; }

/// A number that names the calling OS thread for the life of the process (never reused, never
/// 0), so the debug context can tell whether the thread calling it is the one it belongs to.
extern __thread uint64_t crefscale_thread_serial_value;
uint64_t crefscale_thread_next_serial(void);
static inline uint64_t crefscale_thread_serial(void) {
    uint64_t serial = crefscale_thread_serial_value;
    if (__builtin_expect(serial == 0, 0)) serial = crefscale_thread_serial_value = crefscale_thread_next_serial();
    return serial;
}

/// The debug context the calling thread made last (its own), or NULL: where a report about
/// another thread's context is filed.
extern __thread void *crefscale_thread_debug_current_value;
static inline void *crefscale_thread_debug_current(void) { return crefscale_thread_debug_current_value; }
static inline void crefscale_thread_set_debug_current(void *state) { crefscale_thread_debug_current_value = state; }
#endif
