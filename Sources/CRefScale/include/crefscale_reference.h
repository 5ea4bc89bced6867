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

/// The reference for `biased`'s owner path: `pairs` times, the free-threaded `Py_INCREF` then
/// `Py_DECREF` of an object the calling thread owns, on CPython's free-threaded header (`ob_tid`
/// word at 0, 32-bit `ob_ref_local` at 12, `ob_ref_shared` at 16): a relaxed 32-bit load of the
/// local count, the immortality test, a compare of `ob_tid` with `tid`, a relaxed 32-bit store;
/// the decrement likewise. The object must hold one reference of its own, so the local count
/// never reaches 0. Returns the local count.
uint32_t crefscale_reference_biased_owner_pair_loop(void *object, uintptr_t tid, int64_t pairs);

/// The core-width probe: `rounds` times, 8 register adds, as four independent chains
/// (`independent` non-zero: as many adds per cycle as the core's ALUs give this thread) or as one
/// dependent chain (one add per cycle whatever else the core runs, so it follows the clock only).
/// Their ratio is the adds per cycle the thread's core gives it now. Returns the sum of the chains.
int64_t crefscale_reference_add_chains(int64_t rounds, int independent);

/// One side of a ping-pong on the word `*flag` (0 at the start), `rounds` round trips: side 0
/// waits for 2i and writes 2i + 1, side 1 waits for 2i + 1 and writes 2i + 2. Run by two threads
/// at once, each round trip moves the word's line between their CPUs twice, and the word ends at
/// 2 × rounds. Returns the value the side last saw.
int64_t crefscale_reference_ping_pong(int64_t *flag, int64_t rounds, int side);
#endif
