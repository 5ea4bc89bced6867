#!/usr/bin/env bash
# Builds the instrumented CPython 3.11 of `refscale trace record` on first use and prints the
# path of its interpreter. The source is Debian's source package of the machine's python3.11
# (apt-get source), with cpython-3.11-trace.patch applied and refscale_trace.c added as
# Python/refscale_trace.c. The build goes into a cache folder named by a hash of the patch, the
# recorder and the configure flags, so it is rebuilt only when one of them changes:
#   ${XDG_CACHE_HOME:-~/.cache}/refscale/cpython-trace-<hash>/bin/python3.11
# Progress goes to stderr, the build's own output to build.log in that folder.
# With --built it only prints the path of a finished build, or exits 2 when there is none.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
configure_flags=(--disable-test-modules --without-ensurepip)
hash="$( (cat "$here/cpython-3.11-trace.patch" "$here/refscale_trace.c"; echo "${configure_flags[*]}") | sha256sum | cut -c1-16)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/refscale/cpython-trace-$hash"
python="$cache/bin/python3.11"
built() { [ -x "$python" ] && [ -f "$cache/complete" ]; }
if built; then
  echo "$python"
  exit 0
fi
[ "${1:-}" = --built ] && exit 2
# One build at a time: a second caller waits for the first and uses its build.
mkdir -p "$(dirname "$cache")"
exec 9>"$(dirname "$cache")/cpython-trace.lock"
flock 9
if built; then
  echo "$python"
  exit 0
fi

source "$here/../../bin/trace-deps"

started=$SECONDS
echo "refscale trace: building the instrumented CPython 3.11 into $cache (a few minutes, once)" >&2
# Builds of an earlier patch are of no further use.
rm -rf "${cache%-*}"-*
mkdir -p "$cache"
work="$(mktemp -d "$cache.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log="$cache/build.log"

step() {
  local what="$1"; shift
  if ! "$@" >>"$log" 2>&1; then
    echo "refscale trace: $what failed; the last lines of $log:" >&2
    tail -15 "$log" >&2
    exit 1
  fi
}

# The installed version first; when the mirror no longer has it, the newest it has.
installed="$(dpkg-query -W -f='${Version}' python3.11 2>/dev/null || true)"
fetched=""
for version in $installed $(apt-cache showsrc python3.11 | sed -n 's/^Version: //p' | sort -rV); do
  if (cd "$work" && apt-get source -q "python3.11=$version" >>"$log" 2>&1); then fetched="$version"; break; fi
done
if [ -z "$fetched" ]; then
  echo "refscale trace: apt-get source python3.11 failed for every version apt lists; see $log" >&2
  exit 1
fi
source_dir="$(find "$work" -maxdepth 1 -type d -name 'python3.11-*' | head -1)"
echo "python3.11 source package $fetched" >"$cache/source-version"
step "applying the patch" patch -d "$source_dir" -p1 -i "$here/cpython-3.11-trace.patch"
cp "$here/refscale_trace.c" "$source_dir/Python/refscale_trace.c"
echo "refscale trace: configuring and compiling python3.11 $fetched" >&2
step "configure" sh -c "cd '$source_dir' && ./configure --prefix='$cache' ${configure_flags[*]}"
step "make" make -C "$source_dir" -j"$(nproc)"
step "make install" make -C "$source_dir" install
"$python" -c 'import _json, _decimal, threading' >>"$log" 2>&1 || {
  echo "refscale trace: the built interpreter lacks _json or _decimal; see $log" >&2
  exit 1
}
touch "$cache/complete"
echo "refscale trace: built in $((SECONDS - started)) s" >&2
echo "$python"
