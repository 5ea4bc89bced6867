// The calling thread's stack, for the debug context's reports (`--backtraces`).
#ifndef CREFSCALE_BACKTRACE_H
#define CREFSCALE_BACKTRACE_H

/// The calling thread's stack as symbol lines (backtrace(3) and backtrace_symbols), leaving out
/// the innermost `skip` frames. Returns a malloc'd array of `*count` strings (free the array
/// only), or NULL.
char **crefscale_backtrace_symbols(int skip, int *count);
#endif
