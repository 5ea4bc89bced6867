#!/usr/bin/env bash
# ns per call of each function of HPy's microbenchmark module (and of Experiments/hpy/listwalk.c)
# in HPy's own universal mode on CPython, beside `refscale run --workload hpy` under each model
# scheme, in one sitting (percall.py says what and how).
# Usage: Tools/hpy-percall/run.sh [--reps R] [--duration S] [--warmup S] [--schemes A,B]
#                                 [--functions F,G] [--out FILE.csv] [--refscale BINARY]
# The options are checked first (a bad one: one line, exit 64, nothing installed or built). Then
# hpy==0.9.0 and setuptools are installed with pip when missing, the hpy 0.9.0 sdist is fetched
# (Tools/hpy-modules/fetch.sh), and hpy_simple.c (from it, unchanged) and listwalk.c are built
# twice: for CPython with HPy's setuptools integration and its universal ABI, from a scratch copy,
# into ${XDG_CACHE_HOME:-~/.cache}/refscale/hpy-percall-<hash> (a hash of the sources, this
# folder, HPy's version and Python's; the build's output in build.log there), and for refscale
# by Tools/hpy-modules/build.sh. Nothing is written into the repository but the CSV files (--out).
# PYTHON picks the interpreter (python3), which must be CPython 3.11.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
python="${PYTHON:-python3}"
hpy_version=0.9.0

"$python" "$here/percall.py" --check-args "$@"

"$repo/Tools/hpy-trace/install-hpy.sh" hpy-percall

sdist="$("$repo/Tools/hpy-modules/fetch.sh")"
sources=("$sdist/microbench/src/hpy_simple.c" "$repo/Experiments/hpy/listwalk.c")
hash="$( (cat "${sources[@]}" "$here/setup.py" "$0"; echo "$hpy_version"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/refscale/hpy-percall-$hash"
if [ ! -f "$cache/complete" ]; then
  mkdir -p "$(dirname "$cache")"
  # One build at a time: a second caller waits for the first and uses its build.
  exec 9>"$(dirname "$cache")/hpy-percall.lock"
  flock 9
  if [ ! -f "$cache/complete" ]; then
    # Builds of other sources are of no further use.
    rm -rf "${cache%-*}"-*
    mkdir -p "$cache"
    work="$(mktemp -d "$cache.work.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    cp "${sources[@]}" "$here/setup.py" "$work/"
    if ! (cd "$work" && "$python" setup.py --hpy-abi=universal build_ext --inplace) >"$cache/build.log" 2>&1; then
      echo "hpy-percall: building the CPython modules failed; the last lines of $cache/build.log:" >&2
      tail -15 "$cache/build.log" >&2
      exit 1
    fi
    cp "$work"/hpy_simple.py "$work"/hpy_simple.hpy0.so "$work"/listwalk.py "$work"/listwalk.hpy0.so "$cache/"
    rm -rf "$work"
    trap - EXIT
    touch "$cache/complete"
  fi
  exec 9>&-
fi
modules="$("$repo/Tools/hpy-modules/build.sh")"

exec "$python" "$here/percall.py" --cpython-modules "$cache" --refscale-modules "$modules" "$@"
