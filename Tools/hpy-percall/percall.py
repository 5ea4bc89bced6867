#!/usr/bin/env python3
"""ns per call of each function of HPy's microbenchmark module (hpy_simple, microbench/src/
hpy_simple.c of the hpy 0.9.0 sdist, unchanged) and of refscale's Experiments/hpy/listwalk.c, on
two sides in one sitting:

- `cpython`: the module built for HPy's universal ABI, loaded by HPy 0.9.0 on CPython 3.11 in its
  universal mode (HPY=universal; HPY_LOG's line is checked), each function called from a Python
  loop as HPy's microbench/test_microbench.py calls it (`f()`, `f(1)`, `obj.method()` on an
  instance made once, `hpy_simple.Foo()`), with the arguments refscale gives it;
- each model scheme: `refscale run --workload hpy --module M --function F --hpy-args A --scheme S
  --threads 1 --reps 1`, the same module built for refscale's own HPyContext (a method's self
  made once per worker, zeroed, as HPy_New leaves it)
  (Tools/hpy-modules/build.sh), its `hpy_ns_per_call` column (ns/op times the run's operations
  per call: the call's own handle operations and the trampoline's).

Each repetition measures every function on every side once, the sides of a function back to back
and their order reversed every other repetition, so that a drift of the machine falls on all
sides alike. On the CPython side each measurement is a fresh process (HPy 0.9 keeps one context per
module per process) that calls the function for --warmup seconds, sizes a loop to take about
--duration seconds from that rate, times it with time.perf_counter_ns, then times the same loop
with an empty body (`loop_ns`: what the Python loop itself costs per iteration, included in the
CPython side's ns per call; refscale's side has no interpreter loop).

What is not timed: hpy_simple's call_with_tuple and call_with_tuple_and_dict call back into Python
(HPy_CallTupleDict), which refscale's context has no interpreter for; its type Foo's sq_item and
sq_length slots are reached only through the interpreter (`obj[i]`, `len(obj)`).

hpy_simple's exec slot makes its type Foo with HPyType_FromSpec and never closes that handle:
refscale closes it on the module's behalf (its rows' hpy_exec_slot_leaks is 1), so they are valid
like every other row; a row that is not valid stops the sitting.

Output: --out FILE (default results/hpy-percall-HOST-STAMP.csv): one row per function and side,
the median ns per call over the repetitions with its interval (the order-statistic interval of
the median, Experiments/refscale_plot/intervals.py: 95% from 6 repetitions on, min-max below with
its confidence stated); FILE's stem + `-reps.csv`: one row per measurement; FILE's stem +
`-refscale.csv`: refscale's own rows, every column (`refscale report` reads it). All three are
written at the end, none when the sitting fails. The table on stdout shows the same medians.

Usage: percall.py [--reps R] [--duration S] [--warmup S] [--schemes A,B] [--functions F,G]
                  [--out FILE.csv] [--refscale BINARY] --cpython-modules DIR --refscale-modules DIR
       percall.py --check-args [options]   (only checks the options; run.sh calls it first)
Bad options: one line on stderr, exit 64. A failed measurement: one line, exit 1.
"""
import argparse
import csv
import datetime
import importlib
import io
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "Experiments"))
from refscale_plot import intervals  # noqa: E402  (the project's order-statistic interval)
sys.path.insert(0, os.path.join(REPO, "Tools", "hpy-trace"))
from measure import bounded_integer  # noqa: E402  (hpy-trace's argument check, shared)

HPY_VERSION = "0.9.0"
PYTHON_VERSION = (3, 11)
CPYTHON = "cpython"
# The schemes that run a module on refscale's objects: every model scheme that can hold an
# extension's objects (noop cannot; cpython and cpython-313t are real runtimes, for which HPy's
# own universal mode on CPython stands here).
MODEL_SCHEMES = ("nonatomic", "gil", "atomic", "biased", "perthread", "handle-local", "arena", "handle-table")
NOT_MODELS = {
    "cpython": "the real CPython, for which HPy's own universal mode on CPython (the cpython side) stands",
    "cpython-313t": "the real CPython 3.13t, for which HPy's own universal mode on CPython (the cpython side) stands",
    "noop": "it cannot hold an extension's objects",
}
# Every function timed: module, function (Type.method for a method), arguments as --hpy-args
# writes them. hpy_simple's are called as test_microbench.py calls them (onearg with an int, as
# its test_onearg_int; varargs with None, None), as module functions and as methods of an
# instance of its type Foo (its TestType), and Foo itself called (its test_allocate_obj: Foo());
# listwalk's on a list of 100 ints.
FUNCTIONS = (
    ("hpy_simple", "noargs", ""),
    ("hpy_simple", "onearg", "1"),
    ("hpy_simple", "varargs", "none,none"),
    ("hpy_simple", "allocate_int", ""),
    ("hpy_simple", "allocate_tuple", ""),
    ("hpy_simple", "Foo", ""),
    ("hpy_simple", "Foo.noargs", ""),
    ("hpy_simple", "Foo.onearg", "1"),
    ("hpy_simple", "Foo.varargs", "none,none"),
    ("hpy_simple", "Foo.allocate_int", ""),
    ("hpy_simple", "Foo.allocate_tuple", ""),
    ("listwalk", "total", "list:100"),
    ("listwalk", "squares", "100"),
    ("listwalk", "pairs", "list:100"),
    ("listwalk", "reverse", "list:100"),
    ("listwalk", "maximum", "list:100"),
    ("listwalk", "index", "list:100,50"),
    ("listwalk", "histogram", "list:100"),
)
MAX_REPS = 1000
MAX_SECONDS = 60.0
EXIT_USAGE = 64
EXIT_FAILED = 1
SUMMARY_COLUMNS = ["module", "function", "hpy_args", "side", "reps", "ns_per_call", "interval_low", "interval_high",
                   "interval_confidence", "over_cpython", "loop_ns", "host", "python_version", "hpy_version",
                   "git_commit", "timestamp"]
REP_COLUMNS = ["module", "function", "hpy_args", "side", "rep", "order", "ns_per_call", "loop_ns", "calls"]


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit 64."""

    def error(self, message):
        fail(message, EXIT_USAGE)


def fail(message, status=EXIT_FAILED):
    print(f"percall.py: {message}", file=sys.stderr)
    sys.exit(status)


def name_of(entry):
    module, function, _ = entry
    return f"{module}.{function}"


def seconds(minimum_exclusive):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds")
        low_ok = value > 0 if minimum_exclusive else value >= 0
        if not math.isfinite(value) or not low_ok or value > MAX_SECONDS:
            bound = "above 0" if minimum_exclusive else "at least 0"
            raise argparse.ArgumentTypeError(f"{text} must be {bound} and at most {MAX_SECONDS:g} seconds")
        return value
    return parse


def name_list(kind, known):
    def parse(text):
        names = text.split(",")
        for name in names:
            if kind == "scheme" and name in NOT_MODELS:
                raise argparse.ArgumentTypeError(f"{name} is not a model scheme that can run a module: {NOT_MODELS[name]}")
            if name not in known:
                raise argparse.ArgumentTypeError(f"unknown {kind} '{name}'; the {kind}s: {', '.join(known)}")
        if len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(f"a {kind} is named twice in '{text}'")
        return names
    return parse


def parse_arguments(argv):
    parser = OneLineParser(prog="percall.py", description="ns per call of HPy's microbenchmark functions: HPy's "
                           "universal mode on CPython beside refscale's model schemes, in one sitting.")
    parser.add_argument("--reps", type=bounded_integer(1, MAX_REPS), default=5,
                        help="repetitions, each measuring every function on every side once (default 5)")
    parser.add_argument("--duration", type=seconds(True), default=0.5,
                        help="seconds timed per measurement (refscale's --duration; default 0.5)")
    parser.add_argument("--warmup", type=seconds(False), default=0.1,
                        help="seconds of calls before each timed interval, discarded (default 0.1)")
    parser.add_argument("--schemes", type=name_list("scheme", MODEL_SCHEMES), default=list(MODEL_SCHEMES),
                        help=f"the model schemes, comma-separated (default all: {','.join(MODEL_SCHEMES)})")
    parser.add_argument("--functions", type=name_list("function", [name_of(f) for f in FUNCTIONS]),
                        default=[name_of(f) for f in FUNCTIONS], help="the functions, comma-separated (default all)")
    parser.add_argument("--out", help="the summary CSV file, new (default results/hpy-percall-HOST-STAMP.csv)")
    parser.add_argument("--refscale", help="the refscale binary (default: .build/release/refscale, brought up to "
                        "date once by bin/refscale before the sitting)")
    parser.add_argument("--cpython-modules", help="folder of the modules built for CPython (run.sh builds it)")
    parser.add_argument("--refscale-modules", help="folder of the modules built for refscale (run.sh builds it)")
    parser.add_argument("--check-args", action="store_true", help="only check the options")
    parser.add_argument("--child", nargs=3, metavar=("MODULE", "FUNCTION", "ARGS"), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if sys.version_info[:2] != PYTHON_VERSION:
        parser.error(f"the CPython side is CPython {PYTHON_VERSION[0]}.{PYTHON_VERSION[1]}; "
                     f"{sys.executable} is {sys.version.split()[0]} (PYTHON picks the interpreter)")
    if arguments.child:
        return arguments
    if arguments.refscale is not None and not (os.path.isfile(arguments.refscale) and os.access(arguments.refscale, os.X_OK)):
        parser.error(f"--refscale {arguments.refscale} is not an executable file")
    if arguments.out is None:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
        arguments.out = os.path.join(REPO, "results", f"hpy-percall-{socket.gethostname()}-{stamp}.csv")
    if not arguments.out.endswith(".csv"):
        parser.error(f"--out {arguments.out} does not end in .csv")
    arguments.outputs = [arguments.out, arguments.out[:-4] + "-reps.csv", arguments.out[:-4] + "-refscale.csv"]
    for path in arguments.outputs:
        if os.path.exists(path):
            parser.error(f"{path} exists; each sitting writes new files")
    folder = os.path.dirname(os.path.abspath(arguments.out))
    if os.path.exists(folder) and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
        parser.error(f"--out {arguments.out}: {folder} is not a folder refscale may write")
    if not arguments.check_args:
        for option in ("cpython_modules", "refscale_modules"):
            folder = getattr(arguments, option)
            flag = "--" + option.replace("_", "-")
            if folder is None:
                parser.error(f"{flag} is required (run.sh builds it)")
            for module in {module for module, _, _ in FUNCTIONS}:
                built = os.path.join(folder, module + ".hpy0.so")
                if not os.path.isfile(built):
                    parser.error(f"{flag} {folder} holds no built {module} (run.sh builds it)")
    chosen = set(arguments.functions)
    arguments.entries = [entry for entry in FUNCTIONS if name_of(entry) in chosen]
    return arguments


def argument_value(text):
    """A Python value from an argument as --hpy-args writes it (chpy_make_argument's forms)."""
    if text == "none":
        return None
    if text in ("true", "false"):
        return text == "true"
    if text.startswith("str:"):
        return text[4:]
    if text.startswith("list:"):
        return list(range(int(text[5:])))
    try:
        return int(text)
    except ValueError:
        return float(text)


def run_child(arguments):
    """One process: times one function in HPy's universal mode; prints one JSON record last."""
    module_name, function, text = arguments.child
    sys.path.insert(0, arguments.cpython_modules)
    import hpy.universal
    version = hpy.universal.get_version()[0]
    if version != HPY_VERSION:
        fail(f"hpy {version} is installed; these figures are for hpy {HPY_VERSION}")
    module = importlib.import_module(module_name)
    values = [argument_value(each) for each in text.split(",")] if text else []
    names = [f"a{index}" for index in range(len(values))]
    parameters = "".join(f", {name}" for name in names)
    if "." in function:
        type_name, method = function.split(".")
        target, call = getattr(module, type_name)(), f"target.{method}({', '.join(names)})"
    else:
        target, call = getattr(module, function), f"target({', '.join(names)})"
    source = (f"def timed(n, target{parameters}):\n    for _ in repeat(None, n):\n        {call}\n"
              f"def empty(n, target{parameters}):\n    for _ in repeat(None, n):\n        pass\n")
    scope = {}
    exec(compile(source, f"<{module_name}.{function}>", "exec"), {"repeat": __import__("itertools").repeat}, scope)
    timed, empty = scope["timed"], scope["empty"]
    # Warm-up: calls in chunks until --warmup has passed, which gives the rate that sizes the loop.
    chunk, calls, started = 64, 0, time.perf_counter_ns()
    while True:
        timed(chunk, target, *values)
        calls += chunk
        spent = time.perf_counter_ns() - started
        if spent >= arguments.warmup * 1e9 and calls >= 1000:
            break
        chunk = min(chunk * 2, 1 << 20)
    n = max(1000, round(arguments.duration * 1e9 / (spent / calls)))
    start = time.perf_counter_ns()
    timed(n, target, *values)
    elapsed = time.perf_counter_ns() - start
    start = time.perf_counter_ns()
    empty(n, target, *values)
    loop = time.perf_counter_ns() - start
    print(json.dumps({"ns_per_call": elapsed / n, "loop_ns": loop / n, "calls": n}))


def measure_cpython(entry, arguments):
    module, function, text = entry
    environment = dict(os.environ, HPY="universal", HPY_LOG="1")
    command = [sys.executable, os.path.abspath(__file__), "--child", module, function, text,
               "--duration", str(arguments.duration), "--warmup", str(arguments.warmup),
               "--cpython-modules", arguments.cpython_modules]
    child = subprocess.run(command, env=environment, capture_output=True, text=True)
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no message"])[-1]
        fail(f"{name_of(entry)} on CPython failed: {last.removeprefix('percall.py: ')}")
    lines = child.stdout.strip().splitlines()
    expected_log = f"Loading '{module}' in HPy universal mode"
    if expected_log not in lines:
        fail(f"{name_of(entry)}: CPython did not load {module} in HPy's universal mode (no line \"{expected_log}\")")
    return json.loads(lines[-1])


def measure_refscale(entry, scheme, arguments, work):
    module, function, text = entry
    path = os.path.join(work, "run.csv")
    if os.path.exists(path):
        os.remove(path)
    command = [arguments.refscale, "run", "--scheme", scheme, "--workload", "hpy",
               "--module", os.path.join(arguments.refscale_modules, module + ".hpy0.so"), "--function", function]
    command += ["--hpy-args", text] if text else []
    command += ["--threads", "1", "--reps", "1", "--duration", str(arguments.duration),
                "--warmup", str(arguments.warmup), "--csv", path]
    child = subprocess.run(command, capture_output=True, text=True)
    what = f"{name_of(entry)} under {scheme}"
    if child.returncode not in (0, 1) or not os.path.exists(path):
        last = (child.stderr.strip().splitlines() or ["no message"])[-1]
        fail(f"{what}: refscale exited {child.returncode}: {last}")
    with open(path, newline="") as file:
        text_rows = file.read()
    rows = list(csv.DictReader(io.StringIO(text_rows)))
    if len(rows) != 1:
        fail(f"{what}: refscale wrote {len(rows)} rows, expected 1")
    row = rows[0]
    if row["valid"] != "true":
        fail(f"{what}: the run is not valid: {row['validation_error']}")
    if not row["hpy_ns_per_call"]:
        fail(f"{what}: refscale's row has no hpy_ns_per_call")
    header, line = text_rows.splitlines()[0], text_rows.splitlines()[1]
    return {"ns_per_call": float(row["hpy_ns_per_call"]), "loop_ns": None, "calls": int(row["hpy_calls"])}, header, line, row


def figure(value, digits=2):
    return "" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def main(argv):
    arguments = parse_arguments(argv)
    if arguments.child:
        run_child(arguments)
        return
    if arguments.check_args:
        return
    if arguments.refscale is None:
        # bin/refscale checks the build at every start; once is enough, and nothing builds between
        # the sitting's measurements.
        built = subprocess.run([os.path.join(REPO, "bin", "refscale"), "columns"], capture_output=True, text=True)
        if built.returncode != 0:
            fail(f"bin/refscale could not build refscale: {(built.stderr.strip().splitlines() or ['no message'])[-1]}")
        arguments.refscale = os.path.join(REPO, ".build", "release", "refscale")
    sides = [CPYTHON] + arguments.schemes
    print(f"ns per call: HPy {HPY_VERSION} universal mode on Python {sys.version.split()[0]} ({CPYTHON}) beside "
          f"refscale's {', '.join(arguments.schemes)}; {len(arguments.entries)} functions, {arguments.reps} "
          f"repetitions of {arguments.duration:g} s each after {arguments.warmup:g} s of warm-up, 1 thread", flush=True)
    samples = {}
    reps_rows = []
    refscale_header, refscale_lines, commit = None, [], ""
    with tempfile.TemporaryDirectory() as work:
        for repetition in range(1, arguments.reps + 1):
            for entry in arguments.entries:
                order = sides if repetition % 2 else list(reversed(sides))
                for position, side in enumerate(order, 1):
                    if side == CPYTHON:
                        record = measure_cpython(entry, arguments)
                    else:
                        record, refscale_header, line, row = measure_refscale(entry, side, arguments, work)
                        refscale_lines.append(line)
                        commit = row["git_commit"]
                    samples.setdefault((entry, side), []).append(record)
                    module, function, text = entry
                    reps_rows.append({"module": module, "function": function, "hpy_args": text, "side": side,
                                      "rep": repetition, "order": position, "ns_per_call": f"{record['ns_per_call']:.3f}",
                                      "loop_ns": figure(record["loop_ns"], 3), "calls": record["calls"]})
            print(f"repetition {repetition} of {arguments.reps} done", file=sys.stderr, flush=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = []
    for entry in arguments.entries:
        cpython = intervals.estimate([each["ns_per_call"] for each in samples[(entry, CPYTHON)]])
        for side in sides:
            records = samples[(entry, side)]
            estimate = intervals.estimate([each["ns_per_call"] for each in records])
            loops = [each["loop_ns"] for each in records if each["loop_ns"] is not None]
            module, function, text = entry
            summary.append({
                "module": module, "function": function, "hpy_args": text, "side": side, "reps": estimate.reps,
                "ns_per_call": figure(estimate.median, 3), "interval_low": figure(estimate.low, 3),
                "interval_high": figure(estimate.high, 3), "interval_confidence": figure(estimate.confidence, 4),
                "over_cpython": figure(estimate.median / cpython.median, 4),
                "loop_ns": figure(intervals.estimate(loops).median, 3) if loops else "",
                "host": socket.gethostname(), "python_version": sys.version.split()[0], "hpy_version": HPY_VERSION,
                "git_commit": commit, "timestamp": stamp,
            })
    os.makedirs(os.path.dirname(os.path.abspath(arguments.out)), exist_ok=True)
    for path, columns, rows in ((arguments.outputs[0], SUMMARY_COLUMNS, summary), (arguments.outputs[1], REP_COLUMNS, reps_rows)):
        with open(path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    if refscale_header is not None:
        with open(arguments.outputs[2], "w") as file:
            file.write("\n".join([refscale_header] + refscale_lines) + "\n")
    print_table(summary, arguments.reps)
    print("files: " + ", ".join(arguments.outputs[:3 if refscale_header is not None else 2]))


def print_table(summary, reps):
    columns = ["function", "side", "ns/call", "interval", "/cpython", "loop ns"]
    rows = [[f"{row['module']}.{row['function']}({row['hpy_args']})", row["side"], row["ns_per_call"],
             f"{row['interval_low']}-{row['interval_high']}", row["over_cpython"], row["loop_ns"]] for row in summary]
    widths = [max(len(str(line[index])) for line in rows + [columns]) + 2 for index in range(len(columns))]
    for line in [columns] + rows:
        print("".join(str(field).ljust(width) for field, width in zip(line, widths)).rstrip())
    estimate = intervals.estimate(list(range(reps)))
    if reps < intervals.MINIMUM_REPETITIONS:
        method = f"min-max of {reps} repetition(s), no interval"
    elif reps < intervals.SMALLEST_SAMPLE:
        method = f"min-max of {reps} repetitions, confidence {estimate.confidence:.1%}"
    else:
        method = f"order-statistic interval of the median of {reps} repetitions, confidence {estimate.confidence:.1%}"
    print(f"ns/call: median; interval: {method}; /cpython: over the cpython side's median. The cpython side's "
          "ns/call includes its Python loop's own cost per iteration (loop ns); refscale's includes its trampoline "
          "(the arguments' handles loaded and closed).")


if __name__ == "__main__":
    main(sys.argv[1:])
