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

"$python" "$here/percall.py" --check-args "$@"

"$repo/Tools/hpy-trace/install-hpy.sh" hpy-percall

sdist="$("$repo/Tools/hpy-modules/fetch.sh")"
cache="$("$repo/Tools/hpy-trace/build-universal.sh" hpy-percall "$here/setup.py" "$sdist/microbench/src/hpy_simple.c" "$repo/Experiments/hpy/listwalk.c")"
modules="$("$repo/Tools/hpy-modules/build.sh")"

exec "$python" "$here/percall.py" --cpython-modules "$cache" --refscale-modules "$modules" "$@"
