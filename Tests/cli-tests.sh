#!/usr/bin/env bash
# Command-line checks against a built refscale: bad input gets one line on stderr, a usage exit
# code (64) or 1, and leaves no file behind; CSV files are created, appended to and refused as
# DESIGN.md says. Usage: Tests/cli-tests.sh path/to/refscale
set -uo pipefail
refscale="${1:?usage: $0 path/to/refscale}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
quick=(--duration 0.02 --warmup 0.005 --reps 1)

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }

# expect_error NAME CODE ARGS...: exit code CODE, exactly one line on stderr, no CSV file made.
expect_error() {
  local name="$1" code="$2"; shift 2
  rm -f "$work/out.csv"
  "$refscale" "$@" >"$work/stdout" 2>"$work/stderr"
  local status=$?
  local lines
  lines=$(wc -l <"$work/stderr")
  if [ "$status" -ne "$code" ]; then fail "$name: exit $status, expected $code ($(head -1 "$work/stderr"))"
  elif [ "$lines" -ne 1 ]; then fail "$name: $lines lines on stderr, expected 1"
  elif [ -e "$work/out.csv" ]; then fail "$name: left $work/out.csv behind"
  else pass; fi
}

expect_error "unknown scheme" 64 run --scheme nope --workload private --csv "$work/out.csv"
grep -q "valid schemes: .*atomic" "$work/stderr" || fail "unknown scheme: message does not list the schemes"
expect_error "unknown workload" 64 run --scheme atomic --workload nope --csv "$work/out.csv"
expect_error "zero threads" 64 run --scheme atomic --workload private --threads 0 --csv "$work/out.csv"
expect_error "negative threads" 64 run --scheme atomic --workload private --threads 1,-2 --csv "$work/out.csv"
expect_error "zero duration" 64 run --scheme atomic --workload private --duration 0 --csv "$work/out.csv"
expect_error "negative duration" 64 run --scheme atomic --workload private --duration -1 --csv "$work/out.csv"
expect_error "alignment not a power of two" 64 run --scheme atomic --workload private --object-align 24 --csv "$work/out.csv"
expect_error "alignment too small for low4" 64 run --scheme handle-local --handle-index low4 --workload private --object-align 8 --csv "$work/out.csv"
expect_error "unknown handle index" 64 run --scheme handle-local --handle-index low9 --workload private --csv "$work/out.csv"
expect_error "fraction above 1" 64 run --scheme atomic --workload private --read-fraction 1.5 --csv "$work/out.csv"
expect_error "thread-unsafe scheme on shared objects" 64 run --scheme nonatomic --workload shared-hot --threads 2 --csv "$work/out.csv"
expect_error "unknown option" 64 run --scheme atomic --workload private --frobnicate 3
expect_error "gil slice of zero" 64 run --scheme gil --workload private --gil-slice 0 --csv "$work/out.csv"
expect_error "unknown unique-ids policy" 64 run --scheme perthread --workload shared-hot --unique-ids some --csv "$work/out.csv"
expect_error "negative merge interval" 64 run --scheme perthread --workload shared-hot --merge-interval -1 --csv "$work/out.csv"
expect_error "immortal fraction below 0" 64 run --scheme atomic --workload shared-hot --immortal-fraction -0.1 --csv "$work/out.csv"
expect_error "zipf below 0" 64 run --scheme atomic --workload mixed --zipf -1 --csv "$work/out.csv"
expect_error "zero producers" 64 run --scheme atomic --workload handoff --producers 0 --csv "$work/out.csv"
expect_error "handoff threads not a multiple of the group" 64 run --scheme atomic --workload handoff --threads 3 --csv "$work/out.csv"
trace="$(dirname "$0")/../results/traces/method_shared.rstrace"
expect_error "trace workload without a trace" 64 run --scheme atomic --workload trace --csv "$work/out.csv"
expect_error "missing trace file" 64 run --scheme atomic --workload trace --trace "$work/none.rstrace" --csv "$work/out.csv"
{ head -c 8 "$trace"; printf '\x02\x00'; tail -c +11 "$trace"; } >"$work/v2.rstrace"
expect_error "trace of another format version" 64 run --scheme atomic --workload trace --trace "$work/v2.rstrace" --csv "$work/out.csv"
grep -q "version 2" "$work/stderr" || fail "trace version: message does not name the version"
expect_error "trace threads that cannot replicate" 64 run --scheme atomic --workload trace --trace "$trace" --threads 3 --csv "$work/out.csv"
expect_error "what-if naming an object not in the trace" 64 run --scheme atomic --workload trace --trace "$trace" --what-if immortal:99999999 --csv "$work/out.csv"
expect_error "what-if of an unknown change" 64 trace-attribute "$trace" --scheme biased --what-if frozen:top1
expect_error "trace-attribute threads that cannot replicate" 64 trace-attribute "$trace" --scheme biased --threads 3
expect_error "trace-attribute CSV in a missing directory" 64 trace-attribute "$trace" --scheme biased --csv "$work/none/out.csv"
printf '{"name": "x", "schemes": "all", "workloads": [{"name": "mixed", "zipf": -1}], "threads": [1]}' >"$work/bad.json"
expect_error "experiment with a bad value" 64 sweep "$work/bad.json" --out "$work/sweep-out"
grep -q 'workloads\[0\].zipf: must be >= 0' "$work/stderr" || fail "experiment error does not name the place"
[ -e "$work/sweep-out" ] && fail "a refused experiment left its output directory behind" || pass
printf '{"name": "x",' >"$work/broken.json"
expect_error "malformed experiment" 64 sweep "$work/broken.json" --out "$work/sweep-out"
expect_error "missing experiment file" 64 sweep "$work/none.json" --out "$work/sweep-out"

expect_error "unknown pin policy" 64 run --scheme atomic --workload private --pin spread --csv "$work/out.csv"
grep -q "none, compact, scatter" "$work/stderr" || fail "unknown pin policy: message does not list the policies"
expect_error "unknown placement" 64 run --scheme atomic --workload private --placement remote --csv "$work/out.csv"
expect_error "placement on a node that does not exist" 64 run --scheme atomic --workload private --placement node999 --csv "$work/out.csv"
grep -q "no NUMA node 999" "$work/stderr" || fail "missing node: message does not name the node"
printf '{"name": "x", "schemes": ["atomic"], "workloads": [{"name": "private"}], "threads": [1], "placement": "node999"}' >"$work/bad.json"
expect_error "experiment placement on a node that does not exist" 64 sweep "$work/bad.json" --out "$work/sweep"
[ -e "$work/sweep" ] && fail "bad experiment: left $work/sweep behind"
expect_error "csv in a missing directory" 1 run --scheme atomic --workload private "${quick[@]}" --csv "$work/missing/out.csv"
expect_error "unknown context" 64 run --scheme atomic --workload private --context fast --csv "$work/out.csv"
expect_error "closed queue of zero" 64 run --scheme handle-local --workload private --context debug --closed-queue 0 --csv "$work/out.csv"
expect_error "negative closed queue" 64 run --scheme handle-local --workload private --context debug --closed-queue -5 --csv "$work/out.csv"
expect_error "unknown violation policy" 64 run --scheme handle-local --workload private --context debug --on-violation ignore
expect_error "stress: unknown violation kind" 64 stress --inject leak,bogus --seconds 0.1
grep -q "unknown violation kind 'bogus'" "$work/stderr" || fail "stress --inject: message does not name the unknown kind"
expect_error "stress: zero seconds" 64 stress --seconds 0
expect_error "stress: negative seconds" 64 stress --seconds -2
expect_error "stress: closed queue of zero" 64 stress --closed-queue 0 --seconds 0.1
expect_error "stress: zero threads" 64 stress --threads 0 --seconds 0.1
expect_error "stress: unknown scheme" 64 stress --scheme nonatomic --seconds 0.1

# A new file gets the header and one row per run; a second run appends.
"$refscale" run --scheme atomic --workload private --threads 1,2 "${quick[@]}" --csv "$work/rows.csv" >/dev/null 2>&1 \
  && [ "$(wc -l <"$work/rows.csv")" -eq 3 ] && head -1 "$work/rows.csv" | grep -q "^scheme,workload,context,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op,valid," \
  && pass || fail "run --csv: expected a header and 2 rows"
"$refscale" run --scheme noop --workload shared-hot "${quick[@]}" --csv "$work/rows.csv" >/dev/null 2>&1 \
  && [ "$(wc -l <"$work/rows.csv")" -eq 4 ] && pass || fail "run --csv: expected the row appended"
python3 - "$work/rows.csv" <<'PY' && pass || fail "csv rows are not uniform or lack metadata"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 3 and all(r["valid"] == "true" for r in rows)
assert all(r[k] for r in rows for k in ("host", "cpu_model", "online_cpus", "kernel", "swift_version", "git_commit", "build_config", "timestamp"))
assert rows[2]["atomic_rmw"] == "" and rows[0]["atomic_rmw"] != ""
PY

# A scheme or workload given an option it does not use says so once, and runs.
"$refscale" run --scheme atomic --workload private --release eager --zipf 1 "${quick[@]}" >/dev/null 2>"$work/stderr" \
  && [ "$(grep -c 'does not use --release' "$work/stderr")" -eq 1 ] && [ "$(grep -c 'does not use --zipf' "$work/stderr")" -eq 1 ] \
  && pass || fail "unused options are not noted once each"

# A sweep of an experiment file writes one CSV with a row per run, all valid.
cat >"$work/tiny.json" <<'JSON'
{"name": "tiny", "schemes": ["atomic", "handle-local"], "workloads": [{"name": "mixed", "objects": [10, 100]}],
 "scheme_options": {"handle_index": ["low3", "high16"]}, "threads": [1], "repetitions": 1, "duration": 0.02, "warmup": 0.005}
JSON
"$refscale" sweep "$work/tiny.json" --out "$work/tiny" >"$work/stdout" 2>/dev/null \
  && [ "$(ls "$work"/tiny/tiny-*.csv | wc -l)" -eq 1 ] && [ "$(wc -l <"$work"/tiny/tiny-*.csv)" -eq 7 ] \
  && grep -q "rows written to" "$work/stdout" && pass || fail "sweep of an experiment file: expected 6 rows in one CSV"

# Placement columns: pinned workers and their CPUs; python_version only on cpython rows.
"$refscale" run --scheme atomic --workload private --threads 2 --pin compact --placement node0 "${quick[@]}" --csv "$work/placed.csv" >/dev/null 2>&1 \
  && "$refscale" run --scheme cpython --workload shared-hot --threads 1 "${quick[@]}" --csv "$work/placed.csv" >/dev/null 2>&1 \
  && python3 - "$work/placed.csv" <<'PY' && pass || fail "placement and python_version columns"
import csv, sys
atomic, cpython = list(csv.DictReader(open(sys.argv[1])))
assert atomic["pin"] == "compact" and atomic["placement"] == "node0", atomic
assert len(atomic["cpus"].split(";")) == 2 and atomic["cpu_moved"] in ("true", "false"), atomic["cpus"]
assert atomic["python_version"] == "" and cpython["python_version"].startswith("3."), cpython["python_version"]
assert cpython["pin"] == "none" and cpython["placement"] == "local" and cpython["valid"] == "true"
PY

# info: lines for people, JSON for machines.
"$refscale" info | grep -q "^caches (cpu0):" && pass || fail "info: no cache lines"
"$refscale" info --json | python3 -c '
import json, sys
info = json.load(sys.stdin)
assert info["online_cpus"] >= 1 and info["cores"] >= 1 and info["numa_nodes"], info
assert info["python_version"].startswith("3."), info["python_version"]
' && pass || fail "info --json does not parse or lacks a field"

# Every context runs and says so in the CSV; debug rows count violations.
for context in universal debug; do
  "$refscale" run --scheme handle-local --workload call --threads 2 --context "$context" "${quick[@]}" --csv "$work/contexts.csv" >/dev/null 2>&1 \
    && pass || fail "run --context $context failed"
done
python3 - "$work/contexts.csv" <<'PY' && pass || fail "context rows: wrong context, violations or closed_queue columns"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [r["context"] for r in rows] == ["universal", "debug"]
assert rows[0]["violations"] == "" and rows[1]["violations"] == "0" and rows[1]["closed_queue"] == "1024"
assert all(r["valid"] == "true" for r in rows)
PY

# stress: a short run passes; abort mode stops at the first violation with its report.
"$refscale" stress --seconds 0.3 --round-seconds 0.1 --threads 2 >"$work/stress.out" 2>&1 \
  && grep -q "every injected violation detected, no false alarm, every count exact" "$work/stress.out" \
  && pass || fail "stress --seconds 0.3 did not pass: $(tail -3 "$work/stress.out")"
"$refscale" stress --seconds 1 --threads 2 --inject double-close --on-violation abort >/dev/null 2>"$work/stderr"
status=$?
if [ "$status" -eq 1 ] && grep -q "^refscale: handle contract violation: double-close: thread [0-9]* closed handle 0x[0-9a-f]* at op [0-9]*" "$work/stderr"; then pass
else fail "stress --on-violation abort: exit $status, stderr: $(head -2 "$work/stderr")"; fi

# A file whose header differs is refused and left as it was.
printf 'a,b,c\n1,2,3\n' >"$work/other.csv"
cp "$work/other.csv" "$work/other.before"
"$refscale" run --scheme atomic --workload private "${quick[@]}" --csv "$work/other.csv" >/dev/null 2>"$work/stderr"
status=$?
if [ "$status" -eq 1 ] && [ "$(wc -l <"$work/stderr")" -eq 1 ] && cmp -s "$work/other.csv" "$work/other.before"; then pass
else fail "mismatched header: exit $status, file changed or message not one line"; fi

# report reads CSV files back: tables for a good file, one line and exit 1 for a bad one.
"$refscale" report "$work/rows.csv" >"$work/stdout" 2>"$work/stderr" \
  && grep -q "^workload private: median Mops/s" "$work/stdout" && grep -q "^invalid rows left out: 0" "$work/stdout" \
  && pass || fail "report: expected tables for rows.csv"
: >"$work/empty.csv"
expect_error "report of a missing file" 1 report "$work/missing.csv"
expect_error "report of an empty file" 1 report "$work/empty.csv"
expect_error "report of a file that is not refscale's" 1 report "$work/other.before"
expect_error "report of a good and a bad file" 1 report "$work/rows.csv" "$work/empty.csv"
[ ! -s "$work/stdout" ] && pass || fail "report printed tables before refusing a bad file"
expect_error "report without files" 64 report

# Every option a scheme or workload declares (listed by `list`) is a flag of `run`, and a
# workload option given to a run is written to its CSV column, typed as declared.
"$refscale" run --help >"$work/help" 2>&1
missing_flags=$("$refscale" list | grep -o -- '^ *--[a-z-]*' | tr -d ' ' | sort -u | while read -r flag; do grep -q -- "$flag " "$work/help" || echo "$flag"; done)
[ -z "$missing_flags" ] && pass || fail "declared options without a run flag: $missing_flags"
"$refscale" columns --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert {c["role"] for c in d["columns"]} <= {"parameter","coordinate","measurement","counter","machine"}; assert "atomic" in d["schemes"]' \
  && pass || fail "columns --json: not the catalogue"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
