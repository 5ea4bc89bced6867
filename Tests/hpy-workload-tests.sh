#!/usr/bin/env bash
# Checks `--workload hpy` against a built refscale: real HPy universal-ABI modules (refscale's own,
# Experiments/hpy, and three of HPy 0.9.0's, built from its sdist by Tools/hpy-modules/build.sh)
# run under every scheme that can hold their objects and every context, with their counts
# validated; what one call does is counted by kind; the debug context reports each breach of the
# handle contract the modules make, naming the extension function; bad input is refused with one
# line and exit 64. Usage: Tests/hpy-workload-tests.sh path/to/refscale
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
refscale="$(realpath "${1:?usage: $0 path/to/refscale}")"
modules="$("$root/Tools/hpy-modules/build.sh")" || { echo "hpy-workload-tests: the modules did not build"; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
quick=(--duration 0.03 --warmup 0.005 --reps 1)
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }

# column CSV NAME: the column's values, one per row.
column() { python3 -c 'import csv, sys; [print(row[sys.argv[2]]) for row in csv.DictReader(open(sys.argv[1]))]' "$1" "$2"; }

# expect_valid NAME ARGS...: the run exits 0 and every row is valid.
expect_valid() {
  local name="$1"; shift
  rm -f "$work/out.csv"
  if ! timeout 120 "$refscale" run "${quick[@]}" --csv "$work/out.csv" "$@" >"$work/stdout" 2>"$work/stderr"; then
    fail "$name: exit status not 0 ($(grep error "$work/stderr" | head -1 | cut -c1-300))"
  elif [ -n "$(column "$work/out.csv" valid | grep -v '^true$')" ]; then
    fail "$name: a row is not valid"
  else pass; fi
}

# expect_error NAME ARGS...: exit 64 and exactly one line on stderr, before any row or table line.
expect_error() {
  local name="$1"; shift
  rm -f "$work/out.csv"
  timeout 60 "$refscale" run "${quick[@]}" --csv "$work/out.csv" "$@" >"$work/stdout" 2>"$work/stderr"
  local status=$?
  if [ "$status" -ne 64 ]; then fail "$name: exit $status, expected 64 ($(head -1 "$work/stderr" | cut -c1-200))"
  elif [ "$(wc -l <"$work/stderr")" -ne 1 ]; then fail "$name: $(wc -l <"$work/stderr") lines on stderr, expected 1"
  elif [ -e "$work/out.csv" ]; then fail "$name: a CSV file was written"
  elif [ -s "$work/stdout" ]; then fail "$name: stdout is not empty: $(head -1 "$work/stdout" | cut -c1-120)"
  else pass; fi
}

# expect_stderr NAME PATTERN: the last command's stderr has a line matching PATTERN (grep -E).
expect_stderr() {
  if grep -qE -- "$2" "$work/stderr"; then pass; else fail "$1: no line on stderr matches '$2' ($(grep error "$work/stderr" | head -1 | cut -c1-300))"; fi
}

seed="$modules/seedexample.hpy0.so"
lists="$modules/listwalk.hpy0.so"
hpy() { echo --workload hpy --module "$1" --function "$2" ${3:+--hpy-args "$3"}; }

# Every scheme that can hold an extension's objects, every context: ints and floats, an
# instance's HPyField, lists and tuples made, walked and freed. One sweep (one process) per
# thread list; every combination must have its row, and every row must be valid.
matrix_sweep() {
  local name="$1" threads="$2"; shift 2
  local out="$work/matrix-$name"
  python3 - "$out.json" "$threads" "$@" <<'PY'
import json, sys
path, threads, calls = sys.argv[1], sys.argv[2], sys.argv[3:]
workloads = []
for call in calls:
    module, function, arguments = (call.split("|") + ["none"])[:3]
    workloads.append({"name": "hpy", "module": module, "function": function, "hpy_args": arguments or "none"})
json.dump({"name": "hpy-matrix", "schemes": ["gil", "atomic", "biased", "perthread", "handle-local", "arena", "handle-table"],
           "context": ["direct", "universal", "debug", "trace"], "workloads": workloads,
           "threads": [int(t) for t in threads.split(",")], "repetitions": 1, "duration": 0.03, "warmup": 0.005, "seed": 1},
          open(path, "w"))
PY
  mkdir -p "$out"
  if ! timeout 600 "$refscale" sweep "$out.json" --out "$out" >"$work/stdout" 2>"$work/stderr"; then
    fail "matrix $name: the sweep exited non-zero ($(grep error "$work/stderr" | head -1 | cut -c1-300))"; return
  fi
  local csv
  csv="$(ls "$out"/*.csv)"
  local results
  results="$(python3 - "$csv" "$out.json" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
experiment = json.load(open(sys.argv[2]))
threads = [str(t) for t in experiment["threads"]]
seen = {}
for row in rows:
    seen[(row["scheme"], row["context"], row["module"], row["function"], row["hpy_args"], row["threads"])] = row
for scheme in experiment["schemes"]:
    for context in experiment["context"]:
        for workload in experiment["workloads"]:
            call = (workload["module"], workload["function"], workload["hpy_args"])
            name = f"{scheme} {context} {call[0].rsplit('/', 1)[-1]} {call[1]}({call[2]})"
            runs = [seen.get((scheme, context, *call, t)) for t in threads]
            if any(row is None for row in runs):
                print(f"FAIL {name}: no row at threads {threads}")
            elif any(row["valid"] != "true" for row in runs):
                print(f"FAIL {name}: " + "; ".join(row["validation_error"] for row in runs if row["valid"] != "true")[:300])
            else:
                print("PASS")
PY
)"
  while read -r verdict rest; do
    if [ "$verdict" = PASS ]; then pass; else fail "$rest"; fi
  done <<<"$results"
}
matrix_sweep add 1,2 "$seed|add|2,3.5"
# HPy's hpy_simple and step_03_hpy_final, unchanged: every function that needs no interpreter,
# at 1 and 2 threads. Their exec slots leave their type's handle open, which the run closes on
# the module's behalf, so their rows are valid; call_with_tuple and call_with_tuple_and_dict
# call the module's own type through HPy_CallTupleDict (an empty tuple, an empty dict).
simple="$modules/hpy_simple.hpy0.so"
final="$modules/step_03_hpy_final.hpy0.so"
matrix_sweep hpy-simple 1,2 "$simple|noargs" "$simple|onearg|1" "$simple|varargs|1,2" "$simple|allocate_int" "$simple|allocate_tuple" \
  "$simple|Foo.noargs" "$simple|Foo.onearg|1" "$simple|Foo.varargs|1,2" "$simple|Foo.allocate_int" "$simple|Foo.allocate_tuple" "$simple|Foo" \
  "$simple|call_with_tuple|type:Foo,tuple:" "$simple|call_with_tuple_and_dict|type:Foo,tuple:,dict:"
matrix_sweep step-03 1,2 "$final|Point.norm" "$final|dot|new:Point,new:Point" "$final|Point|1.5,2.5" "$final|Point|kw:x=1.5;y=2.5;obj=str:a"
matrix_sweep functions 2 "$seed|Person.setNameField|str:Ada" "$lists|pairs|list:21" "$lists|reverse|list:9" "$seed|newPerson" \
  "$seed|makePerson|str:Ada" "$lists|maximum|list:30" "$lists|histogram|list:30"
expect_valid "nonatomic on one thread" --scheme nonatomic --threads 1 $(hpy "$lists" squares 30)
expect_valid "handle-local eager, atomic runtime" --scheme handle-local --release eager --runtime atomic --threads 2 $(hpy "$lists" squares 30)

# What one call does, by kind (the line `hpy: one call of ...`; the returned handle's close is
# the call's), and the run's objects. pairs(list:4) makes two tuples and the list holding them,
# whose items are kept references, all ended when the returned list is closed.
"$refscale" run "${quick[@]}" --scheme biased --threads 1 $(hpy "$lists" total list:100) --csv "$work/total.csv" >/dev/null 2>"$work/stderr"
expect_stderr "total's counts" "total\(list:100\): 0 dup, 101 close, 100 open, 1 objects made, 0 references kept, 0 ended"
"$refscale" run "${quick[@]}" --scheme atomic --threads 1 $(hpy "$lists" pairs list:4) >/dev/null 2>"$work/stderr"
expect_stderr "pairs' counts" "pairs\(list:4\): 0 dup, 7 close, 4 open, 3 objects made, 6 references kept, 6 ended"
"$refscale" run "${quick[@]}" --scheme atomic --threads 1 $(hpy "$seed" Person.setNameField str:Ada) >/dev/null 2>"$work/stderr"
expect_stderr "setNameField's counts" "setNameField\(str:Ada\): 1 dup, 1 close, 0 open, 0 objects made, 1 references kept, 0 ended"
"$refscale" run "${quick[@]}" --scheme atomic --threads 1 $(hpy "$seed" newPerson) >/dev/null 2>"$work/stderr"
expect_stderr "newPerson's counts (an HPyGlobal load)" "newPerson\(\): 0 dup, 2 close, 1 open, 1 objects made, 0 references kept, 0 ended"
"$refscale" run "${quick[@]}" --scheme atomic --threads 1 $(hpy "$lists" reverse list:4) >/dev/null 2>"$work/stderr"
expect_stderr "reverse's counts (items replaced)" "reverse\(list:4\): 1 dup, 5 close, 4 open, 0 objects made, 4 references kept, 4 ended"
allocated="$(column "$work/total.csv" objects_allocated)"
ops="$(column "$work/total.csv" run_ops)"
if [ "$allocated" -gt 0 ] && [ "$ops" -gt "$allocated" ]; then pass; else fail "total: objects_allocated $allocated, run_ops $ops"; fi

# The same counts as CSV columns, per call over every worker's calls of the run (the trampoline's
# close of the returned handle is the call's), each value what the module's C source makes the
# call do. expect_per_call NAME "COLUMN=VALUE ..." ARGS...: the run is valid, on every row each
# column holds its value and hpy_calls is a whole number of passes (--calls 64) of each worker.
# References ended by a call include what its drain ends for objects freed elsewhere (a lazy
# table's flush, another worker's arguments freed at its teardown while this one still calls):
# hpy_ended_per_call is checked on 1-thread rows only, under atomic, where every free is at once.
expect_per_call() {
  local name="$1" expected="$2"; shift 2
  rm -f "$work/out.csv"
  if ! timeout 120 "$refscale" run "${quick[@]}" --csv "$work/out.csv" "$@" >/dev/null 2>"$work/stderr"; then
    fail "$name: exit status not 0 ($(grep error "$work/stderr" | head -1 | cut -c1-300))"; return
  fi
  local problems
  problems="$(python3 - "$work/out.csv" "$expected" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
expected = dict(pair.split("=") for pair in sys.argv[2].split())
problems = []
for row in rows:
    if row["valid"] != "true":
        problems.append(f"a row is not valid: {row['validation_error']}")
    calls = int(row["hpy_calls"] or 0)
    if calls < 64 * int(row["threads"]) or calls % 64 != 0:
        problems.append(f"hpy_calls {calls} is not a whole number of passes, at least one of each of {row['threads']} worker(s)")
    for column, value in expected.items():
        if column == "hpy_ended_per_call" and row["threads"] != "1":
            continue
        if row[column] == "" or float(row[column]) != float(value):
            problems.append(f"{column} {row[column]!r}, expected {value} (threads {row['threads']})")
print("; ".join(problems))
PY
)"
  if [ -n "$problems" ]; then fail "$name: $problems"; else pass; fi
}
none="hpy_dup_per_call=0 hpy_field_store_per_call=0 hpy_field_load_per_call=0 hpy_global_store_per_call=0 hpy_global_load_per_call=0"
# total(list:100): an item opened and closed per element, one int made for the sum.
expect_per_call "total per call, atomic" "$none hpy_close_per_call=101 hpy_open_per_call=100 hpy_objects_per_call=1 hpy_kept_per_call=0 hpy_ended_per_call=0" \
  --scheme atomic --threads 1,2 $(hpy "$lists" total list:100)
expect_per_call "total per call, handle-local under debug" "$none hpy_close_per_call=101 hpy_open_per_call=100 hpy_objects_per_call=1" \
  --scheme handle-local --context debug --threads 2 $(hpy "$lists" total list:100)
# squares(30): the list and 30 ints made, each int appended (kept by the list) and closed; the
# returned list closed by the trampoline ends its 30 items (at once under atomic).
expect_per_call "squares per call" "$none hpy_close_per_call=31 hpy_open_per_call=0 hpy_objects_per_call=31 hpy_kept_per_call=30 hpy_ended_per_call=30" \
  --scheme atomic --threads 1,2 $(hpy "$lists" squares 30)
# pairs(list:21): 10 pairs of items opened, 10 tuples and the list made; 2 items per tuple and
# 10 tuples in the list kept, all ended with the list.
expect_per_call "pairs per call" "$none hpy_close_per_call=31 hpy_open_per_call=20 hpy_objects_per_call=11 hpy_kept_per_call=30 hpy_ended_per_call=30" \
  --scheme atomic --threads 1,2 $(hpy "$lists" pairs list:21)
# reverse(list:9): 4 swaps, each two items opened, set (kept, the replaced ended) and closed;
# HPy_Dup of None returned.
expect_per_call "reverse per call" "hpy_dup_per_call=1 hpy_close_per_call=9 hpy_open_per_call=8 hpy_objects_per_call=0 hpy_kept_per_call=8 hpy_ended_per_call=8" \
  --scheme atomic --threads 1,2 $(hpy "$lists" reverse list:9)
expect_per_call "reverse per call, handle-local" "hpy_dup_per_call=1 hpy_close_per_call=9 hpy_open_per_call=8 hpy_objects_per_call=0 hpy_kept_per_call=8" \
  --scheme handle-local --threads 2 $(hpy "$lists" reverse list:9)
# maximum(list:100) (HPy_RichCompareBool): every item opened; on 0..99 each is greater than the
# best so far, whose handle is closed, and the last is returned. index(list:100, 50)
# (HPy_RichCompare): items 0..50 opened, each compared into a bool handle, both closed, the index
# made.
expect_per_call "maximum per call" "$none hpy_close_per_call=100 hpy_open_per_call=100 hpy_objects_per_call=0 hpy_kept_per_call=0 hpy_ended_per_call=0" \
  --scheme atomic --threads 1,2 $(hpy "$lists" maximum list:100)
expect_per_call "index per call" "$none hpy_close_per_call=103 hpy_open_per_call=102 hpy_objects_per_call=1 hpy_kept_per_call=0 hpy_ended_per_call=0" \
  --scheme handle-local --threads 1,2 $(hpy "$lists" index list:100,50)
# histogram(list:100): the dict made; per item, the item opened and closed, its digit made as the
# key, HPy_Contains, for the 90 items after the first ten the old count opened (HPy_GetItem) and
# closed, the new count made, HPy_SetItem keeping it (and the key, for the first ten) and ending
# the old; key and count closed. The returned dict, closed, ends its 10 keys and 10 counts.
expect_per_call "histogram per call (a dict)" "$none hpy_close_per_call=391 hpy_open_per_call=190 hpy_objects_per_call=201 hpy_kept_per_call=110 hpy_ended_per_call=110" \
  --scheme atomic --threads 1,2 $(hpy "$lists" histogram list:100)
# setNameField: one HPyField_Store and None returned by HPy_Dup; newPerson: one HPyGlobal_Load
# (a handle opened on the type, then closed) and the instance made.
expect_per_call "setNameField per call" "hpy_dup_per_call=1 hpy_close_per_call=1 hpy_open_per_call=0 hpy_field_store_per_call=1 hpy_field_load_per_call=0 hpy_kept_per_call=1" \
  --scheme biased --threads 2 $(hpy "$seed" Person.setNameField str:Ada)
expect_per_call "newPerson per call" "hpy_dup_per_call=0 hpy_close_per_call=2 hpy_open_per_call=1 hpy_objects_per_call=1 hpy_global_load_per_call=1 hpy_global_store_per_call=0" \
  --scheme arena --threads 2 $(hpy "$seed" newPerson)
# A type called, as Python calls it: HPy_New then the type's tp_init (Person(name) keeps the name
# in its HPyField), directly (--function Person) or by extension code (makePerson: HPyGlobal_Load
# of the type, a tuple of the name, HPy_CallTupleDict, whose item handle is opened and closed).
expect_per_call "Person(name): tp_init" "hpy_dup_per_call=0 hpy_close_per_call=1 hpy_open_per_call=0 hpy_objects_per_call=1 hpy_field_store_per_call=1 hpy_kept_per_call=1 hpy_ended_per_call=1" \
  --scheme atomic --threads 1,2 $(hpy "$seed" Person str:Ada)
expect_per_call "makePerson: the type called by the module" "hpy_dup_per_call=0 hpy_close_per_call=4 hpy_open_per_call=2 hpy_objects_per_call=2 hpy_field_store_per_call=1 hpy_global_load_per_call=1 hpy_kept_per_call=2 hpy_ended_per_call=2" \
  --scheme atomic --threads 1,2 $(hpy "$seed" makePerson str:Ada)
# HPy's own types: pof's Point has a tp_new (HPyArg_Parse of two floats, HPy_New), step_03's a
# tp_init (HPyArg_ParseKeywordsDict, the third argument None kept in an HPyField).
expect_per_call "pof Point(1.5, 2.5): tp_new" "hpy_close_per_call=1 hpy_objects_per_call=1 hpy_field_store_per_call=0" \
  --scheme handle-local --context debug --threads 2 $(hpy "$modules/pof.hpy0.so" Point 1.5,2.5)
expect_per_call "step_03 Point(1.5, 2.5): tp_init" "hpy_close_per_call=1 hpy_objects_per_call=1 hpy_field_store_per_call=1 hpy_exec_slot_leaks=1" \
  --scheme atomic --threads 2 $(hpy "$final" Point 1.5,2.5)
# Keywords reach tp_init (HPyArg_ParseKeywordsDict): y and obj looked up in the dict
# (HPy_GetItem_s opens each, the tracker closes them), obj kept in the HPyField. Had the keywords
# been lost, nothing would be opened.
expect_per_call "step_03 Point(1.5, y=2.5, obj='a'): keywords to tp_init" "hpy_dup_per_call=1 hpy_close_per_call=4 hpy_open_per_call=2 hpy_objects_per_call=1 hpy_field_store_per_call=1 hpy_kept_per_call=1" \
  --scheme atomic --threads 1,2 $(hpy "$final" Point "1.5,kw:y=2.5;obj=str:a")
# HPy_CallTupleDict of the module's own type with keywords, as CPython's type_call: an empty
# dict gives none (Foo has neither tp_new nor tp_init, so object_new takes no argument); a
# non-empty one is a TypeError, which refuses the run.
expect_per_call "call_with_tuple_and_dict(Foo, (), {})" "hpy_dup_per_call=0 hpy_close_per_call=1 hpy_objects_per_call=1 hpy_exec_slot_leaks=1" \
  --scheme biased --threads 1,2 $(hpy "$simple" call_with_tuple_and_dict type:Foo,tuple:,dict:)
expect_error "keywords Foo cannot take" --scheme atomic $(hpy "$simple" call_with_tuple_and_dict type:Foo,tuple:,dict:1)
expect_stderr "keywords Foo cannot take: the TypeError named" "call_with_tuple_and_dict: TypeError: hpy_simple.Foo\(\) takes no arguments"
expect_error "keywords given to a function, not a type" --scheme atomic $(hpy "$simple" varargs "1,kw:a=1")
expect_stderr "keywords given to a function: named" "keywords \(kw:\) are given only to a type called \(--function Type\), not to varargs"
expect_error "keywords not last" --scheme atomic $(hpy "$final" Point "kw:y=1,2")
expect_stderr "keywords not last: named" "'kw:y=1': the keywords \(kw:\) must be the last argument"
expect_error "type: of a name the module lacks" --scheme atomic $(hpy "$simple" call_with_tuple type:nope,tuple:)
expect_stderr "type: of a name the module lacks: named" "making an argument: AttributeError: module has no attribute 'nope'"

# The exec slots' leak: one line per process naming the module's exec slot and the handle's object,
# and the column hpy_exec_slot_leaks (1 on every row of hpy_simple, 0 for seedexample, whose exec
# slot keeps its type in an HPyGlobal and closes its handle). Under the debug context the leak is
# its leak report, which neither stops the run (--on-violation abort, the default) nor counts.
rm -f "$work/out.csv"
"$refscale" run "${quick[@]}" --csv "$work/out.csv" --scheme handle-local --threads 1,2 $(hpy "$simple" noargs) >/dev/null 2>"$work/stderr"
lines="$(grep -c "exec slot left" "$work/stderr")"
expect_stderr "the exec slot's leak line" "^hpy: hpy_simple's exec slot left 1 handle\(s\) open at its exit \(the type hpy_simple.Foo\): the module's contract violation, not the run's; refscale closed them on the module's behalf$"
if [ "$lines" = 1 ]; then pass; else fail "the exec slot's leak line: $lines lines for 2 runs, expected one for the process"; fi
found="$(column "$work/out.csv" hpy_exec_slot_leaks | tr '\n' ' ')$(column "$work/out.csv" valid | tr '\n' ' ')"
if [ "$found" = "1 1 true true " ]; then pass; else fail "hpy_simple: hpy_exec_slot_leaks and valid '$found', expected 1 1 true true"; fi
rm -f "$work/out.csv"
"$refscale" run "${quick[@]}" --csv "$work/out.csv" --scheme handle-local --threads 1,2 $(hpy "$seed" add 2,3) >/dev/null 2>"$work/stderr"
found="$(column "$work/out.csv" hpy_exec_slot_leaks | tr '\n' ' ')$(grep -c "exec slot left" "$work/stderr")"
if [ "$found" = "0 0 0" ]; then pass; else fail "seedexample: hpy_exec_slot_leaks and leak lines '$found', expected 0 0 0"; fi
rm -f "$work/out.csv"
timeout 120 "$refscale" run "${quick[@]}" --csv "$work/out.csv" --scheme biased --context debug --on-violation abort --threads 2 $(hpy "$final" Point.norm) >/dev/null 2>"$work/stderr"
status=$?
found="$status $(column "$work/out.csv" valid) $(column "$work/out.csv" violations) $(column "$work/out.csv" hpy_exec_slot_leaks)"
if [ "$found" = "0 true 0 1" ]; then pass; else fail "step_03 under debug, --on-violation abort: exit, valid, violations, leaks '$found', expected 0 true 0 1"; fi
expect_stderr "the debug context's leak report of the exec slot" "not counted against the run .*leak: thread 1 left handle .* open .*\[extension function step_03_hpy_final's exec slot\]"
expect_error "index of a value not in the list" --scheme atomic $(hpy "$lists" index list:5,str:x)
expect_stderr "index's ValueError named" "index: the value is not in the list"
expect_error "a type called with arguments its tp_init refuses" --scheme atomic $(hpy "$seed" Person)
expect_stderr "the type's refusal named" "Person\(\): the function raised an exception: Person takes one argument"
expect_error "a type without tp_new or tp_init called with arguments" --scheme atomic $(hpy "$modules/hpy_simple.hpy0.so" Foo 1)
expect_stderr "Foo takes no arguments" "hpy_simple.Foo\(\) takes no arguments"

# A workload without extension calls leaves the columns blank.
rm -f "$work/out.csv"
"$refscale" run "${quick[@]}" --csv "$work/out.csv" --scheme atomic --workload private --threads 1 >/dev/null 2>&1
if [ -z "$(column "$work/out.csv" hpy_calls)$(column "$work/out.csv" hpy_close_per_call)$(column "$work/out.csv" hpy_exec_slot_leaks)" ]; then pass; else fail "private: hpy columns not blank"; fi

# The debug context on the contract's breaches, each named with its function.
breach() {
  local name="$1" kinds="$2" function="$3"; shift 3
  rm -f "$work/out.csv"
  timeout 120 "$refscale" run "${quick[@]}" --csv "$work/out.csv" --scheme handle-local --context debug --on-violation collect "$@" >/dev/null 2>"$work/stderr"
  local found
  found="$(column "$work/out.csv" violation_kinds | head -1)"
  if ! grep -qE "$kinds" <<<"$found"; then fail "$name: violation kinds '$found', expected $kinds"
  elif ! grep -q "\[extension function $function\]" "$work/stderr"; then fail "$name: the report does not name $function"
  else pass; fi
}
breach "setName keeps a handle" "leak=[0-9]+" "seedexample.Person.setName" --threads 2 $(hpy "$seed" Person.setName str:Ada)
breach "closeTwice" "double-close=[0-9]+" "seedexample.closeTwice" --threads 2 $(hpy "$seed" closeTwice 7)
breach "useAfterClose" "use-after-close=[0-9]+" "seedexample.useAfterClose" --threads 2 $(hpy "$seed" useAfterClose 7)
breach "stash, on two threads" "wrong-thread=[0-9]+" "seedexample.stash" --threads 2 $(hpy "$seed" stash 7)
# A leak inside the function under test is the run's: setName's rows are invalid, as before the
# exec slots' leaks were closed on the module's behalf, and nothing of it is an exec slot's.
rm -f "$work/out.csv"
timeout 120 "$refscale" run "${quick[@]}" --csv "$work/out.csv" --scheme atomic --context debug --on-violation collect --threads 1,2 $(hpy "$seed" Person.setName str:Ada) >/dev/null 2>"$work/stderr"
found="$(column "$work/out.csv" valid | tr '\n' ' ')$(column "$work/out.csv" hpy_exec_slot_leaks | tr '\n' ' ')$(grep -c "exec slot" "$work/stderr")"
if [ "$found" = "false false 0 0 0" ]; then pass; else fail "setName's leak: valid, exec-slot leaks, exec-slot lines '$found', expected false false 0 0 0"; fi
"$refscale" run "${quick[@]}" --scheme biased --context debug --backtraces --threads 1 $(hpy "$seed" Person.setName str:Ada) >/dev/null 2>"$work/stderr"
if [ $? -eq 1 ]; then pass; else fail "setName under --on-violation abort: exit status not 1"; fi
expect_stderr "setName with --backtraces: the opening stack" "the handle was opened at:"
expect_stderr "setName with --backtraces: the module's frame under ctx_Dup" "seedexample.hpy0.so"
# Control: the same type kept as HPy asks (HPyField) is reported by nothing.
expect_valid "setNameField under debug" --scheme handle-local --context debug --threads 2 $(hpy "$seed" Person.setNameField str:Ada)

# HPy's own modules: every function that needs no interpreter runs and is valid (the exec slots'
# leaked type closed on the module's behalf).
for function in do_nothing "double 21" "double 2.5" "add_ints 2,3" "add_ints_kw 2,3"; do
  set -- $function
  expect_valid "pof $function" --scheme biased --context debug --threads 2 $(hpy "$modules/pof.hpy0.so" "$1" "${2:-}")
done
for spec in "hpy_simple noargs" "hpy_simple onearg 1" "hpy_simple varargs 1,2" "hpy_simple allocate_int" "hpy_simple allocate_tuple" \
            "step_03_hpy_final Point.norm" "step_03_hpy_final dot new:Point,new:Point"; do
  set -- $spec
  expect_valid "$spec" --scheme atomic --threads 2 $(hpy "$modules/$1.hpy0.so" "$2" "${3:-}")
done
expect_error "hpy_simple call_with_tuple of an int needs an interpreter" --scheme atomic $(hpy "$modules/hpy_simple.hpy0.so" call_with_tuple 1,tuple:)
expect_stderr "call_with_tuple names the missing function" "ctx_CallTupleDict is not implemented by refscale's HPyContext for a callable of kind int"

# Bad input: one line, exit 64, before any thread starts.
cc -shared -fPIC -fvisibility=hidden "$root/Tests/hpy/other_major.c" -o "$work/other_major.hpy0.so"
expect_error "another HPy major version" --scheme atomic $(hpy "$work/other_major.hpy0.so" f)
expect_stderr "another HPy major version: named" "major version 1"
expect_error "a shared library that is no HPy module" --scheme atomic $(hpy "$(ldconfig -p | grep -m1 -o '/[^ ]*libm.so.6')" f)
printf 'not a library\n' >"$work/text.hpy0.so"
expect_error "a text file" --scheme atomic $(hpy "$work/text.hpy0.so" f)
expect_error "a missing file" --scheme atomic $(hpy "$work/missing.hpy0.so" f)
expect_error "an unknown function" --scheme atomic $(hpy "$seed" nope)
expect_stderr "an unknown function: the module's functions listed" "its functions: add, add_longs"
expect_error "an unknown method" --scheme atomic $(hpy "$seed" Person.nope str:x)
expect_error "an unknown type" --scheme atomic $(hpy "$seed" Nobody.setName str:x)
expect_error "an argument of the wrong type" --scheme atomic $(hpy "$seed" add_longs 2,str:x)
expect_stderr "wrong type: named" "add_longs: the function raised an exception|TypeError"
expect_error "too many arguments" --scheme atomic $(hpy "$lists" total list:3,4)
expect_error "an argument refscale cannot make" --scheme atomic $(hpy "$lists" total abc)
expect_error "no --module" --scheme atomic --workload hpy --function total
expect_error "noop cannot hold an extension's objects" --scheme noop $(hpy "$lists" total list:3)
expect_error "a function outside the implemented set, its result then read" --scheme atomic $(hpy "$seed" firstByte str:x)
expect_stderr "the unimplemented function named" "firstByte: the context function ctx_Bytes_AsString is not implemented"
expect_error "the attribute context" --scheme atomic --context attribute $(hpy "$lists" total list:3)
expect_error "HPy_AsStruct of an int" --scheme atomic $(hpy "$modules/step_03_hpy_final.hpy0.so" dot 1,2)

echo "hpy-workload-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
