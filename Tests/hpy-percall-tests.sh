#!/usr/bin/env bash
# Checks of Tools/hpy-percall (ns per call of HPy's microbenchmark functions, HPy's universal mode
# on CPython beside refscale's model schemes): bad options get one line on stderr and exit 64
# before anything is installed or built; a sitting at a tiny duration writes its three files with
# their columns and one row per function and side (summary), per measurement (reps) and per
# refscale run (refscale's own rows), both sides of every function ran (the CPython side's calls
# and loop cost, refscale's hpy_workload rows), the table names every function on every side, and
# nothing is written into the repository. No figure is checked: the durations are too short to
# mean anything. Usage: Tests/hpy-percall-tests.sh path/to/refscale
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
refscale="$(realpath "${1:?usage: $0 path/to/refscale}")"
cd "$root"
run=Tools/hpy-percall/run.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }

# expect_error NAME ARGS...: exit 64 and exactly one line on stderr.
expect_error() {
  local name="$1"; shift
  "$@" >"$work/stdout" 2>"$work/stderr"
  local status=$?
  if [ "$status" -ne 64 ]; then fail "$name: exit $status, expected 64 ($(head -1 "$work/stderr"))"
  elif [ "$(wc -l <"$work/stderr")" -ne 1 ]; then fail "$name: $(wc -l <"$work/stderr") lines on stderr, expected 1: $(cat "$work/stderr")"
  else pass; fi
}

# Bad options, with an empty cache: nothing may be built into it.
mkdir -p "$work/cache"
touch "$work/taken.csv"
for bad in "--reps 0" "--reps many" "--duration 0" "--duration inf" "--warmup -1" "--schemes cpython" "--schemes noop" \
           "--schemes atomic,atomic" "--schemes" "--functions nope" "--functions listwalk.total,listwalk.total" \
           "--out $work/x.txt" "--out $work/taken.csv" "--refscale $work/missing" "stray" "--bogus"; do
  # shellcheck disable=SC2086
  expect_error "run.sh $bad" env XDG_CACHE_HOME="$work/cache" "$run" --refscale "$refscale" $bad
done
[ -z "$(ls -A "$work/cache")" ] && pass || fail "a bad option still built into the cache: $(ls -A "$work/cache")"
expect_error "percall.py without its module folders" python3 Tools/hpy-percall/percall.py --refscale "$refscale" --out "$work/y.csv"
expect_error "percall.py with an empty module folder" python3 Tools/hpy-percall/percall.py --refscale "$refscale" \
  --cpython-modules "$work/cache" --refscale-modules "$work/cache" --out "$work/y.csv"

# check SCRIPT: runs a Python check of the sitting's files; a line it prints is a failure.
check() {
  local name="$1" script="$2"; shift 2
  local problems
  problems="$(python3 -c "$script" "$@" 2>&1)"
  if [ -n "$problems" ]; then fail "$name: $problems"; else pass; fi
}

# A sitting of two functions, two schemes and two repetitions at a tiny duration.
before="$(git status --porcelain)"
functions=hpy_simple.noargs,listwalk.total
schemes=atomic,handle-local
if "$run" --refscale "$refscale" --reps 2 --duration 0.02 --warmup 0.005 --schemes "$schemes" --functions "$functions" \
    --out "$work/sitting/s.csv" >"$work/stdout" 2>"$work/stderr"; then
  pass
  cat >"$work/sitting.py" <<'PY'
import csv, sys
folder, functions, sides = sys.argv[1], sys.argv[2].split(","), ["cpython"] + sys.argv[3].split(",")
read = lambda name: list(csv.DictReader(open(f"{folder}/{name}")))
named = lambda row: row["module"] + "." + row["function"]
run_named = lambda row: row["module"].rsplit("/", 1)[-1].removesuffix(".hpy0.so") + "." + row["function"]
summary, reps, runs = read("s.csv"), read("s-reps.csv"), read("s-refscale.csv")
expected = ["module", "function", "hpy_args", "side", "reps", "ns_per_call", "interval_low", "interval_high",
            "interval_confidence", "over_cpython", "loop_ns", "host", "python_version", "hpy_version", "git_commit", "timestamp"]
if list(summary[0]) != expected: print(f"summary columns {list(summary[0])}")
pairs = sorted((named(row), row["side"]) for row in summary)
if pairs != sorted((f, s) for f in functions for s in sides): print(f"summary rows {pairs}")
# Each summary row from its two measurements: the median their mean, below 6 repetitions the
# interval their min-max, and /cpython the ratio of the two sides' medians.
measured = {}
for row in reps:
    measured.setdefault((named(row), row["side"]), []).append(float(row["ns_per_call"]))
close = lambda a, b: abs(a - b) <= 0.0015 + 1e-3 * abs(b)
for row in summary:
    samples = measured.get((named(row), row["side"]), [])
    if row["reps"] != "2" or len(samples) != 2: print(f"summary row {row}: measurements {samples}")
    elif not (close(float(row["ns_per_call"]), sum(samples) / 2) and close(float(row["interval_low"]), min(samples))
              and close(float(row["interval_high"]), max(samples))):
        print(f"summary row {named(row)} {row['side']}: median {row['ns_per_call']}, interval {row['interval_low']}-{row['interval_high']} from {samples}")
    else:
        cpython = measured[(named(row), "cpython")]
        if not close(float(row["over_cpython"]), (sum(samples) / 2) / (sum(cpython) / 2)): print(f"over_cpython {row}")
    if (row["side"] == "cpython") != (row["loop_ns"] != ""): print(f"loop_ns on the wrong side: {row}")
    if row["python_version"][:5] != "3.11." or row["hpy_version"] != "0.9.0": print(f"versions {row}")
if len(reps) != 2 * len(functions) * len(sides): print(f"{len(reps)} measurements, expected {2 * len(functions) * len(sides)}")
# A refscale measurement is its run's row; a CPython one's loop is sized to at least 1000 calls.
for row in reps:
    if row["side"] == "cpython":
        if int(row["calls"]) < 1000: print(f"measurement {row}: fewer than 1000 calls")
    elif any(run_named(run) == named(row) and run["scheme"] == row["side"] for run in runs):
        matching = [run for run in runs if run_named(run) == named(row) and run["scheme"] == row["side"]
                    and close(float(run["hpy_ns_per_call"]), float(row["ns_per_call"])) and run["hpy_calls"] == row["calls"]]
        if not matching: print(f"measurement {row}: no refscale row with its ns per call and calls")
    else:
        print(f"measurement {row}: no refscale row of its function and scheme")
# Alternation: the sides of a function in one order in repetition 1, reversed in repetition 2.
for function in functions:
    order = {rep: [row["side"] for row in sorted((r for r in reps if named(r) == function and r["rep"] == rep),
                                                 key=lambda r: int(r["order"]))] for rep in ("1", "2")}
    if order["1"] != sides or order["2"] != sides[::-1]: print(f"{function}: sides in order {order}")
if len(runs) != 2 * len(functions) * (len(sides) - 1): print(f"{len(runs)} refscale rows")
# Valid, hpy_simple's too: its exec slot's leaked type is closed on the module's behalf.
for row in runs:
    if row["valid"] != "true": print(f"refscale row {row['scheme']} {row['function']}: not valid: {row['validation_error']}")
schemes = sorted({row["scheme"] for row in runs})
if schemes != sorted(sides[1:]): print(f"refscale schemes {schemes}")
PY
  check "the sitting's files" "$(cat "$work/sitting.py")" "$work/sitting" "$functions" "$schemes"
  for function in "hpy_simple.noargs()" "listwalk.total(list:100)"; do
    for side in cpython atomic handle-local; do
      grep -qE "^$(sed 's/[.()]/\\&/g' <<<"$function") +$side +[0-9]" "$work/stdout" && pass || fail "no table line for $function on $side: $(cat "$work/stdout")"
    done
  done
  grep -q "^files: $work/sitting/s.csv, $work/sitting/s-reps.csv, $work/sitting/s-refscale.csv$" "$work/stdout" \
    && pass || fail "the files line: $(tail -1 "$work/stdout")"
else
  fail "run.sh at a tiny duration: $(tail -1 "$work/stderr")"
fi
[ "$(git status --porcelain)" = "$before" ] && pass || fail "the sitting wrote into the repository: $(git status --porcelain)"

# Every function on both sides, one repetition, one scheme: each runs under HPy's universal mode
# on CPython and under refscale.
if "$run" --refscale "$refscale" --reps 1 --duration 0.005 --warmup 0.001 --schemes atomic --out "$work/all/a.csv" \
    >"$work/stdout" 2>"$work/stderr"; then
  cat >"$work/all.py" <<'PY'
import csv, sys
sys.path.insert(0, "Tools/hpy-percall")
import percall
rows = list(csv.DictReader(open(sys.argv[1])))
ran = {(row["module"], row["function"], row["side"]) for row in rows}
for module, function, _ in percall.FUNCTIONS:
    for side in ("cpython", "atomic"):
        if (module, function, side) not in ran: print(f"{module}.{function} did not run on {side}")
PY
  PYTHONDONTWRITEBYTECODE=1 check "every function on both sides" "$(cat "$work/all.py")" "$work/all/a.csv"
else
  fail "run.sh over every function: $(tail -1 "$work/stderr")"
fi

echo "hpy percall tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
