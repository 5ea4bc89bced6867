// What Swift cannot call directly, and the plain-C reference loops that refscale's kernels are
// measured against: one header per concern, each symbol prefixed with its concern's name.
#ifndef CREFSCALE_H
#define CREFSCALE_H
#include "crefscale_clock.h"
#include "crefscale_reference.h"
#include "crefscale_yardstick.h"
#include "crefscale_cpu.h"
#include "crefscale_thread.h"
#include "crefscale_backtrace.h"
#include "crefscale_futex.h"
#endif
