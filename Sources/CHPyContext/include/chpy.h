// refscale's own HPyContext: a context laid out as HPy 0.9's universal context
// (chpy_context_layout.h) whose functions run on refscale's objects with the run's scheme.
// Swift gives each call the scheme's table (chpy_scheme: the entries of refscale's universal
// table and the thread's state) and an allocator; the functions outside the implemented set
// fail the call with a message naming the function.
#ifndef CHPY_H
#define CHPY_H
#include <stddef.h>
#include <stdint.h>
#include "chpy_context_layout.h"

#ifndef __clang__
#define _Nonnull
#define _Nullable
#endif

/// An entry of refscale's universal table: the thread's state and one word (a handle's bits or
/// an object's address), one word back.
typedef uint64_t (*chpy_entry)(void *_Nonnull state, uint64_t word);

/// The run's scheme as the context reaches it.
struct chpy_scheme {
    chpy_entry _Nonnull new_object, open, dup, close, object, retain, release;
    void *_Nonnull state;
};

/// Allocates an object of type `type` (an object's address, its low bit set when the new object
/// holds a record: born with CHPY_RECORD_FLAG) from the thread's region: its address, or 0 when
/// the region is used up.
typedef uint64_t (*chpy_allocate)(void *_Nonnull allocator, uint64_t type);

/// The objects every module may reach, made immortal by the run before any call: their addresses.
struct chpy_builtins {
    uint64_t none, true_object, false_object, exception;
    uint64_t type_type, object_type, none_type, bool_type, int_type, float_type, str_type, tuple_type, list_type, module_type;
    uint64_t dict_type;
};

/// What one thread's calls did, by kind. `open` counts every handle the context opened on an
/// object that exists (an item, an attribute, a field's or global's load among them); the
/// field and global counts are HPyField_Store/Load and HPyGlobal_Store/Load calls.
struct chpy_counts {
    uint64_t dup, close, open, new_object, retain, release, calls, failed_calls;
    uint64_t field_store, field_load, global_store, global_load;
};

/// The context of the calling thread (made on its first use, freed when the thread ends).
struct chpy_thread;
struct chpy_thread *_Nonnull chpy_thread_current(void);
/// Points the thread's context at the scheme and allocator for the next calls.
void chpy_thread_bind(struct chpy_thread *_Nonnull thread, struct chpy_scheme scheme, chpy_allocate _Nonnull allocate,
                      void *_Nonnull allocator);
struct chpy_module;
/// Binds what a worker's calls use for the whole run: the scheme's entries, the module, its
/// arguments' count and an allocator that lives until chpy_thread_unbind_calls, which returns it.
void chpy_thread_bind_calls(struct chpy_thread *_Nonnull thread, struct chpy_scheme scheme, struct chpy_module *_Nonnull module,
                            size_t argument_count, chpy_allocate _Nonnull allocate, void *_Nonnull allocator);
void *_Nullable chpy_thread_unbind_calls(struct chpy_thread *_Nonnull thread);
struct chpy_counts chpy_thread_counts(const struct chpy_thread *_Nonnull thread);
/// Marks where the thread's counted calls begin: what it does from here to chpy_calls_end is
/// added to the run's call counts (chpy_run_call_counts). A worker marks after its set-up and
/// ends before its teardown, so the counts are those of its calls alone, read outside the loop.
void chpy_calls_begin(struct chpy_thread *_Nonnull thread);
void chpy_calls_end(struct chpy_thread *_Nonnull thread);
/// What the counted calls of every thread did since chpy_run_begin, by kind.
struct chpy_counts chpy_run_call_counts(void);

/// The extension function the thread called last (`module.function`), or what the context was
/// doing for the run (making an argument); NULL before the thread's first step. Static text.
const char *_Nullable chpy_current_function(void);

/// A loaded module: its definition, the function called, its kind of arguments.
struct chpy_module;
/// Loads a universal-ABI module built for HPy 0.9 (major version 0) and finds `function` in it
/// (a module function, or `Type.method` of a type its exec slots make). NULL with one line in
/// `error` when the file is no such module or has no such function.
struct chpy_module *_Nullable chpy_module_load(const char *_Nonnull path, const char *_Nonnull function,
                                               char *_Nonnull error, size_t error_size);
/// Whether the function is known yet (a type's method is found when the module object is made).
int chpy_module_arity_known(const struct chpy_module *_Nonnull module);
/// The number of arguments the function takes: -1 for any (varargs, keywords).
int chpy_module_arity(const struct chpy_module *_Nonnull module);
/// Makes the last argument of every call the dict of its keywords (a `kw:` argument), for a type
/// called (`--function Type`: its tp_new and tp_init get them); 0, and nothing changed, for a
/// function, which takes none this way.
int chpy_module_take_keywords(struct chpy_module *_Nonnull module);

/// Sets the builtins of the run; called by the main thread before any other call of the run.
void chpy_run_begin(const struct chpy_builtins *_Nonnull builtins);
/// The first failure of the run's calls (NULL: none); kept until the next chpy_run_begin.
const char *_Nullable chpy_run_failure(void);

/// Opens the thread's handles to the builtins (ctx->h_None, ...), held across its calls.
void chpy_open_constants(struct chpy_thread *_Nonnull thread);
void chpy_close_constants(struct chpy_thread *_Nonnull thread);
/// Makes the module object and runs its exec slots; returns the module's handle (0: failed).
/// The handles the exec slots left open stay open, kept for the caller to close on the module's
/// behalf inside the slots' scope (chpy_module_exec_slot_leak).
uint64_t chpy_module_create(struct chpy_thread *_Nonnull thread, struct chpy_module *_Nonnull module);
/// The handles the exec slots left open at the module object's last making, and each one's bits.
size_t chpy_module_exec_slot_leak_count(const struct chpy_module *_Nonnull module);
uint64_t chpy_module_exec_slot_leak(const struct chpy_module *_Nonnull module, size_t index);
/// One line (no newline) naming the module's exec slot and the objects of the handles it left
/// open at the module object's last making; NULL when it left none.
const char *_Nullable chpy_module_exec_slot_leak_report(const struct chpy_module *_Nonnull module);
/// The handles the module's exec slots left open in this run (since chpy_run_begin).
uint64_t chpy_run_exec_slot_leaks(void);
/// The `self` of the function: the module object, or a new instance of the method's type.
uint64_t chpy_module_self(struct chpy_thread *_Nonnull thread, struct chpy_module *_Nonnull module, uint64_t module_handle);
/// Ends the module's HPyGlobals (their references), at the end of a run.
void chpy_module_clear_globals(struct chpy_thread *_Nonnull thread, struct chpy_module *_Nonnull module);
/// An argument from its text: an int (`5`), a float (`2.5`), a string (`str:abc`), a list of
/// `n` ints 0..n-1 (`list:n`), None, True or False (`none`, `true`, `false`), a new instance
/// (zeroed, as HPy_New leaves it) of the module's type `T` (`new:T`), the type object `T` itself
/// (`type:T`), a tuple of the ints 0..n-1 (`tuple:n`; `tuple:` is empty), a dict of n str keys
/// `k0`..`k<n-1>` to the ints 0..n-1 (`dict:n`; `dict:` is empty), or the dict of a call's
/// keywords (`kw:NAME=VALUE;...`, each VALUE an argument of another kind; `kw:` gives none). 0
/// with the failure recorded when it cannot be made.
uint64_t chpy_make_argument(struct chpy_thread *_Nonnull thread, uint64_t module_handle, const char *_Nonnull text);
/// Whether chpy_make_argument takes `text`.
int chpy_argument_valid(const char *_Nonnull text);
/// Ends the references waiting for a thread to end them (see chpy_object_freed) with the
/// thread's scheme; the ends may free holders whose references then wait in turn.
void chpy_drain(struct chpy_thread *_Nonnull thread);
/// Calls the function; the result's handle is closed. Returns the handle operations the call made.
uint64_t chpy_call(struct chpy_thread *_Nonnull thread, struct chpy_module *_Nonnull module, uint64_t self,
                   const uint64_t *_Nonnull arguments, size_t count);

/// chpy_call of the module bound by chpy_thread_bind_calls on registers[0] (self) and the
/// arguments after it, with the bound scheme entries on `state`, the scheme's state for this
/// call (it may move between calls), and the bound allocator: a worker's call in the timed
/// loop, with no lookup of the thread's plan.
uint64_t chpy_call_bound(struct chpy_thread *_Nonnull thread, void *_Nonnull state, const uint64_t *_Nonnull registers);

/// The references a freed object held (a tuple's or list's items, an instance's HPyFields, a
/// module's attributes) wait here for a thread to end them with its scheme: ObjectPool calls
/// chpy_object_freed for an object born with a record, before poisoning it.
void chpy_object_freed(void *_Nonnull object);
/// Takes one waiting reference: an object's address, 0 when none waits.
uint64_t chpy_take_pending_release(void);
/// The flag (in ObjectFlags) of an object that holds a record chpy_object_freed must end.
#define CHPY_RECORD_FLAG 16

#endif
