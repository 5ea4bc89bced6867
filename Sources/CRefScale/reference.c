#include "crefscale_reference.h"
#include <stdatomic.h>

int64_t crefscale_reference_atomic_pair_loop(int64_t *counter, int64_t pairs) {
    _Atomic int64_t *c = (_Atomic int64_t *)counter;
    for (int64_t i = 0; i < pairs; i++) {
        atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(c, 1, memory_order_acq_rel);
    }
    return atomic_load_explicit(c, memory_order_relaxed);
}

int64_t crefscale_reference_plain_pair_loop(volatile int64_t *counter, int64_t pairs) {
    for (int64_t i = 0; i < pairs; i++) {
        *counter = *counter + 1;
        *counter = *counter - 1;
    }
    return *counter;
}
