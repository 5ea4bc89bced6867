// An HPy module shaped like the seed talk's examples, for `--workload hpy`: arithmetic on ints
// with HPy_Add, and a type whose setName keeps the handle it was given, which the handle contract
// forbids and `--context debug` must report, beside setNameField, which keeps it as HPy asks.
// closeTwice, useAfterClose and stash break the contract in the other ways the debug context
// checks; run them under `--context debug` only (elsewhere they corrupt the counts). firstByte
// calls a function refscale's context does not implement. makePerson calls the type Person with
// HPy_CallTupleDict, which runs its tp_init.
#include "hpy.h"

HPyDef_METH(add, "add", HPyFunc_VARARGS)
static HPy add_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "add takes two arguments");
        return HPy_NULL;
    }
    return HPy_Add(ctx, args[0], args[1]);
}

HPyDef_METH(add_longs, "add_longs", HPyFunc_VARARGS)
static HPy add_longs_impl(HPyContext *ctx, HPy self, const HPy *args, size_t nargs)
{
    if (nargs != 2) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "add_longs takes two arguments");
        return HPy_NULL;
    }
    long a = HPyLong_AsLong(ctx, args[0]);
    long b = HPyLong_AsLong(ctx, args[1]);
    if (HPyErr_Occurred(ctx))
        return HPy_NULL;
    return HPyLong_FromLong(ctx, a + b);
}

typedef struct {
    HPy kept;        // a local handle kept past its call: the breach
    HPyField name;   // what HPy asks for instead
    long renames;
} PersonObject;

HPyType_HELPERS(PersonObject)

HPyDef_METH(Person_setName, "setName", HPyFunc_O)
static HPy Person_setName_impl(HPyContext *ctx, HPy self, HPy name)
{
    PersonObject *person = PersonObject_AsStruct(ctx, self);
    person->kept = HPy_Dup(ctx, name); // BAD! Handles should be short-lived
    person->renames++;
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(Person_setNameField, "setNameField", HPyFunc_O)
static HPy Person_setNameField_impl(HPyContext *ctx, HPy self, HPy name)
{
    PersonObject *person = PersonObject_AsStruct(ctx, self);
    HPyField_Store(ctx, self, &person->name, name);
    person->renames++;
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(Person_getName, "getName", HPyFunc_NOARGS)
static HPy Person_getName_impl(HPyContext *ctx, HPy self)
{
    PersonObject *person = PersonObject_AsStruct(ctx, self);
    if (HPyField_IsNull(person->name))
        return HPy_Dup(ctx, ctx->h_None);
    return HPyField_Load(ctx, self, person->name);
}

// Person(name): the name kept in the HPyField, as setNameField keeps it. Person has no tp_new, so
// calling the type makes an instance with HPy_New and then runs this.
HPyDef_SLOT(Person_init, HPy_tp_init)
static int Person_init_impl(HPyContext *ctx, HPy self, const HPy *args, HPy_ssize_t nargs, HPy kw)
{
    if (nargs != 1 || !HPy_IsNull(kw)) {
        HPyErr_SetString(ctx, ctx->h_TypeError, "Person takes one argument, the name");
        return -1;
    }
    PersonObject *person = PersonObject_AsStruct(ctx, self);
    HPyField_Store(ctx, self, &person->name, args[0]);
    return 0;
}

HPyDef_SLOT(Person_traverse, HPy_tp_traverse)
static int Person_traverse_impl(void *self, HPyFunc_visitproc visit, void *arg)
{
    HPy_VISIT(&((PersonObject *)self)->name);
    return 0;
}

static HPyDef *Person_defines[] = { &Person_setName, &Person_setNameField, &Person_getName, &Person_init, &Person_traverse, NULL };

static HPyType_Spec Person_spec = {
    .name = "seedexample.Person",
    .basicsize = sizeof(PersonObject),
    .flags = HPy_TPFLAGS_DEFAULT,
    .defines = Person_defines,
};

// The type, kept by the module as HPy asks: in an HPyGlobal, read by any thread.
static HPyGlobal PersonType;

HPyDef_METH(newPerson, "newPerson", HPyFunc_NOARGS)
static HPy newPerson_impl(HPyContext *ctx, HPy self)
{
    HPy type = HPyGlobal_Load(ctx, PersonType);
    PersonObject *person;
    HPy result = HPy_New(ctx, type, &person);
    HPy_Close(ctx, type);
    return result;
}

// makePerson(name): the type called from extension code, as Python calls it: Person(name).
HPyDef_METH(makePerson, "makePerson", HPyFunc_O)
static HPy makePerson_impl(HPyContext *ctx, HPy self, HPy name)
{
    HPy type = HPyGlobal_Load(ctx, PersonType);
    HPy args = HPyTuple_FromArray(ctx, &name, 1);
    HPy result = HPy_NULL;
    if (!HPy_IsNull(args))
        result = HPy_CallTupleDict(ctx, type, args, HPy_NULL);
    HPy_Close(ctx, args);
    HPy_Close(ctx, type);
    return result;
}

HPyDef_SLOT(seedexample_exec, HPy_mod_exec)
static int seedexample_exec_impl(HPyContext *ctx, HPy module)
{
    HPy type = HPyType_FromSpec(ctx, &Person_spec, NULL);
    if (HPy_IsNull(type))
        return -1;
    HPyGlobal_Store(ctx, &PersonType, type);
    int status = HPy_SetAttr_s(ctx, module, "Person", type);
    HPy_Close(ctx, type);
    return status;
}

HPyDef_METH(closeTwice, "closeTwice", HPyFunc_O)
static HPy closeTwice_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy copy = HPy_Dup(ctx, arg);
    HPy_Close(ctx, copy);
    HPy_Close(ctx, copy); // BAD! closed twice
    return HPy_Dup(ctx, ctx->h_None);
}

HPyDef_METH(useAfterClose, "useAfterClose", HPyFunc_O)
static HPy useAfterClose_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy copy = HPy_Dup(ctx, arg);
    HPy_Close(ctx, copy);
    return HPy_Dup(ctx, copy); // BAD! used after close
}

static HPy stashed; // BAD! a local handle kept where every thread sees it

HPyDef_METH(stash, "stash", HPyFunc_O)
static HPy stash_impl(HPyContext *ctx, HPy self, HPy arg)
{
    HPy previous = stashed;
    stashed = HPy_Dup(ctx, arg);
    if (!HPy_IsNull(previous))
        HPy_Close(ctx, previous); // another call's handle, perhaps another thread's
    return HPy_Dup(ctx, ctx->h_None);
}

// HPyBytes_AsString is outside refscale's implemented set: the call must end there, failed,
// rather than go on to read through what the function gave back.
HPyDef_METH(firstByte, "firstByte", HPyFunc_O)
static HPy firstByte_impl(HPyContext *ctx, HPy self, HPy bytes)
{
    const char *data = HPyBytes_AsString(ctx, bytes);
    return HPyLong_FromLong(ctx, data[0]);
}

static HPyDef *module_defines[] = {
    &add, &add_longs, &newPerson, &makePerson, &closeTwice, &useAfterClose, &stash, &firstByte, &seedexample_exec, NULL
};

static HPyGlobal *module_globals[] = { &PersonType, NULL };

static HPyModuleDef moduledef = {
    .doc = "The seed talk's examples, for refscale's --workload hpy",
    .defines = module_defines,
    .globals = module_globals,
};

HPy_MODINIT(seedexample, moduledef)
