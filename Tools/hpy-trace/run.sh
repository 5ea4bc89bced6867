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
hpy_version=0.9.0

"$python" "$here/measure.py" --check-args "$@"

"$here/install-hpy.sh" hpy-trace

hash="$( (cat "$here/hpytrace_loop.c" "$here/setup.py"; echo "$hpy_version"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/refscale/hpy-trace-$hash"
if [ ! -f "$cache/complete" ]; then
  mkdir -p "$(dirname "$cache")"
  # One build at a time: a second caller waits for the first and uses its build.
  exec 9>"$(dirname "$cache")/hpy-trace.lock"
  flock 9
  if [ ! -f "$cache/complete" ]; then
    # Builds of other sources are of no further use.
    rm -rf "${cache%-*}"-*
    mkdir -p "$cache"
    work="$(mktemp -d "$cache.work.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    cp "$here/hpytrace_loop.c" "$here/setup.py" "$work/"
    if ! (cd "$work" && "$python" setup.py --hpy-abi=universal build_ext --inplace) >"$cache/build.log" 2>&1; then
      echo "hpy-trace: building hpytrace_loop failed; the last lines of $cache/build.log:" >&2
      tail -15 "$cache/build.log" >&2
      exit 1
    fi
    cp "$work"/hpytrace_loop.py "$work"/hpytrace_loop.hpy0.so "$cache/"
    rm -rf "$work"
    trap - EXIT
    touch "$cache/complete"
  fi
  exec 9>&-
fi

exec "$python" "$here/measure.py" --module-dir "$cache" "$@"
