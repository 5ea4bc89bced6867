#!/usr/bin/env bash
# Checks refscale's HPyContext layout against HPy 0.9.0's own header (downloaded once by
# Tools/hpy-modules/fetch.sh): the committed layout is what layout.py makes of autogen_ctx.h, its
# members sit at the offsets of HPy's (Tests/hpy/layout_check.c compiles both), and a layout
# with two members swapped is refused by that same check (the control: the check can fail).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sdist="$("$root/Tools/hpy-modules/fetch.sh")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
check() { if "$@"; then echo "ok: $description"; else echo "FAIL: $description"; failures=$((failures + 1)); fi; }

python3 "$root/Tools/hpy-modules/layout.py" "$sdist/hpy/devel/include/hpy/universal/autogen_ctx.h" "$work/chpy_context_layout.h"
description="the committed layout is layout.py's output for hpy 0.9.0's autogen_ctx.h"
check cmp -s "$work/chpy_context_layout.h" "$root/Sources/CHPyContext/include/chpy_context_layout.h"

compile() { cc -std=gnu11 -I"$sdist/hpy/devel/include" -I"$1" "$root/Tests/hpy/layout_check.c" -o "$work/layout_check" 2>"$work/cc.log"; }
description="offsets of 17 members and the size agree with HPy's struct _HPyContext_s"
check compile "$root/Sources/CHPyContext/include"

mkdir -p "$work/swapped"
sed -e 's/chpy_function ctx_Dup;/chpy_function ctx_SWAP;/' -e 's/chpy_function ctx_Close;/chpy_function ctx_Dup;/' \
    -e 's/chpy_function ctx_SWAP;/chpy_function ctx_Close;/' \
    "$root/Sources/CHPyContext/include/chpy_context_layout.h" >"$work/swapped/chpy_context_layout.h"
description="control: a layout with ctx_Dup and ctx_Close swapped fails the offset check"
swapped_refused() { ! compile "$work/swapped"; }
check swapped_refused

if [ "$failures" -gt 0 ]; then echo "hpy-context-tests: $failures failed"; exit 1; fi
echo "hpy-context-tests: all 3 passed"
