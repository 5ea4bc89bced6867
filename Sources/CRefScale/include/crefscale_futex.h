// The kernel's futex, which Swift cannot call (syscall(2) is variadic): where `biased`'s bucket
// mutex parks a waiter, as CPython's `PyMutex` parks on its parking lot.
#ifndef CREFSCALE_FUTEX_H
#define CREFSCALE_FUTEX_H
#include <stdint.h>

/// Sleeps while `*word == expected` (FUTEX_WAIT_PRIVATE, no timeout). Returns 0 when woken, or
/// -errno (EAGAIN: the word had already changed; EINTR: a signal).
int crefscale_futex_wait(uint32_t *word, uint32_t expected);

/// Wakes up to `count` threads sleeping on `word` (FUTEX_WAKE_PRIVATE). Returns how many woke,
/// or -errno.
int crefscale_futex_wake(uint32_t *word, int count);
#endif
