#!/usr/bin/env python3
"""Writes refscale's HPyContext layout from HPy's own header.

Usage: layout.py AUTOGEN_CTX_H OUT_H

AUTOGEN_CTX_H is hpy/devel/include/hpy/universal/autogen_ctx.h of the hpy==0.9.0 sdist
(Tools/hpy-modules/fetch.sh downloads it). Only the facts are taken: the order of the members of
`struct _HPyContext_s` and which are handles, function pointers or the ABI version. Every member
is written with refscale's own types; Tests/hpy/layout_check.c compiles both headers and checks
the offsets agree.
"""
import re
import sys

MEMBER = re.compile(r"^\s*(?P<decl>[^;]+);")
FUNCTION = re.compile(r"\(\*(?P<name>ctx_\w+)\)")


def members(text):
    body = text.split("struct _HPyContext_s {", 1)[1].split("};", 1)[0]
    for line in body.splitlines():
        line = line.split("//", 1)[0]
        match = MEMBER.match(line)
        if not match:
            continue
        decl = match["decl"].strip()
        function = FUNCTION.search(decl)
        if function:
            yield "function", function["name"]
        else:
            kind, name = re.fullmatch(r"(.*?[\s*])(\w+)", decl).groups()
            yield {"HPy": "handle", "int": "int", "const char *": "text", "void *": "pointer"}[kind.strip()], name


def main():
    source, out = sys.argv[1], sys.argv[2]
    fields = list(members(open(source).read()))
    ctypes = {"handle": "chpy_handle", "int": "int", "text": "const char *", "pointer": "void *", "function": "chpy_function"}
    lines = [
        "// The member order of HPy 0.9.0's universal context, `struct _HPyContext_s` in",
        "// hpy/devel/include/hpy/universal/autogen_ctx.h of the hpy==0.9.0 sdist on PyPI, written by",
        "// Tools/hpy-modules/layout.py from that header: the order and kind of each member, in",
        "// refscale's own types. Tests/hpy/layout_check.c checks offsets against the real header.",
        "#ifndef CHPY_CONTEXT_LAYOUT_H",
        "#define CHPY_CONTEXT_LAYOUT_H",
        "#include <stdint.h>",
        "",
        "/// A handle as HPy passes it: one word.",
        "typedef struct { intptr_t _i; } chpy_handle;",
        "/// Any of the context's functions; each is stored with its own signature cast away.",
        "typedef void (*chpy_function)(void);",
        "",
        "struct chpy_context {",
    ]
    lines += [f"    {ctypes[kind]} {name};" for kind, name in fields]
    lines += ["};", "", "/// Every function member, in order: CHPY_FUNCTION(name).", "#define CHPY_FOR_EACH_FUNCTION(CHPY_FUNCTION) \\"]
    lines += [f"    CHPY_FUNCTION({name}) \\" for kind, name in fields if kind == "function"]
    lines += ["", f"#define CHPY_FUNCTION_COUNT {sum(kind == 'function' for kind, _ in fields)}", "", "#endif", ""]
    open(out, "w").write("\n".join(lines))


if __name__ == "__main__":
    main()
