#!/usr/bin/env bash
# Remakes Tests/plot/trace.csv and Tests/plot/attribution.csv, the small CSVs of real runs that the
# trace figures' tests plot: the trace workload replaying results/traces/method_shared.rstrace with
# atomic at 1 and 2 threads, 2 repetitions each, and `refscale trace attribute` of the same trace
# under biased at 2 threads. Usage: Tests/plot/make-trace-fixtures.sh REFSCALE
set -euo pipefail
refscale="${1:?usage: $0 path/to/refscale}"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
trace="results/traces/method_shared.rstrace"
quick=(--duration 0.05 --warmup 0.01)
cd "$root"
rm -f "$here/trace.csv" "$here/attribution.csv"
"$refscale" run --scheme atomic --workload trace --trace "$trace" --threads 1,2 --reps 2 "${quick[@]}" \
  --csv "$here/trace.csv" >/dev/null
"$refscale" trace attribute "$trace" --scheme biased --threads 2 --reps 1 "${quick[@]}" \
  --csv "$here/attribution.csv" >/dev/null
echo "$here/trace.csv: $(($(wc -l <"$here/trace.csv") - 1)) rows; $here/attribution.csv: $(($(wc -l <"$here/attribution.csv") - 1)) rows"
