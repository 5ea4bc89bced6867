// An HPy module that walks, builds and reverses lists, for `--workload hpy`: every item a handle
// opened by HPy_GetItem_i and closed, a list's items kept as the list's own references (which
// HPy_SetItem_i replaces). maximum keeps the greatest item's handle (HPy_RichCompareBool); index
// compares each item with HPy_RichCompare, whose result is a handle too; histogram counts the
// items by their last digit in a dict (HPyDict_New, HPy_Contains, HPy_GetItem, HPy_SetItem).
#include "hpy.h"

HPyDef_METH(total, "total", HPyFunc_O)
static HPy total_impl(HPyContext *ctx, HPy self, HPy list)
{
    HPy_ssize_t n = HPy_Length(ctx, list);
    if (n < 0)
        return HPy_NULL;
    long sum = 0;
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, list, i);
        if (HPy_IsNull(item))
            return HPy_NULL;
        sum += HPyLong_AsLong(ctx, item);
        HPy_Close(ctx, item);
        if (HPyErr_Occurred(ctx))
            return HPy_NULL;
    }
    return HPyLong_FromLong(ctx, sum);
}

HPyDef_METH(squares, "squares", HPyFunc_O)
static HPy squares_impl(HPyContext *ctx, HPy self, HPy count)
{
    long n = HPyLong_AsLong(ctx, count);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    HPy list = HPyList_New(ctx, 0);
    if (HPy_IsNull(list))
        return HPy_NULL;
    for (long i = 0; i < n; i++) {
        HPy item = HPyLong_FromLong(ctx, i * i);
        int status = HPyList_Append(ctx, list, item);
        HPy_Close(ctx, item);
        if (status < 0) {
            HPy_Close(ctx, list);
            return HPy_NULL;
        }
    }
    return list;
}

HPyDef_METH(pairs, "pairs", HPyFunc_O)
static HPy pairs_impl(HPyContext *ctx, HPy self, HPy list)
{
    HPy_ssize_t n = HPy_Length(ctx, list);
    if (n < 0)
        return HPy_NULL;
    HPy result = HPyList_New(ctx, 0);
    for (HPy_ssize_t i = 0; i + 1 < n; i += 2) {
        HPy items[2] = { HPy_GetItem_i(ctx, list, i), HPy_GetItem_i(ctx, list, i + 1) };
        HPy pair = HPyTuple_FromArray(ctx, items, 2);
        HPy_Close(ctx, items[0]);
        HPy_Close(ctx, items[1]);
        if (HPy_IsNull(pair) || HPyList_Append(ctx, result, pair) < 0) {
            HPy_Close(ctx, pair);
            HPy_Close(ctx, result);
            return HPy_NULL;
        }
        HPy_Close(ctx, pair);
    }
    return result;
}

HPyDef_METH(reverse, "reverse", HPyFunc_O)
static HPy reverse_impl(HPyContext *ctx, HPy self, HPy list)
{
    HPy_ssize_t n = HPy_Length(ctx, list);
    if (n < 0)
        return HPy_NULL;
    for (HPy_ssize_t i = 0, j = n - 1; i < j; i++, j--) {
        HPy a = HPy_GetItem_i(ctx, list, i);
        HPy b = HPy_GetItem_i(ctx, list, j);
        int status = HPy_SetItem_i(ctx, list, i, b) | HPy_SetItem_i(ctx, list, j, a);
        HPy_Close(ctx, a);
        HPy_Close(ctx, b);
        if (status < 0)
            return HPy_NULL;
    }
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(maximum, "maximum", HPyFunc_O)
static HPy maximum_impl(HPyContext *ctx, HPy self, HPy list)
{
    HPy_ssize_t n = HPy_Length(ctx, list);
    if (n < 0)
        return HPy_NULL;
    if (n == 0) {
        HPyErr_SetString(ctx, ctx->h_ValueError, "maximum of an empty list");
        return HPy_NULL;
    }
    HPy best = HPy_GetItem_i(ctx, list, 0);
    for (HPy_ssize_t i = 1; i < n && !HPy_IsNull(best); i++) {
        HPy item = HPy_GetItem_i(ctx, list, i);
        int greater = HPy_IsNull(item) ? -1 : HPy_RichCompareBool(ctx, item, best, HPy_GT);
        if (greater < 0) {
            HPy_Close(ctx, item);
            HPy_Close(ctx, best);
            return HPy_NULL;
        }
        if (greater) {
            HPy_Close(ctx, best);
            best = item;
        } else {
            HPy_Close(ctx, item);
        }
    }
    return best;
}

HPyDef_METH(index_of, "index", HPyFunc_VARARGS)
static HPy index_of_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "index takes a list and a value");
        return HPy_NULL;
    }
    HPy_ssize_t n = HPy_Length(ctx, args[0]);
    if (n < 0)
        return HPy_NULL;
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, args[0], i);
        if (HPy_IsNull(item))
            return HPy_NULL;
        HPy equal = HPy_RichCompare(ctx, item, args[1], HPy_EQ);
        HPy_Close(ctx, item);
        if (HPy_IsNull(equal))
            return HPy_NULL;
        int found = HPy_IsTrue(ctx, equal);
        HPy_Close(ctx, equal);
        if (found < 0)
            return HPy_NULL;
        if (found)
            return HPyLong_FromSsize_t(ctx, i);
    }
    HPyErr_SetString(ctx, ctx->h_ValueError, "index: the value is not in the list");
    return HPy_NULL;
}

HPyDef_METH(histogram, "histogram", HPyFunc_O)
static HPy histogram_impl(HPyContext *ctx, HPy self, HPy list)
{
    HPy_ssize_t n = HPy_Length(ctx, list);
    if (n < 0)
        return HPy_NULL;
    HPy counts = HPyDict_New(ctx);
    if (HPy_IsNull(counts))
        return HPy_NULL;
    for (HPy_ssize_t i = 0; i < n; i++) {
        HPy item = HPy_GetItem_i(ctx, list, i);
        if (HPy_IsNull(item))
            goto failed;
        long digit = HPyLong_AsLong(ctx, item) % 10;
        HPy_Close(ctx, item);
        if (HPyErr_Occurred(ctx))
            goto failed;
        HPy key = HPyLong_FromLong(ctx, digit);
        long count = 0;
        int present = HPy_IsNull(key) ? -1 : HPy_Contains(ctx, counts, key);
        if (present > 0) {
            HPy old = HPy_GetItem(ctx, counts, key);
            count = HPy_IsNull(old) ? -1 : HPyLong_AsLong(ctx, old);
            HPy_Close(ctx, old);
        }
        HPy value = present < 0 || count < 0 ? HPy_NULL : HPyLong_FromLong(ctx, count + 1);
        int status = HPy_IsNull(value) ? -1 : HPy_SetItem(ctx, counts, key, value);
        HPy_Close(ctx, key);
        HPy_Close(ctx, value);
        if (status < 0)
            goto failed;
    }
    return counts;
failed:
    HPy_Close(ctx, counts);
    return HPy_NULL;
}

static HPyDef *module_defines[] = { &total, &squares, &pairs, &reverse, &maximum, &index_of, &histogram, NULL };

static HPyModuleDef moduledef = {
    .doc = "Lists walked and built, for refscale's --workload hpy",
    .defines = module_defines,
};

HPy_MODINIT(listwalk, moduledef)
