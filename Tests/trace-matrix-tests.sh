#!/usr/bin/env bash
# Replays every committed trace (results/traces) under every scheme, with every value of every
# option that changes when objects die, at 1, 2 and 4 threads, one short run each, and fails on
# any invalid row, on a sweep that exits non-zero or writes no CSV, or on a trace a grid leaves
# out (not in its file, or without a row in its CSV). Two grids
# (Tests/trace-matrix/*.json): every scheme with --trace-sites, --what-if immortal:types,
# --runtime and --free-list at each value; handle-local with --handle-index and --release at
# each value. Run by bin/test against the release build.
# Usage: Tests/trace-matrix-tests.sh path/to/refscale
set -uo pipefail
refscale="$(realpath "${1:?usage: $0 path/to/refscale}")"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Counts a sweep's rows, the valid ones and the committed traces (given after the CSV) that
# have no row, and names the invalid rows with their error and the traces left out.
count_rows() {
  python3 - "$@" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bad = [r for r in rows if r["valid"] != "true"]
for r in bad[:20]:
    options = " ".join(f"{k}={r[k]}" for k in ("trace_sites", "what_if", "handle_index", "release", "runtime", "free_list") if r.get(k))
    print(f"FAIL: {r['scheme']} {r['trace']} threads={r['threads']} {options}: {r['validation_error']}", file=sys.stderr)
replayed = {r["trace"] for r in rows}
unreplayed = [trace for trace in sys.argv[2:] if trace not in replayed]
for trace in unreplayed:
    print(f"FAIL: no row replays {trace} in {sys.argv[1]}", file=sys.stderr)
print(len(rows), len(rows) - len(bad), len(unreplayed))
PY
}

missing=0
rows=0
valid=0
sweeps_failed=0
start=$(date +%s)
for experiment in Tests/trace-matrix/*.json; do
  for trace in results/traces/*.rstrace; do
    grep -q "\"$trace\"" "$experiment" || { echo "FAIL: $trace is not in $experiment" >&2; missing=$((missing + 1)); }
  done
  out="$work/$(basename "$experiment" .json)"
  mkdir -p "$out"
  "$refscale" sweep "$experiment" --out "$out" >"$out/stdout" 2>"$out/stderr"
  status=$?
  if [ "$status" -ne 0 ]; then
    echo "FAIL: the sweep of $experiment exited $status: $(grep -v '^\[' "$out/stderr" | tail -2)" >&2
    sweeps_failed=$((sweeps_failed + 1))
  fi
  csv="$(ls "$out"/*.csv 2>/dev/null | head -1)"
  if [ -z "$csv" ]; then
    echo "FAIL: the sweep of $experiment wrote no CSV" >&2
    sweeps_failed=$((sweeps_failed + 1))
    continue
  fi
  read -r these good unreplayed < <(count_rows "$csv" results/traces/*.rstrace)
  rows=$((rows + these))
  valid=$((valid + good))
  missing=$((missing + unreplayed))
done
seconds=$(( $(date +%s) - start ))
failed=$(( rows - valid + missing + sweeps_failed ))
echo "trace matrix: $rows runs in ${seconds} s, $valid valid"
echo "trace-matrix: $valid passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$rows" -gt 0 ]
