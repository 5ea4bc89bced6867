// The plain-C reference loops that refscale's kernels are measured against (`refscale calibrate`).
#ifndef CREFSCALE_REFERENCE_H
#define CREFSCALE_REFERENCE_H
#include <stdint.h>

/// The reference for the `atomic` scheme: `pairs` times, a relaxed fetch-add then an
/// acquire-release fetch-sub on `*counter`, compiled by the C compiler at -O2.
/// Returns the counter's final value so the loop cannot be discarded.
int64_t crefscale_reference_atomic_pair_loop(int64_t *counter, int64_t pairs);

/// The reference for plain counting: `pairs` times, a volatile increment then a volatile
/// decrement of `*counter` (memory the compiler must touch, no atomics).
int64_t crefscale_reference_plain_pair_loop(volatile int64_t *counter, int64_t pairs);
#endif
