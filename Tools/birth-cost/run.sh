#!/usr/bin/env bash
# Builds Tools/birth-cost/birth_cost.c against the free-threaded CPython 3.13t that refscale
# built (Tools/cpython-313t/build.sh) and runs it: what making and freeing one object costs the
# real side of `refscale validate`, with and without the run's reference tracer.
# Usage: Tools/birth-cost/run.sh [objects per figure] [rounds]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if ! prefix="$("$root/Tools/cpython-313t/build.sh" --built)"; then
  echo "birth-cost: the free-threaded CPython 3.13t is not built; run bin/refscale-313t info once to build it" >&2
  exit 64
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cc -O2 -std=c11 -I "$prefix/include/python3.13t" -I "$root/Sources/CPython" -I "$root/Sources/CPython313t" \
  "$root/Tools/birth-cost/birth_cost.c" -o "$work/birth_cost" -L "$prefix/lib" -lpython3.13t -Wl,-rpath,"$prefix/lib"
PYTHONHOME="$prefix" PYTHON_GIL=0 "$work/birth_cost" "$@"
