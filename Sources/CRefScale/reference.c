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

uint32_t crefscale_reference_biased_owner_pair_loop(void *object, uintptr_t tid, int64_t pairs) {
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

// An empty asm that claims to read and change `x`: each add is kept, in order, in a register.
#define CREFSCALE_KEEP(x) __asm__ volatile("" : "+r"(x))

int64_t crefscale_reference_add_chains(int64_t rounds, int independent) {
    int64_t a = 0, b = 0, c = 0, d = 0;
    if (independent) {
        for (int64_t i = 0; i < rounds; i++) {
            a += 1; CREFSCALE_KEEP(a); b += 1; CREFSCALE_KEEP(b); c += 1; CREFSCALE_KEEP(c); d += 1; CREFSCALE_KEEP(d);
            a += 1; CREFSCALE_KEEP(a); b += 1; CREFSCALE_KEEP(b); c += 1; CREFSCALE_KEEP(c); d += 1; CREFSCALE_KEEP(d);
        }
    } else {
        for (int64_t i = 0; i < rounds; i++) {
            a += 1; CREFSCALE_KEEP(a); a += 1; CREFSCALE_KEEP(a); a += 1; CREFSCALE_KEEP(a); a += 1; CREFSCALE_KEEP(a);
            a += 1; CREFSCALE_KEEP(a); a += 1; CREFSCALE_KEEP(a); a += 1; CREFSCALE_KEEP(a); a += 1; CREFSCALE_KEEP(a);
        }
    }
    return a + b + c + d;
}

int64_t crefscale_reference_ping_pong(int64_t *flag, int64_t rounds, int side) {
    _Atomic int64_t *word = (_Atomic int64_t *)flag;
    for (int64_t i = 0; i < rounds; i++) {
        int64_t mine = 2 * i + 1 + side, theirs = 2 * i + side;
        while (atomic_load_explicit(word, memory_order_acquire) != theirs) {}
        atomic_store_explicit(word, mine, memory_order_release);
    }
    return atomic_load_explicit(word, memory_order_relaxed);
}
