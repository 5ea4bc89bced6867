#!/usr/bin/env bash
# Replays every committed trace (results/traces) under every scheme, with every value of every
# option that changes when objects die (Tests/trace-matrix.json: --trace-sites, --what-if
# immortal:types, --handle-index, --release, --runtime), at 1, 2 and 4 threads, one short run
# each, and fails on any invalid row, on a sweep that exits non-zero, or on a trace the grid
# leaves out. Run by bin/test against the release build.
# Usage: Tests/trace-matrix-tests.sh path/to/refscale
set -uo pipefail
refscale="$(realpath "${1:?usage: $0 path/to/refscale}")"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
experiment=Tests/trace-matrix.json

missing=0
for trace in results/traces/*.rstrace; do
  grep -q "\"$trace\"" "$experiment" || { echo "FAIL: $trace is not in $experiment" >&2; missing=$((missing + 1)); }
done

start=$(date +%s)
"$refscale" sweep "$experiment" --out "$work" >"$work/stdout" 2>"$work/stderr"
status=$?
seconds=$(( $(date +%s) - start ))
csv="$(ls "$work"/trace-matrix-*.csv 2>/dev/null | head -1)"
if [ -z "$csv" ]; then
  echo "FAIL: the sweep wrote no CSV (exit $status): $(tail -3 "$work/stderr")" >&2
  echo "trace-matrix: 0 passed, 1 failed"
  exit 1
fi
# Counts the rows, the valid ones, and names the invalid ones with their error.
read -r rows valid < <(python3 - "$csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bad = [r for r in rows if r["valid"] != "true"]
for r in bad[:20]:
    options = " ".join(f"{k}={r[k]}" for k in ("trace_sites", "what_if", "handle_index", "release", "runtime") if r.get(k))
    print(f"FAIL: {r['scheme']} {r['trace']} threads={r['threads']} {options}: {r['validation_error']}", file=sys.stderr)
print(len(rows), len(rows) - len(bad))
EOF
)
failed=$(( rows - valid + missing + (status != 0 ? 1 : 0) ))
[ "$status" -eq 0 ] || echo "FAIL: the sweep exited $status: $(grep -v '^\[' "$work/stderr" | tail -2)" >&2
echo "trace matrix: $rows runs in ${seconds} s, $valid valid"
echo "trace-matrix: $valid passed, $failed failed"
[ "$failed" -eq 0 ]
