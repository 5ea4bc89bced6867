#!/usr/bin/env bash
# Checks `refscale stress --module` against a built refscale: real HPy universal-ABI modules
# (Tools/hpy-modules/build.sh) called round after round under the debug context, one scheme of
# the rotation per round, nothing injected. A module that keeps the contract passes (exit 0, no
# report, every count exact); one that breaks it fails (exit 1) with each distinct report printed
# once, naming its function; bad input gets one line and exit 64 before any round.
# Usage: Tests/hpy-stress-tests.sh path/to/refscale
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
refscale="$(realpath "${1:?usage: $0 path/to/refscale}")"
modules="$("$root/Tools/hpy-modules/build.sh")" || { echo "hpy-stress-tests: the modules did not build"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Enough rounds to pass through the whole rotation once.
quick=(--seconds 0.6 --round-seconds 0.03)
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }
seed="$modules/seedexample.hpy0.so"
lists="$modules/listwalk.hpy0.so"

# stress ARGS...: runs stress --module, keeping its status, stdout and stderr.
stress() {
  timeout 300 "$refscale" stress "${quick[@]}" "$@" >"$work/stdout" 2>"$work/stderr"
  status=$?
}

# expect_out NAME PATTERN: the last run's stdout has a line matching PATTERN (grep -E).
expect_out() {
  if grep -qE -- "$2" "$work/stdout"; then pass; else fail "$1: no line of stdout matches '$2' ($(tail -1 "$work/stderr" | cut -c1-300))"; fi
}

# expect_clean NAME ARGS...: exit 0, nothing reported, every round's counts exact, and every
# scheme of the rotation that takes the workload ran a round; noop's refusal named on one line.
expect_clean() {
  local name="$1"; shift
  stress "$@"
  if [ "$status" -ne 0 ]; then fail "$name: exit $status, expected 0 ($(tail -1 "$work/stderr" | cut -c1-300))"; return; fi
  pass
  expect_out "$name: nothing reported" "^[0-9]+ rounds, [1-9][0-9]* calls; counts exact in ([0-9]+) of \\1 rounds; 0 violation\\(s\\) reported$"
  expect_out "$name: the verdict" "^no violation reported, every count exact$"
  local rows bad
  rows="$(awk '$1 ~ /^[0-9]+$/ && $2 != "rounds,"' "$work/stdout")"
  bad="$(awk '$1 ~ /^[0-9]+$/ && $2 != "rounds," && ($6 != 0 || $7 != "-" || $8 != "exact")' <<<"$rows")"
  if [ -z "$rows" ] || [ -n "$bad" ]; then fail "$name: a round reported or was not exact: $(head -1 <<<"$bad")"; else pass; fi
  for scheme in gil atomic biased perthread handle-local arena handle-table handle-local/high16-eager handle-local/low3-hpy; do
    if awk -v s="$scheme" '$2 == s' <<<"$rows" | grep -q .; then pass; else fail "$name: no round on $scheme"; fi
  done
  if awk '$2 == "noop"' <<<"$rows" | grep -q .; then fail "$name: a round ran on noop"; else pass; fi
  if [ "$(grep -c 'left out of the rotation: workload hpy: noop' "$work/stderr")" -eq 1 ] && ! grep -q 'error' "$work/stderr"; then pass
  else fail "$name: noop's refusal not named once on stderr ($(head -2 "$work/stderr" | cut -c1-200))"; fi
}

# expect_breach NAME PATTERN ARGS...: exit 1, a distinct report matching PATTERN on stdout, each
# distinct report printed once, and one error line.
expect_breach() {
  local name="$1" pattern="$2"; shift 2
  stress "$@"
  if [ "$status" -ne 1 ]; then fail "$name: exit $status, expected 1 ($(tail -1 "$work/stderr" | cut -c1-300))"; return; fi
  pass
  expect_out "$name: the report" "$pattern"
  if grep -qE '^refscale: error: the module broke the handle contract: [1-9][0-9]* violation' "$work/stderr"; then pass
  else fail "$name: no error line ($(tail -1 "$work/stderr" | cut -c1-300))"; fi
  local heads
  heads="$(grep -E '^[a-z-]+( in .*)?, calling .*: [0-9]+ report\(s\) kept' "$work/stdout")"
  if [ -n "$heads" ] && [ -z "$(sort <<<"$heads" | sed -E 's/: [0-9]+ report.*//' | uniq -d)" ]; then pass
  else fail "$name: distinct reports not printed once each"; fi
}

expect_clean "seedexample add(2, 3)" --threads 2 --module "$seed" --function add --hpy-args 2,3
expect_clean "listwalk total(list:100)" --threads 2 --module "$lists" --function total --hpy-args list:100
# Several functions: each round calls each, in the order given (longer: three runs a round).
quick=(--seconds 2 --round-seconds 0.03)
expect_clean "seedexample add, newPerson and Person.setNameField" --threads 2 --module "$seed" \
  --function add --hpy-args 2,3 --function newPerson --hpy-args none --function Person.setNameField --hpy-args str:Ada
expect_out "several functions: each has its rows" "^ *0 .* newPerson\(\) "
expect_out "several functions: each has its rows" "^ *0 .* Person\.setNameField\(str:Ada\) "
quick=(--seconds 0.6 --round-seconds 0.03)

expect_breach "Person.setName keeps its handle" \
  "^leak in seedexample\.Person\.setName, calling Person\.setName\(str:Ada\): [0-9]+ report" \
  --threads 2 --module "$seed" --function Person.setName --hpy-args str:Ada
expect_out "Person.setName: the report's text" "^  leak: thread [0-9]+ left handle 0x[0-9a-f]+ open at the exit of its scope .*\[extension function seedexample\.Person\.setName\]$"
expect_out "Person.setName: the round's row names the kind and function" "^ *[0-9]+ .* Person\.setName\(str:Ada\) .* leak=[0-9]+ \(seedexample\.Person\.setName\)"
expect_breach "stash on two threads" \
  "^wrong-thread in seedexample\.stash, calling stash\(7\): [0-9]+ report" \
  --threads 2 --module "$seed" --function stash --hpy-args 7
expect_out "stash: the report's text" "^  wrong-thread: thread [0-9]+ used handle 0x[0-9a-f]+ .*; it belongs to thread [0-9]+.*\[extension function seedexample\.stash\]$"
# A clean function beside a breaking one: the breach is the breaking one's alone.
expect_breach "add beside closeTwice" "^double-close in seedexample\.closeTwice, calling closeTwice\(7\)" \
  --threads 2 --module "$seed" --function add --hpy-args 2,3 --function closeTwice --hpy-args 7
if grep -qE ', calling add\(2,3\):' "$work/stdout"; then fail "add beside closeTwice: a report charged to add"; else pass; fi
expect_breach "setName with --backtraces" "^leak in seedexample\.Person\.setName" \
  --seconds 0.05 --round-seconds 0.02 --scheme atomic --backtraces --threads 1 --module "$seed" --function Person.setName --hpy-args str:Ada
expect_out "--backtraces: the opening stack" "^    the handle was opened at:$"
expect_out "--backtraces: the module's frame" "seedexample\.hpy0\.so"

# Bad input: exit 64, one line on stderr, nothing on stdout (no round ran).
expect_error() {
  local name="$1" pattern="$2"; shift 2
  stress "$@"
  if [ "$status" -ne 64 ]; then fail "$name: exit $status, expected 64 ($(head -1 "$work/stderr" | cut -c1-200))"
  elif [ "$(wc -l <"$work/stderr")" -ne 1 ]; then fail "$name: $(wc -l <"$work/stderr") lines on stderr, expected 1"
  elif [ -s "$work/stdout" ]; then fail "$name: a round was printed"
  elif ! grep -qE -- "$pattern" "$work/stderr"; then fail "$name: '$(cat "$work/stderr")' does not match '$pattern'"
  else pass; fi
}
expect_error "a missing file" "missing\.hpy0\.so" --module "$work/missing.hpy0.so" --function f
expect_error "a library that is no HPy module" "HPyInit_|universal" --module "$(ldconfig -p | grep -m1 -o '/[^ ]*libm.so.6')" --function f
expect_error "an unknown function" "its functions: add, add_longs" --module "$seed" --function nope
expect_error "too many arguments" "gives 2 argument\(s\); total takes 1" --module "$lists" --function total --hpy-args list:3,4
expect_error "an argument refscale cannot make" "'abc' is none of" --module "$lists" --function total --hpy-args abc
expect_error "a function failing on its arguments" "add_longs" --module "$seed" --function add_longs --hpy-args 2,str:x
# The first function's trial call passed and said what it did (run --workload hpy's remark);
# the second's refusal is the one error line, and no round ran.
stress --module "$seed" --function add --hpy-args 2,3 --function add_longs --hpy-args 2,str:x
if [ "$status" -eq 64 ] && [ ! -s "$work/stdout" ] && [ "$(grep -c '^refscale: error: ' "$work/stderr")" -eq 1 ] \
   && tail -1 "$work/stderr" | grep -q 'add_longs'; then pass
else fail "the second function failing on its arguments: exit $status, $(wc -l <"$work/stdout") lines on stdout ($(tail -1 "$work/stderr" | cut -c1-200))"; fi
expect_error "--hpy-args without --module" "need --module" --hpy-args 2,3
expect_error "--function without --module" "need --module" --function add
expect_error "--module without --function" "needs --function" --module "$seed"
expect_error "fewer --hpy-args than --function" "one per --function" --module "$seed" --function add --function add --hpy-args 2,3
expect_error "--inject all with --module" "--inject all with --module" --inject all --module "$seed" --function add --hpy-args 2,3
expect_error "--inject leak with --module" "--inject leak with --module" --inject leak --module "$seed" --function add --hpy-args 2,3
expect_error "only noop in the rotation" "no scheme of the rotation runs the hpy workload" --scheme noop --module "$seed" --function add --hpy-args 2,3
expect_error "an unknown scheme" "unknown stress scheme" --scheme nope --module "$seed" --function add --hpy-args 2,3
stress --inject none --seconds 0.02 --round-seconds 0.02 --scheme atomic --threads 1 --module "$seed" --function add --hpy-args 2,3
if [ "$status" -eq 0 ]; then pass; else fail "--inject none with --module: exit $status"; fi

echo "hpy-stress-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
