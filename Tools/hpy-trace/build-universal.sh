#!/usr/bin/env bash
# Builds HPy extension sources for CPython in HPy's universal mode (setup.py --hpy-abi=universal)
# into ~/.cache/refscale/NAME-<hash of the sources, the setup file, this script, the HPy version
# and the interpreter>, once, and prints that folder, which holds each source's NAME.py and
# NAME.hpy0.so. One build at a time; a build of other sources is removed; a failed build leaves
# no folder marked complete and prints the last lines of its log. PYTHON picks the interpreter.
# What Tools/hpy-trace and Tools/hpy-percall build their CPython sides with.
# Usage: Tools/hpy-trace/build-universal.sh NAME SETUP.py SOURCE.c...
set -euo pipefail
name="${1:?usage: $0 NAME SETUP.py SOURCE.c...}"
setup="${2:?usage: $0 NAME SETUP.py SOURCE.c...}"
shift 2
sources=("$@")
[ ${#sources[@]} -gt 0 ] || { echo "usage: $0 NAME SETUP.py SOURCE.c..." >&2; exit 64; }
python="${PYTHON:-python3}"
hpy_version=0.9.0
hash="$( (cat "${sources[@]}" "$setup" "$0"; echo "$hpy_version"; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/refscale/$name-$hash"
if [ ! -f "$cache/complete" ]; then
  mkdir -p "$(dirname "$cache")"
  # One build at a time: a second caller waits for the first and uses its build.
  exec 9>"$(dirname "$cache")/$name.lock"
  flock 9
  if [ ! -f "$cache/complete" ]; then
    # Builds of other sources are of no further use.
    rm -rf "${cache%-*}"-*
    mkdir -p "$cache"
    work="$(mktemp -d "$cache.work.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    cp "${sources[@]}" "$setup" "$work/"
    if ! (cd "$work" && "$python" "$(basename "$setup")" --hpy-abi=universal build_ext --inplace) >"$cache/build.log" 2>&1; then
      echo "$name: building the CPython modules failed; the last lines of $cache/build.log:" >&2
      tail -15 "$cache/build.log" >&2
      exit 1
    fi
    for source in "${sources[@]}"; do
      module="$(basename "$source" .c)"
      cp "$work/$module.py" "$work/$module.hpy0.so" "$cache/"
    done
    rm -rf "$work"
    trap - EXIT
    touch "$cache/complete"
  fi
  exec 9>&-
fi
echo "$cache"
