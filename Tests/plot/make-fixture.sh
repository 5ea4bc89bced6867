#!/usr/bin/env bash
# Remakes Tests/plot/fixture.csv, the small CSV of real runs that test_plot.py plots: 41 short
# runs on two workloads, so that every figure has something to draw and every kind of interval
# appears: on shared-hot, atomic, handle-local and noop at 1, 2 and 3 threads (3 oversubscribed on
# a 2-CPU machine), 3 repetitions each; handle-local also with 16 objects, 2 repetitions (too few
# for an interval); on private, atomic and handle-local at 1 thread, 6 repetitions each (the
# fewest with a 95% interval). Then one row is marked invalid, as a run that failed validation
# would be (atomic, shared-hot, 2 threads, rep 2: valid=false and a validation_error), so the
# captions' count of invalid rows is tested too. Usage: Tests/plot/make-fixture.sh REFSCALE
set -euo pipefail
refscale="${1:?usage: $0 path/to/refscale}"
out="$(cd "$(dirname "$0")" && pwd)/fixture.csv"
rm -f "$out"
quick=(--duration 0.05 --warmup 0.01)
for scheme in atomic handle-local noop; do
  "$refscale" run --scheme "$scheme" --workload shared-hot --threads 1,2,3 --reps 3 "${quick[@]}" --csv "$out" >/dev/null
done
"$refscale" run --scheme handle-local --workload shared-hot --objects 16 --threads 1 --reps 2 "${quick[@]}" --csv "$out" >/dev/null
for scheme in atomic handle-local; do
  "$refscale" run --scheme "$scheme" --workload private --threads 1 --reps 6 "${quick[@]}" --csv "$out" >/dev/null
done
python3 - "$out" <<'PY'
import csv, sys
path = sys.argv[1]
with open(path, newline="") as handle:
    rows = list(csv.DictReader(handle))
[row] = [row for row in rows if (row["scheme"], row["workload"], row["threads"], row["rep"]) == ("atomic", "shared-hot", "2", "2")]
row["valid"] = "false"
row["validation_error"] = "marked invalid for the tests: object 0 count is 3, expected 2"
with open(path, "w", newline="") as handle:
    writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
PY
echo "$out: $(($(wc -l <"$out") - 1)) rows"
