#!/usr/bin/env bash
# Builds the HPy modules `--workload hpy` runs, for HPy 0.9.0's universal ABI, with no CPython.
# Usage: Tools/hpy-modules/build.sh        prints the folder holding NAME.hpy0.so for each module
#
# The hpy==0.9.0 sdist (downloaded once by fetch.sh) gives its headers and helper sources (argparse.c, buildvalue.c, format.c, helpers.c,
# structseq.c: the files HPy's setuptools integration adds to a universal module) build:
#   Experiments/hpy/*.c            refscale's own modules
#   microbench/src/hpy_simple.c, proof-of-concept/pof.c,
#   docs/porting-example/steps/step_03_hpy_final.c      HPy's own, from the download
# into ${XDG_CACHE_HOME:-~/.cache}/refscale/hpy-modules-<hash> (a hash of the sources and this
# script), rebuilt only when one changes; nothing is written into the repository.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/refscale"
sdist="$("$here/fetch.sh")"
exec 9>"$cache_root/hpy-modules.lock"
flock 9

own=("$repo"/Experiments/hpy/*.c)
theirs=("$sdist/microbench/src/hpy_simple.c" "$sdist/proof-of-concept/pof.c" "$sdist/docs/porting-example/steps/step_03_hpy_final.c")
hash="$( (cat "${own[@]}" "$0"; cc --version | head -1) | sha256sum | cut -c1-16)"
out="$cache_root/hpy-modules-$hash"
if [ ! -f "$out/complete" ]; then
  rm -rf "$cache_root"/hpy-modules-*
  mkdir -p "$out"
  runtime="$sdist/hpy/devel/src/runtime"
  helpers=("$runtime/argparse.c" "$runtime/buildvalue.c" "$runtime/format.c" "$runtime/helpers.c" "$runtime/structseq.c")
  for source in "${own[@]}" "${theirs[@]}"; do
    name="$(basename "$source" .c)"
    if ! cc -std=gnu11 -O1 -g -fPIC -shared -fvisibility=hidden -DHPY_ABI_UNIVERSAL -I"$sdist/hpy/devel/include" \
        "$source" "${helpers[@]}" -o "$out/$name.hpy0.so" 2>"$out/$name.log"; then
      echo "hpy-modules: building $name failed:" >&2
      tail -15 "$out/$name.log" >&2
      exit 1
    fi
  done
  touch "$out/complete"
fi
echo "$out"
