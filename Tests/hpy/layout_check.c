// Compiled by Tests/hpy-tests.sh against the hpy==0.9.0 sdist's headers: refscale's context
// layout (Sources/CHPyContext/include/chpy_context_layout.h) must put every member checked here
// where HPy's universal context has it, and be as large. A mismatch fails the compilation.
#define HPY_ABI_UNIVERSAL
#include "hpy.h"
#include "chpy_context_layout.h"
#include <stddef.h>

#define SAME_OFFSET(member) \
    _Static_assert(offsetof(struct _HPyContext_s, member) == offsetof(struct chpy_context, member), #member)

SAME_OFFSET(name);
SAME_OFFSET(abi_version);
SAME_OFFSET(h_None);
SAME_OFFSET(h_ListType);
SAME_OFFSET(ctx_Dup);
SAME_OFFSET(ctx_Close);
SAME_OFFSET(ctx_Long_FromInt64_t);
SAME_OFFSET(ctx_Float_FromDouble);
SAME_OFFSET(ctx_Add);
SAME_OFFSET(ctx_Type_FromSpec);
SAME_OFFSET(ctx_New);
SAME_OFFSET(ctx_Field_Store);
SAME_OFFSET(ctx_Global_Load);
SAME_OFFSET(h_ComplexType);
SAME_OFFSET(h_Builtins);
SAME_OFFSET(ctx_Capsule_New);
SAME_OFFSET(ctx_CallMethod);
_Static_assert(sizeof(struct _HPyContext_s) == sizeof(struct chpy_context), "size");

int main(void) { return 0; }
