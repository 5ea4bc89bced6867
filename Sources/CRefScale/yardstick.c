// The C yardstick of `handle-local`'s table: four interpreters of one thread's operation stream
// (`Operation`'s 64-bit entries, as Kernel.swift `execute` reads them), doing `noop`'s steps,
// `atomic`'s, `biased`'s, and `handle-local`'s on the `biased` runtime, each step written in plain
// C after the Swift function named beside it. `refscale calibrate` runs them on `call`'s stream
// and sets each scheme's "less noop" in refscale against its "C less C noop" on the same stream;
// the C figures side by side say what the schemes' steps cost on this CPU without the model.
//
// Objects. The 64-byte header of ObjectPool.swift: `ob_tid` (word) at 0, the pool's state at 8
// (flags in bits 0..<8, alive in bit 8), `ob_ref_local` (32 bits) at 12, `ob_ref_shared` (word,
// `count << 2 | flags`) at 16, `ob_type` at 24, the payload at 32, the free-list link at 40, the
// object's births and frees (32 bits each) at 48 and 52. Objects `0 ..< fixed` are born by index
// (`new`, `ObjectPool.bear`); the rest are the thread's region, which `create` takes from. A
// plain LIFO free list of the one thread stands for the pool's region allocation
// (`ObjectPool.allocate` and `ObjectPool.free`, which also poison a freed object, keep a remote
// list for other threads and stamp the free-delay ledger): the same births and frees at the same
// points of the stream, the bookkeeping left out. Both interpreters allocate and free alike, so
// that bookkeeping falls out of "less noop" on either side.
//
// Invariants (checked by the caller from the counts, after the run):
// - Every mortal object born is freed exactly once by the end: after the teardown, the final
//   safe point and the thread-exit flush, `births == frees`, no double free, none alive.
// - After the final flush no slot holds an object and every slot's count is 0.
// - One thread runs, so every object is the running thread's (`ob_tid == tid`): the runtime's
//   owner paths run, plain, as `Py_INCREF`'s do; the non-owner branches are compiled in (the
//   `ob_tid` compare costs what it costs in CPython) and the atomic ones work, but a step that
//   would need another thread (the merge queue's push, a merge request at the eval-breaker
//   check) stops the run with CREFSCALE_YARDSTICK_NOT_MODELLED instead of being guessed.
// - Only the codes `call` uses run (new, open, dup, close, closeLast, read, enter, exit,
//   dupClose, create, store, clear, ret); any other code, and any operand `call` never has (a
//   global, a name, a type object), is refused before the first step, with the entry's index.
//
// handle-local's steps (HandleLocalScheme.swift `HandleLocal`, its table _LocalReferenceTable.swift
// `LocalReferenceTable`, the runtime BiasedCounting.swift through HandleRuntime.swift's
// `BiasedRuntime`), each function below naming the one it follows:
// - a handle is `address | slot << index_shift`; its slot's byte offset is the masked index
//   rotated right by `index_shift - 5` (`offset(of:)`); offset 0 is "no slot".
// - `open` (`HandleLocal.open`): immortal → the bare address; a hit (`hit`: the table's lookup,
//   a scan of slots 1...7 for low3 or the hashed probe for high16) adds 1 to the slot's count
//   and to its uses; a miss takes one runtime reference (`BiasedCounting.increment`: the owner's
//   plain `local + 1`) and `place`s it: a free slot, else the slot of count 0 the clock picks
//   (`slotToFill`), whose references go back first (`giveBack`: eviction), else index 0.
// - `new` (`HandleLocal.new`): the runtime's birth (`BiasedScheme.new`: `ob_tid`, local 1,
//   shared 0; immortal for what the workload marks so), then `place` without counting an open.
// - `dup`/`close` of a handle with a slot change only the slot's count; a close to 0 notes the
//   slot in the pending list (`countReachedZero`, lazy) or gives it back at once (eager). With
//   index 0 they are the runtime's `Py_INCREF`/`Py_DECREF`.
// - a store keeps a runtime reference (`HandleLocal.retain`: one parked in the object's slot, or
//   `BiasedScheme.retain`'s increment) and does nothing else: the runtime makes no weak
//   reference (`--weakref-share` is 0 under handle-local); the reference a field gives up is
//   parked in the object's slot when it has one (`HandleLocal.release`), else the runtime's
//   decrement ends it.
// - `enter` is the eval-breaker check (`BiasedCounting.handlePending`: one load of the thread's
//   own word); every safe point checks it too and every 16th flushes the pending list, the 16th
//   itself being the first (`HandleLocal.safePoint`, `safePointsPerFlush`; the countdown starts
//   full); thread exit flushes.
// - giving a slot back drops its `1 + extra` references one `Py_DECREF` at a time
//   (`BiasedRuntime.decrement(_:references:)`); the owner's last, with a shared word of 0, frees
//   with no atomic (`BiasedCounting.mergeZeroLocal`).
//
// noop's steps (NoopScheme.swift): `new`'s handle carries tag bit 0 and owns the object, so its
// close frees it; `open` and `dup` give plain addresses, whose close does nothing; a store keeps
// the address and counts nothing.
//
// atomic's steps (AtomicScheme.swift): one count in the object's first word; `new` stores 1,
// `open`, `dup` and a store add 1 (relaxed), `close` and a field's drop subtract 1
// (acquire-release) and free at the last. Immortal objects are never counted.
//
// biased's steps (BiasedScheme.swift at `--weakref-share 0`): the runtime's steps above alone:
// `new` is `BiasedScheme.new`, `open`, `dup` and a store `Py_INCREF`, `close` and a field's drop
// `Py_DECREF`, `enter` and every safe point the eval-breaker check.
#include "crefscale_yardstick.h"
#include "crefscale_clock.h"
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

// MARK: Objects (ObjectPool.swift)

/// Bytes per object: the pool's stride at every alignment `handle-local` uses (8 or 16).
#define OBJECT_BYTES 64
/// `ObjectFlags.immortal`: never counted, never freed (PEP 683).
#define IMMORTAL_FLAG 1u
/// `ObjectFlags.deferred`: 3.13t makes it immortal at birth (`BiasedScheme.new`).
#define DEFERRED_FLAG 4u
/// The pool's alive bit in the state word (`ObjectRef.aliveBit`).
#define ALIVE_BIT (1u << 8)

static inline _Atomic uintptr_t *ob_tid(char *object) { return (_Atomic uintptr_t *)object; }
static inline uint32_t *ob_state(char *object) { return (uint32_t *)(object + 8); }
static inline _Atomic uint32_t *ob_ref_local(char *object) { return (_Atomic uint32_t *)(object + 12); }
static inline _Atomic int64_t *ob_ref_shared(char *object) { return (_Atomic int64_t *)(object + 16); }
static inline uintptr_t *ob_type(char *object) { return (uintptr_t *)(object + 24); }
static inline uint64_t *ob_payload(char *object) { return (uint64_t *)(object + 32); }
static inline uintptr_t *ob_link(char *object) { return (uintptr_t *)(object + 40); }
static inline uint32_t *ob_births(char *object) { return (uint32_t *)(object + 48); }
static inline uint32_t *ob_frees(char *object) { return (uint32_t *)(object + 52); }

static inline int is_immortal(char *object) { return (*ob_state(object) & IMMORTAL_FLAG) != 0; }

/// The objects of one run: `fixed` born by index, then the region, taken fresh in order and
/// recycled through a LIFO free list.
struct pool {
    char *base;
    int64_t fixed;
    int64_t total;
    int64_t fresh;
    char *free_list;
};

// MARK: The runtime's constants (BiasedCounting.swift)

#define SHARED_ONE 4
#define FLAG_MASK 3
#define INIT 0
#define MAYBE_WEAKREF 1
#define MERGED 3
#define IMMORTAL_LOCAL UINT32_MAX

// MARK: The table's constants (_LocalReferenceTable.swift)

#define SLOT_BYTES 32
#define SLOT_SHIFT 5
/// A table of more slots than this is hashed (`scanLimit`).
#define SCAN_LIMIT 64
/// The longest probe sequence of a hashed table (`maxProbe`).
#define MAX_PROBE 64
/// The most uses a slot accumulates (`maxUses`).
#define MAX_USES 3
/// A slot's object word: nothing, or a vacated slot of a hashed table (`emptySlot`, `tombstone`).
#define EMPTY_SLOT 0
#define TOMBSTONE 1
/// Bit 63 of a slot's `extra` word: the slot is in the pending list (`pendingBit`).
#define PENDING_BIT ((uint64_t)1 << 63)
#define EXTRA_MASK (~PENDING_BIT)
/// Safe points between two flushes of a lazy table (`HandleLocal.safePointsPerFlush`).
#define SAFE_POINTS_PER_FLUSH 16

/// In `open`'s source: a name, not a pool index (`Operation.namedBit`); in a store's or clear's
/// source: a global, not a field (`Slot.globalBit`).
#define NAMED_BIT ((uint32_t)1 << 31)
#define GLOBAL_BIT ((uint32_t)1 << 31)

/// One thread's run: its objects, registers and fields, its table and its runtime state.
struct run {
    struct pool pool;
    uint64_t *registers;
    uintptr_t *fields;
    // The table: slot 0 holds the table's own words (0: safe points left before the next flush,
    // 16: the clock hand, 24: slots in the pending list); slot s >= 1: object at 0, count at 8,
    // uses at 16, extra (and the pending bit) at 24.
    char *table;
    int32_t *pending;
    int64_t slot_count;
    int hashed;
    int release_eagerly;
    uint64_t index_mask;
    uint64_t index_shift;
    uint64_t offset_rotation;
    /// `ob_tid` of this thread's objects (CPython: its TCB address); never 0.
    uintptr_t tid;
    /// The thread's eval-breaker word, which another thread would set to ask for a merge.
    _Atomic uintptr_t eval_breaker;
    /// A step that stopped the run (CREFSCALE_YARDSTICK_NOT_MODELLED), read after each pass.
    int status;
    crefscale_yardstick_counts counts;
};

// MARK: The pool

static int pool_init(struct pool *pool, int64_t fixed, int64_t region) {
    pool->fixed = fixed;
    pool->total = fixed + region;
    pool->fresh = fixed;
    pool->free_list = NULL;
    size_t bytes = (size_t)(pool->total > 0 ? pool->total : 1) * OBJECT_BYTES;
    bytes = (bytes + 4095) / 4096 * 4096;
    pool->base = aligned_alloc(4096, bytes);
    if (pool->base == NULL) return 0;
    memset(pool->base, 0, bytes);
    return 1;
}

static inline char *pool_object(struct pool *pool, int64_t index) { return pool->base + index * OBJECT_BYTES; }

/// `ObjectPool.bear`: alive with `flags`, every count field 0, no type, the payload its index + 1.
static inline void pool_bear(struct run *run, char *object, uint32_t flags) {
    *ob_state(object) = ALIVE_BIT | flags;
    *ob_births(object) += 1;
    atomic_store_explicit(ob_tid(object), 0, memory_order_relaxed);
    atomic_store_explicit(ob_ref_local(object), 0, memory_order_relaxed);
    atomic_store_explicit(ob_ref_shared(object), 0, memory_order_relaxed);
    *ob_type(object) = 0;
    *ob_payload(object) = (uint64_t)((object - run->pool.base) / OBJECT_BYTES) + 1;
    if (flags & IMMORTAL_FLAG) run->counts.immortal_births += 1; else run->counts.births += 1;
}

/// `ObjectPool.allocate`'s choice: the free list first, then the next fresh object; NULL when
/// the region is used up.
static inline char *pool_take(struct pool *pool) {
    char *object = pool->free_list;
    if (object != NULL) {
        pool->free_list = (char *)*ob_link(object);
        return object;
    }
    if (pool->fresh == pool->total) return NULL;
    return pool_object(pool, pool->fresh++);
}

/// `ObjectPool.free`: ends the object's life (a free of a dead object is counted, not done) and
/// gives a region object back to the free list.
static void pool_free(struct run *run, char *object) {
    uint32_t state = *ob_state(object);
    if (!(state & ALIVE_BIT)) {
        run->counts.double_frees += 1;
        return;
    }
    *ob_state(object) = state & ~ALIVE_BIT;
    *ob_frees(object) += 1;
    run->counts.frees += 1;
    if (object >= pool_object(&run->pool, run->pool.fixed)) {
        *ob_link(object) = (uintptr_t)run->pool.free_list;
        run->pool.free_list = object;
    }
}

// MARK: The runtime: biased counting by the owner (BiasedCounting.swift)

static void biased_decrement(struct run *run, char *object);

/// `BiasedCounting.increment` (`Py_INCREF`): one load of the local count, which wraps to 0 for
/// an immortal object; the owner stores `local + 1`, any other thread adds to the shared word.
static inline void biased_increment(struct run *run, char *object) {
    uint32_t local = atomic_load_explicit(ob_ref_local(object), memory_order_relaxed) + 1;
    if (local == 0) return;
    if (atomic_load_explicit(ob_tid(object), memory_order_relaxed) == run->tid) {
        atomic_store_explicit(ob_ref_local(object), local, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(ob_ref_shared(object), SHARED_ONE, memory_order_relaxed);
        run->counts.atomic_rmw += 1;
    }
}

/// `BiasedCounting.free` through `AtomicBiasedMemory.free` (`_Py_Dealloc`): the object's life
/// ends, then its reference to its type (none here: `create` with a type is refused).
static void biased_free(struct run *run, char *object) {
    uintptr_t type = *ob_type(object);
    pool_free(run, object);
    if (type != 0) biased_decrement(run, (char *)type);
}

/// `BiasedCounting.mergeZeroLocal` (`_Py_MergeZeroLocalRefcount`): shared word 0 → free with no
/// atomic; else `ob_tid = 0`, CAS the flags to MERGED, free if the word is then exactly MERGED.
static void biased_merge_zero_local(struct run *run, char *object) {
    int64_t shared = atomic_load_explicit(ob_ref_shared(object), memory_order_acquire);
    if (shared == 0) {
        biased_free(run, object);
        return;
    }
    atomic_store_explicit(ob_tid(object), 0, memory_order_relaxed);
    int64_t merged;
    for (;;) {
        merged = (shared & ~(int64_t)FLAG_MASK) | MERGED;
        int exchanged = atomic_compare_exchange_strong_explicit(
            ob_ref_shared(object), &shared, merged, memory_order_acq_rel, memory_order_acquire);
        run->counts.atomic_rmw += 1;
        if (exchanged) break;
        run->counts.cas_retries += 1;
    }
    run->counts.merges += 1;
    if (merged == MERGED) biased_free(run, object);
}

/// `BiasedCounting.decrementShared` (`_Py_DecRefShared`): a non-owner's CAS loop. Queueing the
/// object for its owner needs the owner's thread, which a run of one thread has not: refused.
static void biased_decrement_shared(struct run *run, char *object) {
    int64_t shared = atomic_load_explicit(ob_ref_shared(object), memory_order_relaxed);
    int64_t updated;
    int queue;
    for (;;) {
        queue = shared == INIT || shared == MAYBE_WEAKREF;
        if (queue) {
            run->status = CREFSCALE_YARDSTICK_NOT_MODELLED;
            return;
        }
        updated = shared - SHARED_ONE;
        int exchanged = atomic_compare_exchange_strong_explicit(
            ob_ref_shared(object), &shared, updated, memory_order_acq_rel, memory_order_relaxed);
        run->counts.atomic_rmw += 1;
        if (exchanged) break;
        run->counts.cas_retries += 1;
    }
    if (updated == MERGED) biased_free(run, object);
}

/// `BiasedCounting.decrement` (`Py_DECREF`): immortal → nothing; the owner stores `local - 1`
/// and at 0 merges; any other thread decrements the shared word.
static inline void biased_decrement(struct run *run, char *object) {
    uint32_t local = atomic_load_explicit(ob_ref_local(object), memory_order_relaxed);
    if (local == IMMORTAL_LOCAL) return;
    if (atomic_load_explicit(ob_tid(object), memory_order_relaxed) == run->tid) {
        local -= 1;
        atomic_store_explicit(ob_ref_local(object), local, memory_order_relaxed);
        if (local == 0) biased_merge_zero_local(run, object);
    } else {
        biased_decrement_shared(run, object);
    }
}

/// `BiasedScheme.new` (`_Py_NewReference`): owned by this thread, local 1, shared 0; immortal
/// (`_Py_SetImmortal`) for what the workload marks immortal or deferred.
static inline void biased_new(struct run *run, char *object) {
    uintptr_t type = *ob_type(object);
    if (type != 0) biased_increment(run, (char *)type);
    if (*ob_state(object) & (IMMORTAL_FLAG | DEFERRED_FLAG)) {
        *ob_state(object) |= IMMORTAL_FLAG;
        atomic_store_explicit(ob_tid(object), 0, memory_order_relaxed);
        atomic_store_explicit(ob_ref_local(object), IMMORTAL_LOCAL, memory_order_relaxed);
        atomic_store_explicit(ob_ref_shared(object), 0, memory_order_relaxed);
    } else {
        atomic_store_explicit(ob_tid(object), run->tid, memory_order_relaxed);
        atomic_store_explicit(ob_ref_local(object), 1, memory_order_relaxed);
        atomic_store_explicit(ob_ref_shared(object), 0, memory_order_relaxed);
    }
}

/// `BiasedCounting.handlePending` (`_Py_HandlePending`): one load of the thread's own word. A
/// merge request comes from another thread, so it cannot come here.
static inline void biased_handle_pending(struct run *run) {
    if (atomic_load_explicit(&run->eval_breaker, memory_order_relaxed) != 0) run->status = CREFSCALE_YARDSTICK_NOT_MODELLED;
}

// MARK: The table (_LocalReferenceTable.swift)

static inline uintptr_t *slot_word(struct run *run, int64_t slot, int byte) {
    return (uintptr_t *)(run->table + slot * SLOT_BYTES + byte);
}
static inline uintptr_t *object_word(struct run *run, int64_t slot) { return slot_word(run, slot, 0); }
static inline int64_t *count_word_at(struct run *run, int64_t offset) { return (int64_t *)(run->table + offset + 8); }
static inline int64_t *count_word(struct run *run, int64_t slot) { return count_word_at(run, slot * SLOT_BYTES); }
static inline uintptr_t *uses_word(struct run *run, int64_t slot) { return slot_word(run, slot, 16); }
static inline uint64_t *extra_word(struct run *run, int64_t slot) { return (uint64_t *)slot_word(run, slot, 24); }
static inline int64_t *safe_point_countdown(struct run *run) { return (int64_t *)run->table; }
static inline uintptr_t *hand(struct run *run) { return slot_word(run, 0, 16); }
static inline int64_t *pending_count(struct run *run) { return (int64_t *)(run->table + 24); }

static inline int64_t extra_references(struct run *run, int64_t slot) { return (int64_t)(*extra_word(run, slot) & EXTRA_MASK); }
static inline void add_extra_references(struct run *run, int64_t slot, int64_t delta) { *extra_word(run, slot) += (uint64_t)delta; }
/// `isOccupied`.
static inline int is_occupied(struct run *run, int64_t slot) { return *object_word(run, slot) > TOMBSTONE; }

/// `offset(of:)`: the masked index bits rotated into the slot's byte offset; 0 for index 0.
static inline int64_t slot_offset(struct run *run, uint64_t handle) {
    uint64_t index = handle & run->index_mask;
    uint64_t rotation = run->offset_rotation;
    return (int64_t)(index >> rotation | index << ((64 - rotation) & 63));
}

/// `handle(_:slot:)`.
static inline uint64_t slot_handle(struct run *run, char *object, int64_t slot) {
    return (uint64_t)(uintptr_t)object | (uint64_t)slot << run->index_shift;
}

/// `scan(for:)`: slots 1...slot_count in order.
static inline int64_t table_scan(struct run *run, uintptr_t address) {
    for (int64_t slot = 1; slot <= run->slot_count; slot++) {
        if (*object_word(run, slot) == address) return slot;
    }
    return 0;
}

/// `homeSlot(of:)`: the top 32 bits of a Fibonacci hash of the address, multiplied onto
/// 0..<slot_count and shifted back, plus 1.
static inline int64_t home_slot(struct run *run, uintptr_t address) {
    uint64_t hash = ((uint64_t)address >> 3) * 0x9E3779B97F4A7C15ull;
    return (int64_t)(((hash >> 32) * (uint64_t)run->slot_count) >> 32) + 1;
}

static inline int64_t slot_after(struct run *run, int64_t slot) { return slot == run->slot_count ? 1 : slot + 1; }
static inline int64_t slot_before(struct run *run, int64_t slot) { return slot == 1 ? run->slot_count : slot - 1; }

/// `probe(for:)`: from the home slot past tombstones and other objects, to an empty slot or
/// `MAX_PROBE` slots.
static inline int64_t table_probe(struct run *run, uintptr_t address) {
    int64_t slot = home_slot(run, address);
    for (int probe = 0; probe < MAX_PROBE; probe++) {
        uintptr_t word = *object_word(run, slot);
        if (word == address) return slot;
        if (word == EMPTY_SLOT) return 0;
        slot = slot_after(run, slot);
    }
    return 0;
}

/// `find(_:)`: the slot holding `address`, or 0.
static inline int64_t table_find(struct run *run, uintptr_t address) {
    return run->hashed ? table_probe(run, address) : table_scan(run, address);
}

/// `slotToFill(for:)`: a free slot (a hashed table: in the probe window), else the slot of count
/// 0 that the clock over use counts (GCLOCK) evicts, else 0.
static int64_t slot_to_fill(struct run *run, uintptr_t address) {
    int64_t first = run->hashed ? home_slot(run, address) : 1;
    int64_t candidates = run->hashed ? MAX_PROBE : run->slot_count;
    int64_t slot = first;
    for (int64_t i = 0; i < candidates; i++) {
        if (*object_word(run, slot) <= TOMBSTONE) return slot;
        slot = slot_after(run, slot);
    }
    int64_t position = run->hashed ? 0 : (int64_t)*hand(run);
    int64_t candidate = run->hashed ? first : position + 1;
    for (int64_t i = 0; i < candidates * (MAX_USES + 1); i++) {
        int64_t current = candidate;
        position += 1;
        if (position == candidates) {
            position = 0;
            candidate = first;
        } else {
            candidate = slot_after(run, candidate);
        }
        if (*count_word(run, current) != 0) continue;
        uintptr_t *uses = uses_word(run, current);
        if (*uses == 0) {
            if (!run->hashed) *hand(run) = (uintptr_t)position;
            return current;
        }
        *uses -= 1;
    }
    return 0;
}

/// `touch(_:)`: an open found the slot.
static inline void table_touch(struct run *run, int64_t slot) {
    uintptr_t *uses = uses_word(run, slot);
    if (*uses < MAX_USES) *uses += 1;
}

/// `fill(_:with:)`: the object, count 1, no extra reference (the pending bit stays), no uses.
static inline void table_fill(struct run *run, int64_t slot, char *object) {
    *object_word(run, slot) = (uintptr_t)object;
    *count_word(run, slot) = 1;
    *extra_word(run, slot) &= PENDING_BIT;
    *uses_word(run, slot) = 0;
}

/// `vacate(_:)`: a scanned table's slot becomes empty; a hashed table's a tombstone, unless the
/// next slot is empty: then it and the tombstones before it become empty.
static void table_vacate(struct run *run, int64_t slot) {
    *extra_word(run, slot) &= PENDING_BIT;
    if (!run->hashed) {
        *object_word(run, slot) = EMPTY_SLOT;
        return;
    }
    if (*object_word(run, slot_after(run, slot)) != EMPTY_SLOT) {
        *object_word(run, slot) = TOMBSTONE;
        return;
    }
    int64_t current = slot;
    do {
        *object_word(run, current) = EMPTY_SLOT;
        current = slot_before(run, current);
    } while (*object_word(run, current) == TOMBSTONE);
}

/// `notePending(_:)`: lists a slot whose count reached 0, once.
static inline void table_note_pending(struct run *run, int64_t slot) {
    uint64_t *extra = extra_word(run, slot);
    if (*extra & PENDING_BIT) return;
    *extra |= PENDING_BIT;
    int64_t listed = *pending_count(run);
    run->pending[listed] = (int32_t)slot;
    *pending_count(run) = listed + 1;
}

// MARK: handle-local's steps (HandleLocalScheme.swift)

/// `HandleLocal.giveBack`: empties the slot and drops its `1 + extra` references, one
/// `Py_DECREF` each (`BiasedRuntime.decrement(_:references:)`).
static void give_back(struct run *run, int64_t slot) {
    char *object = (char *)*object_word(run, slot);
    int64_t references = 1 + extra_references(run, slot);
    table_vacate(run, slot);
    for (int64_t i = 0; i < references; i++) biased_decrement(run, object);
}

/// `LocalReferenceTable.flushPending` through `HandleLocal.flush`: gives back every listed slot
/// that still holds an object of count 0.
static void table_flush(struct run *run) {
    int64_t listed = *pending_count(run);
    *pending_count(run) = 0;
    for (int64_t index = 0; index < listed; index++) {
        int64_t slot = run->pending[index];
        *extra_word(run, slot) &= EXTRA_MASK;
        if (is_occupied(run, slot) && *count_word(run, slot) == 0) give_back(run, slot);
    }
}

/// `HandleLocal.place`: the thread's one runtime reference to `object` (which has no slot) goes
/// into the slot `slot_to_fill` picks, evicting its occupant first; with none, it is the handle.
static uint64_t hl_place(struct run *run, char *object, int is_open) {
    int64_t slot = slot_to_fill(run, (uintptr_t)object);
    if (slot == 0) {
        if (is_open) run->counts.fallbacks += 1;
        return (uint64_t)(uintptr_t)object;
    }
    if (is_occupied(run, slot)) {
        run->counts.evictions += 1;
        give_back(run, slot);
    }
    table_fill(run, slot, object);
    if (is_open) run->counts.table_misses += 1;
    return slot_handle(run, object, slot);
}

/// `HandleLocal.new`: the runtime's birth, then a slot (not an open).
static inline uint64_t hl_new(struct run *run, char *object) {
    biased_new(run, object);
    if (is_immortal(object)) return (uint64_t)(uintptr_t)object;
    return hl_place(run, object, 0);
}

/// `HandleLocal.open` with `hit`: the slot's count and uses go up, or a runtime reference fills a slot.
static inline uint64_t hl_open(struct run *run, char *object) {
    if (is_immortal(object)) return (uint64_t)(uintptr_t)object;
    int64_t slot = table_find(run, (uintptr_t)object);
    if (slot != 0) {
        *count_word(run, slot) += 1;
        table_touch(run, slot);
        run->counts.table_hits += 1;
        return slot_handle(run, object, slot);
    }
    biased_increment(run, object);
    return hl_place(run, object, 1);
}

/// `HandleLocal.object(of:)`.
static inline char *hl_object(struct run *run, uint64_t handle) { return (char *)(uintptr_t)(handle & ~run->index_mask); }

/// `HandleLocal.dup`: the slot's count alone, or the runtime's increment for index 0.
static inline uint64_t hl_dup(struct run *run, uint64_t handle) {
    int64_t offset = slot_offset(run, handle);
    if (offset != 0) {
        *count_word_at(run, offset) += 1;
        run->counts.local_dup_close += 1;
    } else {
        char *object = hl_object(run, handle);
        if (!is_immortal(object)) biased_increment(run, object);
    }
    return handle;
}

/// `HandleLocal.countReachedZero`: at once (eager), or at the next flush (lazy).
static __attribute__((noinline)) void hl_count_reached_zero(struct run *run, int64_t slot) {
    if (run->release_eagerly) {
        give_back(run, slot);
    } else {
        table_note_pending(run, slot);
    }
}

/// `HandleLocal.close`: the slot's count alone, or the runtime's decrement for index 0.
static inline void hl_close(struct run *run, uint64_t handle) {
    int64_t offset = slot_offset(run, handle);
    if (offset != 0) {
        int64_t *cell = count_word_at(run, offset);
        int64_t count = *cell - 1;
        *cell = count;
        run->counts.local_dup_close += 1;
        if (count == 0) hl_count_reached_zero(run, offset >> SLOT_SHIFT);
    } else {
        char *object = hl_object(run, handle);
        if (!is_immortal(object)) biased_decrement(run, object);
    }
}

/// `HandleLocal.retain`: a reference parked in the object's slot, else the runtime's store
/// (`BiasedScheme.retain`: `Py_INCREF`). handle-local's runtime runs at `--weakref-share 0`, so
/// neither sets MAYBE_WEAKREF (at share 0 `BiasedRuntime.noteStored` does nothing).
static inline void hl_retain(struct run *run, char *object) {
    if (is_immortal(object)) return;
    int64_t slot = table_find(run, (uintptr_t)object);
    if (slot != 0 && extra_references(run, slot) > 0) {
        add_extra_references(run, slot, -1);
    } else {
        biased_increment(run, object);
    }
}

/// `HandleLocal.release`: parked in the object's slot, else the runtime's decrement.
static inline void hl_release(struct run *run, char *object) {
    if (is_immortal(object)) return;
    int64_t slot = table_find(run, (uintptr_t)object);
    if (slot != 0) {
        add_extra_references(run, slot, 1);
    } else {
        biased_decrement(run, object);
    }
}

/// `HandleLocal.safePoint`: the runtime's check, and a flush every `SAFE_POINTS_PER_FLUSH`-th.
static void hl_safe_point(struct run *run) {
    biased_handle_pending(run);
    int64_t *countdown = safe_point_countdown(run);
    *countdown -= 1;
    if (*countdown <= 0) {
        *countdown = SAFE_POINTS_PER_FLUSH;
        run->counts.flushes += 1;
        table_flush(run);
    }
}

// MARK: noop's steps (NoopScheme.swift)

/// Tag bit 0: the handle `new` made, which owns the object (`NoopScheme.owningTag`).
#define OWNING_TAG ((uint64_t)1)

static inline uint64_t noop_new(char *object) {
    if (is_immortal(object)) return (uint64_t)(uintptr_t)object;
    return (uint64_t)(uintptr_t)object | OWNING_TAG;
}
static inline uint64_t noop_dup(uint64_t handle) { return handle & ~OWNING_TAG; }
static inline char *noop_object(uint64_t handle) { return (char *)(uintptr_t)(handle & ~OWNING_TAG); }
static inline void noop_close(struct run *run, uint64_t handle) {
    if (handle & OWNING_TAG) pool_free(run, noop_object(handle));
}

// MARK: atomic's steps (AtomicScheme.swift)

/// The one shared count, in the word `ob_tid` takes under the biased schemes (`ObjectRef.count`).
static inline _Atomic int64_t *atomic_count(char *object) { return (_Atomic int64_t *)object; }

/// `AtomicScheme.new`: count 1.
static inline void atomic_new(char *object) { atomic_store_explicit(atomic_count(object), 1, memory_order_relaxed); }

/// `AtomicScheme.dup`: a relaxed fetch-add, none for an immortal object.
static inline void atomic_increment(struct run *run, char *object) {
    if (is_immortal(object)) return;
    atomic_fetch_add_explicit(atomic_count(object), 1, memory_order_relaxed);
    run->counts.atomic_rmw += 1;
}

/// `AtomicScheme.close`: an acquire-release fetch-sub; the one that takes the count from 1 frees.
static inline void atomic_decrement(struct run *run, char *object) {
    if (is_immortal(object)) return;
    run->counts.atomic_rmw += 1;
    if (atomic_fetch_sub_explicit(atomic_count(object), 1, memory_order_acq_rel) == 1) pool_free(run, object);
}

// MARK: The interpreter (Kernel.swift `execute` and `executeRare`)

/// Whose steps an interpreter takes; each value is its own always-inlined loop.
enum steps { STEPS_NOOP, STEPS_TABLE, STEPS_ATOMIC, STEPS_BIASED };

/// `new` and `create`'s handle for a newborn object.
static inline uint64_t step_new(struct run *run, char *object, const enum steps steps) {
    switch (steps) {
    case STEPS_NOOP: return noop_new(object);
    case STEPS_TABLE: return hl_new(run, object);
    case STEPS_ATOMIC: atomic_new(object); break;
    case STEPS_BIASED: biased_new(run, object); break;
    }
    return (uint64_t)(uintptr_t)object;
}

/// `open` of an object by pool index: a new reference (`open` is `dup` of the address in the
/// address-handle schemes, `AddressHandleScheme`).
static inline uint64_t step_open(struct run *run, char *object, const enum steps steps) {
    switch (steps) {
    case STEPS_NOOP: break;
    case STEPS_TABLE: return hl_open(run, object);
    case STEPS_ATOMIC: atomic_increment(run, object); break;
    case STEPS_BIASED: biased_increment(run, object); break;
    }
    return (uint64_t)(uintptr_t)object;
}

static inline char *step_object(struct run *run, uint64_t handle, const enum steps steps) {
    switch (steps) {
    case STEPS_NOOP: return noop_object(handle);
    case STEPS_TABLE: return hl_object(run, handle);
    default: return (char *)(uintptr_t)handle;
    }
}

static inline uint64_t step_dup(struct run *run, uint64_t handle, const enum steps steps) {
    switch (steps) {
    case STEPS_NOOP: return noop_dup(handle);
    case STEPS_TABLE: return hl_dup(run, handle);
    case STEPS_ATOMIC: atomic_increment(run, (char *)(uintptr_t)handle); break;
    case STEPS_BIASED: biased_increment(run, (char *)(uintptr_t)handle); break;
    }
    return handle;
}

static inline void step_close(struct run *run, uint64_t handle, const enum steps steps) {
    switch (steps) {
    case STEPS_NOOP: noop_close(run, handle); break;
    case STEPS_TABLE: hl_close(run, handle); break;
    case STEPS_ATOMIC: atomic_decrement(run, (char *)(uintptr_t)handle); break;
    case STEPS_BIASED: biased_decrement(run, (char *)(uintptr_t)handle); break;
    }
}

/// A field store's reference (`retain`); noop counts nothing.
static inline void step_retain(struct run *run, char *object, const enum steps steps) {
    switch (steps) {
    case STEPS_NOOP: break;
    case STEPS_TABLE: hl_retain(run, object); break;
    case STEPS_ATOMIC: atomic_increment(run, object); break;
    // `BiasedScheme.retain` at `--weakref-share 0`: `Py_INCREF` alone.
    case STEPS_BIASED: biased_increment(run, object); break;
    }
}

/// The reference a field gives up (`release`).
static inline void step_release(struct run *run, char *object, const enum steps steps) {
    switch (steps) {
    case STEPS_NOOP: break;
    case STEPS_TABLE: hl_release(run, object); break;
    case STEPS_ATOMIC: atomic_decrement(run, object); break;
    case STEPS_BIASED: biased_decrement(run, object); break;
    }
}

/// `enterScope`: the eval-breaker check under the biased runtime, nothing elsewhere.
static inline void step_enter(struct run *run, const enum steps steps) {
    if (steps == STEPS_TABLE || steps == STEPS_BIASED) biased_handle_pending(run);
}

/// The safe point after each pass (`safePoint`): the table's (which may flush), biased's check.
static inline void step_safe_point(struct run *run, const enum steps steps) {
    if (steps == STEPS_TABLE) hl_safe_point(run);
    if (steps == STEPS_BIASED) biased_handle_pending(run);
}

/// An object for `create`: `allocate` in Kernel.swift, whose wait for a used-up region (counted,
/// as `ObjectPool.regionWaits` counts it) runs safe points (each may flush the table) until an
/// object comes back. Only a lazy table keeps dead objects until a safe point.
static inline char *take_object(struct run *run, const enum steps steps) {
    char *object = pool_take(&run->pool);
    if (object != NULL) return object;
    run->counts.region_waits += 1;
    if (steps != STEPS_TABLE) return NULL;
    for (int tries = 0; object == NULL && tries <= SAFE_POINTS_PER_FLUSH; tries++) {
        hl_safe_point(run);
        object = pool_take(&run->pool);
    }
    return object;
}

/// Refuses, before any step, what the interpreters do not run: a code outside `call`'s, or an
/// operand outside the stream's registers, fields and objects. Returns 0 or a status, with the
/// entry's index in `failed_at`.
static int check_stream(const crefscale_yardstick_stream *stream, const uint64_t *operations, int64_t count, int64_t *failed_at) {
    for (int64_t index = 0; index < count; index++) {
        uint64_t operation = operations[index];
        uint32_t code = (uint8_t)operation;
        int64_t registers = stream->registers;
        int64_t target = (int64_t)((operation >> 16) & 0xFFFF);
        uint32_t source = (uint32_t)(operation >> 32);
        int good;
        switch (code) {
        case CREFSCALE_YARDSTICK_NEW: good = target < registers && (int64_t)source < stream->fixed_objects; break;
        case CREFSCALE_YARDSTICK_OPEN:
            good = target < registers && !(source & NAMED_BIT) && (int64_t)source < stream->fixed_objects;
            break;
        case CREFSCALE_YARDSTICK_DUP: good = target < registers && (int64_t)source < registers; break;
        case CREFSCALE_YARDSTICK_DUP_CLOSE: good = (int64_t)source < registers; break;
        case CREFSCALE_YARDSTICK_CLOSE:
        case CREFSCALE_YARDSTICK_CLOSE_LAST:
        case CREFSCALE_YARDSTICK_READ:
        case CREFSCALE_YARDSTICK_RET: good = target < registers; break;
        case CREFSCALE_YARDSTICK_ENTER:
        case CREFSCALE_YARDSTICK_EXIT: good = 1; break;
        case CREFSCALE_YARDSTICK_CREATE: good = target < registers && source == 0; break;
        case CREFSCALE_YARDSTICK_STORE:
            good = target < registers && !(source & GLOBAL_BIT) && (int64_t)source < stream->fields;
            break;
        case CREFSCALE_YARDSTICK_CLEAR: good = !(source & GLOBAL_BIT) && (int64_t)source < stream->fields; break;
        default:
            *failed_at = index;
            return CREFSCALE_YARDSTICK_UNKNOWN_CODE;
        }
        if (!good) {
            *failed_at = index;
            return CREFSCALE_YARDSTICK_BAD_OPERAND;
        }
    }
    return CREFSCALE_YARDSTICK_OK;
}

/// Runs `count` entries with `steps`; always inlined, so each step set is its own loop with its
/// steps alone. Returns a status.
static inline __attribute__((always_inline)) int interpret(
    struct run *run, const uint64_t *operations, int64_t count, const enum steps steps)
{
    uint64_t *registers = run->registers;
    for (int64_t index = 0; index < count; index++) {
        uint64_t operation = operations[index];
        uint32_t target = (uint32_t)(operation >> 16) & 0xFFFF;
        uint32_t source = (uint32_t)(operation >> 32);
        switch ((uint8_t)operation) {
        case CREFSCALE_YARDSTICK_DUP_CLOSE:
            step_close(run, step_dup(run, registers[source], steps), steps);
            break;
        case CREFSCALE_YARDSTICK_DUP:
            registers[target] = step_dup(run, registers[source], steps);
            break;
        case CREFSCALE_YARDSTICK_CLOSE:
        case CREFSCALE_YARDSTICK_CLOSE_LAST:
            step_close(run, registers[target], steps);
            break;
        case CREFSCALE_YARDSTICK_READ:
            run->counts.checksum += *ob_payload(step_object(run, registers[target], steps));
            break;
        case CREFSCALE_YARDSTICK_OPEN:
            registers[target] = step_open(run, pool_object(&run->pool, source), steps);
            break;
        case CREFSCALE_YARDSTICK_NEW: {
            char *object = pool_object(&run->pool, source);
            pool_bear(run, object, (uint8_t)(operation >> 8));
            registers[target] = step_new(run, object, steps);
            break;
        }
        case CREFSCALE_YARDSTICK_CREATE: {
            char *object = take_object(run, steps);
            if (object == NULL) {
                run->counts.failed_at = index;
                return CREFSCALE_YARDSTICK_REGION_EXHAUSTED;
            }
            pool_bear(run, object, (uint8_t)(operation >> 8));
            registers[target] = step_new(run, object, steps);
            break;
        }
        case CREFSCALE_YARDSTICK_ENTER:
            step_enter(run, steps);
            break;
        case CREFSCALE_YARDSTICK_EXIT:
        case CREFSCALE_YARDSTICK_RET:
            // `exitScope` and `returning` do nothing in these schemes.
            break;
        case CREFSCALE_YARDSTICK_STORE: {
            // Kernel.swift's store: a reference for the field, then the field's previous one ends.
            uintptr_t *field = run->fields + source;
            uintptr_t previous = *field;
            char *object = step_object(run, registers[target], steps);
            step_retain(run, object, steps);
            *field = (uintptr_t)object;
            if (previous != 0) step_release(run, (char *)previous, steps);
            break;
        }
        case CREFSCALE_YARDSTICK_CLEAR: {
            uintptr_t *field = run->fields + source;
            if (*field != 0) {
                step_release(run, (char *)*field, steps);
                *field = 0;
            }
            break;
        }
        default:
            run->counts.failed_at = index;
            return CREFSCALE_YARDSTICK_UNKNOWN_CODE;
        }
    }
    return CREFSCALE_YARDSTICK_OK;
}

// MARK: Runs

static void run_release(struct run *run) {
    free(run->pool.base);
    free(run->registers);
    free(run->fields);
    free(run->table);
    free(run->pending);
}

/// Sets up the run's memory: objects, registers, fields and, with `table`, an empty table.
static int run_init(struct run *run, const crefscale_yardstick_stream *stream, const crefscale_yardstick_table *table) {
    memset(run, 0, sizeof *run);
    run->counts.failed_at = -1;
    run->tid = (uintptr_t)run;
    int64_t registers = stream->registers > 0 ? stream->registers : 1;
    int64_t fields = stream->fields > 0 ? stream->fields : 1;
    run->registers = calloc((size_t)registers, sizeof(uint64_t));
    run->fields = calloc((size_t)fields, sizeof(uintptr_t));
    if (!pool_init(&run->pool, stream->fixed_objects, stream->region_objects) || !run->registers || !run->fields) {
        return CREFSCALE_YARDSTICK_BAD_TABLE;
    }
    if (table == NULL) return CREFSCALE_YARDSTICK_OK;
    int64_t slots = table->slot_count;
    if (slots < 1 || ((slots + 1) & slots) != 0 || table->index_shift < 0 || table->index_shift + 64 - __builtin_clzll((uint64_t)slots) > 64) {
        return CREFSCALE_YARDSTICK_BAD_TABLE;
    }
    run->slot_count = slots;
    run->hashed = slots > SCAN_LIMIT;
    run->release_eagerly = table->release_eagerly != 0;
    run->index_shift = (uint64_t)table->index_shift;
    run->index_mask = (uint64_t)slots << run->index_shift;
    run->offset_rotation = (run->index_shift - SLOT_SHIFT) & 63;
    size_t bytes = (size_t)(slots + 1) * SLOT_BYTES;
    run->table = aligned_alloc(128, (bytes + 127) / 128 * 128);
    run->pending = malloc((size_t)slots * sizeof(int32_t));
    if (run->table == NULL || run->pending == NULL) return CREFSCALE_YARDSTICK_BAD_TABLE;
    memset(run->table, 0, bytes);
    // `HandleLocal.init`: a full interval before the first flush.
    *safe_point_countdown(run) = SAFE_POINTS_PER_FLUSH;
    return CREFSCALE_YARDSTICK_OK;
}

/// The counts a finished run leaves: mortal objects alive, slots held and their counts.
static void run_finish(struct run *run, crefscale_yardstick_counts *counts) {
    for (int64_t index = 0; index < run->pool.fresh; index++) {
        char *object = pool_object(&run->pool, index);
        if ((*ob_state(object) & ALIVE_BIT) && !is_immortal(object)) run->counts.alive_at_end += 1;
    }
    for (int64_t slot = 1; run->table != NULL && slot <= run->slot_count; slot++) {
        if (is_occupied(run, slot)) run->counts.slots_held += 1;
        run->counts.slot_counts += *count_word(run, slot);
    }
    *counts = run->counts;
}

/// Checks the three parts of the stream; 0 or a status.
static int check_program(const crefscale_yardstick_stream *stream, int64_t *failed_at) {
    int status = check_stream(stream, stream->setup, stream->setup_count, failed_at);
    if (status == CREFSCALE_YARDSTICK_OK) status = check_stream(stream, stream->pass, stream->pass_count, failed_at);
    if (status == CREFSCALE_YARDSTICK_OK) status = check_stream(stream, stream->teardown, stream->teardown_count, failed_at);
    return status;
}

/// As `RunSession.runWorker`: the set-up, the passes (a safe point after each), the teardown, a
/// safe point and the thread's exit (`HandleLocal.threadExit`: a flush).
static inline __attribute__((always_inline)) int run_program(
    struct run *run, const crefscale_yardstick_stream *stream, int64_t passes, const enum steps steps)
{
    int status = interpret(run, stream->setup, stream->setup_count, steps);
    if (status != CREFSCALE_YARDSTICK_OK) return status;
    uint64_t start = crefscale_clock_monotonic_ns();
    for (int64_t pass = 0; pass < passes; pass++) {
        status = interpret(run, stream->pass, stream->pass_count, steps);
        step_safe_point(run, steps);
        if (status == CREFSCALE_YARDSTICK_OK) status = run->status;
        if (status != CREFSCALE_YARDSTICK_OK) return status;
    }
    run->counts.nanoseconds = (int64_t)(crefscale_clock_monotonic_ns() - start);
    status = interpret(run, stream->teardown, stream->teardown_count, steps);
    if (status != CREFSCALE_YARDSTICK_OK) return status;
    step_safe_point(run, steps);
    if (steps == STEPS_TABLE) table_flush(run);
    return run->status;
}

/// One whole run with `steps`: its memory, the stream's check, the program, the counts.
static inline __attribute__((always_inline)) int run_whole(
    const crefscale_yardstick_stream *stream, const crefscale_yardstick_table *table, int64_t passes,
    crefscale_yardstick_counts *counts, const enum steps steps)
{
    struct run run;
    int status = run_init(&run, stream, table);
    if (status == CREFSCALE_YARDSTICK_OK) status = check_program(stream, &run.counts.failed_at);
    if (status == CREFSCALE_YARDSTICK_OK) status = run_program(&run, stream, passes, steps);
    run_finish(&run, counts);
    run_release(&run);
    return status;
}

int crefscale_yardstick_run_noop(const crefscale_yardstick_stream *stream, int64_t passes, crefscale_yardstick_counts *counts) {
    return run_whole(stream, NULL, passes, counts, STEPS_NOOP);
}

int crefscale_yardstick_run_atomic(const crefscale_yardstick_stream *stream, int64_t passes, crefscale_yardstick_counts *counts) {
    return run_whole(stream, NULL, passes, counts, STEPS_ATOMIC);
}

int crefscale_yardstick_run_biased(const crefscale_yardstick_stream *stream, int64_t passes, crefscale_yardstick_counts *counts) {
    return run_whole(stream, NULL, passes, counts, STEPS_BIASED);
}

int crefscale_yardstick_run_handle_local(
    const crefscale_yardstick_stream *stream, const crefscale_yardstick_table *table, int64_t passes,
    crefscale_yardstick_counts *counts)
{
    return run_whole(stream, table, passes, counts, STEPS_TABLE);
}

/// An empty asm that claims to read and change `x`: the close cannot see that its handle is the
/// dup's, so each keeps its own load and store of the count, as two kernel entries do.
#define CREFSCALE_YARDSTICK_OPAQUE(x) __asm__ volatile("" : "+r"(x))

int crefscale_yardstick_table_dup_close_loop(
    const crefscale_yardstick_table *table, int64_t pairs, crefscale_yardstick_counts *counts)
{
    const crefscale_yardstick_stream stream = {.registers = 1, .fixed_objects = 1};
    struct run run;
    int status = run_init(&run, &stream, table);
    if (status == CREFSCALE_YARDSTICK_OK) {
        char *object = pool_object(&run.pool, 0);
        pool_bear(&run, object, 0);
        run.registers[0] = hl_new(&run, object);
        uint64_t *held = run.registers;
        uint64_t start = crefscale_clock_monotonic_ns();
        for (int64_t pair = 0; pair < pairs; pair++) {
            uint64_t handle = hl_dup(&run, *held);
            CREFSCALE_YARDSTICK_OPAQUE(handle);
            hl_close(&run, handle);
        }
        run.counts.nanoseconds = (int64_t)(crefscale_clock_monotonic_ns() - start);
        hl_close(&run, run.registers[0]);
        table_flush(&run);
        status = run.status;
    }
    run_finish(&run, counts);
    run_release(&run);
    return status;
}
