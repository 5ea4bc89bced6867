#include "crefscale_backtrace.h"
#include <execinfo.h>

char **crefscale_backtrace_symbols(int skip, int *count) {
    void *frames[64];
    int depth = backtrace(frames, 64);
    if (depth <= skip) { *count = 0; return 0; }
    *count = depth - skip;
    return backtrace_symbols(frames + skip, depth - skip);
}
