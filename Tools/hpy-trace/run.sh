#!/usr/bin/env bash
# Measures HPy 0.9.0's trace mode, or its debug mode, on a dup/close loop (measure.py says what and how).
# Usage: Tools/hpy-trace/run.sh [--mode trace|debug] [--dup-depth D] [--calls N] [--reps R]
#                              [--expect-extra-calls K] [--expect-leaked K]
# The options are checked first (a bad one: one line, exit 64, nothing installed or built). Then
# hpy==0.9.0 and setuptools are installed with pip when missing, and hpytrace_loop.c is built with
# HPy's setuptools integration for its universal ABI, from a scratch copy, into a cache folder
# named by a hash of the sources, HPy's version and Python's:
#   ${XDG_CACHE_HOME:-~/.cache}/refscale/hpy-trace-<hash>
# so nothing is written into the repository and the build is redone only when one of them changes.
# The build's output goes to build.log in that folder. PYTHON picks the interpreter (python3).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"

"$python" "$here/measure.py" --check-args "$@"

"$here/install-hpy.sh" hpy-trace

cache="$("$here/build-universal.sh" hpy-trace "$here/setup.py" "$here/hpytrace_loop.c")"

exec "$python" "$here/measure.py" --module-dir "$cache" "$@"
