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

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
