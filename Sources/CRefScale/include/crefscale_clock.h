// The monotonic clock the harness times runs with.
#ifndef CREFSCALE_CLOCK_H
#define CREFSCALE_CLOCK_H
#include <stdint.h>

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC).
uint64_t crefscale_clock_monotonic_ns(void);
#endif
