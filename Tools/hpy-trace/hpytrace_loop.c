/*
 * hpytrace_loop: the loops Tools/hpy-trace/measure.py times, written against the HPy 0.9.0 API
 * and built for its universal ABI, so that one binary runs in HPy's universal mode, its trace
 * mode and its debug mode; HPy picks the context when the module is imported (the HPY
 * environment variable), never at build time.
 *
 * Invariants:
 * - dup_close(obj, n[, depth]) makes exactly n * depth calls of ctx_Dup and as many of
 *   ctx_Close through the context it was called with, and none outside its loop: the arguments
 *   are read without a dup and the result is a new int, not a dup of None. measure.py checks the
 *   trace counts against them. Each of the n rounds holds depth duplicates of the argument's
 *   handle at once and closes them in reverse order, as refscale's `private` workload does with
 *   --dup-depth (DupRounds.swift), so that in debug mode depth records are open at a time.
 * - The loop body is two calls through the context's function table; the compiler cannot fold
 *   them, as it cannot see through the table.
 * - clock_pairs(n, clock_id) makes no HPy call inside its loop: n times, the two clock_gettime
 *   reads a timed trace-mode call makes around the call it wraps.
 */
#include <time.h>
#include "hpy.h"

/* Reads argument `index` as a positive HPy_ssize_t; -1 with an exception set when it is not. */
static HPy_ssize_t positive_count(HPyContext *ctx, const HPy *args, size_t index)
{
    HPy_ssize_t value = HPyLong_AsSsize_t(ctx, args[index]);
    if (value == -1 && HPyErr_Occurred(ctx))
        return -1;
    if (value < 1) {
        HPyErr_SetString(ctx, ctx->h_ValueError, "the count must be at least 1");
        return -1;
    }
    return value;
}

#define MAX_DEPTH 64

HPyDef_METH(dup_close, "dup_close", HPyFunc_VARARGS,
            .doc = "dup_close(obj, n[, depth]): n times, depth HPy_Dup of obj's handle held at once, then HPy_Close of each in reverse order; returns n.")
static HPy dup_close_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2 && nargs != 3) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "dup_close takes an object, a count and an optional depth");
        return HPy_NULL;
    }
    HPy_ssize_t n = positive_count(ctx, args, 1);
    if (n < 0)
        return HPy_NULL;
    HPy_ssize_t depth = 1;
    if (nargs == 3) {
        depth = positive_count(ctx, args, 2);
        if (depth < 0)
            return HPy_NULL;
        if (depth > MAX_DEPTH) {
            HPyErr_SetString(ctx, ctx->h_ValueError, "the depth must be at most 64");
            return HPy_NULL;
        }
    }
    HPy h = args[0];
    if (depth == 1) {
        for (HPy_ssize_t i = 0; i < n; i++) {
            HPy h2 = HPy_Dup(ctx, h);
            HPy_Close(ctx, h2);
        }
        return HPyLong_FromSsize_t(ctx, n);
    }
    HPy held[MAX_DEPTH];
    for (HPy_ssize_t i = 0; i < n; i++) {
        for (HPy_ssize_t d = 0; d < depth; d++)
            held[d] = HPy_Dup(ctx, h);
        for (HPy_ssize_t d = depth - 1; d >= 0; d--)
            HPy_Close(ctx, held[d]);
    }
    return HPyLong_FromSsize_t(ctx, n);
}

HPyDef_METH(clock_pairs, "clock_pairs", HPyFunc_VARARGS,
            .doc = "clock_pairs(n, clock_id): n times, two clock_gettime reads of clock_id; returns n.")
static HPy clock_pairs_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "clock_pairs takes a count and a clock id");
        return HPy_NULL;
    }
    HPy_ssize_t n = positive_count(ctx, args, 0);
    if (n < 0)
        return HPy_NULL;
    long clock_id = HPyLong_AsLong(ctx, args[1]);
    if (clock_id == -1 && HPyErr_Occurred(ctx))
        return HPy_NULL;
    struct timespec start, end;
    if (clock_gettime((clockid_t)clock_id, &start) != 0) {
        HPyErr_SetString(ctx, ctx->h_OSError, "clock_gettime failed for this clock id");
        return HPy_NULL;
    }
    for (HPy_ssize_t i = 0; i < n; i++) {
        clock_gettime((clockid_t)clock_id, &start);
        clock_gettime((clockid_t)clock_id, &end);
    }
    return HPyLong_FromSsize_t(ctx, n);
}

static HPyDef *module_defines[] = {
    &dup_close,
    &clock_pairs,
    NULL
};

static HPyModuleDef moduledef = {
    .doc = "Loops timed by Tools/hpy-trace/measure.py: HPy_Dup/HPy_Close pairs and clock read pairs.",
    .size = 0,
    .defines = module_defines
};

HPy_MODINIT(hpytrace_loop, moduledef)
