// The C yardstick of `handle-local`'s table (`refscale calibrate`): the table's steps written in
// plain C, run on the very operation stream refscale's kernel runs for `call`, beside the same
// stream with `noop`'s, `atomic`'s and `biased`'s steps. What a C interpreter and C noop differ by
// is what the scheme costs in C; what the scheme and `noop` differ by in refscale is what it
// costs in the Swift model. Their ratio says how far the model is from C. Steps and
// invariants: yardstick.c.
#ifndef CREFSCALE_YARDSTICK_H
#define CREFSCALE_YARDSTICK_H
#include <stdint.h>

/// The operation codes the interpreters run: `Operation.Code`'s raw values
/// (Sources/RefScale/Operation.swift); a test checks that they agree. An entry is 64 bits:
/// code in bits 0..<8, flags 8..<16, register 16..<32, source 32..<64.
enum crefscale_yardstick_code {
    CREFSCALE_YARDSTICK_NEW = 0,
    CREFSCALE_YARDSTICK_OPEN = 1,
    CREFSCALE_YARDSTICK_DUP = 2,
    CREFSCALE_YARDSTICK_CLOSE = 3,
    CREFSCALE_YARDSTICK_READ = 4,
    CREFSCALE_YARDSTICK_ENTER = 5,
    CREFSCALE_YARDSTICK_EXIT = 6,
    CREFSCALE_YARDSTICK_DUP_CLOSE = 7,
    CREFSCALE_YARDSTICK_CREATE = 8,
    CREFSCALE_YARDSTICK_STORE = 9,
    CREFSCALE_YARDSTICK_CLEAR = 11,
    CREFSCALE_YARDSTICK_RET = 15,
    CREFSCALE_YARDSTICK_CLOSE_LAST = 24,
};

/// What a run returns (0: it ran to its end).
enum crefscale_yardstick_status {
    CREFSCALE_YARDSTICK_OK = 0,
    /// An operation code the interpreters do not run (`failed_at` names the entry).
    CREFSCALE_YARDSTICK_UNKNOWN_CODE = -1,
    /// A register, pool index or field out of range, a global, a name, or a `create` with a type
    /// object: operands the `call` stream never has (`failed_at` names the entry).
    CREFSCALE_YARDSTICK_BAD_OPERAND = -2,
    /// `create` found no object to take, even after the safe points that flush the table.
    CREFSCALE_YARDSTICK_REGION_EXHAUSTED = -3,
    /// A step of another thread's making: a merge request, or a decrement that would queue the
    /// object for its owner. One thread runs here, so these cannot happen.
    CREFSCALE_YARDSTICK_NOT_MODELLED = -4,
    /// The table's options are not a table `handle-local` makes (slots not 2^k - 1, an index
    /// that overlaps the slot's byte offset bits), or memory ran out.
    CREFSCALE_YARDSTICK_BAD_TABLE = -5,
};

/// One thread's program, as `ThreadProgram` holds it: the set-up, the pass run `passes` times
/// (a safe point after each, as `RunSession.runWorker` makes it), the teardown.
typedef struct crefscale_yardstick_stream {
    const uint64_t *setup;
    int64_t setup_count;
    const uint64_t *pass;
    int64_t pass_count;
    const uint64_t *teardown;
    int64_t teardown_count;
    /// Registers (handles in flight) and fields (the thread's own slots) the program uses.
    int64_t registers;
    int64_t fields;
    /// Objects `new` bears by pool index (`Workload.poolSize`), and objects `create` may take
    /// from the thread's region (`Workload.regionSize`).
    int64_t fixed_objects;
    int64_t region_objects;
} crefscale_yardstick_stream;

/// A table as `handle-local` makes it: `slot_count` = 2^k - 1 slots whose index sits in the
/// handle's bits from `index_shift` up (`HandleIndex`: low3 7 and 0, low4 15 and 0, high16 65535
/// and 48); a table of more than 64 slots is hashed. No tag bits.
typedef struct crefscale_yardstick_table {
    int64_t slot_count;
    int32_t index_shift;
    /// Non-zero: `--release eager`; zero: `lazy` (the default).
    int32_t release_eagerly;
} crefscale_yardstick_table;

/// What a run did, read after it: the figures `calibrate` checks before it prints a ratio.
typedef struct crefscale_yardstick_counts {
    /// Births of mortal objects and of immortal ones, frees, frees of a dead object, and mortal
    /// objects still alive at the end (after the teardown, the final safe point and the flush).
    int64_t births;
    int64_t immortal_births;
    int64_t frees;
    int64_t double_frees;
    int64_t alive_at_end;
    /// After the final flush: slots still holding an object, and the sum of every slot's count.
    int64_t slots_held;
    int64_t slot_counts;
    /// The table's counters, as `HandleLocal` counts them (`SchemeCounters`).
    int64_t table_hits;
    int64_t table_misses;
    int64_t fallbacks;
    int64_t evictions;
    int64_t local_dup_close;
    /// The runtime's (`BiasedCounting`).
    int64_t atomic_rmw;
    int64_t cas_retries;
    int64_t merges;
    /// Safe points that flushed the lazy table's pending list (`HandleLocal.safePoint`; the
    /// thread-exit flush is not one), and creates that found the region used up and waited for
    /// an object (Kernel.swift `allocate`, `ObjectPool.regionWaits`).
    int64_t flushes;
    int64_t region_waits;
    /// The sum of every `read`, so that no read is discarded.
    uint64_t checksum;
    /// Wall time of the passes alone (CLOCK_MONOTONIC), set-up and teardown excluded.
    int64_t nanoseconds;
    /// The entry a refusal names: its index in the set-up, the pass or the teardown; -1 if none.
    int64_t failed_at;
} crefscale_yardstick_counts;

/// Runs `stream` with `noop`'s steps (NoopScheme.swift): `passes` passes, then the teardown.
/// Returns a `crefscale_yardstick_status`; `counts` is filled either way.
int crefscale_yardstick_run_noop(const crefscale_yardstick_stream *stream, int64_t passes, crefscale_yardstick_counts *counts);

/// Runs `stream` with `atomic`'s steps (AtomicScheme.swift): a relaxed fetch-add per reference, an
/// acquire-release fetch-sub per drop, the free at the last.
int crefscale_yardstick_run_atomic(const crefscale_yardstick_stream *stream, int64_t passes, crefscale_yardstick_counts *counts);

/// Runs `stream` with `biased`'s steps (BiasedScheme.swift at `--weakref-share 0`): the owner's
/// plain counts, the eval-breaker check at every call and safe point.
int crefscale_yardstick_run_biased(const crefscale_yardstick_stream *stream, int64_t passes, crefscale_yardstick_counts *counts);

/// Runs `stream` with `handle-local`'s steps on the `biased` runtime (the defaults:
/// `--runtime biased --release lazy`), its table as `table` says.
int crefscale_yardstick_run_handle_local(
    const crefscale_yardstick_stream *stream, const crefscale_yardstick_table *table, int64_t passes,
    crefscale_yardstick_counts *counts);

/// `private`'s hot path under `handle-local`: one object born into slot 1 of `table`, then
/// `pairs` times a dup and a close of its handle (both in the table alone), then its close and
/// the flush that frees it. `nanoseconds` times the pairs alone.
int crefscale_yardstick_table_dup_close_loop(
    const crefscale_yardstick_table *table, int64_t pairs, crefscale_yardstick_counts *counts);
#endif
