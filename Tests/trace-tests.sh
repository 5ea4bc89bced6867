#!/usr/bin/env bash
# Checks of `refscale trace` against a built refscale. Always: bad input gets one line on stderr,
# a non-zero exit and leaves no file (wrong magic, truncated, another version, a missing
# program, and, as root, a user with no deb-src entry and no root). When the instrumented
# interpreter is built (Tools/cpython-trace/build.sh --built), or with --build: a program with
# known counts shows exactly those events, and _json's counting is marked as extension code.
# Usage: Tests/trace-tests.sh path/to/refscale [--build]
set -uo pipefail
refscale="$(realpath "${1:?usage: $0 path/to/refscale [--build]}")"
build="${2:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }

# expect_error NAME CODE ARGS...: exit code CODE, exactly one line on stderr, no trace left.
expect_error() {
  local name="$1" code="$2"; shift 2
  rm -f "$work/out.rstrace"
  "$@" >"$work/stdout" 2>"$work/stderr"
  local status=$?
  if [ "$status" -ne "$code" ]; then fail "$name: exit $status, expected $code ($(head -1 "$work/stderr"))"
  elif [ "$(wc -l <"$work/stderr")" -ne 1 ]; then fail "$name: $(wc -l <"$work/stderr") lines on stderr, expected 1"
  elif compgen -G "$work/out.rstrace*" >/dev/null; then fail "$name: left a trace file behind"
  else pass; fi
}
expect_message() { grep -q "$2" "$work/stderr" || fail "$1: the message does not say '$2': $(cat "$work/stderr")"; }

sample="$(ls "$root"/results/traces/*.rstrace 2>/dev/null | head -1)"
if [ -z "$sample" ]; then fail "no committed trace in results/traces to damage"; fi

printf 'NOTATRACE-at-all' >"$work/magic.rstrace"
expect_error "wrong magic" 64 "$refscale" trace info "$work/magic.rstrace"
expect_message "wrong magic" "not a refscale trace"
if [ -n "$sample" ]; then
  head -c "$(( $(stat -c %s "$sample") / 2 ))" "$sample" >"$work/truncated.rstrace"
  expect_error "truncated trace" 64 "$refscale" trace info "$work/truncated.rstrace"
  expect_message "truncated trace" "truncated"
  cp "$sample" "$work/version.rstrace"
  printf '\x09\x00' | dd of="$work/version.rstrace" bs=1 seek=8 conv=notrunc status=none
  expect_error "another version" 64 "$refscale" trace info "$work/version.rstrace"
  expect_message "another version" "version 9 is not one this refscale reads"
  # trace info's table of events against the second reader's (read_trace.py, written from
  # FORMAT.md alone): an exit status of 0 is not enough, the counts must be the file's.
  if "$refscale" trace info "$sample" >"$work/info" 2>&1; then
    python3 Tests/trace/read_trace.py "$sample" dict >"$work/second-reader.json" \
      && python3 - "$work/info" "$work/second-reader.json" <<'PY' && pass || fail "trace info of $sample: its events differ from read_trace.py's: $(grep -A5 '^events by kind' "$work/info")"
import json, sys
totals = json.load(open(sys.argv[2]))["totals"]
table = {}
for line in open(sys.argv[1]):
    words = line.split()
    if len(words) == 4 and words[0] in ("birth", "incref", "decref", "death"):
        table[f"{words[0]}/interpreter"], table[f"{words[0]}/extension"] = int(words[1]), int(words[2])
assert sum(totals.values()) > 0 and table == totals, (table, totals)
PY
  else
    fail "trace info of $sample: $(tail -1 "$work/info")"
  fi
fi
expect_error "missing trace file" 64 "$refscale" trace info "$work/none.rstrace"
expect_error "missing program" 64 "$refscale" trace record --out "$work/out.rstrace" -- "$work/none.py"
expect_message "missing program" "does not exist"
expect_error "no program" 64 "$refscale" trace record --out "$work/out.rstrace"
expect_error "zero max-ops" 64 "$refscale" trace record --out "$work/out.rstrace" --max-ops 0 -- Tests/trace/known_counts.py 1
expect_error "infinite warmup" 64 "$refscale" trace record --out "$work/out.rstrace" --warmup inf -- Tests/trace/known_counts.py 1
expect_error "output directory missing" 64 "$refscale" trace record --out "$work/no/out.rstrace" -- Tests/trace/known_counts.py 1

# No deb-src entry and not root: apt is pointed at an empty source list (APT_CONFIG), the
# command runs as nobody with an empty cache, and must say what to run, in one line. Nobody may
# not reach the checkout (root's home, a mktemp -d folder: mode 700), so the binary runs from a
# copy in a folder of /tmp open to all, beside the files it looks for above itself
# (Tools/cpython-trace, and bin/trace-deps, which build.sh reads), and from that folder as its
# working directory.
# no_deb_src_check NAME BINARY
no_deb_src_check() {
  local name="$1" binary="$2" open
  open="$(mktemp -d /tmp/refscale-nobody.XXXXXX)"
  mkdir -p "$open/apt/sources.list.d" "$open/apt/lists/partial" "$open/apt/cache/archives/partial" "$open/home" \
    "$open/checkout/bin" "$open/checkout/Tools" "$open/checkout/.build/release"
  : >"$open/apt/sources.list"
  cat >"$open/apt/apt.conf" <<CONF
Dir::Etc::SourceList "$open/apt/sources.list";
Dir::Etc::SourceParts "$open/apt/sources.list.d";
Dir::State::Lists "$open/apt/lists";
Dir::Cache "$open/apt/cache";
CONF
  cp -r "$root/Tools/cpython-trace" "$open/checkout/Tools/"
  cp "$root/bin/trace-deps" "$open/checkout/bin/"
  cp "$binary" "$open/checkout/.build/release/refscale"
  cp "$root/Tests/trace/known_counts.py" "$open/program.py"
  chmod -R a+rwX "$open"
  expect_error "$name" 1 env -C "$open" -u REFSCALE_TRACE_PYTHON HOME="$open/home" XDG_CACHE_HOME="$open/home/.cache" \
    APT_CONFIG="$open/apt/apt.conf" setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$open/checkout/.build/release/refscale" trace record --out "$open/out.rstrace" -- "$open/program.py" 1
  expect_message "$name" "deb-src"
  rm -rf "$open"
}
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
  no_deb_src_check "no deb-src and not root" "$refscale"
  # The same as from a checkout in a private folder (mode 700), which nobody cannot enter: the
  # binary there, and the tests run from there.
  private="$(mktemp -d)"
  chmod 700 "$private"
  cp "$refscale" "$private/refscale"
  cd "$private"
  no_deb_src_check "no deb-src and not root, from a private folder" "$private/refscale"
  cd "$root"
  rm -rf "$private"
else
  echo "skipped: the no-deb-src check needs root (to run as another user)" >&2
fi

python=""
if [ "$build" = --build ]; then
  python="$(Tools/cpython-trace/build.sh)" || fail "building the instrumented interpreter"
else
  python="$(Tools/cpython-trace/build.sh --built)" || python=""
fi
if [ -n "$python" ]; then
  # known_counts.py K: each of two workers runs list(itertools.repeat(marker, K)) and drops the
  # list. On `marker`, a worker makes K + 3 increments (LOAD_GLOBAL; the argument tuple
  # _PyObject_MakeTpCall builds for the type's call; repeat_new keeping its element; K
  # repeat_next) and K + 3 decrements (that tuple's dealloc; the call's stack argument;
  # repeat_dealloc; K in list_dealloc), all in the interpreter. Two values of K check that the
  # K part is exact.
  for k in 1 1000; do
    if REFSCALE_TRACE_PYTHON="$python" "$refscale" trace record --out "$work/k$k.rstrace" -- Tests/trace/known_counts.py "$k" 2>"$work/stderr"; then
      counts="$(python3 Tests/trace/read_trace.py "$work/k$k.rstrace" Marker)" || { fail "reading the K=$k trace: $counts"; continue; }
      expected="[{\"incref/interpreter\": $((k + 3)), \"incref/extension\": 0, \"decref/interpreter\": $((k + 3)), \"decref/extension\": 0}]"
      for worker in 1 2; do
        got="$(python3 -c 'import json, sys; print(json.dumps([json.loads(sys.argv[1])["threads"][int(sys.argv[2])]]))' "$counts" "$worker")"
        [ "$got" = "$expected" ] && pass || fail "K=$k worker $worker: $got, expected $expected"
      done
      "$refscale" trace info "$work/k$k.rstrace" >/dev/null && pass || fail "trace info of the K=$k trace"
    else
      fail "recording known_counts.py $k: $(tail -1 "$work/stderr")"
    fi
  done
  # _json counts in its own shared object: its events must be marked extension.
  if REFSCALE_TRACE_PYTHON="$python" "$refscale" trace record --out "$work/json.rstrace" --max-ops 5000000 -- Experiments/traces/json_shared.py --iterations 2000 2>"$work/stderr"; then
    extension="$(python3 Tests/trace/read_trace.py "$work/json.rstrace" dict | python3 -c 'import json, sys; t = json.load(sys.stdin)["totals"]; print(t["incref/extension"] + t["decref/extension"])')"
    [ "$extension" -gt 0 ] && pass || fail "json_shared.py: no event marked extension"
  else
    fail "recording json_shared.py: $(tail -1 "$work/stderr")"
  fi
  # A failing program: its status passes through and no trace is left.
  printf 'import sys\nprint("partial output")\nsys.exit(3)\n' >"$work/fails.py"
  REFSCALE_TRACE_PYTHON="$python" "$refscale" trace record --out "$work/out.rstrace" -- "$work/fails.py" >"$work/stdout" 2>"$work/stderr"
  status=$?
  if [ "$status" -ne 3 ]; then fail "failing program: exit $status, expected 3"
  elif [ -e "$work/out.rstrace" ]; then fail "failing program: a trace was left"
  elif ! grep -q "partial output" "$work/stdout"; then fail "failing program: its output did not pass through"
  else pass; fi
else
  echo "skipped: the recording checks need the instrumented interpreter (Tools/cpython-trace/build.sh)" >&2
fi

echo "trace tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
