#!/usr/bin/env python3
"""Times HPy 0.9.0's trace mode (or, with --mode debug, its debug mode) on a dup/close loop: ns
per HPy call in HPy's universal mode, in the other mode, and the difference. For trace mode it is
the figure `refscale calibrate` reports for `--context trace` ("+trace timed", ns per operation
over universal; an operation is one dup or one close, as here); for debug mode, the one to set
beside `refscale run --context debug --workload private --dup-depth D`.

The loop is hpytrace_loop.dup_close(obj, n, depth) (hpytrace_loop.c): n rounds of depth HPy_Dup
of the argument's handle held at once, then HPy_Close of each, 2 * n * depth calls through the
context (--calls is n * depth). Each mode runs in a fresh process per repetition, the modes
alternating in order; each times one call of the loop with the monotonic clock
(time.perf_counter_ns) after a warm-up of the same loop.

How HPy 0.9.0 picks the mode (hpy/universal/src/hpymodule.c): the stub module that HPy's
setuptools integration writes (hpy/devel/__init__.py, _HPY_UNIVERSAL_MODULE_STUB_TEMPLATE)
calls hpy.universal._load_bootstrap with os.environ; load_bootstrap reads HPY through
get_hpy_mode_from_environ ("universal", "debug", "trace", or "module:mode,..." per module), and
with HPY_LOG set prints "Loading '<module>' in HPy universal mode", adding " with a trace
context" in trace mode. do_load then hands the module get_context(mode): the universal context,
or hpy_trace_get_ctx (hpy/trace/src/trace_ctx.c), one trace context per process wrapping the
universal one. HPyInitGlobalContext_<module> (hpy/devel/include/hpy/hpymodule.h) keeps it in the
module's single global _ctx_for_trampolines, so a module has one mode per process: hence a
process per mode here.

What trace mode does per call (hpy/trace/src/autogen_trace_wrappers.c, trace_ctx_Dup and
trace_ctx_Close; hpy/trace/src/trace_ctx.c and trace_internal.h):
1. hpy_trace_on_enter: call_counts[id] += 1 (a plain 64-bit increment in one array per
   process) and a test for a Python on-enter function (none here);
2. get_monotonic_clock: clock_gettime(CLOCK_MONOTONIC_RAW) into a struct timespec;
3. the universal function through the universal context's table (hpy/universal/src/
   ctx_misc.c: ctx_Dup is Py_XINCREF and the same handle, ctx_Close Py_XDECREF);
4. a second clock_gettime(CLOCK_MONOTONIC_RAW);
5. hpy_trace_on_exit: checks both clock results, update_duration adds end - start to
   durations[id] as a timespec (seconds and nanoseconds, normalised), and a test for a Python
   on-exit function.
So one indirect call more than universal, two out-of-line calls (in the 0.9.0 wheel for x86-64
Linux, hpy_trace_on_enter, hpy_trace_on_exit and clock_gettime go through the PLT, and the
get_info magic-number assert is compiled out) and two clock reads. hpy.trace.get_call_counts
and get_durations (hpy/trace/src/_tracemod.c) return those arrays as dicts keyed "ctx_Dup", ...,
durations in nanoseconds.

What debug mode does per call (hpy/debug/src: debug_ctx.c, debug_handles.c, dhqueue.c):
ctx_Dup unwraps the debug handle, calls the universal ctx_Dup (Py_INCREF) and opens a new
DebugHandle record for the result: one is taken from the closed-handles queue only once that
queue holds more than its maximum (1024 by default), otherwise malloc'd, and it is appended to
the doubly linked queue of open handles. ctx_Close unwraps, marks the record closed, unlinks it
from the open queue and appends it to the closed queue; a queue past its maximum frees its
oldest record. Every handle is a distinct record even when two name one object.

Checks, each a non-zero exit with one line: the version is 0.9.0; each process's HPY_LOG line
names the mode asked for; over the timed loop, get_call_counts() for ctx_Dup and for ctx_Close
rose by exactly the loop's calls in trace mode and by 0 in the other modes (the module then
never touches the trace context). In debug mode, no handle opened in the timed loop is still
open after it (hpy.universal._debug.get_open_handles of a generation begun before the loop)
and the closed-handles queue is full, as the loop's closes must leave it. --expect-extra-calls K
makes the trace expectation n + K, and --expect-leaked K expects K open handles after the loop
in debug mode: each shows its check fails when the figures are wrong.

clock_pairs(n, clock) in the universal process times the two reads alone, for
CLOCK_MONOTONIC_RAW (trace mode's clock) and CLOCK_MONOTONIC (the clock of refscale's trace
context: crefscale_clock_monotonic_ns in Sources/CRefScale/clock.c).

Usage: measure.py --module-dir DIR [--mode trace|debug] [--dup-depth D] [--calls N] [--reps R]
                  [--expect-extra-calls K] [--expect-leaked K]
       measure.py --check-args [options]   (only checks the options; run.sh calls it first)
Bad options: one line on stderr, exit 64.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

MODULE = "hpytrace_loop"
HPY_VERSION = "0.9.0"
COMPARED_MODES = ("trace", "debug")
MAX_DEPTH = 64
DEFAULT_CALLS = 10_000_000
MAX_CALLS = 1_000_000_000
DEFAULT_REPS = 5
MAX_REPS = 1000
# The warm-up loop's length: enough to fault in the code and settle the branch predictors.
WARMUP_CALLS = 100_000
# The clocks clock_pairs times, by the name printed.
CLOCKS = (("CLOCK_MONOTONIC_RAW", time.CLOCK_MONOTONIC_RAW), ("CLOCK_MONOTONIC", time.CLOCK_MONOTONIC))
TRACED_FUNCTIONS = ("ctx_Dup", "ctx_Close")
EXIT_USAGE = 64
EXIT_FAILED = 1


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr and exit 64."""

    def error(self, message):
        fail(message, EXIT_USAGE)


def fail(message, status=EXIT_FAILED):
    print(f"measure.py: {message}", file=sys.stderr)
    sys.exit(status)


def bounded_integer(low, high):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not an integer")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}...{high}")
        return value
    return parse


def parse_arguments(argv):
    parser = OneLineParser(prog="measure.py", description="ns per HPy call in HPy 0.9.0's universal mode and its trace or debug mode.")
    parser.add_argument("--module-dir", help="folder holding the built hpytrace_loop (run.sh builds it)")
    parser.add_argument("--mode", choices=COMPARED_MODES, default="trace",
                        help="the mode set beside universal mode (default trace)")
    parser.add_argument("--dup-depth", type=bounded_integer(1, MAX_DEPTH), default=1, metavar="D",
                        help=f"duplicates of the handle held at once before they are closed, 1 to {MAX_DEPTH} (default 1)")
    parser.add_argument("--calls", type=bounded_integer(1, MAX_CALLS), default=DEFAULT_CALLS,
                        help=f"calls of HPy_Dup, and of HPy_Close, per timed loop, rounded down to a multiple of "
                             f"--dup-depth (default {DEFAULT_CALLS})")
    parser.add_argument("--reps", type=bounded_integer(1, MAX_REPS), default=DEFAULT_REPS,
                        help=f"repetitions, each mode a fresh process (default {DEFAULT_REPS})")
    parser.add_argument("--expect-extra-calls", type=bounded_integer(0, MAX_CALLS), default=0, metavar="K",
                        help="expect K more calls of each in trace mode than the loop makes, so that the "
                             "count check must fail (to test the check; default 0)")
    parser.add_argument("--expect-leaked", type=bounded_integer(0, MAX_CALLS), default=0, metavar="K",
                        help="debug mode: expect K handles of the timed loop still open after it, so that the "
                             "leak check must fail (to test the check; default 0)")
    parser.add_argument("--check-args", action="store_true", help="only check the options")
    parser.add_argument("--child", choices=("universal",) + COMPARED_MODES, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.calls < arguments.dup_depth:
        parser.error(f"--calls {arguments.calls} is fewer than one round of --dup-depth {arguments.dup_depth}")
    arguments.rounds = arguments.calls // arguments.dup_depth
    arguments.calls = arguments.rounds * arguments.dup_depth
    if not arguments.check_args:
        if arguments.module_dir is None:
            parser.error("--module-dir is required")
        if not os.path.isfile(os.path.join(arguments.module_dir, MODULE + ".py")):
            parser.error(f"{arguments.module_dir} holds no built {MODULE} (run.sh builds it)")
    return arguments


def run_child(mode, arguments):
    """One process, one mode: times the loop and prints one JSON record on its last line."""
    sys.path.insert(0, arguments.module_dir)
    import hpy.trace
    import hpy.universal
    version = hpy.universal.get_version()[0]
    if version != HPY_VERSION:
        fail(f"hpy {version} is installed; these figures are for hpy {HPY_VERSION}")
    import hpytrace_loop

    subject = object()
    depth, rounds, calls = arguments.dup_depth, arguments.rounds, arguments.calls
    hpytrace_loop.dup_close(subject, max(1, min(rounds, WARMUP_CALLS // depth)), depth)
    debug = hpy.universal._debug
    generation = debug.new_generation()
    counts_before = hpy.trace.get_call_counts()
    durations_before = hpy.trace.get_durations()
    start = time.perf_counter_ns()
    hpytrace_loop.dup_close(subject, rounds, depth)
    elapsed = time.perf_counter_ns() - start
    counts_after = hpy.trace.get_call_counts()
    durations_after = hpy.trace.get_durations()
    record = {
        "mode": mode,
        "loop_ns": elapsed,
        "counts": {name: counts_after[name] - counts_before[name] for name in TRACED_FUNCTIONS},
        "recorded_ns": sum(durations_after[name] - durations_before[name] for name in TRACED_FUNCTIONS),
        "open_after": len(debug.get_open_handles(generation)),
        "closed_queued": len(debug.get_closed_handles()),
        "closed_queue_max": debug.get_closed_handles_queue_max_size(),
        "clock_pair_ns": {},
    }
    if mode == "universal" and arguments.mode == "trace":
        for name, clock in CLOCKS:
            start = time.perf_counter_ns()
            hpytrace_loop.clock_pairs(calls, clock)
            record["clock_pair_ns"][name] = (time.perf_counter_ns() - start) / calls
    print(json.dumps(record))


def measure_once(mode, arguments):
    """Runs one child in `mode` and checks its log line, its call counts and, in debug mode, its
    handle records."""
    environment = dict(os.environ, HPY=mode, HPY_LOG="1")
    command = [sys.executable, os.path.abspath(__file__), "--child", mode, "--calls", str(arguments.calls),
               "--dup-depth", str(arguments.dup_depth), "--mode", arguments.mode, "--module-dir", arguments.module_dir]
    child = subprocess.run(command, env=environment, capture_output=True, text=True)
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no message"])[-1]
        fail(f"the {mode} run failed: {last.removeprefix('measure.py: ')}")
    lines = child.stdout.strip().splitlines()
    expected_log = f"Loading '{MODULE}' in HPy universal mode" + (f" with a {mode} context" if mode != "universal" else "")
    if expected_log not in lines:
        fail(f"the {mode} run did not load {MODULE} in {mode} mode (no line \"{expected_log}\")")
    record = json.loads(lines[-1])
    expected = arguments.calls + arguments.expect_extra_calls if mode == "trace" else 0
    counts = record["counts"]
    if any(counts[name] != expected for name in TRACED_FUNCTIONS):
        rose = ", ".join(f"{name} by {counts[name]}" for name in TRACED_FUNCTIONS)
        fail(f"in {mode} mode the trace counts rose {rose}, expected {expected} each")
    if mode == "debug":
        if record["open_after"] != arguments.expect_leaked:
            fail(f"in debug mode {record['open_after']} handle(s) of the timed loop were still open after it, "
                 f"expected {arguments.expect_leaked}")
        if record["closed_queued"] != min(record["closed_queue_max"], arguments.calls):
            fail(f"in debug mode the closed-handles queue holds {record['closed_queued']} records after the loop's "
                 f"{arguments.calls} closes, expected {min(record['closed_queue_max'], arguments.calls)}")
    return record


def spread(values, digits=2):
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main(argv):
    arguments = parse_arguments(argv)
    if arguments.check_args:
        return
    if arguments.child:
        run_child(arguments.child, arguments)
        return
    mode = arguments.mode
    tracing = mode == "trace"
    calls_per_loop = 2 * arguments.calls
    print(f"HPy {HPY_VERSION} on Python {sys.version.split()[0]}: {arguments.calls} HPy_Dup and {arguments.calls} "
          f"HPy_Close per timed loop ({arguments.rounds} rounds of {arguments.dup_depth} held at once), "
          f"{arguments.reps} repetitions, each mode a fresh process")
    columns = ["rep", "universal", mode, f"{mode} cost"]
    units = ["", "ns/call", "ns/call", "ns/call"]
    widths = [4, 11, 11, 12]
    if tracing:
        columns += ["trace's own", "2 reads", "2 reads"]
        units += ["ns/call", "RAW ns", "MONOTONIC ns"]
        widths += [13, 10, 12]
    for line in (columns, units):
        print("".join(field.ljust(width) for field, width in zip(line, widths)).rstrip())
    keys = ("universal", "mode", "cost") + (("recorded", *[name for name, _ in CLOCKS]) if tracing else ())
    figures = {key: [] for key in keys}
    modes = ("universal", mode)
    for repetition in range(1, arguments.reps + 1):
        order = modes if repetition % 2 else tuple(reversed(modes))
        records = {each: measure_once(each, arguments) for each in order}
        universal = records["universal"]["loop_ns"] / calls_per_loop
        compared = records[mode]["loop_ns"] / calls_per_loop
        row = {"universal": universal, "mode": compared, "cost": compared - universal}
        if tracing:
            row["recorded"] = records["trace"]["recorded_ns"] / calls_per_loop
            row.update(records["universal"]["clock_pair_ns"])
        for key, value in row.items():
            figures[key].append(value)
        fields = [str(repetition)] + [f"{row[key]:.2f}" for key in figures]
        print("".join(field.ljust(width) for field, width in zip(fields, widths)).rstrip(), flush=True)
    print(f"median (min-max) of {arguments.reps} repetitions:")
    summary = [
        ("universal mode", spread(figures["universal"]), "ns per HPy call"),
        (f"{mode} mode", spread(figures["mode"]), "ns per HPy call"),
        (f"{mode} cost", spread(figures["cost"]), f"ns per HPy call ({mode} - universal, same repetition)"),
    ]
    if tracing:
        summary += [
            ("trace's own time", spread(figures["recorded"]),
             "ns per HPy call (hpy.trace.get_durations: between its two clock reads)"),
            *[(f"two {name} reads", spread(figures[name]), "ns (clock_pairs)") for name, _ in CLOCKS],
        ]
    label_width = max(len(label) for label, _, _ in summary) + 2
    value_width = max(len(value) for _, value, _ in summary) + 1
    for label, value, unit in summary:
        print(f"  {label.ljust(label_width)}{value.ljust(value_width)}{unit}")
    if tracing:
        print(f"call counts: ctx_Dup and ctx_Close rose by exactly {arguments.calls} in every trace run, "
              "by 0 in every universal run")
    else:
        print(f"debug records: none of the timed loop's handles open after it and the closed-handles queue full, "
              f"in every debug run; trace counts 0 in every run")


if __name__ == "__main__":
    main(sys.argv[1:])
