#!/usr/bin/env bash
# Downloads the hpy==0.9.0 sdist once and prints the folder it is unpacked in:
#   ${XDG_CACHE_HOME:-~/.cache}/refscale/hpy-0.9.0-sdist
# with `pip download --no-deps --no-binary :all: hpy==0.9.0`. Its headers give refscale's
# HPyContext its layout (layout.py) and build the HPy modules; nothing of it enters the repository.
set -euo pipefail
cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/refscale"
sdist="$cache_root/hpy-0.9.0-sdist"
mkdir -p "$cache_root"
if [ ! -f "$sdist/complete" ]; then
  exec 9>"$cache_root/hpy-sdist.lock"
  flock 9
  if [ ! -f "$sdist/complete" ]; then
    echo "hpy-modules: downloading the hpy==0.9.0 sdist with pip (once)" >&2
    rm -rf "$sdist"
    work="$(mktemp -d "$cache_root/hpy-sdist.work.XXXXXX")"
    trap 'rm -rf "$work"' EXIT
    python3 -m pip download -q --disable-pip-version-check --no-deps --no-binary :all: hpy==0.9.0 -d "$work" >&2
    tar -xzf "$work"/hpy-0.9.0.tar.gz -C "$work"
    mv "$work/hpy-0.9.0" "$sdist"
    rm -rf "$work"
    trap - EXIT
    touch "$sdist/complete"
  fi
fi
echo "$sdist"
