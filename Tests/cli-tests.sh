#!/usr/bin/env bash
# Command-line checks against a built refscale: bad input gets one line on stderr, a usage exit
# code (64) or 1, and leaves no file behind; CSV files are created, appended to and refused as
# DESIGN.md says. Usage: Tests/cli-tests.sh path/to/refscale
set -uo pipefail
refscale="$(realpath "${1:?usage: $0 path/to/refscale}")"
work="$(mktemp -d)"
cleanup() {
  mountpoint -q "$work/readonly" 2>/dev/null && umount "$work/readonly"
  chmod -R u+w "$work" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
passed=0
failed=0
quick=(--duration 0.02 --warmup 0.005 --reps 1)

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }

# expect_error NAME CODE ARGS...: exit code CODE, exactly one line on stderr, no CSV file made.
# Every check comes before any measurement, so a refusal takes well under the 20 s allowed.
expect_error() {
  local name="$1" code="$2"; shift 2
  rm -f "$work/out.csv"
  timeout 20 "$refscale" "$@" >"$work/stdout" 2>"$work/stderr"
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
expect_error "negative gc threshold" 64 run --scheme perthread --workload shared-hot --gc-threshold -1 --csv "$work/out.csv"
expect_error "unknown shared kind" 64 run --scheme biased --workload shared-hot --shared-kind code --csv "$work/out.csv"
grep -q "data, class, ext-type" "$work/stderr" || fail "unknown shared kind: message does not list the kinds"
expect_error "the retired shared kind type" 64 run --scheme perthread --workload churn --shared-kind type --csv "$work/out.csv"
expect_error "weakref share above 1" 64 run --scheme biased --workload call --weakref-share 1.5 --csv "$work/out.csv"
expect_error "weakref share below 0" 64 run --scheme perthread --workload call --weakref-share -0.1 --csv "$work/out.csv"
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
expect_error "what-if of an unknown change" 64 trace attribute "$trace" --scheme biased --what-if frozen:top1
expect_error "trace attribute threads that cannot replicate" 64 trace attribute "$trace" --scheme biased --threads 3
expect_error "trace attribute CSV in a missing directory" 64 trace attribute "$trace" --scheme biased --csv "$work/none/out.csv"
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
"$refscale" run --scheme biased --workload private --shared-kind class "${quick[@]}" >/dev/null 2>"$work/stderr" \
  && [ "$(grep -c 'does not use --shared-kind' "$work/stderr")" -eq 1 ] && pass || fail "--shared-kind on private is not noted as unused"

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
import csv, os, subprocess, sys
atomic, cpython = list(csv.DictReader(open(sys.argv[1])))
# compact: worker i on the i-th CPU the process may use, where sched_getcpu finds it at the start
# and at the end (a pinned worker cannot move).
allowed = sorted(os.sched_getaffinity(0))[:2]
assert atomic["cpus"] == ";".join(map(str, allowed)) and atomic["cpu_moved"] == "false", (atomic["cpus"], atomic["cpu_moved"], allowed)
# The version of the libpython the cpython scheme ran in, as its pkg-config names it.
embedded = subprocess.run(["pkg-config", "--modversion", "python3-embed"], capture_output=True, text=True).stdout.strip()
assert atomic["python_version"] == "" and cpython["python_version"].startswith(embedded + "."), (cpython["python_version"], embedded)
assert cpython["valid"] == "true"
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
python3 - "$work/contexts.csv" <<'PY' && pass || fail "context rows: violations columns or validity"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
# Only the debug context checks the contract: its row counts violations, the universal's is blank.
assert len(rows) == 2 and rows[0]["violations"] == "" and rows[1]["violations"] == "0", [r["violations"] for r in rows]
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

# --backtraces: an injected leak's report, printed when the run aborts on it, carries the stack
# that opened the handle, symbolised (a frame of refscale's own code).
"$refscale" stress --seconds 1 --threads 2 --inject leak --on-violation abort --backtraces >/dev/null 2>"$work/stderr"
status=$?
if [ "$status" -eq 1 ] && grep -q "^refscale: handle contract violation: leak" "$work/stderr" \
  && grep -A3 "the handle was opened at:" "$work/stderr" | grep -q "RefScale"; then pass
else fail "stress --backtraces: exit $status, stderr: $(head -4 "$work/stderr")"; fi
"$refscale" stress --seconds 1 --threads 2 --inject leak --on-violation abort >/dev/null 2>"$work/stderr"
status=$?
if [ "$status" -ne 1 ] || ! grep -q "^refscale: handle contract violation: leak" "$work/stderr"; then
  fail "stress without --backtraces: exit $status, no leak report: $(head -2 "$work/stderr")"
elif grep -q "opened at:" "$work/stderr"; then fail "stress without --backtraces printed a stack"
else pass; fi

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

# --reps auto and --ci-target; report --compare and --compare-schemes.
expect_error "ci target of zero" 64 run --scheme atomic --workload private --reps auto --ci-target 0 --csv "$work/out.csv"
expect_error "ci target of one" 64 run --scheme atomic --workload private --reps auto --ci-target 1 --csv "$work/out.csv"
expect_error "reps auto beside a number" 64 run --scheme atomic --workload private --reps 5 --reps auto --csv "$work/out.csv"
expect_error "reps neither a number nor auto" 64 run --scheme atomic --workload private --reps many --csv "$work/out.csv"
"$refscale" run --scheme noop --workload private --duration 0.01 --warmup 0.002 --reps auto --ci-target 0.5 --csv "$work/auto.csv" \
  >/dev/null 2>"$work/stderr" \
  && grep -q "reached the target after\|stopped at the cap of" "$work/stderr" \
  && python3 - "$work/auto.csv" <<'PY' && pass || fail "reps auto: expected rows ending in reps_stop target or cap"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert rows[-1]["reps_stop"] in ("target", "cap"), rows[-1]["reps_stop"]
assert all(row["reps_stop"] == "" for row in rows[:-1])
assert all(row["peak_live_objects"].isdigit() for row in rows)
PY
"$refscale" report --compare "$work/rows.csv" "$work/rows.csv" >"$work/stdout" 2>"$work/stderr" \
  && grep -q "^private .*atomic" "$work/stdout" && pass || fail "report --compare of a file with itself: expected a line per configuration"
"$refscale" run --scheme atomic --workload churn "${quick[@]}" --csv "$work/churn.csv" >/dev/null 2>&1 || fail "churn run for --compare"
expect_error "compare files that share no configuration" 64 report --compare "$work/rows.csv" "$work/churn.csv"
[ ! -s "$work/stdout" ] && pass || fail "report --compare printed before refusing"
expect_error "compare one file" 64 report --compare "$work/rows.csv"
expect_error "compare schemes absent from the file" 64 report "$work/rows.csv" --compare-schemes atomic gil


# Hostile input and resource limits (issue 17's table): one line, the usual code, before any run.
long=(--duration 30 --warmup 0 --reps 3)   # were anything measured, the 20 s timeout would fail these
expect_error "duration inf" 64 run --scheme atomic --workload private --duration inf --csv "$work/out.csv"
grep -q "^refscale: error: --duration must be a number of seconds > 0 and at most 86400 (a day), got inf$" "$work/stderr" \
  && pass || fail "duration inf: message: $(cat "$work/stderr")"
expect_error "warmup inf" 64 run --scheme atomic --workload private --warmup inf --csv "$work/out.csv"
expect_error "duration 1e300" 64 run --scheme atomic --workload private --duration 1e300 --csv "$work/out.csv"
expect_error "duration nan" 64 run --scheme atomic --workload private --duration nan --csv "$work/out.csv"
expect_error "warmup nan" 64 run --scheme atomic --workload private --warmup nan --csv "$work/out.csv"
expect_error "warmup 1e300" 64 run --scheme atomic --workload private --warmup 1e300 --csv "$work/out.csv"
for value in inf 1e300 0 nan -1; do
  expect_error "calibrate --duration $value" 64 calibrate --duration "$value"
done
for key in duration warmup; do
  printf '{"name": "x", "schemes": ["atomic"], "workloads": [{"name": "private"}], "threads": [1], "%s": 1e300}' "$key" >"$work/bad.json"
  expect_error "experiment $key 1e300" 64 sweep "$work/bad.json" --out "$work/sweep-out"
  grep -q ": $key: must be a number of seconds" "$work/stderr" || fail "experiment $key 1e300: message does not name the key"
done
[ -e "$work/sweep-out" ] && fail "a refused experiment left its output directory behind" || pass
expect_error "stress --seconds inf" 64 stress --seconds inf
expect_error "stress --round-seconds nan" 64 stress --round-seconds nan --seconds 1
expect_error "threads 100000" 64 run --scheme atomic --workload private --threads 100000 "${long[@]}" --csv "$work/out.csv"
grep -Eq "^refscale: error: --threads 100000: at most [0-9]+ threads \(16 times the [0-9]+ online CPUs\)$" "$work/stderr" \
  && pass || fail "threads 100000: message: $(cat "$work/stderr")"
expect_error "stress --threads 100000" 64 stress --threads 100000 --seconds 0.1
printf '{"name": "x", "schemes": ["atomic"], "workloads": [{"name": "private"}], "threads": [1, 100000]}' >"$work/bad.json"
expect_error "experiment threads 100000" 64 sweep "$work/bad.json" --out "$work/sweep-out"
grep -q "threads\[1\]: 100000: at most" "$work/stderr" || fail "experiment threads 100000: message: $(cat "$work/stderr")"
expect_error "objects 2000000000" 64 run --scheme atomic --workload private --objects 2000000000 "${long[@]}" --csv "$work/out.csv"
grep -Eq "^refscale: error: 2000000000 objects of [0-9]+ bytes need at least [0-9.]+ GiB; this machine has [0-9.]+ [MG]iB available \([0-9.]+ GiB in all\)" "$work/stderr" \
  && pass || fail "objects 2000000000: message: $(cat "$work/stderr")"
expect_error "objects beyond any count" 64 run --scheme atomic --workload private --objects 9223372036854775807 --threads 2 --csv "$work/out.csv"
expect_error "dup depth beyond any count" 64 run --scheme atomic --workload private --dup-depth 9223372036854775807 --csv "$work/out.csv"
expect_error "call depth beyond any count" 64 run --scheme atomic --workload call --call-depth 4611686018427387904 --csv "$work/out.csv"
expect_error "producers beyond any count" 64 run --scheme atomic --workload handoff --producers 9223372036854775807 --csv "$work/out.csv"
expect_error "alignment of 2^62" 64 run --scheme atomic --workload private --object-align 4611686018427387904 --csv "$work/out.csv"
expect_error "reps beyond the limit" 64 run --scheme atomic --workload private --reps 9223372036854775807 --csv "$work/out.csv"
expect_error "threads -1" 64 run --scheme atomic --workload private --threads -1 --csv "$work/out.csv"
grep -q "positive integers separated by commas, got '-1'" "$work/stderr" || fail "threads -1: message: $(cat "$work/stderr")"
expect_error "seed -1" 64 run --scheme atomic --workload private --seed -1
grep -q "Missing value" "$work/stderr" && fail "seed -1: read as a missing value" || pass
expect_error "threads 1,1" 64 run --scheme atomic --workload private --threads 1,1 --csv "$work/out.csv"
grep -q "lists 1 twice" "$work/stderr" || fail "threads 1,1: message: $(cat "$work/stderr")"
printf '{"name": "x", "schemes": ["atomic"], "workloads": [{"name": "private"}], "threads": [2, 2]}' >"$work/bad.json"
expect_error "experiment threads [2, 2]" 64 sweep "$work/bad.json" --out "$work/sweep-out"
expect_error "csv to a directory" 1 run --scheme atomic --workload private "${long[@]}" --csv "$work"
grep -q "is a directory" "$work/stderr" || fail "csv to a directory: message: $(cat "$work/stderr")"
expect_error "csv to an empty name" 1 run --scheme atomic --workload private "${long[@]}" --csv ""
expect_error "csv to a name ending in /" 1 run --scheme atomic --workload private "${long[@]}" --csv "$work/nodir/"
# A read-only place: a read-only tmpfs where we may mount one (root), else a file and a directory without write permission.
mkdir -p "$work/readonly"
head -1 "$work/rows.csv" >"$work/header.csv"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs tmpfs "$work/readonly" 2>/dev/null; then
  cp "$work/header.csv" "$work/readonly/rows.csv"
  mount -o remount,ro "$work/readonly"
else
  cp "$work/header.csv" "$work/readonly/rows.csv"
  chmod 444 "$work/readonly/rows.csv"
  chmod 555 "$work/readonly"
fi
if touch "$work/readonly/probe" 2>/dev/null; then
  rm -f "$work/readonly/probe"; echo "note: cannot make a read-only directory here; the unwritable-file checks are skipped" >&2
else
  expect_error "csv to an unwritable file" 1 run --scheme atomic --workload private "${long[@]}" --csv "$work/readonly/rows.csv"
  grep -q "cannot write to it" "$work/stderr" || fail "csv to an unwritable file: message: $(cat "$work/stderr")"
  expect_error "csv into an unwritable directory" 1 run --scheme atomic --workload private "${long[@]}" --csv "$work/readonly/new.csv"
  printf '{"name": "long", "schemes": ["atomic"], "workloads": [{"name": "private"}], "threads": [1], "duration": 30}' >"$work/long.json"
  expect_error "sweep --out an unwritable directory" 1 sweep "$work/long.json" --out "$work/readonly"
  grep -q "cannot create files in" "$work/stderr" || fail "sweep --out unwritable: message: $(cat "$work/stderr")"
  expect_error "sweep --out under an unwritable directory" 1 sweep "$work/long.json" --out "$work/readonly/sub"
fi
: >"$work/a-file"
printf '{"name": "long", "schemes": ["atomic"], "workloads": [{"name": "private"}], "threads": [1], "duration": 30}' >"$work/long.json"
expect_error "sweep --out an empty name" 1 sweep "$work/long.json" --out ""
expect_error "sweep --out an existing file" 1 sweep "$work/long.json" --out "$work/a-file"
grep -q "^refscale: error: --out $work/a-file: is a file, not a directory$" "$work/stderr" || fail "sweep --out a file: message: $(cat "$work/stderr")"
printf '{"name": "none", "schemes": ["nonatomic"], "workloads": [{"name": "shared-hot"}], "threads": [2]}' >"$work/none.json"
expect_error "sweep with every combination left out" 64 sweep "$work/none.json" --out "$work/none-out"
grep -q "every combination is left out" "$work/stderr" || fail "all left out: message: $(cat "$work/stderr")"
[ -e "$work/none-out" ] && fail "a sweep with nothing to run made its directory" || pass

# gil_slice and the other number options of schemes take numbers in experiment files.
printf '{"name": "slices", "schemes": ["gil", "perthread"], "workloads": [{"name": "private"}], "threads": [1], "repetitions": 1, "duration": 0.02, "warmup": 0, "scheme_options": {"gil_slice": 0.01, "gc_threshold": 100, "unique_ids": "all"}}' >"$work/slices.json"
"$refscale" sweep "$work/slices.json" --out "$work/slices" >/dev/null 2>&1 && python3 - "$work"/slices/slices-*.csv <<'PY' && pass || fail "gil_slice as a number in an experiment file"
import csv, sys
rows = {r["scheme"]: r for r in csv.DictReader(open(sys.argv[1]))}
assert rows["gil"]["gil_slice"] == "0.01" and rows["perthread"]["gc_threshold"] == "100" and rows["perthread"]["unique_ids"] == "all", rows
PY

# Two sweeps of one file started together write two files, each with its own rows.
"$refscale" sweep "$work/tiny.json" --out "$work/twice" >"$work/first.out" 2>/dev/null &
first=$!
"$refscale" sweep "$work/tiny.json" --out "$work/twice" >"$work/second.out" 2>/dev/null
second_status=$?
wait "$first"
first_status=$?
files=("$work"/twice/*.csv)
if [ "$first_status" -eq 0 ] && [ "$second_status" -eq 0 ] \
  && [ "${#files[@]}" -eq 2 ] && [ "$(wc -l <"${files[0]}")" -eq 7 ] && [ "$(wc -l <"${files[1]}")" -eq 7 ] \
  && [ "$(grep -ho "rows written to .*" "$work/first.out" "$work/second.out" | sort -u | wc -l)" -eq 2 ]; then pass
else fail "two sweeps at once: exits $first_status and $second_status, files ${files[*]}"; fi

# A CSV file whose last line lacks its line break gets one before the appended row.
{ cat "$work/rows.csv"; } | head -c -1 >"$work/unterminated.csv"
"$refscale" run --scheme atomic --workload private "${quick[@]}" --csv "$work/unterminated.csv" >/dev/null 2>&1 \
  && python3 - "$work/unterminated.csv" <<'PY' && pass || fail "a row appended to a file without its final line break"
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
assert len(rows) == 5 and all(len(row) == len(rows[0]) for row in rows), [len(row) for row in rows]
PY

# CSV files saved back by pandas (True/False) mean the same; a row left out says why.
sed -e 's/,true,/,True,/g' -e 's/,false,/,False,/g' "$work/rows.csv" >"$work/pandas.csv"
"$refscale" report "$work/pandas.csv" >"$work/stdout" 2>&1 && grep -q "^invalid rows left out: 0" "$work/stdout" \
  && pass || fail "report of a pandas-saved file: $(grep invalid "$work/stdout")"
python3 - "$work/rows.csv" "$work/odd.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rows[0]["valid"] = "yes"
with open(sys.argv[2], "w", newline="") as out:
    writer = csv.DictWriter(out, fieldnames=rows[0].keys())
    writer.writeheader()
    writer.writerows(rows)
PY
"$refscale" report "$work/odd.csv" >"$work/stdout" 2>&1 && grep -q "^invalid rows left out: 1" "$work/stdout" \
  && grep -q "valid is 'yes', neither true nor false" "$work/stdout" && pass || fail "report does not say why a row is left out"

# An interrupted run or sweep says where its rows are; a sweep with none leaves no file.
"$refscale" run --scheme atomic --workload private --duration 0.3 --warmup 0 --reps 20 --csv "$work/interrupted.csv" >/dev/null 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do [ -s "$work/interrupted.csv" ] && break; sleep 0.1; done
kill -INT "$pid"; wait "$pid"; status=$?
rows=$(($(wc -l <"$work/interrupted.csv") - 1))
if [ "$status" -eq 130 ] && [ "$(wc -l <"$work/stderr")" -eq 1 ] \
  && grep -Eq "^refscale: interrupted \(SIGINT\); the $rows rows? of the finished runs? (is|are) in $work/interrupted.csv$" "$work/stderr"; then pass
else fail "interrupted run: exit $status, $rows rows, stderr: $(cat "$work/stderr")"; fi
"$refscale" sweep "$work/long.json" --out "$work/stopped" >/dev/null 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do [ -n "$(ls "$work/stopped" 2>/dev/null)" ] && break; sleep 0.1; done
sleep 0.3
kill -TERM "$pid"; wait "$pid"; status=$?
if [ "$status" -eq 143 ] && grep -q "^refscale: interrupted (SIGTERM) before any run finished; removed the empty $work/stopped/long-.*\.csv$" "$work/stderr" \
  && [ -z "$(ls "$work/stopped")" ]; then pass
else fail "interrupted sweep: exit $status, files: $(ls "$work/stopped"), stderr: $(cat "$work/stderr")"; fi

# The README agrees with the tool: the CSV columns in the order written, every option of run,
# stress and calibrate, and no doubled default in any help.
readme="$(dirname "$0")/../README.md"
"$refscale" columns >"$work/columns.txt" && python3 - "$readme" "$work/columns.txt" <<'PY' && pass || fail "refscale columns failed, or README's CSV columns differ from it"
import re, sys
text = open(sys.argv[1]).read()
section = text.split("## The CSV file", 1)[1].split("`pandas.read_csv` loads", 1)[0]
named = [name.strip() for quoted in re.findall(r"`([^`]+)`", section) for name in quoted.split(",")]
columns = [line.split()[0] for line in open(sys.argv[2]) if line.strip()]
# DESIGN's columns that always exist lead, in its order: an empty or cut listing cannot pass.
always = ["scheme", "workload", "threads", "rep", "ops", "elapsed_s", "ops_per_s", "ns_per_op", "valid"]
assert [name for name in columns if name in always] == always, f"columns: {columns}"
in_readme = [name for index, name in enumerate(named) if name in columns and name not in named[:index]]
assert in_readme == columns, f"README: {in_readme}\ncolumns: {columns}"
PY
for command in run stress calibrate validate; do
  "$refscale" "$command" --help >"$work/help.txt" 2>&1
  status=$?
  [ "$status" -eq 0 ] && [ -s "$work/help.txt" ] && pass || fail "$command --help: exit $status, $(wc -c <"$work/help.txt") bytes"
  missing=$(grep -o -- '--[a-z][a-z-]*' "$work/help.txt" | sort -u | grep -v -x -e --help | while read -r flag; do grep -qE -- "$flag([^a-z-]|\$)" "$readme" || echo "$flag"; done)
  [ -z "$missing" ] && pass || fail "README does not mention $command's $(echo $missing)"
done
for command in run sweep stress report info calibrate columns list validate; do
  "$refscale" "$command" --help >"$work/help.txt" 2>&1
  status=$?
  [ "$status" -eq 0 ] && grep -q "^USAGE: refscale $command" "$work/help.txt" && pass || fail "$command --help: exit $status, no usage line"
  tr '\n' ' ' <"$work/help.txt" | tr -s ' ' | grep -Eq '\(default [^)]*\)[^(]*\(default: ' \
    && fail "$command --help doubles a default" || pass
done

# Mutated command lines: whatever the words, exit 0, 1 or 64; a refusal is one line and leaves no file.
fuzz_cases="${REFSCALE_CLI_FUZZ_CASES:-40}"
python3 - "$fuzz_cases" "${REFSCALE_CLI_FUZZ_SEED:-17}" >"$work/fuzz.lines" <<'PY'
import random, sys
cases, seed = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)
words = ["inf", "nan", "-1", "0", "1e300", "1,1", "", "2000000000", "9223372036854775807", "100000", "low9", "node9",
         "--threads", "--duration", "--csv", "out.csv", "dir", "--objects", "--frobnicate", "é", "-", "--", "=", "1,,2"]
bases = [
    ["run", "--scheme", "atomic", "--workload", "private", "--threads", "1", "--objects", "4", "--csv", "out.csv"],
    ["run", "--scheme", "handle-local", "--workload", "mixed", "--handle-index", "low4", "--zipf", "1"],
    ["run", "--scheme", "perthread", "--workload", "shared-hot", "--gc-threshold", "100", "--context", "debug"],
    ["stress", "--threads", "2", "--inject", "leak", "--closed-queue", "8"],
    ["report", "rows.csv"],
    ["list"], ["columns", "--json"],
]
for _ in range(cases):
    line = list(rng.choice(bases))
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(line))
        kind = rng.randrange(4)
        if kind == 0: line[i] = rng.choice(words)
        elif kind == 1 and len(line) > 1: del line[i]
        elif kind == 2: line.insert(i, rng.choice(words))
        else: line.insert(i, line[i])
    fixed = {"run": ["--duration", "0.01", "--warmup", "0", "--reps", "1"], "stress": ["--seconds", "0.1", "--round-seconds", "0.05"]}
    print("\t".join(line[:1] + fixed.get(line[0], []) + line[1:]))
PY
mkdir -p "$work/fuzz"
while IFS=$'\t' read -r -a words; do
  rm -rf "$work/fuzz"/*; mkdir -p "$work/fuzz/dir"; cp "$work/rows.csv" "$work/fuzz/rows.csv"
  (cd "$work/fuzz" && timeout 30 "$refscale" "${words[@]}" >/dev/null 2>"$work/stderr"); status=$?
  leftover=$(cd "$work/fuzz" && ls | grep -v -e '^dir$' -e '^rows.csv$')
  if [ "$status" -ne 0 ] && [ "$status" -ne 1 ] && [ "$status" -ne 64 ]; then fail "fuzz: exit $status: refscale ${words[*]}"
  elif [ "$status" -ne 0 ] && [ "$(wc -l <"$work/stderr")" -ne 1 ] && [ "${words[0]}" != stress ]; then fail "fuzz: $(wc -l <"$work/stderr") lines on stderr: refscale ${words[*]}"
  elif [ "$status" -eq 64 ] && [ -n "$leftover" ]; then fail "fuzz: refused but left $leftover: refscale ${words[*]}"
  else pass; fi
done <"$work/fuzz.lines"
# Every option a scheme or workload declares (listed by `list`) is a flag of `run`, and a
# workload option given to a run is written to its CSV column, typed as declared.
"$refscale" run --help >"$work/help" 2>&1 || fail "run --help: exit $?"
"$refscale" list >"$work/list" 2>&1
status=$?
[ "$status" -eq 0 ] && grep -q -- '^ *--' "$work/list" && pass || fail "list: exit $status, or no option listed"
missing_flags=$(grep -o -- '^ *--[a-z-]*' "$work/list" | tr -d ' ' | sort -u | while read -r flag; do grep -q -- "$flag " "$work/help" || echo "$flag"; done)
[ -z "$missing_flags" ] && pass || fail "declared options without a run flag: $missing_flags"
"$refscale" columns --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert {c["role"] for c in d["columns"]} <= {"parameter","coordinate","measurement","counter","machine"}; assert "atomic" in d["schemes"]' \
  && pass || fail "columns --json: not the catalogue"

# Tag bits and NaN boxing change what a row measures: given to a scheme that cannot take them,
# they are bad input, not a note.
expect_error "nan boxing on a scheme without index handles" 64 run --scheme atomic --workload numeric --nan-boxing on --csv "$work/out.csv"
grep -q "64-bit indices" "$work/stderr" && pass || fail "nan boxing elsewhere: message: $(cat "$work/stderr")"
expect_error "tag bits on a scheme without a table index" 64 run --scheme biased --workload numeric --tag-bits 1 --csv "$work/out.csv"

# validate: bad input is one line, exit 64, and neither its --out directory nor a file; a short
# real validation of nonatomic beside cpython (both in this build) lists every cell, measured or
# not, and runs each cell's pair alternately on one stream.
mkdir -p "$work/vtraces"
cp "$(dirname "$0")/../results/traces/method_shared.rstrace" "$work/vtraces/"
expect_error "validate with an unknown model" 64 validate --model nope --real cpython --traces "$work/vtraces" --out "$work/vout"
expect_error "validate with a real runtime as the model" 64 validate --model cpython --real cpython --traces "$work/vtraces" --out "$work/vout"
grep -q "counts in a real interpreter" "$work/stderr" || fail "validate real model: message: $(cat "$work/stderr")"
expect_error "validate with a model as the real runtime" 64 validate --model atomic --real biased --traces "$work/vtraces" --out "$work/vout"
expect_error "validate with zero repetitions" 64 validate --model nonatomic --real cpython --reps 0 --traces "$work/vtraces" --out "$work/vout"
expect_error "validate with an infinite duration" 64 validate --model nonatomic --real cpython --duration inf --traces "$work/vtraces" --out "$work/vout"
expect_error "validate with zero threads" 64 validate --model nonatomic --real cpython --threads 0 --traces "$work/vtraces" --out "$work/vout"
expect_error "validate with a missing trace directory" 64 validate --model nonatomic --real cpython --traces "$work/none" --out "$work/vout"
[ -e "$work/vout" ] && fail "a refused validate left its --out directory behind" || pass
"$refscale" validate --model nonatomic --real cpython --threads 1,2 --reps 2 "${quick[@]:0:4}" --traces "$work/vtraces" \
  --out "$work/vout" >"$work/stdout" 2>"$work/stderr"
status=$?
[ "$status" -eq 0 ] && pass || fail "validate nonatomic beside cpython: exit $status ($(tail -1 "$work/stderr"))"
python3 - "$work/vout" <<'PY' && pass || fail "validate: the cells and rows files do not hold what the command ran"
import csv, glob, sys
[cells_path] = glob.glob(sys.argv[1] + "/validate-nonatomic-cpython-*-cells.csv")
[rows_path] = [p for p in glob.glob(sys.argv[1] + "/validate-nonatomic-cpython-*.csv") if p != cells_path]
cells = list(csv.DictReader(open(cells_path)))
rows = list(csv.DictReader(open(rows_path)))
# 8 synthetic variants (shared-hot thrice) and the one trace, each at 1 and 2 threads.
assert len(cells) == 18, len(cells)
names = [c["cell"] for c in cells]
assert "shared-hot/ext-type@1" in names and "trace/method_shared@2" in names, names
by_name = {c["cell"]: c for c in cells}
assert by_name["handoff/data@1"]["status"] == "cannot run" and "multiple" in by_name["handoff/data@1"]["reason"]
assert by_name["shared-hot/data@2"]["status"] == "cannot run" and "nonatomic" in by_name["shared-hot/data@2"]["reason"]
measured = [c for c in cells if c["status"] == "measured"]
assert measured and all(c["status"] in ("measured", "cannot run") for c in cells)
for c in measured:
    ratio = float(c["ratio"])
    assert abs(ratio - float(c["model_ns_per_op"]) / float(c["real_ns_per_op"])) <= 0.01 * ratio + 2e-3, c
    assert float(c["ratio_low"]) <= ratio <= float(c["ratio_high"]), c
assert float(by_name["churn/data@1"]["births_per_op"]) > 0 and float(by_name["private@1"]["births_per_op"]) == 0
# Two rows per repetition of each measured cell, the model's then the real runtime's, on one stream.
assert len(rows) == 2 * 2 * len(measured), len(rows)
for model, real in zip(rows[0::2], rows[1::2]):
    assert (model["scheme"], real["scheme"]) == ("nonatomic", "cpython"), (model["scheme"], real["scheme"])
    assert model["rep"] == real["rep"] and model["threads"] == real["threads"] and model["stream_digest"] == real["stream_digest"]
PY
grep -q "^cell .*status .*model ns/op .*real ns/op .*ratio" "$work/stdout" && grep -q "^cells that cannot run:" "$work/stdout" \
  && pass || fail "validate: the printed table lacks its header or its cells that cannot run"

echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
