// The tracking scheme of handle_tracker.h: new, open and dup go on to the wrapped scheme and note
// the handle they return; close forgets one note of its handle, then goes on; the other entries
// go on unchanged.
#include "handle_tracker.h"
#include <stdlib.h>

static struct chpy_handle_tracker *tracker_of(void *state) { return state; }

static uint64_t note(struct chpy_handle_tracker *tracker, uint64_t handle) {
    if (handle == 0) return 0;
    if (tracker->count == tracker->capacity) {
        tracker->capacity = tracker->capacity ? tracker->capacity * 2 : 16;
        tracker->open = realloc(tracker->open, tracker->capacity * sizeof(uint64_t));
    }
    tracker->open[tracker->count++] = handle;
    return handle;
}

static uint64_t tracked_new(void *state, uint64_t object) {
    struct chpy_handle_tracker *t = tracker_of(state);
    return note(t, t->inner.new_object(t->inner.state, object));
}
static uint64_t tracked_open(void *state, uint64_t object) {
    struct chpy_handle_tracker *t = tracker_of(state);
    return note(t, t->inner.open(t->inner.state, object));
}
static uint64_t tracked_dup(void *state, uint64_t handle) {
    struct chpy_handle_tracker *t = tracker_of(state);
    return note(t, t->inner.dup(t->inner.state, handle));
}
static uint64_t tracked_close(void *state, uint64_t handle) {
    struct chpy_handle_tracker *t = tracker_of(state);
    // The latest note first: a handle is most often closed soon after it is made.
    for (size_t i = t->count; i-- > 0;) {
        if (t->open[i] == handle) { t->open[i] = t->open[--t->count]; break; }
    }
    return t->inner.close(t->inner.state, handle);
}
static uint64_t tracked_object(void *state, uint64_t handle) {
    struct chpy_handle_tracker *t = tracker_of(state);
    return t->inner.object(t->inner.state, handle);
}
static uint64_t tracked_retain(void *state, uint64_t object) {
    struct chpy_handle_tracker *t = tracker_of(state);
    return t->inner.retain(t->inner.state, object);
}
static uint64_t tracked_release(void *state, uint64_t object) {
    struct chpy_handle_tracker *t = tracker_of(state);
    return t->inner.release(t->inner.state, object);
}

struct chpy_scheme chpy_tracker_start(struct chpy_handle_tracker *tracker, struct chpy_scheme inner) {
    *tracker = (struct chpy_handle_tracker){ .inner = inner };
    return (struct chpy_scheme){
        .new_object = tracked_new, .open = tracked_open, .dup = tracked_dup, .close = tracked_close,
        .object = tracked_object, .retain = tracked_retain, .release = tracked_release, .state = tracker,
    };
}

void chpy_tracker_end(struct chpy_handle_tracker *tracker) {
    free(tracker->open);
    *tracker = (struct chpy_handle_tracker){ 0 };
}
