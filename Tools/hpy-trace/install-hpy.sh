#!/usr/bin/env bash
# Installs HPy 0.9.0 and setuptools into PYTHON's (python3's) site-packages unless they are there:
# what the tools that build HPy modules for CPython in HPy's universal mode need (Tools/hpy-trace,
# Tools/hpy-percall). Usage: Tools/hpy-trace/install-hpy.sh NAME (the tool's name, for its line).
set -euo pipefail
python="${PYTHON:-python3}"
hpy_version=0.9.0
if ! "$python" - "$hpy_version" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    sys.exit(0 if version("hpy") == sys.argv[1] and version("setuptools") else 1)
except PackageNotFoundError:
    sys.exit(1)
PY
then
  echo "${1:?usage: $0 NAME}: installing hpy==$hpy_version and setuptools with pip" >&2
  "$python" -m pip install -q --disable-pip-version-check --root-user-action=ignore "hpy==$hpy_version" setuptools >&2
fi
