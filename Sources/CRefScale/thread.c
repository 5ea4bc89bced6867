#include "crefscale_thread.h"
#include <stdatomic.h>

__thread int crefscale_thread_slot_value = 0;

__thread uint64_t crefscale_thread_serial_value = 0;
static _Atomic uint64_t crefscale_thread_serials = 0;

uint64_t crefscale_thread_next_serial(void) {
    return atomic_fetch_add_explicit(&crefscale_thread_serials, 1, memory_order_relaxed) + 1;
}

__thread void *crefscale_thread_debug_current_value = 0;
