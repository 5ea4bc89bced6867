#!/usr/bin/env bash
# Builds the free-threaded CPython 3.13t that the `cpython-313t` scheme embeds, on first use, and
# prints its installation folder:
#   ${XDG_CACHE_HOME:-~/.cache}/refscale/cpython-3.13t
# The source is Debian's source package python3.13=3.13.5-2+deb13u5 (trixie; apt-get source),
# configured with --disable-gil (no GIL: biased counting, the merge queue, deferred objects made
# immortal when a second thread starts) and --enable-shared (refscale embeds libpython3.13t.so).
# It is compiled and installed in a work folder beside the cache folder and renamed into place
# only when it is complete, so a half-finished build is never found there. A build made by other
# flags or another source version (recorded in build-id) is rebuilt.
# Progress goes to stderr, the build's own output to a log. A failure is one line on stderr that
# names the log and what to run, and exit status 1.
# With --built it only prints the folder of a finished build, or exits 2 when there is none.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_version=3.13.5-2+deb13u5
configure_flags=(--disable-gil --enable-shared --disable-test-modules --without-ensurepip)
build_id="python3.13 $source_version ${configure_flags[*]}"
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/refscale"
prefix="$cache_root/cpython-3.13t"
built() { [ -f "$prefix/build-id" ] && [ "$(cat "$prefix/build-id")" = "$build_id" ] && [ -x "$prefix/bin/python3.13t" ]; }
if built; then
  echo "$prefix"
  exit 0
fi
[ "${1:-}" = --built ] && exit 2
# One build at a time: a second caller waits for the first and uses its build.
mkdir -p "$cache_root"
exec 9>"$cache_root/cpython-3.13t.lock"
flock 9
if built; then
  echo "$prefix"
  exit 0
fi

source "$here/../../bin/cpython-313t-deps"

started=$SECONDS
work="$(mktemp -d "$cache_root/cpython-3.13t.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log="$cache_root/cpython-3.13t.build.log"
: >"$log"

step() {
  local what="$1"; shift
  if ! "$@" >>"$log" 2>&1; then
    echo "refscale cpython-313t: $what failed (its output: $log); once that is fixed, run $here/build.sh" >&2
    exit 1
  fi
}

# The source first, so that a machine that cannot fetch it hears one line and nothing else.
step "apt-get source python3.13=$source_version" sh -c "cd '$work' && apt-get source -q 'python3.13=$source_version'"
source_dir="$(find "$work" -maxdepth 1 -type d -name 'python3.13-*' | head -1)"
echo "refscale cpython-313t: building the free-threaded CPython 3.13t (python3.13 $source_version, ${configure_flags[*]}) into $prefix, $(nproc) jobs, log $log (a few minutes, once)" >&2
step "configure" sh -c "cd '$source_dir' && ./configure --prefix='$prefix' ${configure_flags[*]}"
step "make" make -C "$source_dir" -j"$(nproc)"
# Installed under a staging root with the final prefix, so every path it records is the final one.
step "make install" make -C "$source_dir" install DESTDIR="$work/stage"
staged="$work/stage$prefix"
LD_LIBRARY_PATH="$staged/lib" "$staged/bin/python3.13t" -c 'import sys; assert not sys._is_gil_enabled()' >>"$log" 2>&1 || {
  echo "refscale cpython-313t: the built interpreter does not run without the GIL (its output: $log); run $here/build.sh after fixing it" >&2
  exit 1
}
echo "$build_id" >"$staged/build-id"
# An older build (other flags or source) is moved aside first, then the new one renamed in.
if [ -e "$prefix" ]; then mv "$prefix" "$work/replaced"; fi
mv "$staged" "$prefix"
echo "refscale cpython-313t: built in $((SECONDS - started)) s" >&2
echo "$prefix"
