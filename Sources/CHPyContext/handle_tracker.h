// A scheme that wraps the run's scheme to see which handles a stretch of module code leaves
// open: what the module's exec slots make and never close (a module's contract violation, which
// the run reports and closes on the module's behalf, never a counting error of the run).
// Internal to CHPyContext; used only around the exec slots, so no call of a function under test
// passes through it.
#ifndef CHPY_HANDLE_TRACKER_H
#define CHPY_HANDLE_TRACKER_H
#include "chpy.h"

/// Invariant: `open` holds, as a multiset, the bits of every handle the wrapped scheme's new,
/// open and dup returned while the tracker was in place, less one entry for each close of those
/// bits. A close of a handle made before (a borrowed one, the module's own) finds no entry and
/// only goes on to the scheme. Two open handles with the same bits (a scheme that reuses a slot
/// for one object) are two entries, so what remains is exactly what is left open.
struct chpy_handle_tracker {
    struct chpy_scheme inner;
    uint64_t *_Nullable open;
    size_t count, capacity;
};

/// Starts tracking: returns the scheme to call in place of `inner` while the tracker lives.
struct chpy_scheme chpy_tracker_start(struct chpy_handle_tracker *_Nonnull tracker, struct chpy_scheme inner);
/// Frees the tracker's list; the handles it names are not touched.
void chpy_tracker_end(struct chpy_handle_tracker *_Nonnull tracker);

#endif
