#!/usr/bin/env bash
# Checks of the `cpython-313t` scheme against a built refscale (the ordinary build, which hands
# the scheme to bin/refscale-313t). Always: when the free-threaded interpreter cannot be built
# (apt-get source fails, with an empty cache), `run --scheme cpython-313t` exits 64 with one
# line naming what to run, writes no CSV row and leaves nothing in the cache. When the
# interpreter is built (Tools/cpython-313t/build.sh --built), or with --build: private and
# shared-hot at 1 and 2 threads give valid rows only, rows of cpython-313t with python_version
# 3.13.*t, the frees the workload defines (counted by the real interpreter's deallocations), and
# the same stream_digest as `biased` on the same parameters, a digest of its own for each
# workload and thread count (the parameters reach bin/refscale-313t whole); every workload that
# takes --shared-kind runs ext-type (real PyType_FromSpec types and instances) at 1 and 2 threads
# in valid rows, the stream biased runs, every object born freed by the interpreter, the types at
# the collection that ends their lives; churn and handoff with --shared-kind class make real
# instances of the (immortal) class, checked so at birth, in valid rows on biased's stream, every
# instance freed by the interpreter and the class never; planted defects (no collection, a
# deferred class in place of an extension type, an extra reference at birth, ints, strs and
# tuples in place of a class's instances) fail; every committed experiment file that names
# cpython-313t loads in that build;
# `validate` of biased beside cpython-313t measures every cell it can run, shared-hot/ext-type
# included, and Experiments/programs_313t.py runs the real programs beside its trace cells.
# Usage: Tests/cpython-313t-tests.sh path/to/refscale [--build]
set -uo pipefail
refscale="$(realpath "${1:?usage: $0 path/to/refscale [--build]}")" || exit 64
build="${2:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $1" >&2; }

"$refscale" list >"$work/list" && grep -q "^  cpython-313t .*bin/refscale-313t" "$work/list" && pass || fail "list does not show cpython-313t and where it runs"

# An interpreter that cannot be built: apt-get source fails (a stub first on PATH) and the cache
# is empty. As root the deb-src entry already exists or is added; as another user with no entry,
# the dependency check refuses the same way (one line naming the commands).
mkdir -p "$work/stub" "$work/cache"
printf '#!/bin/sh\necho "E: unable to fetch source" >&2\nexit 100\n' >"$work/stub/apt-get"
chmod +x "$work/stub/apt-get"
PATH="$work/stub:$PATH" XDG_CACHE_HOME="$work/cache" "$refscale" run --scheme cpython-313t --workload private \
  --duration 0.05 --warmup 0 --reps 1 --csv "$work/refused.csv" >"$work/stdout" 2>"$work/stderr"
status=$?
if [ "$status" -ne 64 ]; then fail "unbuildable interpreter: exit $status, expected 64 ($(tail -1 "$work/stderr"))"
elif [ "$(wc -l <"$work/stderr")" -ne 1 ]; then fail "unbuildable interpreter: $(wc -l <"$work/stderr") lines on stderr, expected 1: $(cat "$work/stderr")"
elif ! grep -q "run .*Tools/cpython-313t/build.sh" "$work/stderr"; then fail "unbuildable interpreter: the line does not name what to run: $(cat "$work/stderr")"
elif [ -e "$work/refused.csv" ]; then fail "unbuildable interpreter: a CSV file was written"
elif [ -e "$work/cache/refscale/cpython-3.13t" ]; then fail "unbuildable interpreter: a build was left in the cache"
else pass; fi

if [ "$build" = --build ] || Tools/cpython-313t/build.sh --built >/dev/null; then
  args=(--threads 1,2 --duration 0.2 --warmup 0.05 --reps 1)
  for workload in private shared-hot; do
    "$refscale" run --scheme cpython-313t --workload "$workload" "${args[@]}" --csv "$work/real.csv" >"$work/out" 2>&1 \
      && pass || fail "cpython-313t on $workload: $(tail -3 "$work/out")"
    "$refscale" run --scheme biased --workload "$workload" "${args[@]}" --csv "$work/model.csv" >"$work/out" 2>&1 \
      && pass || fail "biased on $workload: $(tail -3 "$work/out")"
  done
  python3 - "$work/real.csv" "$work/model.csv" <<'PY' && pass || fail "cpython-313t rows"
import csv, sys
real = list(csv.DictReader(open(sys.argv[1])))
model = {(r["workload"], r["threads"]): r for r in csv.DictReader(open(sys.argv[2]))}
assert len(real) == 4, f"{len(real)} rows, expected 4"
for row in real:
    key = (row["workload"], row["threads"])
    assert row["valid"] == "true", (key, row.get("validation_error"))
    assert row["python_version"].startswith("3.13.") and row["python_version"].endswith("t"), row["python_version"]
    # private: each worker's own objects (--objects, 1 each) die once; shared-hot: the 4 shared
    # objects die once, at the main thread's drain.
    expected_frees = int(row["threads"]) * int(row["objects"]) if row["workload"] == "private" else int(row["objects"])
    assert int(row["frees"]) == expected_frees, (key, row["frees"], expected_frees)
    assert row["stream_digest"] == model[key]["stream_digest"], (key, row["stream_digest"], model[key]["stream_digest"])
assert sorted(int(row["objects"]) for row in real if row["workload"] == "shared-hot") == [4, 4]
assert len({row["stream_digest"] for row in real}) == 4, "the digest does not tell the runs apart"
PY
  # --shared-kind ext-type: each shared object (shared-hot, mixed) or the instances' type (churn,
  # handoff) is a real PyType_FromSpec type, born mortal, not deferred, owned by its maker and
  # counted 1 + what its own parts hold (the scheme stops the run otherwise); the types' lives end
  # at the collection the main thread runs at its exit. Every row valid, on biased's stream, and
  # every object born (types included) freed once by the interpreter: frees == objects_allocated.
  # run_kind KIND PREFIX WORKLOAD...: each workload with --shared-kind KIND under cpython-313t and
  # biased, at 1 and 2 threads (handoff at 2: a producer and a consumer at least), into
  # PREFIX-SCHEME.csv.
  run_kind() {
    local kind="$1" prefix="$2"; shift 2
    local workload scheme threads
    for workload in "$@"; do
      threads=1,2
      [ "$workload" = handoff ] && threads=2
      for scheme in cpython-313t biased; do
        "$refscale" run --scheme "$scheme" --workload "$workload" --threads "$threads" --duration 0.05 --warmup 0.01 --reps 1 \
          --shared-kind "$kind" --csv "$prefix-$scheme.csv" >"$work/out" 2>&1 \
          && pass || fail "$scheme on $workload --shared-kind $kind: $(tail -3 "$work/out")"
      done
    done
  }
  run_kind ext-type "$work/ext" shared-hot churn mixed handoff
  python3 - "$work/ext-cpython-313t.csv" "$work/ext-biased.csv" <<'PY' && pass || fail "cpython-313t ext-type rows"
import csv, sys
real = list(csv.DictReader(open(sys.argv[1])))
model = {(r["workload"], r["threads"]): r for r in csv.DictReader(open(sys.argv[2]))}
assert sorted((r["workload"], r["threads"]) for r in real) == sorted(model), sorted((r["workload"], r["threads"]) for r in real)
assert len(real) == 7, len(real)
for row in real:
    key = (row["workload"], row["threads"])
    assert row["valid"] == "true", (key, row.get("validation_error"))
    assert int(row["frees"]) == int(row["objects_allocated"]) > 0, (key, row["frees"], row["objects_allocated"])
    assert row["stream_digest"] == model[key]["stream_digest"], (key, row["stream_digest"], model[key]["stream_digest"])
    if row["workload"] == "shared-hot":  # the 4 types, freed only by the collection
        assert int(row["frees"]) == int(row["objects"]) == 4, (key, row["frees"])
    if row["workload"] in ("churn", "handoff"):  # instances, and their one type
        assert int(row["frees"]) > 1, (key, row["frees"])
PY
  # --shared-kind class in churn and handoff: each created object is a real instance of the class
  # (pool object 0: a class statement's class, immortal), made by its tp_alloc; the scheme checks at
  # each birth that its type is the class, its count 1, its owner the maker, that the collector
  # tracks it and the class is immortal, and stops the run otherwise (the planted defect
  # data-for-class-instance below shows that check failing). Every row valid, on biased's stream,
  # every instance freed once by the interpreter and the class never: frees == objects_allocated - 1.
  run_kind class "$work/class" churn handoff
  python3 - "$work/class-cpython-313t.csv" "$work/class-biased.csv" <<'PY' && pass || fail "cpython-313t class rows"
import csv, sys
real = list(csv.DictReader(open(sys.argv[1])))
model = {(r["workload"], r["threads"]): r for r in csv.DictReader(open(sys.argv[2]))}
expected = [("churn", "1"), ("churn", "2"), ("handoff", "2")]
assert sorted((r["workload"], r["threads"]) for r in real) == expected, [(r["workload"], r["threads"]) for r in real]
assert sorted(model) == expected, sorted(model)
for row in real:
    key = (row["workload"], row["threads"])
    assert row["valid"] == "true", (key, row.get("validation_error"))
    assert int(row["frees"]) == int(row["objects_allocated"]) - 1 > 0, (key, row["frees"], row["objects_allocated"])
    assert row["stream_digest"] == model[key]["stream_digest"], (key, row["stream_digest"], model[key]["stream_digest"])
PY
  # Ints, strs and tuples in place of the class's instances (what the scheme made before): the
  # birth check finds the first one's type; the run stops, no row.
  REFSCALE_PLANTED_313T_DEFECT=data-for-class-instance "$refscale" run --scheme cpython-313t --workload churn --threads 1 \
    --duration 0.05 --warmup 0.01 --reps 1 --shared-kind class --csv "$work/planted-data-for-class-instance.csv" >"$work/out" 2>&1
  status=$?
  [ "$status" -eq 1 ] && grep -q "a new instance of a class is not an instance of it: its type is \(int\|str\|tuple\)" "$work/out" \
    && [ ! -s "$work/planted-data-for-class-instance.csv" ] && pass \
    || fail "planted data-for-class-instance: exit $status, expected 1, the birth check's line and no row: $(tail -3 "$work/out")"

  # Planted defects, each of which the checks above must catch.
  planted() {  # planted NAME EXPECTED-STATUS PATTERN
    REFSCALE_PLANTED_313T_DEFECT="$1" "$refscale" run --scheme cpython-313t --workload shared-hot --threads 2 \
      --duration 0.05 --warmup 0.01 --reps 1 --shared-kind ext-type --csv "$work/planted-$1.csv" >"$work/out" 2>&1
    local status=$?
    [ "$status" -eq "$2" ] && grep -q "$3" "$work/out" && pass \
      || fail "planted $1: exit $status, expected $2 and '$3': $(tail -3 "$work/out")"
  }
  # No collection at the main thread's exit: the types stay alive, the row is invalid.
  planted no-collection 1 "valid=false.*object 0 never freed"
  python3 -c 'import csv, sys; [row] = csv.DictReader(open(sys.argv[1])); assert row["valid"] == "false" and row["frees"] == "0", row' \
    "$work/planted-no-collection.csv" && pass || fail "planted no-collection: the row is not invalid with no frees"
  # A class of a `class` statement (deferred, so immortal once a second thread ran) in place of
  # an extension type: the birth check finds it immortal; no row.
  planted class-for-ext-type 1 "a new extension type is immortal"
  [ ! -s "$work/planted-class-for-ext-type.csv" ] && pass || fail "planted class-for-ext-type: a row was written"
  # One reference more at birth than the maker's and the type's own parts': the count check.
  planted extra-type-reference 1 "a new extension type has Py_REFCNT 3, not 1 + the 1 reference(s) its own parts hold to it"

  # The committed experiment files that name cpython-313t load in the build that runs them (the
  # Swift tests load the others, which the ordinary build can): parsed and expanded, each is
  # refused for its --out alone, a file; a copy with a thread count of 0 is refused for that.
  : >"$work/a-file"
  experiments=$(python3 -c '
import glob, json
print(" ".join(path for path in sorted(glob.glob("Experiments/*.json")) if "cpython-313t" in json.load(open(path)).get("schemes", [])))')
  [ -n "$experiments" ] && pass || fail "no committed experiment file names cpython-313t"
  for experiment in $experiments; do
    "$refscale" sweep "$experiment" --out "$work/a-file" >/dev/null 2>"$work/stderr"
    status=$?
    [ "$status" -eq 1 ] && grep -q "^refscale: error: --out $work/a-file: is a file, not a directory$" "$work/stderr" \
      && pass || fail "$experiment does not load in the 3.13t build: exit $status, $(cat "$work/stderr")"
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d["threads"] = [0]; json.dump(d, open(sys.argv[2], "w"))' \
      "$experiment" "$work/broken.json"
    "$refscale" sweep "$work/broken.json" --out "$work/a-file" >/dev/null 2>"$work/stderr"
    status=$?
    [ "$status" -eq 64 ] && grep -q "threads\[0\]: must be at least 1" "$work/stderr" \
      && pass || fail "a broken copy of $experiment: exit $status, $(cat "$work/stderr")"
  done

  # validate: biased beside cpython-313t (handed to the 3.13t build) on three traces and the
  # synthetic cells; every cell is measured from alternating, valid runs, shared-hot/ext-type
  # included, but handoff at 1 thread. Then the real programs beside those traces' replays.
  mkdir -p "$work/traces"
  for trace in call_function json_shared method_shared; do cp "results/traces/$trace.rstrace" "$work/traces/"; done
  "$refscale" validate --threads 1,2 --reps 2 --duration 0.05 --warmup 0.01 --traces "$work/traces" --out "$work/validate" \
    >"$work/out" 2>&1 && pass || fail "validate biased beside cpython-313t: $(tail -3 "$work/out")"
  python3 - "$work/validate" <<'PY' && pass || fail "validate biased beside cpython-313t: cells"
import csv, glob, sys
[cells_path] = glob.glob(sys.argv[1] + "/validate-biased-cpython-313t-*-cells.csv")
[rows_path] = [p for p in glob.glob(sys.argv[1] + "/validate-biased-cpython-313t-*.csv") if p != cells_path]
cells = {c["cell"]: c for c in csv.DictReader(open(cells_path))}
rows = list(csv.DictReader(open(rows_path)))
assert len(cells) == 2 * (8 + 3), len(cells)
for threads in (1, 2):
    ext = cells[f"shared-hot/ext-type@{threads}"]
    assert ext["status"] == "measured" and ext["reason"] == "", ext
assert cells["handoff/data@1"]["status"] == "cannot run"
measured = [c for c in cells.values() if c["status"] == "measured"]
assert len(measured) == len(cells) - 1, [c["cell"] for c in cells.values() if c["status"] != "measured"]
assert {r["shared_kind"] for r in rows if r["workload"] == "shared-hot" and r["scheme"] == "cpython-313t"} == {"data", "class", "ext-type"}
assert all(c["model_atomics_per_op"] != "" for c in measured)
assert float(cells["shared-hot/data@2"]["model_atomics_per_op"]) > 0 and float(cells["private@1"]["model_atomics_per_op"]) == 0
assert all(r["valid"] == "true" for r in rows)
for model, real in zip(rows[0::2], rows[1::2]):
    assert (model["scheme"], real["scheme"]) == ("biased", "cpython-313t")
    assert model["stream_digest"] == real["stream_digest"]
PY
  rows_file=$(ls "$work"/validate/validate-biased-cpython-313t-*.csv | grep -v -- -cells.csv)
  python3 Experiments/programs_313t.py "$rows_file" --runs 1 --iterations 200 --out "$work/programs.csv" \
    >"$work/out" 2>&1 && pass || fail "programs_313t.py: $(tail -3 "$work/out")"
  python3 - "$work/programs.csv" "$work/out" <<'PY' && pass || fail "programs_313t.py: rows"
import csv, glob, os, re, sys
rows = {r["program"]: r for r in csv.DictReader(open(sys.argv[1]))}
programs = {os.path.basename(p)[:-3] for p in glob.glob("Experiments/traces/*.py") if not os.path.basename(p).startswith("_")}
assert set(rows) == programs, set(rows) ^ programs
close = lambda a, b: abs(a - b) <= 2e-3 * abs(b) + 1e-6
for name, row in rows.items():
    # At 2 threads a program does twice the work: its 2/1 throughput is 2 x the 1-thread time
    # over the 2-thread time, for the process's wall time and for the work's own clock.
    wall = [float(row[f"wall_{threads}_median_s"]) for threads in (1, 2)]
    work = [float(row[f"work_{threads}_median_s"]) for threads in (1, 2)]
    assert close(float(row["real_ratio_2_over_1"]), 2 * wall[0] / wall[1]), row
    assert close(float(row["real_work_ratio_2_over_1"]), 2 * work[0] / work[1]), row
    # The work's own time leaves out the interpreter's start-up: less than the process's.
    assert all(0 < w < v for w, v in zip(work, wall)), row
    replayed = name in ("call_function", "json_shared", "method_shared")
    for scheme in ("biased", "cpython-313t"):
        assert (row[f"predicted_{scheme}"] != "") == replayed, (name, scheme, row[f"predicted_{scheme}"])
# Each printed rho is the rank agreement of the rows' own ratios, recomputed here by hand
# (Spearman: Pearson's r of the ranks; 3 programs, so ties are unlikely and fail loudly).
def ranks(values):
    assert len(set(values)) == len(values), values
    order = sorted(values)
    return [order.index(v) + 1.0 for v in values]
def pearson(x, y):
    mx, my = sum(x) / len(x), sum(y) / len(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    return sxy / (sum((a - mx) ** 2 for a in x) * sum((b - my) ** 2 for b in y)) ** 0.5
text = open(sys.argv[2]).read()
replayed = [row for row in rows.values() if row["predicted_biased"] != ""]
for measure, column in (("wall", "real_ratio_2_over_1"), ("work", "real_work_ratio_2_over_1")):
    for scheme in ("biased", "cpython-313t"):
        found = re.search(rf"real {measure}-time and {scheme}-predicted 2/1 ratios over 3 programs: rho (\S+),", text)
        expected = pearson(ranks([float(r[column]) for r in replayed]), ranks([float(r[f"predicted_{scheme}"]) for r in replayed]))
        assert found and abs(float(found.group(1)) - expected) < 1e-3, (measure, scheme, found and found.group(1), expected)
PY
  # What a birth costs the real side outside counting: every kind measured, every traced life ended.
  if Tools/birth-cost/run.sh 20000 1 >"$work/births" 2>&1 && [ "$(grep -cE '^(int|str|tuple) +[0-9.]+ +[0-9.]+$' "$work/births")" -eq 3 ] \
    && grep -q "the tracer ended every traced life (60000)" "$work/births"; then pass; else fail "Tools/birth-cost/run.sh: $(tail -2 "$work/births")"; fi
  python3 Experiments/programs_313t.py "$rows_file" --runs 0 --out "$work/none.csv" 2>"$work/err"
  [ $? -eq 64 ] && [ "$(wc -l <"$work/err")" -eq 1 ] && [ ! -e "$work/none.csv" ] && pass || fail "programs_313t.py --runs 0: not one line, exit 64, no file"
else
  echo "cpython-313t: the free-threaded interpreter is not built; only the refusal was checked (Tools/cpython-313t/build.sh builds it)" >&2
fi

echo "cpython-313t tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
