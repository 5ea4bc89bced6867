// The definitions a universal-ABI module hands its runtime, as HPy 0.9.0's headers lay them out
// (hpy/devel/include/hpy/hpydef.h, hpytype.h, hpymodule.h, hpyfunc.h, autogen_hpyslot.h of the
// hpy==0.9.0 sdist): member order, and the constants refscale reads.
#ifndef CHPY_DEFINITIONS_H
#define CHPY_DEFINITIONS_H
#include <stdint.h>
#include "chpy_context_layout.h"

/// HPyDef_Kind.
enum { CHPY_DEF_SLOT = 1, CHPY_DEF_METH = 2, CHPY_DEF_MEMBER = 3, CHPY_DEF_GETSET = 4 };
/// HPyFunc_Signature of methods.
enum { CHPY_SIG_VARARGS = 1, CHPY_SIG_KEYWORDS = 2, CHPY_SIG_NOARGS = 3, CHPY_SIG_O = 4 };
/// HPySlot_Slot values refscale reads.
enum { CHPY_SLOT_TP_INIT = 60, CHPY_SLOT_TP_NEW = 65, CHPY_SLOT_TP_TRAVERSE = 71, CHPY_SLOT_MOD_EXEC = 2001 };
/// HPY_ABI_VERSION of every 0.9 module.
enum { CHPY_ABI_MAJOR = 0 };

/// HPyDef: a kind, then a union whose largest member (HPyGetSet) is seven words.
struct chpy_def {
    int kind;
    union {
        struct { int slot; void *impl; void *cpy_trampoline; } slot;
        struct { const char *name; void *impl; void *cpy_trampoline; int signature; const char *doc; } meth;
        void *words[7];
    };
};

/// HPyType_Spec.
struct chpy_type_spec {
    const char *name;
    int basicsize;
    int itemsize;
    unsigned long flags;
    int builtin_shape;
    void *legacy_slots;
    struct chpy_def **defines;
    const char *doc;
};

/// HPyModuleDef.
struct chpy_module_def {
    const char *doc;
    intptr_t size;
    void *legacy_methods;
    struct chpy_def **defines;
    chpy_handle **globals;
};

#endif
