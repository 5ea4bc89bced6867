#!/usr/bin/env bash
# Checks of Tools/hpy-trace (HPy 0.9.0's trace and debug modes on a dup/close loop): bad options
# get one line on stderr and exit 64 before anything is installed or built; a short measurement
# passes its trace-count check, in which trace mode counts exactly the loop's HPy_Dup and
# HPy_Close calls and universal mode none; a short debug-mode measurement at --dup-depth 2
# passes its record checks; planted wrong expectations (--expect-extra-calls 1, --expect-leaked
# 1) are caught; and nothing is written into the repository. Installs hpy==0.9.0 with pip when missing.
# Usage: Tests/hpy-trace-tests.sh
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
run=Tools/hpy-trace/run.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }
calls=20000

# expect_error NAME CODE ARGS...: exit code CODE and exactly one line on stderr.
expect_error() {
  local name="$1" code="$2"; shift 2
  "$@" >"$work/stdout" 2>"$work/stderr"
  local status=$?
  if [ "$status" -ne "$code" ]; then fail "$name: exit $status, expected $code ($(head -1 "$work/stderr"))"
  elif [ "$(wc -l <"$work/stderr")" -ne 1 ]; then fail "$name: $(wc -l <"$work/stderr") lines on stderr, expected 1: $(cat "$work/stderr")"
  else pass; fi
}

# Bad options, with an empty cache: nothing may be built into it.
mkdir -p "$work/cache"
for bad in "--calls 0" "--calls ten" "--calls 1000000001" "--reps 0" "--reps" "--expect-extra-calls -1" "--bogus" "stray" \
           "--mode universal" "--dup-depth 0" "--dup-depth 65" "--calls 1 --dup-depth 2" "--expect-leaked -1"; do
  # shellcheck disable=SC2086
  expect_error "run.sh $bad" 64 env XDG_CACHE_HOME="$work/cache" "$run" $bad
done
[ -z "$(ls -A "$work/cache")" ] && pass || fail "a bad option still built into the cache: $(ls -A "$work/cache")"
expect_error "measure.py without --module-dir" 64 python3 Tools/hpy-trace/measure.py --calls 10
expect_error "measure.py with an empty --module-dir" 64 python3 Tools/hpy-trace/measure.py --module-dir "$work/cache"

# A short measurement: the count check passes and every repetition prints a row.
before="$(git status --porcelain)"
if "$run" --calls "$calls" --reps 2 >"$work/stdout" 2>"$work/stderr"; then
  pass
  grep -q "^call counts: ctx_Dup and ctx_Close rose by exactly $calls in every trace run, by 0 in every universal run$" "$work/stdout" \
    && pass || fail "no count line for $calls calls: $(cat "$work/stdout")"
  [ "$(grep -cE '^[12] +[0-9]' "$work/stdout")" -eq 2 ] && pass || fail "expected 2 repetition rows: $(cat "$work/stdout")"
else
  fail "run.sh --calls $calls --reps 2: $(tail -1 "$work/stderr")"
fi
[ "$(git status --porcelain)" = "$before" ] && pass || fail "the run wrote into the repository: $(git status --porcelain)"

# A planted wrong count: trace mode is asked for one call more than the loop makes.
expect_error "planted count" 1 "$run" --calls "$calls" --reps 1 --expect-extra-calls 1
grep -q "expected $((calls + 1)) each" "$work/stderr" && pass || fail "planted count: the message does not name the expected count: $(cat "$work/stderr")"

# Debug mode, two handles held at once: every record of the timed loop closed, the queue full.
if "$run" --mode debug --dup-depth 2 --calls "$calls" --reps 2 >"$work/stdout" 2>"$work/stderr"; then
  pass
  grep -q "^debug records: none of the timed loop's handles open after it and the closed-handles queue full" "$work/stdout" \
    && pass || fail "debug mode: no record line: $(cat "$work/stdout")"
  grep -q "($((calls / 2)) rounds of 2 held at once)" "$work/stdout" && pass || fail "debug mode: rounds not named: $(head -1 "$work/stdout")"
else
  fail "run.sh --mode debug --dup-depth 2 --calls $calls --reps 2: $(tail -1 "$work/stderr")"
fi

# A planted leak: debug mode is asked to find one handle of the loop still open.
expect_error "planted leak" 1 "$run" --mode debug --calls "$calls" --reps 1 --expect-leaked 1
grep -q "0 handle(s) of the timed loop were still open after it, expected 1" "$work/stderr" \
  && pass || fail "planted leak: the message does not name the open handles: $(cat "$work/stderr")"

echo "hpy trace tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
