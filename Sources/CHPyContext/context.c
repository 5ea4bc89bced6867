// refscale's HPyContext. Invariants:
// - A handle the module holds is the run's scheme's handle (its dup and close are the scheme's);
//   an object is a pool object: its type's address at byte 24, its payload word at 32 (an int's
//   value, a float's bits, or the address of its record).
// - A reference a container, an instance's HPyField, a module attribute or an HPyGlobal keeps is
//   a non-local reference: the scheme's retain when stored, its release when replaced or when
//   the holder dies. A holder that dies hands its references to the pending list
//   (chpy_object_freed), and the thread that next ends a call, or drains at its teardown, ends
//   them: never inside the scheme step that freed the holder.
// - The thread's constants (ctx->h_None, ...) are handles it opens before its first call and
//   closes after its last, so they are borrowed by every call, as HPy's are.
#define _GNU_SOURCE
#include "chpy.h"
#include "chpy_definitions.h"
#include "handle_tracker.h"
#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum record_kind { RECORD_STR = 1, RECORD_SEQUENCE, RECORD_TYPE, RECORD_INSTANCE, RECORD_MODULE };

struct record { int kind; };
struct str_record { int kind; size_t length; char text[]; };
struct sequence_record { int kind; int64_t count, capacity; uint64_t *items; };
struct type_record { int kind; const struct chpy_type_spec *spec; void *traverse; void *new_slot, *init_slot; };
/// `traverse` is the type's, copied: a scheme that does not count an instance's reference to its
/// type may free the type first.
struct instance_record { int kind; uint64_t type; void *traverse; _Alignas(16) unsigned char data[]; };
struct attribute { char *name; uint64_t object; };
struct module_record { int kind; int64_t count; struct attribute attributes[64]; };

struct chpy_module {
    void *library;
    const struct chpy_module_def *def;
    char name[128];
    /// The method's type (`Type.method`), or the type called (`Type`: calls_type); empty for a
    /// module function.
    char type_name[128];
    /// A call makes an instance of the module's type `type_name`, as calling the type does.
    bool calls_type;
    /// The last argument of each call is the dict of its keywords (a `kw:` argument).
    bool keywords_last;
    char method_name[128];
    /// `module.function` or `module.Type.method`: what a report names.
    char label[400];
    /// What a report names while the exec slots run.
    char exec_label[200];
    const struct chpy_def *function;
    /// The handles the exec slots left open when the module object was last made (their bits),
    /// for the run to close on the module's behalf (chpy_module_exec_slot_leak).
    uint64_t *exec_leaks;
    size_t exec_leak_count;
    /// The line that names them (chpy_module_exec_slot_leak_report), made while they were open.
    char exec_leak_report[800];
};

struct chpy_thread {
    struct chpy_context ctx;
    struct chpy_scheme scheme;
    chpy_allocate allocate;
    void *allocator;
    struct chpy_counts counts;
    /// The counts at chpy_calls_begin.
    struct chpy_counts calls_mark;
    /// What a worker's calls use, bound once at its set-up (chpy_thread_bind_calls).
    struct chpy_module *calls_module;
    size_t calls_argument_count;
    struct chpy_scheme calls_scheme;
    chpy_allocate calls_allocate;
    void *calls_allocator;
    const char *function;
    bool error_set;
    char error[256];
};

static struct chpy_builtins builtins;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static char run_failure[512];
static bool run_failed;
/// Handles the module's exec slots left open in this run (chpy_run_exec_slot_leaks).
static uint64_t run_exec_slot_leaks;
static struct chpy_counts run_call_counts;
static uint64_t *pending;
/// Written under run_lock; read without it by drain's test for an empty list (an atomic load),
/// so a call that has nothing to end takes no lock.
static size_t pending_count, pending_capacity;

#define THREAD(ctx) ((struct chpy_thread *)(ctx))
#define WORD(address, offset) (*(uint64_t *)(uintptr_t)((address) + (offset)))
static uint64_t type_of(uint64_t object) { return WORD(object, 24); }
static uint64_t payload(uint64_t object) { return WORD(object, 32); }
static void *record_of(uint64_t object) { return (void *)(uintptr_t)payload(object); }

static void fail(struct chpy_thread *t, const char *format, ...) {
    if (t->error_set) return;
    t->error_set = true;
    va_list list;
    va_start(list, format);
    vsnprintf(t->error, sizeof t->error, format, list);
    va_end(list);
}

// MARK: - The scheme, counted

static uint64_t object_of(struct chpy_thread *t, chpy_handle h) {
    if (h._i == 0) { fail(t, "a NULL handle passed to the context"); return 0; }
    return t->scheme.object(t->scheme.state, (uint64_t)h._i);
}
static chpy_handle open_object(struct chpy_thread *t, uint64_t object) {
    t->counts.open++;
    return (chpy_handle){ (intptr_t)t->scheme.open(t->scheme.state, object) };
}
static void retain(struct chpy_thread *t, uint64_t object) { t->counts.retain++; t->scheme.retain(t->scheme.state, object); }
static void release(struct chpy_thread *t, uint64_t object) { t->counts.release++; t->scheme.release(t->scheme.state, object); }

static chpy_handle make(struct chpy_thread *t, uint64_t type, uint64_t value, bool with_record) {
    uint64_t object = t->allocate(t->allocator, type | (with_record ? 1 : 0));
    if (object == 0) { fail(t, "the thread's region of the object pool is used up"); return (chpy_handle){ 0 }; }
    WORD(object, 32) = value;
    t->counts.new_object++;
    return (chpy_handle){ (intptr_t)t->scheme.new_object(t->scheme.state, object) };
}

static chpy_handle ctx_Dup(struct chpy_context *ctx, chpy_handle h) {
    struct chpy_thread *t = THREAD(ctx);
    t->counts.dup++;
    return (chpy_handle){ (intptr_t)t->scheme.dup(t->scheme.state, (uint64_t)h._i) };
}
static void ctx_Close(struct chpy_context *ctx, chpy_handle h) {
    struct chpy_thread *t = THREAD(ctx);
    if (h._i == 0) return;
    t->counts.close++;
    t->scheme.close(t->scheme.state, (uint64_t)h._i);
}

// MARK: - Kinds of object

enum kind { KIND_NONE, KIND_BOOL, KIND_INT, KIND_FLOAT, KIND_STR, KIND_TUPLE, KIND_LIST, KIND_TYPE, KIND_INSTANCE, KIND_MODULE, KIND_DICT, KIND_OTHER };

static enum kind kind_of(uint64_t object) {
    uint64_t type = type_of(object);
    if (type == builtins.int_type) return KIND_INT;
    if (type == builtins.float_type) return KIND_FLOAT;
    if (type == builtins.bool_type) return KIND_BOOL;
    if (type == builtins.none_type) return KIND_NONE;
    if (type == builtins.str_type) return KIND_STR;
    if (type == builtins.tuple_type) return KIND_TUPLE;
    if (type == builtins.list_type) return KIND_LIST;
    if (type == builtins.module_type) return KIND_MODULE;
    if (type == builtins.dict_type) return KIND_DICT;
    if (type == builtins.type_type || type == builtins.object_type) return KIND_TYPE;
    struct record *record = record_of(object);
    if (record && record->kind == RECORD_TYPE) return KIND_TYPE;
    if (record && record->kind == RECORD_INSTANCE) return KIND_INSTANCE;
    return KIND_OTHER;
}

static const char *kind_name(enum kind kind) {
    static const char *names[] = { "None", "bool", "int", "float", "str", "tuple", "list", "type", "instance", "module", "dict", "object" };
    return names[kind];
}

static chpy_handle make_int(struct chpy_thread *t, int64_t value) { return make(t, builtins.int_type, (uint64_t)value, false); }
static chpy_handle make_float(struct chpy_thread *t, double value) {
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    return make(t, builtins.float_type, bits, false);
}
static double float_value(uint64_t object) { double value; uint64_t bits = payload(object); memcpy(&value, &bits, sizeof value); return value; }

static bool int_of(struct chpy_thread *t, chpy_handle h, int64_t *value) {
    uint64_t object = object_of(t, h);
    if (!object) return false;
    enum kind kind = kind_of(object);
    if (kind == KIND_INT || kind == KIND_BOOL) { *value = (int64_t)payload(object); return true; }
    fail(t, "TypeError: an int is required, not %s", kind_name(kind));
    return false;
}

static bool number_of(struct chpy_thread *t, uint64_t object, double *value, bool *is_float) {
    enum kind kind = kind_of(object);
    if (kind == KIND_INT || kind == KIND_BOOL) { *value = (double)(int64_t)payload(object); *is_float = false; return true; }
    if (kind == KIND_FLOAT) { *value = float_value(object); *is_float = true; return true; }
    return false;
}

// MARK: - Numbers

#define LONG_FROM(NAME, CTYPE) \
    static chpy_handle NAME(struct chpy_context *ctx, CTYPE value) { return make_int(THREAD(ctx), (int64_t)value); }
LONG_FROM(ctx_Long_FromInt32_t, int32_t)
LONG_FROM(ctx_Long_FromUInt32_t, uint32_t)
LONG_FROM(ctx_Long_FromInt64_t, int64_t)
LONG_FROM(ctx_Long_FromSize_t, size_t)
LONG_FROM(ctx_Long_FromSsize_t, intptr_t)
static chpy_handle ctx_Long_FromUInt64_t(struct chpy_context *ctx, uint64_t value) {
    if (value > INT64_MAX) { fail(THREAD(ctx), "OverflowError: refscale's ints are 64-bit signed"); return (chpy_handle){ 0 }; }
    return make_int(THREAD(ctx), (int64_t)value);
}

#define LONG_AS(NAME, CTYPE) \
    static CTYPE NAME(struct chpy_context *ctx, chpy_handle h) { int64_t v = 0; return int_of(THREAD(ctx), h, &v) ? (CTYPE)v : (CTYPE)-1; }
LONG_AS(ctx_Long_AsInt32_t, int32_t)
LONG_AS(ctx_Long_AsUInt32_t, uint32_t)
LONG_AS(ctx_Long_AsUInt32_tMask, uint32_t)
LONG_AS(ctx_Long_AsInt64_t, int64_t)
LONG_AS(ctx_Long_AsUInt64_t, uint64_t)
LONG_AS(ctx_Long_AsUInt64_tMask, uint64_t)
LONG_AS(ctx_Long_AsSize_t, size_t)
LONG_AS(ctx_Long_AsSsize_t, intptr_t)
static double ctx_Long_AsDouble(struct chpy_context *ctx, chpy_handle h) { int64_t v = 0; return int_of(THREAD(ctx), h, &v) ? (double)v : -1.0; }

static chpy_handle ctx_Float_FromDouble(struct chpy_context *ctx, double value) { return make_float(THREAD(ctx), value); }
static double ctx_Float_AsDouble(struct chpy_context *ctx, chpy_handle h) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h);
    double value;
    bool is_float;
    if (object && number_of(t, object, &value, &is_float)) return value;
    if (object) fail(t, "TypeError: must be real number, not %s", kind_name(kind_of(object)));
    return -1.0;
}
static chpy_handle ctx_Bool_FromBool(struct chpy_context *ctx, bool value) {
    return open_object(THREAD(ctx), value ? builtins.true_object : builtins.false_object);
}

enum operator { ADD, SUBTRACT, MULTIPLY, TRUE_DIVIDE, FLOOR_DIVIDE, REMAINDER };
static const char *operator_names[] = { "+", "-", "*", "/", "//", "%" };

static chpy_handle concatenate(struct chpy_thread *t, uint64_t a, uint64_t b);

static chpy_handle arithmetic(struct chpy_context *ctx, chpy_handle h1, chpy_handle h2, enum operator op) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t a = object_of(t, h1), b = object_of(t, h2);
    if (!a || !b) return (chpy_handle){ 0 };
    double x, y;
    bool x_float, y_float;
    if (!number_of(t, a, &x, &x_float) || !number_of(t, b, &y, &y_float)) {
        if (op == ADD && kind_of(a) == KIND_STR && kind_of(b) == KIND_STR) return concatenate(t, a, b);
        fail(t, "TypeError: unsupported operand type(s) for %s: '%s' and '%s'", operator_names[op], kind_name(kind_of(a)), kind_name(kind_of(b)));
        return (chpy_handle){ 0 };
    }
    if (!x_float && !y_float && op != TRUE_DIVIDE) {
        int64_t i = (int64_t)payload(a), j = (int64_t)payload(b), r = 0;
        bool overflow = false;
        switch (op) {
        case ADD: overflow = __builtin_add_overflow(i, j, &r); break;
        case SUBTRACT: overflow = __builtin_sub_overflow(i, j, &r); break;
        case MULTIPLY: overflow = __builtin_mul_overflow(i, j, &r); break;
        case FLOOR_DIVIDE: case REMAINDER:
            if (j == 0) { fail(t, "ZeroDivisionError: integer division or modulo by zero"); return (chpy_handle){ 0 }; }
            if (i == INT64_MIN && j == -1) { overflow = true; break; }
            r = i / j;
            if ((i % j != 0) && ((i < 0) != (j < 0))) r -= 1;
            if (op == REMAINDER) r = i - r * j;
            break;
        default: break;
        }
        if (overflow) { fail(t, "OverflowError: the result of %s leaves refscale's 64-bit ints", operator_names[op]); return (chpy_handle){ 0 }; }
        return make_int(t, r);
    }
    double r = 0;
    switch (op) {
    case ADD: r = x + y; break;
    case SUBTRACT: r = x - y; break;
    case MULTIPLY: r = x * y; break;
    case TRUE_DIVIDE:
        if (y == 0) { fail(t, "ZeroDivisionError: division by zero"); return (chpy_handle){ 0 }; }
        r = x / y;
        break;
    case FLOOR_DIVIDE: case REMAINDER:
        if (y == 0) { fail(t, "ZeroDivisionError: float modulo"); return (chpy_handle){ 0 }; }
        r = op == FLOOR_DIVIDE ? floor(x / y) : x - floor(x / y) * y;
        break;
    }
    return make_float(t, r);
}
static chpy_handle ctx_Add(struct chpy_context *c, chpy_handle a, chpy_handle b) { return arithmetic(c, a, b, ADD); }
static chpy_handle ctx_Subtract(struct chpy_context *c, chpy_handle a, chpy_handle b) { return arithmetic(c, a, b, SUBTRACT); }
static chpy_handle ctx_Multiply(struct chpy_context *c, chpy_handle a, chpy_handle b) { return arithmetic(c, a, b, MULTIPLY); }
static chpy_handle ctx_TrueDivide(struct chpy_context *c, chpy_handle a, chpy_handle b) { return arithmetic(c, a, b, TRUE_DIVIDE); }
static chpy_handle ctx_FloorDivide(struct chpy_context *c, chpy_handle a, chpy_handle b) { return arithmetic(c, a, b, FLOOR_DIVIDE); }
static chpy_handle ctx_Remainder(struct chpy_context *c, chpy_handle a, chpy_handle b) { return arithmetic(c, a, b, REMAINDER); }
static chpy_handle ctx_Negative(struct chpy_context *ctx, chpy_handle h) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h);
    double value;
    bool is_float;
    if (!object || !number_of(t, object, &value, &is_float)) {
        if (object) fail(t, "TypeError: bad operand type for unary -: '%s'", kind_name(kind_of(object)));
        return (chpy_handle){ 0 };
    }
    if (is_float) return make_float(t, -value);
    int64_t i = (int64_t)payload(object);
    if (i == INT64_MIN) { fail(t, "OverflowError: -%lld leaves refscale's 64-bit ints", (long long)i); return (chpy_handle){ 0 }; }
    return make_int(t, -i);
}
static int ctx_Number_Check(struct chpy_context *ctx, chpy_handle h) {
    enum kind kind = kind_of(object_of(THREAD(ctx), h));
    return kind == KIND_INT || kind == KIND_FLOAT || kind == KIND_BOOL;
}

// MARK: - Objects

static int ctx_IsTrue(struct chpy_context *ctx, chpy_handle h) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h);
    if (!object) return -1;
    switch (kind_of(object)) {
    case KIND_NONE: return 0;
    case KIND_BOOL: case KIND_INT: return payload(object) != 0;
    case KIND_FLOAT: return float_value(object) != 0;
    case KIND_STR: return ((struct str_record *)record_of(object))->length != 0;
    case KIND_TUPLE: case KIND_LIST: case KIND_DICT: return ((struct sequence_record *)record_of(object))->count != 0;
    default: return 1;
    }
}
static int ctx_Is(struct chpy_context *ctx, chpy_handle a, chpy_handle b) {
    struct chpy_thread *t = THREAD(ctx);
    return object_of(t, a) == object_of(t, b);
}
static chpy_handle ctx_Type(struct chpy_context *ctx, chpy_handle h) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h);
    if (!object) return (chpy_handle){ 0 };
    return open_object(t, kind_of(object) == KIND_TYPE ? builtins.type_type : type_of(object));
}
static int ctx_TypeCheck(struct chpy_context *ctx, chpy_handle h, chpy_handle type) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h), expected = object_of(t, type);
    if (expected == builtins.object_type) return 1;
    return object && type_of(object) == expected;
}

// MARK: - Strings, tuples, lists

static chpy_handle make_str(struct chpy_thread *t, const char *text, size_t length) {
    struct str_record *record = malloc(sizeof *record + length + 1);
    record->kind = RECORD_STR;
    record->length = length;
    memcpy(record->text, text, length);
    record->text[length] = 0;
    chpy_handle h = make(t, builtins.str_type, (uint64_t)(uintptr_t)record, true);
    if (h._i == 0) free(record);
    return h;
}
static chpy_handle concatenate(struct chpy_thread *t, uint64_t a, uint64_t b) {
    struct str_record *x = record_of(a), *y = record_of(b);
    char *text = malloc(x->length + y->length + 1);
    memcpy(text, x->text, x->length);
    memcpy(text + x->length, y->text, y->length);
    chpy_handle h = make_str(t, text, x->length + y->length);
    free(text);
    return h;
}
// MARK: - Comparisons

/// HPy_LT ... HPy_GE (hpy/devel/include/hpy/macros.h: Python's Py_LT ... Py_GE).
enum comparison { COMPARE_LT, COMPARE_LE, COMPARE_EQ, COMPARE_NE, COMPARE_GT, COMPARE_GE };
static const char *comparison_names[] = { "<", "<=", "==", "!=", ">", ">=" };

static int compared(int order, int op) {
    switch (op) {
    case COMPARE_LT: return order < 0;
    case COMPARE_LE: return order <= 0;
    case COMPARE_EQ: return order == 0;
    case COMPARE_NE: return order != 0;
    case COMPARE_GT: return order > 0;
    default: return order >= 0;
    }
}

/// Python's comparison of two of refscale's objects: ints, bools and floats by value (two ints
/// exactly, as 64-bit ints), strs by their bytes; any other pair equal only when it is one object
/// (== and !=), and unordered (a TypeError), as CPython's default comparison
/// (Objects/object.c, do_richcompare). 1 or 0; -1 with the error set.
static int compare_objects(struct chpy_thread *t, uint64_t x, uint64_t y, int op) {
    if (op < COMPARE_LT || op > COMPARE_GE) { fail(t, "SystemError: comparison operator %d", op); return -1; }
    enum kind kx = kind_of(x), ky = kind_of(y);
    bool x_int = kx == KIND_INT || kx == KIND_BOOL, y_int = ky == KIND_INT || ky == KIND_BOOL;
    if (x_int && y_int) {
        int64_t u = (int64_t)payload(x), v = (int64_t)payload(y);
        return compared((u > v) - (u < v), op);
    }
    double u, v;
    bool u_float, v_float;
    if (number_of(t, x, &u, &u_float) && number_of(t, y, &v, &v_float)) {
        if (u != u || v != v) return op == COMPARE_NE;
        return compared((u > v) - (u < v), op);
    }
    if (kx == KIND_STR && ky == KIND_STR) {
        struct str_record *p = record_of(x), *q = record_of(y);
        size_t shorter = p->length < q->length ? p->length : q->length;
        int order = memcmp(p->text, q->text, shorter);
        if (order == 0) order = (p->length > q->length) - (p->length < q->length);
        return compared(order, op);
    }
    if (op == COMPARE_EQ || op == COMPARE_NE) return (x == y) == (op == COMPARE_EQ);
    fail(t, "TypeError: '%s' not supported between instances of '%s' and '%s'", comparison_names[op], kind_name(kx), kind_name(ky));
    return -1;
}
static int rich_compare(struct chpy_thread *t, chpy_handle a, chpy_handle b, int op) {
    uint64_t x = object_of(t, a), y = object_of(t, b);
    return x && y ? compare_objects(t, x, y, op) : -1;
}
static chpy_handle ctx_RichCompare(struct chpy_context *ctx, chpy_handle a, chpy_handle b, int op) {
    int result = rich_compare(THREAD(ctx), a, b, op);
    return result < 0 ? (chpy_handle){ 0 } : ctx_Bool_FromBool(ctx, result);
}
/// As CPython's PyObject_RichCompareBool: one object is equal to itself, whatever its kind.
static int ctx_RichCompareBool(struct chpy_context *ctx, chpy_handle a, chpy_handle b, int op) {
    struct chpy_thread *t = THREAD(ctx);
    if (op == COMPARE_EQ || op == COMPARE_NE) {
        uint64_t x = object_of(t, a), y = object_of(t, b);
        if (x && x == y) return op == COMPARE_EQ;
    }
    return rich_compare(t, a, b, op);
}

static chpy_handle ctx_Unicode_FromString(struct chpy_context *ctx, const char *text) { return make_str(THREAD(ctx), text, strlen(text)); }
static int ctx_Unicode_Check(struct chpy_context *ctx, chpy_handle h) { return kind_of(object_of(THREAD(ctx), h)) == KIND_STR; }
static const char *ctx_Unicode_AsUTF8AndSize(struct chpy_context *ctx, chpy_handle h, intptr_t *size) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h);
    if (!object || kind_of(object) != KIND_STR) { fail(t, "TypeError: a str is required"); return NULL; }
    struct str_record *record = record_of(object);
    if (size) *size = (intptr_t)record->length;
    return record->text;
}

/// A tuple or list of `count` objects whose references the caller hands over.
static chpy_handle make_sequence(struct chpy_thread *t, uint64_t type, uint64_t *items, int64_t count) {
    struct sequence_record *record = malloc(sizeof *record);
    record->kind = RECORD_SEQUENCE;
    record->count = count;
    record->capacity = count > 4 ? count : 4;
    record->items = calloc((size_t)record->capacity, sizeof(uint64_t));
    if (count) memcpy(record->items, items, (size_t)count * sizeof(uint64_t));
    chpy_handle h = make(t, type, (uint64_t)(uintptr_t)record, true);
    if (h._i == 0) {
        for (int64_t i = 0; i < count; i++) release(t, items[i]);
        free(record->items);
        free(record);
    }
    return h;
}
static chpy_handle ctx_Tuple_FromArray(struct chpy_context *ctx, chpy_handle *items, intptr_t n) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t *objects = calloc((size_t)n + 1, sizeof(uint64_t));
    for (intptr_t i = 0; i < n; i++) {
        objects[i] = object_of(t, items[i]);
        if (!objects[i]) { for (intptr_t j = 0; j < i; j++) release(t, objects[j]); free(objects); return (chpy_handle){ 0 }; }
        retain(t, objects[i]);
    }
    chpy_handle h = make_sequence(t, builtins.tuple_type, objects, n);
    free(objects);
    return h;
}
static chpy_handle ctx_List_New(struct chpy_context *ctx, intptr_t length) {
    struct chpy_thread *t = THREAD(ctx);
    if (length != 0) { fail(t, "ctx_List_New with a length above 0 (items that would be NULL) is not implemented by refscale's HPyContext"); return (chpy_handle){ 0 }; }
    return make_sequence(t, builtins.list_type, NULL, 0);
}
static int ctx_List_Check(struct chpy_context *ctx, chpy_handle h) { return kind_of(object_of(THREAD(ctx), h)) == KIND_LIST; }
static int ctx_Tuple_Check(struct chpy_context *ctx, chpy_handle h) { return kind_of(object_of(THREAD(ctx), h)) == KIND_TUPLE; }
static int ctx_List_Append(struct chpy_context *ctx, chpy_handle list, chpy_handle item) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, list), element = object_of(t, item);
    if (!object || !element) return -1;
    if (kind_of(object) != KIND_LIST) { fail(t, "SystemError: HPyList_Append on a %s", kind_name(kind_of(object))); return -1; }
    struct sequence_record *record = record_of(object);
    if (record->count == record->capacity) {
        record->capacity *= 2;
        record->items = realloc(record->items, (size_t)record->capacity * sizeof(uint64_t));
    }
    retain(t, element);
    record->items[record->count++] = element;
    return 0;
}

static struct sequence_record *sequence(struct chpy_thread *t, chpy_handle h, const char *operation) {
    uint64_t object = object_of(t, h);
    if (!object) return NULL;
    enum kind kind = kind_of(object);
    if (kind == KIND_TUPLE || kind == KIND_LIST) return record_of(object);
    fail(t, "TypeError: '%s' object %s", kind_name(kind), operation);
    return NULL;
}
// MARK: - Dicts

/// A dict is a sequence record of its keys and values in turn (k0, v0, k1, v1, ...: count is
/// twice the entries), each a reference the dict holds, ended when it dies as a list's items are.
/// Keys are found by equality as HPy_RichCompareBool finds them (one object is equal to itself),
/// in insertion order, with no hash table: the dicts of extension calls are small.
static chpy_handle ctx_Dict_New(struct chpy_context *ctx) { return make_sequence(THREAD(ctx), builtins.dict_type, NULL, 0); }
static int ctx_Dict_Check(struct chpy_context *ctx, chpy_handle h) { return kind_of(object_of(THREAD(ctx), h)) == KIND_DICT; }

/// The index of `key`'s entry (of its key, in items), -1 when absent, -2 with the error set.
static int64_t dict_find(struct chpy_thread *t, struct sequence_record *dict, uint64_t key) {
    enum kind kind = kind_of(key);
    if (kind == KIND_LIST || kind == KIND_DICT) { fail(t, "TypeError: unhashable type: '%s'", kind_name(kind)); return -2; }
    for (int64_t i = 0; i < dict->count; i += 2) {
        if (dict->items[i] == key) return i;
        int equal = compare_objects(t, dict->items[i], key, COMPARE_EQ);
        if (equal < 0) return -2;
        if (equal) return i;
    }
    return -1;
}
static chpy_handle dict_get(struct chpy_thread *t, uint64_t dict, uint64_t key) {
    struct sequence_record *record = record_of(dict);
    int64_t i = dict_find(t, record, key);
    if (i == -1) fail(t, "KeyError: a key not in the dict");
    return i < 0 ? (chpy_handle){ 0 } : open_object(t, record->items[i + 1]);
}
static int dict_set(struct chpy_thread *t, uint64_t dict, uint64_t key, uint64_t value) {
    struct sequence_record *record = record_of(dict);
    int64_t i = dict_find(t, record, key);
    if (i == -2) return -1;
    retain(t, value);
    if (i >= 0) {
        uint64_t previous = record->items[i + 1];
        record->items[i + 1] = value;
        release(t, previous);
        return 0;
    }
    if (record->count + 2 > record->capacity) {
        record->capacity *= 2;
        record->items = realloc(record->items, (size_t)record->capacity * sizeof(uint64_t));
    }
    retain(t, key);
    record->items[record->count++] = key;
    record->items[record->count++] = value;
    return 0;
}
/// HPy_Contains: a dict's keys, or a tuple's or list's items, compared as HPy_RichCompareBool.
static int ctx_Contains(struct chpy_context *ctx, chpy_handle container, chpy_handle h) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, container), key = object_of(t, h);
    if (!object || !key) return -1;
    enum kind kind = kind_of(object);
    if (kind == KIND_DICT) {
        int64_t i = dict_find(t, record_of(object), key);
        return i == -2 ? -1 : i >= 0;
    }
    if (kind != KIND_TUPLE && kind != KIND_LIST) { fail(t, "TypeError: argument of type '%s' is not iterable", kind_name(kind)); return -1; }
    struct sequence_record *record = record_of(object);
    for (int64_t i = 0; i < record->count; i++) {
        if (record->items[i] == key) return 1;
        int equal = compare_objects(t, record->items[i], key, COMPARE_EQ);
        if (equal != 0) return equal;
    }
    return 0;
}

static intptr_t ctx_Length(struct chpy_context *ctx, chpy_handle h) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h);
    if (object && kind_of(object) == KIND_STR) return (intptr_t)((struct str_record *)record_of(object))->length;
    if (object && kind_of(object) == KIND_DICT) return (intptr_t)((struct sequence_record *)record_of(object))->count / 2;
    struct sequence_record *record = sequence(t, h, "has no len()");
    return record ? (intptr_t)record->count : -1;
}
static chpy_handle ctx_GetItem_i(struct chpy_context *ctx, chpy_handle h, intptr_t index) {
    struct chpy_thread *t = THREAD(ctx);
    struct sequence_record *record = sequence(t, h, "is not subscriptable");
    if (!record) return (chpy_handle){ 0 };
    if (index < 0) index += record->count;
    if (index < 0 || index >= record->count) { fail(t, "IndexError: index out of range"); return (chpy_handle){ 0 }; }
    return open_object(t, record->items[index]);
}
static chpy_handle ctx_GetItem(struct chpy_context *ctx, chpy_handle h, chpy_handle key) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h);
    if (object && kind_of(object) == KIND_DICT) {
        uint64_t k = object_of(t, key);
        return k ? dict_get(t, object, k) : (chpy_handle){ 0 };
    }
    int64_t index;
    if (!int_of(THREAD(ctx), key, &index)) return (chpy_handle){ 0 };
    return ctx_GetItem_i(ctx, h, (intptr_t)index);
}
/// HPy_GetItem_s: a dict's item under the str key `key` (what HPyArg_ParseKeywordsDict looks
/// up); any other container is not implemented.
static chpy_handle ctx_GetItem_s(struct chpy_context *ctx, chpy_handle h, const char *key) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h);
    if (!object) return (chpy_handle){ 0 };
    if (kind_of(object) != KIND_DICT) {
        fail(t, "the context function ctx_GetItem_s on a %s is not implemented by refscale's HPyContext (only a dict's)", kind_name(kind_of(object)));
        return (chpy_handle){ 0 };
    }
    struct sequence_record *record = record_of(object);
    size_t length = strlen(key);
    for (int64_t i = 0; i < record->count; i += 2) {
        if (kind_of(record->items[i]) != KIND_STR) continue;
        struct str_record *name = record_of(record->items[i]);
        if (name->length == length && memcmp(name->text, key, length) == 0) return open_object(t, record->items[i + 1]);
    }
    fail(t, "KeyError: '%s'", key);
    return (chpy_handle){ 0 };
}
static int ctx_SetItem_i(struct chpy_context *ctx, chpy_handle h, intptr_t index, chpy_handle value) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h), element = object_of(t, value);
    if (!object || !element) return -1;
    if (kind_of(object) != KIND_LIST) { fail(t, "TypeError: '%s' object does not support item assignment", kind_name(kind_of(object))); return -1; }
    struct sequence_record *record = record_of(object);
    if (index < 0) index += record->count;
    if (index < 0 || index >= record->count) { fail(t, "IndexError: list assignment index out of range"); return -1; }
    retain(t, element);
    uint64_t previous = record->items[index];
    record->items[index] = element;
    release(t, previous);
    return 0;
}
static int ctx_SetItem(struct chpy_context *ctx, chpy_handle h, chpy_handle key, chpy_handle value) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h);
    if (object && kind_of(object) == KIND_DICT) {
        uint64_t k = object_of(t, key), v = object_of(t, value);
        return k && v ? dict_set(t, object, k, v) : -1;
    }
    int64_t index;
    if (!int_of(THREAD(ctx), key, &index)) return -1;
    return ctx_SetItem_i(ctx, h, (intptr_t)index, value);
}

// MARK: - Builders and trackers

struct handle_array { intptr_t count, capacity; chpy_handle items[]; };

/// Items hold references (HPyTupleBuilder_Set keeps its own, as HPy's does), ended by Cancel or
/// handed to the tuple by Build.
static intptr_t ctx_TupleBuilder_New(struct chpy_context *ctx, intptr_t size) {
    (void)ctx;
    struct sequence_record *builder = calloc(1, sizeof *builder);
    builder->count = size;
    builder->items = calloc((size_t)size + 1, sizeof(uint64_t));
    return (intptr_t)builder;
}
static void ctx_TupleBuilder_Set(struct chpy_context *ctx, intptr_t builder, intptr_t index, chpy_handle item) {
    struct chpy_thread *t = THREAD(ctx);
    struct sequence_record *b = (struct sequence_record *)builder;
    uint64_t object = object_of(t, item);
    if (!b || !object || index < 0 || index >= b->count) { fail(t, "SystemError: HPyTupleBuilder_Set out of range"); return; }
    retain(t, object);
    if (b->items[index]) release(t, b->items[index]);
    b->items[index] = object;
}
static void ctx_TupleBuilder_Cancel(struct chpy_context *ctx, intptr_t builder) {
    struct chpy_thread *t = THREAD(ctx);
    struct sequence_record *b = (struct sequence_record *)builder;
    if (!b) return;
    for (int64_t i = 0; i < b->count; i++) if (b->items[i]) release(t, b->items[i]);
    free(b->items);
    free(b);
}
static chpy_handle ctx_TupleBuilder_Build(struct chpy_context *ctx, intptr_t builder) {
    struct chpy_thread *t = THREAD(ctx);
    struct sequence_record *b = (struct sequence_record *)builder;
    if (!b) return (chpy_handle){ 0 };
    for (int64_t i = 0; i < b->count; i++) {
        if (!b->items[i]) { fail(t, "SystemError: HPyTupleBuilder_Build with item %lld unset", (long long)i); ctx_TupleBuilder_Cancel(ctx, builder); return (chpy_handle){ 0 }; }
    }
    chpy_handle h = make_sequence(t, builtins.tuple_type, b->items, b->count);
    free(b->items);
    free(b);
    return h;
}

/// A tracker's handles are the caller's; Close closes them, ForgetAll forgets them.
static intptr_t ctx_Tracker_New(struct chpy_context *ctx, intptr_t size) {
    (void)ctx;
    intptr_t capacity = size > 4 ? size : 4;
    struct handle_array *tracker = calloc(1, sizeof *tracker + (size_t)capacity * sizeof(chpy_handle));
    tracker->capacity = capacity;
    return (intptr_t)tracker;
}
static int ctx_Tracker_Add(struct chpy_context *ctx, intptr_t tracker, chpy_handle h) {
    struct handle_array *a = (struct handle_array *)tracker;
    if (a->count == a->capacity) { fail(THREAD(ctx), "HPyTracker_Add beyond the tracker's size"); return -1; }
    a->items[a->count++] = h;
    return 0;
}
static void ctx_Tracker_ForgetAll(struct chpy_context *ctx, intptr_t tracker) { (void)ctx; ((struct handle_array *)tracker)->count = 0; }
static void ctx_Tracker_Close(struct chpy_context *ctx, intptr_t tracker) {
    struct handle_array *a = (struct handle_array *)tracker;
    for (intptr_t i = 0; i < a->count; i++) ctx_Close(ctx, a->items[i]);
    free(a);
}

// MARK: - Types, instances, fields, globals, modules

static void *find_slot(const struct chpy_type_spec *spec, int slot) {
    for (struct chpy_def **d = spec->defines; d && *d; d++)
        if ((*d)->kind == CHPY_DEF_SLOT && (*d)->slot.slot == slot) return (*d)->slot.impl;
    return NULL;
}

static chpy_handle ctx_Type_FromSpec(struct chpy_context *ctx, struct chpy_type_spec *spec, void *params) {
    struct chpy_thread *t = THREAD(ctx);
    if (params) { fail(t, "ctx_Type_FromSpec with parameters (bases, metaclass) is not implemented by refscale's HPyContext"); return (chpy_handle){ 0 }; }
    if (spec->builtin_shape != 0 || spec->legacy_slots) { fail(t, "ctx_Type_FromSpec: %s is not a pure HPy type of object shape", spec->name); return (chpy_handle){ 0 }; }
    struct type_record *record = calloc(1, sizeof *record);
    record->kind = RECORD_TYPE;
    record->spec = spec;
    record->traverse = find_slot(spec, CHPY_SLOT_TP_TRAVERSE);
    record->new_slot = find_slot(spec, CHPY_SLOT_TP_NEW);
    record->init_slot = find_slot(spec, CHPY_SLOT_TP_INIT);
    chpy_handle h = make(t, builtins.type_type, (uint64_t)(uintptr_t)record, true);
    if (h._i == 0) free(record);
    return h;
}

static bool is_builtin(uint64_t object) {
    const uint64_t *each = (const uint64_t *)&builtins;
    for (size_t i = 0; i < sizeof builtins / sizeof *each; i++) if (each[i] == object) return true;
    return false;
}

/// The record of a type made by HPyType_FromSpec; NULL for any other object (only such a type is
/// a type object with a record: a builtin's payload and an int's value are no record).
static struct type_record *type_record(uint64_t type) {
    if (!type || type_of(type) != builtins.type_type || is_builtin(type)) return NULL;
    struct record *record = record_of(type);
    return record && record->kind == RECORD_TYPE ? (struct type_record *)record : NULL;
}

static chpy_handle ctx_New(struct chpy_context *ctx, chpy_handle type, void **data) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t type_object = object_of(t, type);
    struct type_record *spec = type_record(type_object);
    if (!spec) { fail(t, "TypeError: HPy_New of an object that is no type made by HPyType_FromSpec"); return (chpy_handle){ 0 }; }
    int size = spec->spec->basicsize > 0 ? spec->spec->basicsize : 0;
    struct instance_record *record = calloc(1, sizeof *record + (size_t)size);
    record->kind = RECORD_INSTANCE;
    record->type = type_object;
    record->traverse = spec->traverse;
    chpy_handle h = make(t, type_object, (uint64_t)(uintptr_t)record, true);
    if (h._i == 0) { free(record); return h; }
    if (data) *data = record->data;
    return h;
}

/// What HPy_AsStruct gives for an object that is no instance (HPy leaves it undefined): zeroed
/// memory the module may read and write, so the call fails with its message instead of crashing.
static _Thread_local _Alignas(16) unsigned char scratch_struct[1 << 16];

static void *ctx_AsStruct(struct chpy_context *ctx, chpy_handle h) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, h);
    if (!object || kind_of(object) != KIND_INSTANCE) {
        if (object) fail(t, "TypeError: HPy_AsStruct of a %s, not an instance of a module's type", kind_name(kind_of(object)));
        memset(scratch_struct, 0, sizeof scratch_struct);
        return scratch_struct;
    }
    return ((struct instance_record *)record_of(object))->data;
}

typedef chpy_handle (*new_slot_function)(struct chpy_context *, chpy_handle, const chpy_handle *, intptr_t, chpy_handle);
typedef int (*init_slot_function)(struct chpy_context *, chpy_handle, const chpy_handle *, intptr_t, chpy_handle);

/// Whether `kw` (a dict's handle, or 0) gives any keyword: an empty dict gives none, as CPython's
/// excess_args counts keywords (Objects/typeobject.c).
static bool gives_keywords(struct chpy_thread *t, chpy_handle kw) {
    if (kw._i == 0) return false;
    uint64_t dict = object_of(t, kw);
    return dict && ((struct sequence_record *)record_of(dict))->count > 0;
}

/// What calling a type made by HPyType_FromSpec does, in the order CPython's type_call does it
/// (Objects/typeobject.c): the type's tp_new, or without one object's (HPy_New, the instance
/// zeroed; arguments or keywords then only when the type has a tp_init, as object_new requires),
/// then its tp_init when the result is an instance of the type. tp_new and tp_init get the
/// keywords as they were given (`kw`: a dict's handle, or 0 for none), as HPy's NEWFUNC and
/// INITPROC take them (hpy/devel/include/hpy/autogen_hpyfunc_declare.h).
static chpy_handle instantiate(struct chpy_thread *t, chpy_handle type, const chpy_handle *args, intptr_t nargs, chpy_handle kw) {
    uint64_t type_object = object_of(t, type);
    struct type_record *record = type_record(type_object);
    if (!record) {
        if (type_object) fail(t, "TypeError: a %s called; refscale's HPyContext calls only types made by HPyType_FromSpec", kind_name(kind_of(type_object)));
        return (chpy_handle){ 0 };
    }
    chpy_handle instance;
    if (record->new_slot) {
        instance = ((new_slot_function)record->new_slot)(&t->ctx, type, args, nargs, kw);
    } else if ((nargs > 0 || gives_keywords(t, kw)) && !record->init_slot) {
        fail(t, "TypeError: %s() takes no arguments", record->spec->name);
        return (chpy_handle){ 0 };
    } else {
        instance = ctx_New(&t->ctx, type, NULL);
    }
    if (instance._i == 0 || t->error_set) {
        if (instance._i) ctx_Close(&t->ctx, instance);
        return (chpy_handle){ 0 };
    }
    uint64_t made = object_of(t, instance);
    if (record->init_slot && made && type_of(made) == type_object) {
        int status = ((init_slot_function)record->init_slot)(&t->ctx, instance, args, nargs, kw);
        if (status < 0 || t->error_set) {
            if (!t->error_set) fail(t, "%s's tp_init returned %d with no error set", record->spec->name, status);
            ctx_Close(&t->ctx, instance);
            return (chpy_handle){ 0 };
        }
    }
    return instance;
}

/// HPy_CallTupleDict of a module's own type with a tuple of arguments (or NULL) and a dict of
/// keywords (or NULL): the type is called (instantiate). Any other callable needs an interpreter.
static chpy_handle ctx_CallTupleDict(struct chpy_context *ctx, chpy_handle callable, chpy_handle args, chpy_handle kw) {
    struct chpy_thread *t = THREAD(ctx);
    uint64_t object = object_of(t, callable);
    if (!object) return (chpy_handle){ 0 };
    if (!type_record(object)) {
        fail(t, "the context function ctx_CallTupleDict is not implemented by refscale's HPyContext for a callable of kind %s (only a module's own types are called)", kind_name(kind_of(object)));
        return (chpy_handle){ 0 };
    }
    if (kw._i) {
        uint64_t dict = object_of(t, kw);
        if (!dict) return (chpy_handle){ 0 };
        if (kind_of(dict) != KIND_DICT) { fail(t, "TypeError: HPy_CallTupleDict's keywords must be a dict, not %s", kind_name(kind_of(dict))); return (chpy_handle){ 0 }; }
    }
    if (args._i == 0) return instantiate(t, callable, NULL, 0, kw);
    uint64_t tuple = object_of(t, args);
    if (!tuple || kind_of(tuple) != KIND_TUPLE) { fail(t, "TypeError: HPy_CallTupleDict's arguments must be a tuple"); return (chpy_handle){ 0 }; }
    struct sequence_record *items = record_of(tuple);
    chpy_handle *handles = calloc((size_t)items->count + 1, sizeof(chpy_handle));
    for (int64_t i = 0; i < items->count; i++) handles[i] = open_object(t, items->items[i]);
    chpy_handle instance = instantiate(t, callable, handles, items->count, kw);
    for (int64_t i = 0; i < items->count; i++) ctx_Close(ctx, handles[i]);
    free(handles);
    return instance;
}

// A field and a global are one word holding an object's address and a reference to it.
static void store_reference(struct chpy_thread *t, chpy_handle *slot, chpy_handle h) {
    uint64_t object = h._i ? object_of(t, h) : 0;
    if (object) retain(t, object);
    uint64_t previous = (uint64_t)slot->_i;
    slot->_i = (intptr_t)object;
    if (previous) release(t, previous);
}
static chpy_handle load_reference(struct chpy_thread *t, chpy_handle slot) {
    if (slot._i == 0) return (chpy_handle){ 0 };
    return open_object(t, (uint64_t)slot._i);
}
static void ctx_Field_Store(struct chpy_context *ctx, chpy_handle owner, chpy_handle *field, chpy_handle h) {
    (void)owner;
    THREAD(ctx)->counts.field_store++;
    store_reference(THREAD(ctx), field, h);
}
static chpy_handle ctx_Field_Load(struct chpy_context *ctx, chpy_handle owner, chpy_handle field) {
    (void)owner;
    THREAD(ctx)->counts.field_load++;
    return load_reference(THREAD(ctx), field);
}
static void ctx_Global_Store(struct chpy_context *ctx, chpy_handle *global, chpy_handle h) {
    THREAD(ctx)->counts.global_store++;
    store_reference(THREAD(ctx), global, h);
}
static chpy_handle ctx_Global_Load(struct chpy_context *ctx, chpy_handle global) {
    THREAD(ctx)->counts.global_load++;
    return load_reference(THREAD(ctx), global);
}

static struct module_record *module_record(struct chpy_thread *t, chpy_handle h) {
    uint64_t object = object_of(t, h);
    if (object && kind_of(object) == KIND_MODULE) return record_of(object);
    if (object) fail(t, "attributes of a %s are not implemented by refscale's HPyContext (only a module's)", kind_name(kind_of(object)));
    return NULL;
}
static int ctx_SetAttr_s(struct chpy_context *ctx, chpy_handle h, const char *name, chpy_handle value) {
    struct chpy_thread *t = THREAD(ctx);
    struct module_record *record = module_record(t, h);
    uint64_t object = object_of(t, value);
    if (!record || !object) return -1;
    for (int64_t i = 0; i < record->count; i++) {
        if (strcmp(record->attributes[i].name, name) == 0) {
            retain(t, object);
            uint64_t previous = record->attributes[i].object;
            record->attributes[i].object = object;
            release(t, previous);
            return 0;
        }
    }
    if (record->count == 64) { fail(t, "a module with more than 64 attributes"); return -1; }
    retain(t, object);
    record->attributes[record->count++] = (struct attribute){ strdup(name), object };
    return 0;
}
static uint64_t module_attribute(struct module_record *record, const char *name) {
    for (int64_t i = 0; i < record->count; i++) if (strcmp(record->attributes[i].name, name) == 0) return record->attributes[i].object;
    return 0;
}
static chpy_handle ctx_GetAttr_s(struct chpy_context *ctx, chpy_handle h, const char *name) {
    struct chpy_thread *t = THREAD(ctx);
    struct module_record *record = module_record(t, h);
    if (!record) return (chpy_handle){ 0 };
    uint64_t object = module_attribute(record, name);
    if (!object) { fail(t, "AttributeError: module has no attribute '%s'", name); return (chpy_handle){ 0 }; }
    return open_object(t, object);
}

// MARK: - Errors

static void ctx_Err_SetString(struct chpy_context *ctx, chpy_handle type, const char *message) {
    (void)type;
    fail(THREAD(ctx), "the function raised an exception: %s", message);
}
static void ctx_Err_SetObject(struct chpy_context *ctx, chpy_handle type, chpy_handle value) {
    (void)type; (void)value;
    fail(THREAD(ctx), "the function raised an exception (HPyErr_SetObject)");
}
static int ctx_Err_Occurred(struct chpy_context *ctx) { return THREAD(ctx)->error_set; }
static void ctx_Err_Clear(struct chpy_context *ctx) { THREAD(ctx)->error_set = false; }
static void ctx_Err_NoMemory(struct chpy_context *ctx) { fail(THREAD(ctx), "MemoryError"); }
static void ctx_FatalError(struct chpy_context *ctx, const char *message) {
    fprintf(stderr, "refscale: the HPy module called HPy_FatalError in %s: %s\n", THREAD(ctx)->function, message);
    abort();
}

// MARK: - The functions outside the implemented set

/// Where a call of the module's code returns to when it calls a function outside the
/// implemented set: the module cannot go on with a result that means nothing (a NULL it would
/// dereference), so its call ends there, failed. Only C frames lie between.
static _Thread_local jmp_buf *abandon_call;

static void missing(struct chpy_context *ctx, const char *name) {
    fail(THREAD(ctx), "the context function %s is not implemented by refscale's HPyContext", name);
    if (abandon_call) longjmp(*abandon_call, 1);
}
#define CHPY_MISSING(name) static uint64_t missing_##name(struct chpy_context *ctx) { missing(ctx, #name); return 0; }
CHPY_FOR_EACH_FUNCTION(CHPY_MISSING)

// MARK: - The thread's context

static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;
static void make_thread_key(void) { pthread_key_create(&thread_key, free); }

#define SET(name) t->ctx.name = (chpy_function)name
static void fill(struct chpy_thread *t) {
    t->ctx.name = "refscale";
    t->ctx.abi_version = CHPY_ABI_MAJOR;
#define CHPY_SET_MISSING(name) t->ctx.name = (chpy_function)missing_##name;
    CHPY_FOR_EACH_FUNCTION(CHPY_SET_MISSING)
    SET(ctx_Dup); SET(ctx_Close);
    SET(ctx_Long_FromInt32_t); SET(ctx_Long_FromUInt32_t); SET(ctx_Long_FromInt64_t); SET(ctx_Long_FromUInt64_t);
    SET(ctx_Long_FromSize_t); SET(ctx_Long_FromSsize_t);
    SET(ctx_Long_AsInt32_t); SET(ctx_Long_AsUInt32_t); SET(ctx_Long_AsUInt32_tMask); SET(ctx_Long_AsInt64_t);
    SET(ctx_Long_AsUInt64_t); SET(ctx_Long_AsUInt64_tMask); SET(ctx_Long_AsSize_t); SET(ctx_Long_AsSsize_t); SET(ctx_Long_AsDouble);
    SET(ctx_Float_FromDouble); SET(ctx_Float_AsDouble); SET(ctx_Bool_FromBool); SET(ctx_Length); SET(ctx_Number_Check);
    SET(ctx_Add); SET(ctx_Subtract); SET(ctx_Multiply); SET(ctx_TrueDivide); SET(ctx_FloorDivide); SET(ctx_Remainder); SET(ctx_Negative);
    t->ctx.ctx_InPlaceAdd = (chpy_function)ctx_Add;
    t->ctx.ctx_InPlaceSubtract = (chpy_function)ctx_Subtract;
    t->ctx.ctx_InPlaceMultiply = (chpy_function)ctx_Multiply;
    SET(ctx_IsTrue); SET(ctx_Is); SET(ctx_Type); SET(ctx_TypeCheck); SET(ctx_RichCompare); SET(ctx_RichCompareBool);
    SET(ctx_Dict_New); SET(ctx_Dict_Check); SET(ctx_Contains);
    SET(ctx_Unicode_FromString); SET(ctx_Unicode_Check); SET(ctx_Unicode_AsUTF8AndSize);
    SET(ctx_Tuple_FromArray); SET(ctx_Tuple_Check); SET(ctx_List_New); SET(ctx_List_Check); SET(ctx_List_Append);
    SET(ctx_GetItem); SET(ctx_GetItem_i); SET(ctx_GetItem_s); SET(ctx_SetItem); SET(ctx_SetItem_i);
    SET(ctx_TupleBuilder_New); SET(ctx_TupleBuilder_Set); SET(ctx_TupleBuilder_Build); SET(ctx_TupleBuilder_Cancel);
    SET(ctx_Tracker_New); SET(ctx_Tracker_Add); SET(ctx_Tracker_ForgetAll); SET(ctx_Tracker_Close);
    SET(ctx_Type_FromSpec); SET(ctx_New); SET(ctx_CallTupleDict);
    t->ctx.ctx_AsStruct_Object = (chpy_function)ctx_AsStruct;
    t->ctx.ctx_AsStruct_Legacy = (chpy_function)ctx_AsStruct;
    SET(ctx_Field_Store); SET(ctx_Field_Load); SET(ctx_Global_Store); SET(ctx_Global_Load);
    SET(ctx_SetAttr_s); SET(ctx_GetAttr_s);
    SET(ctx_Err_SetString); SET(ctx_Err_SetObject); SET(ctx_Err_Occurred); SET(ctx_Err_Clear); SET(ctx_Err_NoMemory); SET(ctx_FatalError);
}

/// The calling thread's context, found without a call into the thread library after its first use.
static _Thread_local struct chpy_thread *current_thread;

struct chpy_thread *chpy_thread_current(void) {
    if (current_thread) return current_thread;
    pthread_once(&thread_key_once, make_thread_key);
    struct chpy_thread *t = pthread_getspecific(thread_key);
    if (!t) {
        t = calloc(1, sizeof *t);
        fill(t);
        pthread_setspecific(thread_key, t);
    }
    current_thread = t;
    return t;
}

void chpy_thread_bind(struct chpy_thread *t, struct chpy_scheme scheme, chpy_allocate allocate, void *allocator) {
    t->scheme = scheme;
    t->allocate = allocate;
    t->allocator = allocator;
}

void chpy_thread_bind_calls(struct chpy_thread *t, struct chpy_scheme scheme, struct chpy_module *module, size_t argument_count,
                            chpy_allocate allocate, void *allocator) {
    t->calls_scheme = scheme;
    t->calls_module = module;
    t->calls_argument_count = argument_count;
    t->calls_allocate = allocate;
    t->calls_allocator = allocator;
}

void *chpy_thread_unbind_calls(struct chpy_thread *t) {
    void *allocator = t->calls_allocator;
    t->calls_module = NULL;
    t->calls_allocate = NULL;
    t->calls_allocator = NULL;
    return allocator;
}

uint64_t chpy_call_bound(struct chpy_thread *t, void *state, const uint64_t *registers) {
    t->scheme = t->calls_scheme;
    t->scheme.state = state;
    t->allocate = t->calls_allocate;
    t->allocator = t->calls_allocator;
    return chpy_call(t, t->calls_module, registers[0], registers + 1, t->calls_argument_count);
}

struct chpy_counts chpy_thread_counts(const struct chpy_thread *t) { return t->counts; }

void chpy_calls_begin(struct chpy_thread *t) { t->calls_mark = t->counts; }

void chpy_calls_end(struct chpy_thread *t) {
    struct chpy_counts now = t->counts, mark = t->calls_mark;
    pthread_mutex_lock(&run_lock);
#define ADD(field) run_call_counts.field += now.field - mark.field;
    ADD(dup) ADD(close) ADD(open) ADD(new_object) ADD(retain) ADD(release) ADD(calls) ADD(failed_calls)
    ADD(field_store) ADD(field_load) ADD(global_store) ADD(global_load)
#undef ADD
    pthread_mutex_unlock(&run_lock);
    t->calls_mark = now;
}

struct chpy_counts chpy_run_call_counts(void) {
    pthread_mutex_lock(&run_lock);
    struct chpy_counts counts = run_call_counts;
    pthread_mutex_unlock(&run_lock);
    return counts;
}

const char *chpy_current_function(void) {
    pthread_once(&thread_key_once, make_thread_key);
    struct chpy_thread *t = pthread_getspecific(thread_key);
    return t ? t->function : NULL;
}

// MARK: - Runs

void chpy_run_begin(const struct chpy_builtins *b) {
    pthread_mutex_lock(&run_lock);
    builtins = *b;
    run_failed = false;
    run_failure[0] = 0;
    run_call_counts = (struct chpy_counts){ 0 };
    run_exec_slot_leaks = 0;
    pthread_mutex_unlock(&run_lock);
}

const char *chpy_run_failure(void) { return run_failed ? run_failure : NULL; }

uint64_t chpy_run_exec_slot_leaks(void) { return run_exec_slot_leaks; }

static void note_failure(struct chpy_thread *t, const char *what) {
    pthread_mutex_lock(&run_lock);
    if (!run_failed) {
        run_failed = true;
        snprintf(run_failure, sizeof run_failure, "%s: %s", what, t->error_set ? t->error : "returned NULL with no error set");
    }
    pthread_mutex_unlock(&run_lock);
    t->counts.failed_calls++;
}

#define CONSTANTS(X) X(h_None, none) X(h_True, true_object) X(h_False, false_object) X(h_BaseObjectType, object_type) \
    X(h_TypeType, type_type) X(h_BoolType, bool_type) X(h_LongType, int_type) X(h_FloatType, float_type) \
    X(h_UnicodeType, str_type) X(h_TupleType, tuple_type) X(h_ListType, list_type) \
    X(h_BaseException, exception) X(h_Exception, exception) X(h_TypeError, exception) X(h_ValueError, exception) \
    X(h_IndexError, exception) X(h_KeyError, exception) X(h_OverflowError, exception) X(h_ZeroDivisionError, exception) \
    X(h_AttributeError, exception) X(h_RuntimeError, exception) X(h_SystemError, exception) X(h_MemoryError, exception)

void chpy_open_constants(struct chpy_thread *t) {
#define OPEN_CONSTANT(member, builtin) t->ctx.member = open_object(t, builtins.builtin);
    CONSTANTS(OPEN_CONSTANT)
}
void chpy_close_constants(struct chpy_thread *t) {
#define CLOSE_CONSTANT(member, builtin) ctx_Close(&t->ctx, t->ctx.member); t->ctx.member._i = 0;
    CONSTANTS(CLOSE_CONSTANT)
}

// MARK: - Pending references of dead holders

static void add_pending(uint64_t object) {
    if (!object) return;
    if (pending_count == pending_capacity) {
        pending_capacity = pending_capacity ? pending_capacity * 2 : 256;
        pending = realloc(pending, pending_capacity * sizeof(uint64_t));
    }
    pending[pending_count] = object;
    __atomic_store_n(&pending_count, pending_count + 1, __ATOMIC_RELAXED);
}

static int visit_field(chpy_handle *field, void *unused) {
    (void)unused;
    add_pending((uint64_t)field->_i);
    field->_i = 0;
    return 0;
}

void chpy_object_freed(void *address) {
    uint64_t object = (uint64_t)(uintptr_t)address;
    struct record *record = record_of(object);
    pthread_mutex_lock(&run_lock);
    switch (record->kind) {
    case RECORD_SEQUENCE: {
        struct sequence_record *s = (struct sequence_record *)record;
        for (int64_t i = 0; i < s->count; i++) add_pending(s->items[i]);
        free(s->items);
        break;
    }
    case RECORD_INSTANCE: {
        struct instance_record *i = (struct instance_record *)record;
        if (i->traverse) ((int (*)(void *, int (*)(chpy_handle *, void *), void *))i->traverse)(i->data, visit_field, NULL);
        break;
    }
    case RECORD_MODULE: {
        struct module_record *m = (struct module_record *)record;
        for (int64_t i = 0; i < m->count; i++) { add_pending(m->attributes[i].object); free(m->attributes[i].name); }
        break;
    }
    default: break;
    }
    pthread_mutex_unlock(&run_lock);
    free(record);
}

uint64_t chpy_take_pending_release(void) {
    pthread_mutex_lock(&run_lock);
    uint64_t object = 0;
    if (pending_count) {
        object = pending[pending_count - 1];
        __atomic_store_n(&pending_count, pending_count - 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&run_lock);
    return object;
}

static void drain(struct chpy_thread *t) {
    if (__atomic_load_n(&pending_count, __ATOMIC_RELAXED) == 0) return;
    for (uint64_t object; (object = chpy_take_pending_release()) != 0;) release(t, object);
}
void chpy_drain(struct chpy_thread *t) { drain(t); }

// MARK: - Modules

static bool has_exec_slot(const struct chpy_module_def *def) {
    for (struct chpy_def **d = def->defines; d && *d; d++)
        if ((*d)->kind == CHPY_DEF_SLOT && (*d)->slot.slot == CHPY_SLOT_MOD_EXEC) return true;
    return false;
}

static const struct chpy_def *find_method(struct chpy_def **defines, const char *name) {
    for (struct chpy_def **d = defines; d && *d; d++)
        if ((*d)->kind == CHPY_DEF_METH && strcmp((*d)->meth.name, name) == 0) return *d;
    return NULL;
}

struct chpy_module *chpy_module_load(const char *path, const char *function, char *error, size_t size) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char name[128];
    size_t length = strcspn(base, ".");
    if (length == 0 || length >= sizeof name) { snprintf(error, size, "%s: not an HPy module file (NAME.hpy0.so)", path); return NULL; }
    memcpy(name, base, length);
    name[length] = 0;
    // A name with no slash would be looked up on the library path, not in the working folder.
    char local[4096];
    if (!strchr(path, '/')) snprintf(local, sizeof local, "./%s", path);
    void *library = dlopen(strchr(path, '/') ? path : local, RTLD_NOW | RTLD_LOCAL);
    if (!library) { snprintf(error, size, "%s: cannot be loaded: %s", path, dlerror()); return NULL; }
    char symbol[256];
    snprintf(symbol, sizeof symbol, "HPyInit_%s", name);
    const struct chpy_module_def *(*init)(void) = (const struct chpy_module_def *(*)(void))dlsym(library, symbol);
    snprintf(symbol, sizeof symbol, "get_required_hpy_major_version_%s", name);
    uint32_t (*major)(void) = (uint32_t (*)(void))dlsym(library, symbol);
    snprintf(symbol, sizeof symbol, "HPyInitGlobalContext_%s", name);
    void (*global_context)(void *) = (void (*)(void *))dlsym(library, symbol);
    if (!init || !major || !global_context) {
        snprintf(error, size, "%s: not a universal-ABI HPy module (no HPyInit_%s, get_required_hpy_major_version_%s and HPyInitGlobalContext_%s)", path, name, name, name);
        dlclose(library);
        return NULL;
    }
    if (major() != CHPY_ABI_MAJOR) {
        snprintf(error, size, "%s: built for HPy ABI major version %u; refscale's context is HPy 0.9's, version %d", path, major(), CHPY_ABI_MAJOR);
        dlclose(library);
        return NULL;
    }
    const struct chpy_module_def *def = init();
    struct chpy_module *module = calloc(1, sizeof *module);
    module->library = library;
    module->def = def;
    snprintf(module->name, sizeof module->name, "%s", name);
    global_context(&chpy_thread_current()->ctx);
    const char *dot = strchr(function, '.');
    if (dot) {
        // A type's spec is reachable only through the exec slot that makes the type: the
        // method is looked up when the module object is made (chpy_module_create).
        snprintf(module->type_name, sizeof module->type_name, "%.*s", (int)(dot - function), function);
        snprintf(module->method_name, sizeof module->method_name, "%s", dot + 1);
        snprintf(module->label, sizeof module->label, "%s.%s", name, function);
        snprintf(module->exec_label, sizeof module->exec_label, "%s's exec slot", name);
        return module;
    }
    snprintf(module->method_name, sizeof module->method_name, "%s", function);
    snprintf(module->label, sizeof module->label, "%s.%s", name, function);
    snprintf(module->exec_label, sizeof module->exec_label, "%s's exec slot", name);
    module->function = find_method(def->defines, function);
    if (!module->function && !has_exec_slot(def)) {
        char names[1024] = "";
        for (struct chpy_def **d = def->defines; d && *d; d++)
            if ((*d)->kind == CHPY_DEF_METH) snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "", (*d)->meth.name);
        snprintf(error, size, "%s: module %s has no function '%s'; its functions: %s (a type's method: Type.method)", path, name, function, names[0] ? names : "none");
        free(module);
        return NULL;
    }
    if (!module->function) {
        // Perhaps a type its exec slots make: called as Python calls a type (chpy_module_create
        // finds it, or refuses the name with the module's functions).
        module->calls_type = true;
        snprintf(module->type_name, sizeof module->type_name, "%s", function);
    }
    return module;
}

int chpy_module_take_keywords(struct chpy_module *module) {
    if (!module->calls_type) return 0;
    module->keywords_last = true;
    return 1;
}

int chpy_module_arity_known(const struct chpy_module *module) { return module->function != NULL || module->calls_type; }

int chpy_module_arity(const struct chpy_module *module) {
    if (module->calls_type) return -1;
    switch (module->function->meth.signature) {
    case CHPY_SIG_NOARGS: return 0;
    case CHPY_SIG_O: return 1;
    default: return -1;
    }
}

/// What a leaked handle's object is, for the report: a type by its spec's name, an instance by
/// its type's, anything else by its kind.
static void describe_object(uint64_t object, char *text, size_t size) {
    struct type_record *type = type_record(object);
    if (type) { snprintf(text, size, "the type %s", type->spec->name); return; }
    if (kind_of(object) == KIND_INSTANCE) {
        struct type_record *of = type_record(((struct instance_record *)record_of(object))->type);
        snprintf(text, size, "an instance of %s", of ? of->spec->name : "a freed type");
        return;
    }
    snprintf(text, size, "a %s", kind_name(kind_of(object)));
}

/// Keeps the handles the exec slots left open (the tracker's remaining notes) for the run to
/// close on the module's behalf (chpy_module_exec_slot_leak), counts them for the run's row, and
/// writes the line that names their objects while the handles still reach them.
static void keep_exec_slot_leaks(struct chpy_thread *t, struct chpy_module *module, struct chpy_handle_tracker *tracker) {
    free(module->exec_leaks);
    module->exec_leaks = NULL;
    module->exec_leak_count = tracker->count;
    module->exec_leak_report[0] = 0;
    if (tracker->count == 0) return;
    module->exec_leaks = malloc(tracker->count * sizeof(uint64_t));
    memcpy(module->exec_leaks, tracker->open, tracker->count * sizeof(uint64_t));
    pthread_mutex_lock(&run_lock);
    run_exec_slot_leaks += tracker->count;
    pthread_mutex_unlock(&run_lock);
    char objects[512] = "";
    for (size_t i = 0; i < tracker->count; i++) {
        char one[200];
        describe_object(t->scheme.object(t->scheme.state, tracker->open[i]), one, sizeof one);
        snprintf(objects + strlen(objects), sizeof objects - strlen(objects), "%s%s", i ? ", " : "", one);
    }
    snprintf(module->exec_leak_report, sizeof module->exec_leak_report,
             "hpy: %s left %zu handle(s) open at its exit (%s): the module's contract violation, not the run's; "
             "refscale closed them on the module's behalf", module->exec_label, tracker->count, objects);
}

const char *chpy_module_exec_slot_leak_report(const struct chpy_module *module) {
    return module->exec_leak_count ? module->exec_leak_report : NULL;
}

size_t chpy_module_exec_slot_leak_count(const struct chpy_module *module) { return module->exec_leak_count; }
uint64_t chpy_module_exec_slot_leak(const struct chpy_module *module, size_t index) {
    return index < module->exec_leak_count ? module->exec_leaks[index] : 0;
}

uint64_t chpy_module_create(struct chpy_thread *t, struct chpy_module *module) {
    t->error_set = false;
    t->function = module->exec_label;
    if (module->def->size > 0 || module->def->legacy_methods) {
        fail(t, "module %s asks for module state or legacy methods, which refscale's HPyContext does not implement", module->name);
        note_failure(t, "making the module");
        return 0;
    }
    struct module_record *record = calloc(1, sizeof *record);
    record->kind = RECORD_MODULE;
    chpy_handle m = make(t, builtins.module_type, (uint64_t)(uintptr_t)record, true);
    if (m._i == 0) { free(record); note_failure(t, "making the module"); return 0; }
    volatile bool exec_failed = false;
    struct chpy_handle_tracker tracker;
    struct chpy_scheme scheme = t->scheme;
    t->scheme = chpy_tracker_start(&tracker, scheme);
    for (struct chpy_def **d = module->def->defines; d && *d; d++) {
        if ((*d)->kind != CHPY_DEF_SLOT || (*d)->slot.slot != CHPY_SLOT_MOD_EXEC) continue;
        jmp_buf landing;
        volatile int status = -1;
        abandon_call = &landing;
        if (setjmp(landing) == 0) status = ((int (*)(struct chpy_context *, chpy_handle))(*d)->slot.impl)(&t->ctx, m);
        abandon_call = NULL;
        if (status != 0 || t->error_set) { exec_failed = true; break; }
    }
    t->scheme = scheme;
    keep_exec_slot_leaks(t, module, &tracker);
    chpy_tracker_end(&tracker);
    if (exec_failed) {
        note_failure(t, "the module's exec slot");
        ctx_Close(&t->ctx, m);
        drain(t);
        return 0;
    }
    if (module->calls_type) {
        if (!type_record(module_attribute(record, module->type_name))) {
            char names[1024] = "";
            for (struct chpy_def **d = module->def->defines; d && *d; d++)
                if ((*d)->kind == CHPY_DEF_METH) snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", names[0] ? ", " : "", (*d)->meth.name);
            fail(t, "module %s has no function or type '%s'; its functions: %s (a type's method: Type.method)", module->name, module->type_name, names[0] ? names : "none");
            note_failure(t, "finding the function");
            ctx_Close(&t->ctx, m);
            drain(t);
            return 0;
        }
    } else if (module->type_name[0]) {
        uint64_t type = module_attribute(record, module->type_name);
        struct type_record *spec = type_record(type);
        module->function = spec ? find_method(spec->spec->defines, module->method_name) : NULL;
        if (!module->function) {
            fail(t, "module %s has no type %s with a method '%s'", module->name, module->type_name, module->method_name);
            note_failure(t, "finding the function");
            ctx_Close(&t->ctx, m);
            drain(t);
            return 0;
        }
    }
    drain(t);
    return (uint64_t)m._i;
}

uint64_t chpy_module_self(struct chpy_thread *t, struct chpy_module *module, uint64_t module_handle) {
    chpy_handle m = { (intptr_t)module_handle };
    if (!module->type_name[0]) return (uint64_t)ctx_Dup(&t->ctx, m)._i;
    t->error_set = false;
    chpy_handle type = ctx_GetAttr_s(&t->ctx, m, module->type_name);
    // A type called is its own call's self.
    if (module->calls_type) return (uint64_t)type._i;
    chpy_handle instance = type._i ? ctx_New(&t->ctx, type, NULL) : (chpy_handle){ 0 };
    if (type._i) ctx_Close(&t->ctx, type);
    if (instance._i == 0) note_failure(t, "making the method's instance");
    return (uint64_t)instance._i;
}

void chpy_module_clear_globals(struct chpy_thread *t, struct chpy_module *module) {
    for (chpy_handle **g = module->def->globals; g && *g; g++) {
        if ((*g)->_i) release(t, (uint64_t)(*g)->_i);
        (*g)->_i = 0;
    }
    drain(t);
}

/// A count after `prefix` (`list:N`, `tuple:N`, `dict:N`): 0..100000, or none at all where
/// `empty_allowed` (`tuple:`, `dict:`: zero items). -1 when the text is no such count.
static long long count_after(const char *text, size_t prefix, bool empty_allowed) {
    if (text[prefix] == 0) return empty_allowed ? 0 : -1;
    char *end;
    long long n = strtoll(text + prefix, &end, 10);
    return *end == 0 && end != text + prefix && n >= 0 && n <= 100000 ? n : -1;
}

static int value_valid(const char *text);

/// `kw:NAME=VALUE;NAME=VALUE...` (or `kw:`, no keyword): each NAME non-empty, each VALUE an
/// argument of any other kind.
static int keywords_valid(const char *text) {
    for (const char *item = text; *item;) {
        size_t length = strcspn(item, ";");
        const char *equals = memchr(item, '=', length);
        if (!equals || equals == item) return 0;
        char value[512];
        size_t value_length = length - (size_t)(equals + 1 - item);
        if (value_length >= sizeof value) return 0;
        memcpy(value, equals + 1, value_length);
        value[value_length] = 0;
        if (strncmp(value, "kw:", 3) == 0 || !value_valid(value)) return 0;
        item += length;
        if (*item == ';') { item++; if (!*item) return 0; }
    }
    return 1;
}

static int value_valid(const char *text) {
    char *end;
    if (strncmp(text, "str:", 4) == 0) return 1;
    if (strncmp(text, "new:", 4) == 0 || strncmp(text, "type:", 5) == 0) return text[strcspn(text, ":") + 1] != 0;
    if (strncmp(text, "list:", 5) == 0) return count_after(text, 5, false) >= 0;
    if (strncmp(text, "tuple:", 6) == 0) return count_after(text, 6, true) >= 0;
    if (strncmp(text, "dict:", 5) == 0) return count_after(text, 5, true) >= 0;
    if (strncmp(text, "kw:", 3) == 0) return keywords_valid(text + 3);
    if (!strcmp(text, "none") || !strcmp(text, "true") || !strcmp(text, "false")) return 1;
    strtoll(text, &end, 10);
    if (*end == 0 && end != text) return 1;
    double value = strtod(text, &end);
    return *end == 0 && end != text && isfinite(value);
}

int chpy_argument_valid(const char *text) { return value_valid(text); }

/// Appends the ints 0..count-1 to the list `list`; false (the error set) when one cannot be made.
static bool append_ints(struct chpy_thread *t, chpy_handle list, long long count) {
    for (long long i = 0; i < count; i++) {
        chpy_handle item = make_int(t, i);
        if (item._i == 0) return false;
        int status = ctx_List_Append(&t->ctx, list, item);
        ctx_Close(&t->ctx, item);
        if (status != 0) return false;
    }
    return true;
}

/// Sets `key` (a new str) to `value` in the dict `dict`; the value's handle stays the caller's.
static bool set_str_key(struct chpy_thread *t, chpy_handle dict, const char *key, size_t length, chpy_handle value) {
    chpy_handle name = make_str(t, key, length);
    if (name._i == 0) return false;
    int status = ctx_SetItem(&t->ctx, dict, name, value);
    ctx_Close(&t->ctx, name);
    return status == 0;
}

static chpy_handle make_value(struct chpy_thread *t, uint64_t module_handle, const char *text);

/// The keywords of `kw:NAME=VALUE;...` as a dict of str keys.
static chpy_handle make_keywords(struct chpy_thread *t, uint64_t module_handle, const char *text) {
    chpy_handle dict = ctx_Dict_New(&t->ctx);
    for (const char *item = text; dict._i && *item;) {
        size_t length = strcspn(item, ";");
        const char *equals = memchr(item, '=', length);
        char value_text[512];
        size_t value_length = length - (size_t)(equals + 1 - item);
        memcpy(value_text, equals + 1, value_length);
        value_text[value_length] = 0;
        chpy_handle value = make_value(t, module_handle, value_text);
        bool set = value._i && set_str_key(t, dict, item, (size_t)(equals - item), value);
        ctx_Close(&t->ctx, value);
        if (!set) { ctx_Close(&t->ctx, dict); return (chpy_handle){ 0 }; }
        item += length + (item[length] == ';');
    }
    return dict;
}

/// An argument from its text (chpy_make_argument), the error set when it cannot be made.
static chpy_handle make_value(struct chpy_thread *t, uint64_t module_handle, const char *text) {
    char *end;
    chpy_handle h = { 0 };
    chpy_handle module = { (intptr_t)module_handle };
    if (strncmp(text, "str:", 4) == 0) {
        h = make_str(t, text + 4, strlen(text + 4));
    } else if (strncmp(text, "new:", 4) == 0) {
        chpy_handle type = ctx_GetAttr_s(&t->ctx, module, text + 4);
        if (type._i) {
            h = ctx_New(&t->ctx, type, NULL);
            ctx_Close(&t->ctx, type);
        }
    } else if (strncmp(text, "type:", 5) == 0) {
        h = ctx_GetAttr_s(&t->ctx, module, text + 5);
        if (h._i && !type_record(object_of(t, h))) {
            fail(t, "TypeError: type:%s names a %s of the module, not a type its exec slots made", text + 5, kind_name(kind_of(object_of(t, h))));
            ctx_Close(&t->ctx, h);
            h._i = 0;
        }
    } else if (strncmp(text, "list:", 5) == 0) {
        h = ctx_List_New(&t->ctx, 0);
        if (h._i && !append_ints(t, h, count_after(text, 5, false))) { ctx_Close(&t->ctx, h); h._i = 0; }
    } else if (strncmp(text, "tuple:", 6) == 0) {
        long long n = count_after(text, 6, true);
        chpy_handle *items = calloc((size_t)n + 1, sizeof(chpy_handle));
        bool made = true;
        for (long long i = 0; i < n && made; i++) made = (items[i] = make_int(t, i))._i != 0;
        if (made) h = ctx_Tuple_FromArray(&t->ctx, items, (intptr_t)n);
        for (long long i = 0; i < n; i++) ctx_Close(&t->ctx, items[i]);
        free(items);
    } else if (strncmp(text, "dict:", 5) == 0) {
        long long n = count_after(text, 5, true);
        h = ctx_Dict_New(&t->ctx);
        for (long long i = 0; h._i && i < n; i++) {
            char key[32];
            int length = snprintf(key, sizeof key, "k%lld", i);
            chpy_handle value = make_int(t, i);
            bool set = value._i && set_str_key(t, h, key, (size_t)length, value);
            ctx_Close(&t->ctx, value);
            if (!set) { ctx_Close(&t->ctx, h); h._i = 0; }
        }
    } else if (strncmp(text, "kw:", 3) == 0) {
        h = make_keywords(t, module_handle, text + 3);
    } else if (!strcmp(text, "none")) {
        h = open_object(t, builtins.none);
    } else if (!strcmp(text, "true") || !strcmp(text, "false")) {
        h = open_object(t, text[0] == 't' ? builtins.true_object : builtins.false_object);
    } else {
        long long value = strtoll(text, &end, 10);
        if (*end == 0 && end != text) h = make_int(t, value);
        else h = make_float(t, strtod(text, NULL));
    }
    return h;
}

uint64_t chpy_make_argument(struct chpy_thread *t, uint64_t module_handle, const char *text) {
    t->error_set = false;
    t->function = "making an argument";
    chpy_handle h = make_value(t, module_handle, text);
    if (h._i == 0) note_failure(t, "making an argument");
    drain(t);
    return (uint64_t)h._i;
}

typedef chpy_handle (*noargs_function)(struct chpy_context *, chpy_handle);
typedef chpy_handle (*o_function)(struct chpy_context *, chpy_handle, chpy_handle);
typedef chpy_handle (*varargs_function)(struct chpy_context *, chpy_handle, const chpy_handle *, size_t);
typedef chpy_handle (*keywords_function)(struct chpy_context *, chpy_handle, const chpy_handle *, size_t, chpy_handle);

static uint64_t handle_operations(struct chpy_counts c) { return c.dup + c.close + c.open + c.new_object; }

uint64_t chpy_call(struct chpy_thread *t, struct chpy_module *module, uint64_t self, const uint64_t *arguments, size_t count) {
    const struct chpy_def *def = module->function;
    uint64_t before = handle_operations(t->counts);
    t->error_set = false;
    t->function = module->label;
    chpy_handle s = { (intptr_t)self };
    const chpy_handle *args = (const chpy_handle *)arguments;
    chpy_handle kw = { 0 };
    if (module->keywords_last && count > 0) kw = args[--count];
    volatile chpy_handle result = { 0 };
    int arity = chpy_module_arity(module);
    if (arity >= 0 && (size_t)arity != count) {
        fail(t, "TypeError: %s takes %d argument(s), %zu given", def->meth.name, arity, count);
        note_failure(t, def->meth.name);
        t->error_set = false;
        return 0;
    }
    jmp_buf landing;
    abandon_call = &landing;
    if (setjmp(landing) == 0) {
        if (module->calls_type) result = instantiate(t, s, args, (intptr_t)count, kw);
        else switch (def->meth.signature) {
        case CHPY_SIG_NOARGS: result = ((noargs_function)def->meth.impl)(&t->ctx, s); break;
        case CHPY_SIG_O: result = ((o_function)def->meth.impl)(&t->ctx, s, args[0]); break;
        case CHPY_SIG_VARARGS: result = ((varargs_function)def->meth.impl)(&t->ctx, s, args, count); break;
        case CHPY_SIG_KEYWORDS: result = ((keywords_function)def->meth.impl)(&t->ctx, s, args, count, (chpy_handle){ 0 }); break;
        default: fail(t, "a method of signature %d", def->meth.signature);
        }
    }
    abandon_call = NULL;
    if (result._i == 0 || t->error_set) {
        char what[300];
        if (module->calls_type) snprintf(what, sizeof what, "%s()", module->type_name);
        else snprintf(what, sizeof what, "%s%s%s", module->type_name, module->type_name[0] ? "." : "", def->meth.name);
        note_failure(t, what);
    }
    if (result._i != 0) ctx_Close(&t->ctx, (chpy_handle){ result._i });
    t->error_set = false;
    t->counts.calls++;
    drain(t);
    // `function` stays set until the next step: the scope exit after the call reports leaks.
    return handle_operations(t->counts) - before;
}
