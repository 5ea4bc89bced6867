#!/usr/bin/env bash
# Remakes Tests/plot/validate-cells.csv, the cells file of a short real `refscale validate` that
# the validation figure's tests plot: the model nonatomic beside the real CPython 3.11 (the pair the
# ordinary build runs in one process) on every cell at 1 and 2 threads, with one trace
# (results/traces/method_shared.rstrace), 2 repetitions each. At 2 threads nonatomic cannot run
# the workloads that share objects, so the file holds cells that cannot run beside measured ones.
# Usage: Tests/plot/make-validate-fixture.sh REFSCALE
set -euo pipefail
refscale="${1:?usage: $0 path/to/refscale}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/traces"
cp "$root/results/traces/method_shared.rstrace" "$work/traces/"
cd "$root"
"$refscale" validate --model nonatomic --real cpython --threads 1,2 --reps 2 --duration 0.05 --warmup 0.01 \
  --traces "$work/traces" --out "$work/out" >/dev/null 2>"$work/stderr"
cp "$work"/out/validate-*-cells.csv "$here/validate-cells.csv"
echo "$here/validate-cells.csv: $(($(wc -l <"$here/validate-cells.csv") - 1)) cells"
