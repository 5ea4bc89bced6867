#!/usr/bin/env bash
# Remakes Tests/plot/fixture.csv, the small CSV that test_plot.py plots: 21 short runs on two
# workloads, with 3 threads (oversubscribed on a 2-CPU machine) and two object counts for
# handle-local, so every figure has something to draw. Usage: Tests/plot/make-fixture.sh REFSCALE
# Afterwards one row was edited by hand to be invalid (atomic, shared-hot, 2 threads, rep 2:
# valid=false and a validation_error), so the caption's count of invalid rows is tested too.
set -euo pipefail
refscale="${1:?usage: $0 path/to/refscale}"
out="$(cd "$(dirname "$0")" && pwd)/fixture.csv"
rm -f "$out"
quick=(--duration 0.05 --warmup 0.01)
for scheme in atomic handle-local noop; do
  "$refscale" run --scheme "$scheme" --workload shared-hot --threads 1,2,3 --reps 2 "${quick[@]}" --csv "$out"
done
for scheme in atomic handle-local; do
  "$refscale" run --scheme "$scheme" --workload private --threads 1 --reps 1 "${quick[@]}" --csv "$out"
done
"$refscale" run --scheme handle-local --workload shared-hot --objects 16 --threads 1 --reps 1 "${quick[@]}" --csv "$out"
