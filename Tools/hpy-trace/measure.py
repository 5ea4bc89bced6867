#!/usr/bin/env python3
"""Times HPy 0.9.0's trace mode on a dup/close loop: ns per HPy call in HPy's universal mode, in
its trace mode, and the difference, the figure `refscale calibrate` reports for `--context trace`
("+trace timed", ns per operation over universal; an operation is one dup or one close, as here).

The loop is hpytrace_loop.dup_close(obj, n) (hpytrace_loop.c): n times HPy_Dup of the argument's
handle and HPy_Close of the copy, 2n calls through the context. Each mode runs in a fresh process
per repetition, the modes alternating in order; each times one call of the loop with the
monotonic clock (time.perf_counter_ns) after a warm-up of the same loop.

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

Checks, each a non-zero exit with one line: the version is 0.9.0; each process's HPY_LOG line
names the mode asked for; over the timed loop, get_call_counts() for ctx_Dup and for ctx_Close
rose by exactly n in trace mode and by 0 in universal mode (the module then never touches the
trace context). --expect-extra-calls K makes the trace expectation n + K, to show the check
fails when the counts are wrong.

clock_pairs(n, clock) in the universal process times the two reads alone, for
CLOCK_MONOTONIC_RAW (trace mode's clock) and CLOCK_MONOTONIC (the clock of refscale's trace
context: crefscale_clock_monotonic_ns in Sources/CRefScale/clock.c).

Usage: measure.py --module-dir DIR [--calls N] [--reps R] [--expect-extra-calls K]
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
MODES = ("universal", "trace")
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
    parser = OneLineParser(prog="measure.py", description="ns per HPy call in HPy 0.9.0's universal and trace modes.")
    parser.add_argument("--module-dir", help="folder holding the built hpytrace_loop (run.sh builds it)")
    parser.add_argument("--calls", type=bounded_integer(1, MAX_CALLS), default=DEFAULT_CALLS,
                        help=f"calls of HPy_Dup, and of HPy_Close, per timed loop (default {DEFAULT_CALLS})")
    parser.add_argument("--reps", type=bounded_integer(1, MAX_REPS), default=DEFAULT_REPS,
                        help=f"repetitions, each mode a fresh process (default {DEFAULT_REPS})")
    parser.add_argument("--expect-extra-calls", type=bounded_integer(0, MAX_CALLS), default=0, metavar="K",
                        help="expect K more calls of each in trace mode than the loop makes, so that the "
                             "count check must fail (to test the check; default 0)")
    parser.add_argument("--check-args", action="store_true", help="only check the options")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if not arguments.check_args:
        if arguments.module_dir is None:
            parser.error("--module-dir is required")
        if not os.path.isfile(os.path.join(arguments.module_dir, MODULE + ".py")):
            parser.error(f"{arguments.module_dir} holds no built {MODULE} (run.sh builds it)")
    return arguments


def run_child(mode, calls, module_dir):
    """One process, one mode: times the loop and prints one JSON record on its last line."""
    sys.path.insert(0, module_dir)
    import hpy.trace
    import hpy.universal
    version = hpy.universal.get_version()[0]
    if version != HPY_VERSION:
        fail(f"hpy {version} is installed; these figures are for hpy {HPY_VERSION}")
    import hpytrace_loop

    subject = object()
    hpytrace_loop.dup_close(subject, min(calls, WARMUP_CALLS))
    counts_before = hpy.trace.get_call_counts()
    durations_before = hpy.trace.get_durations()
    start = time.perf_counter_ns()
    hpytrace_loop.dup_close(subject, calls)
    elapsed = time.perf_counter_ns() - start
    counts_after = hpy.trace.get_call_counts()
    durations_after = hpy.trace.get_durations()
    record = {
        "mode": mode,
        "loop_ns": elapsed,
        "counts": {name: counts_after[name] - counts_before[name] for name in TRACED_FUNCTIONS},
        "recorded_ns": sum(durations_after[name] - durations_before[name] for name in TRACED_FUNCTIONS),
        "clock_pair_ns": {},
    }
    if mode == "universal":
        for name, clock in CLOCKS:
            start = time.perf_counter_ns()
            hpytrace_loop.clock_pairs(calls, clock)
            record["clock_pair_ns"][name] = (time.perf_counter_ns() - start) / calls
    print(json.dumps(record))


def measure_once(mode, arguments):
    """Runs one child in `mode` and checks its log line and its call counts."""
    environment = dict(os.environ, HPY=mode, HPY_LOG="1")
    command = [sys.executable, os.path.abspath(__file__), "--child", mode, "--calls", str(arguments.calls),
               "--module-dir", arguments.module_dir]
    child = subprocess.run(command, env=environment, capture_output=True, text=True)
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no message"])[-1]
        fail(f"the {mode} run failed: {last.removeprefix('measure.py: ')}")
    lines = child.stdout.strip().splitlines()
    expected_log = f"Loading '{MODULE}' in HPy universal mode" + (" with a trace context" if mode == "trace" else "")
    if expected_log not in lines:
        fail(f"the {mode} run did not load {MODULE} in {mode} mode (no line \"{expected_log}\")")
    record = json.loads(lines[-1])
    expected = arguments.calls + arguments.expect_extra_calls if mode == "trace" else 0
    counts = record["counts"]
    if any(counts[name] != expected for name in TRACED_FUNCTIONS):
        rose = ", ".join(f"{name} by {counts[name]}" for name in TRACED_FUNCTIONS)
        fail(f"in {mode} mode the trace counts rose {rose}, expected {expected} each")
    return record


def spread(values, digits=2):
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def main(argv):
    arguments = parse_arguments(argv)
    if arguments.check_args:
        return
    if arguments.child:
        run_child(arguments.child, arguments.calls, arguments.module_dir)
        return
    calls_per_loop = 2 * arguments.calls
    print(f"HPy {HPY_VERSION} on Python {sys.version.split()[0]}: {arguments.calls} HPy_Dup and {arguments.calls} "
          f"HPy_Close per timed loop, {arguments.reps} repetitions, each mode a fresh process")
    columns = ("rep", "universal", "trace", "trace cost", "trace's own", "2 reads", "2 reads")
    units = ("", "ns/call", "ns/call", "ns/call", "ns/call", "RAW ns", "MONOTONIC ns")
    widths = (4, 11, 11, 12, 13, 10, 12)
    for line in (columns, units):
        print("".join(field.ljust(width) for field, width in zip(line, widths)).rstrip())
    figures = {key: [] for key in ("universal", "trace", "cost", "recorded", *[name for name, _ in CLOCKS])}
    for repetition in range(1, arguments.reps + 1):
        order = MODES if repetition % 2 else tuple(reversed(MODES))
        records = {mode: measure_once(mode, arguments) for mode in order}
        universal = records["universal"]["loop_ns"] / calls_per_loop
        trace = records["trace"]["loop_ns"] / calls_per_loop
        row = {
            "universal": universal,
            "trace": trace,
            "cost": trace - universal,
            "recorded": records["trace"]["recorded_ns"] / calls_per_loop,
            **records["universal"]["clock_pair_ns"],
        }
        for key, value in row.items():
            figures[key].append(value)
        fields = [str(repetition)] + [f"{row[key]:.2f}" for key in figures]
        print("".join(field.ljust(width) for field, width in zip(fields, widths)).rstrip(), flush=True)
    print(f"median (min-max) of {arguments.reps} repetitions:")
    summary = [
        ("universal mode", spread(figures["universal"]), "ns per HPy call"),
        ("trace mode", spread(figures["trace"]), "ns per HPy call"),
        ("trace cost", spread(figures["cost"]), "ns per HPy call (trace - universal, same repetition)"),
        ("trace's own time", spread(figures["recorded"]),
         "ns per HPy call (hpy.trace.get_durations: between its two clock reads)"),
        *[(f"two {name} reads", spread(figures[name]), "ns (clock_pairs)") for name, _ in CLOCKS],
    ]
    label_width = max(len(label) for label, _, _ in summary) + 2
    value_width = max(len(value) for _, value, _ in summary) + 1
    for label, value, unit in summary:
        print(f"  {label.ljust(label_width)}{value.ljust(value_width)}{unit}")
    print(f"call counts: ctx_Dup and ctx_Close rose by exactly {arguments.calls} in every trace run, "
          "by 0 in every universal run")


if __name__ == "__main__":
    main(sys.argv[1:])
