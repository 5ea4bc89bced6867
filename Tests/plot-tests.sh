#!/usr/bin/env bash
# Tests of Experiments/plot.py: installs the pinned Python packages when one is missing or at
# another version (pip install -r Experiments/requirements.txt), then runs pytest on Tests/plot.
# The tests read the column catalogue of $REFSCALE, by default the release build (bin/test
# builds it first); without one, plot.py's own default, bin/refscale, builds it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
requirements="$root/Experiments/requirements.txt"
if ! python3 - "$requirements" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, pinned = line.split("==")
    try:
        if version(name) != pinned:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
  echo "installing the packages of Experiments/requirements.txt..." >&2
  python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r "$requirements"
fi
cd "$root"
if [ -z "${REFSCALE:-}" ] && [ -x "$root/.build/release/refscale" ]; then
  export REFSCALE="$root/.build/release/refscale"
fi
python3 -m pytest -q -p no:cacheprovider Tests/plot "$@"
