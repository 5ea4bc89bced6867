#!/usr/bin/env python3
"""Real programs on the real runtime: every program under Experiments/traces run on the free-threaded
CPython 3.13t (the interpreter refscale builds, Tools/cpython-313t/build.sh) at 1 and 2 threads, beside
the 2/1 throughput ratio its trace's replay predicts under each scheme of a `refscale validate` CSV, and
the Spearman rank agreement of real and predicted ratios across the programs.

Usage: programs_313t.py VALIDATE.csv [--runs 5] [--iterations N] [--out FILE]

VALIDATE.csv is the rows file (not the -cells file) of `refscale validate` with the traces under
results/traces at 1 and 2 threads (the default `refscale validate` on a 2-CPU machine). A program does
`--iterations` of its work in each of `--threads` threads, so at 2 threads it does twice the work: its
2/1 throughput ratio is 2 * median(wall at 1) / median(wall at 2). Runs alternate, 1 thread then 2,
`--runs` times. Wall time is the whole process, interpreter start-up included; work time is the
program's own clock from its threads' release to the last one's end (`--print-work-seconds`,
Experiments/traces/_threads.py), start-up and thread creation left out, and its ratio is reported
beside the wall time's, each with its Spearman agreement. A predicted ratio is
median ops/s at 2 threads over median ops/s at 1 of the trace's valid replay rows under that scheme.

Each wall time's interval is the order-statistic interval of the median (refscale_plot.intervals, as
the figures draw it), with the coverage its run count reaches. Spearman's rank correlation is
scipy.stats.spearmanr. Writes one row per program to --out (default: beside VALIDATE.csv, named
<its name>-programs.csv), under a temporary name renamed when whole. Bad input: one line on stderr,
exit 64 (usage) or 1 (a file, the interpreter, a failing program), and no file.
"""

from __future__ import annotations

import argparse
import csv
import glob
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from refscale_plot.intervals import estimate  # noqa: E402

PROGRAMS = os.path.join(HERE, "traces")
BUILD_SCRIPT = os.path.join(ROOT, "Tools", "cpython-313t", "build.sh")
USAGE_EXIT = 64
INPUT_EXIT = 1
COLUMNS = ["program", "runs", "iterations", "wall_1_median_s", "wall_1_low_s", "wall_1_high_s", "wall_2_median_s",
           "wall_2_low_s", "wall_2_high_s", "wall_coverage", "real_ratio_2_over_1", "work_1_median_s", "work_1_low_s",
           "work_1_high_s", "work_2_median_s", "work_2_low_s", "work_2_high_s", "real_work_ratio_2_over_1"]


class Refusal(Exception):
    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        raise Refusal(message, USAGE_EXIT)


def interpreter():
    """python3.13t of the finished build, with the environment that finds its libpython (the
    installation has no rpath: refscale's own build links it with one, bin/refscale-313t)."""
    result = subprocess.run([BUILD_SCRIPT, "--built"], capture_output=True, text=True)
    if result.returncode != 0:
        raise Refusal("the free-threaded CPython 3.13t is not built; run bin/refscale-313t info once to build it", INPUT_EXIT)
    prefix = result.stdout.strip()
    environment = dict(os.environ)
    library = os.path.join(prefix, "lib")
    environment["LD_LIBRARY_PATH"] = library + (":" + environment["LD_LIBRARY_PATH"] if environment.get("LD_LIBRARY_PATH") else "")
    # A module that does not declare free-threading support would turn the GIL back on; the runs
    # are of the interpreter without one, so it stays off, and the check below says so.
    environment["PYTHON_GIL"] = "0"
    python = os.path.join(prefix, "bin", "python3.13t")
    check = subprocess.run([python, "-c", "import sys; print(sys._is_gil_enabled())"], capture_output=True, text=True,
                           env=environment)
    if check.returncode != 0 or check.stdout.strip() != "False":
        raise Refusal(f"{python} does not run without its GIL: {(check.stderr or check.stdout).strip()}", INPUT_EXIT)
    return python, environment


def predicted_ratios(path):
    """{trace name: {scheme: ops/s at 2 threads over ops/s at 1}} from a refscale CSV's valid trace rows."""
    throughput = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            missing = {"scheme", "workload", "threads", "ops_per_s", "valid", "trace"} - set(reader.fieldnames or [])
            if missing:
                raise Refusal(f"{path}: not the rows of a refscale validate (no {', '.join(sorted(missing))} column)", INPUT_EXIT)
            for row in reader:
                if row["workload"] != "trace" or row["valid"].lower() != "true" or row["threads"] not in ("1", "2"):
                    continue
                name = os.path.splitext(os.path.basename(row["trace"]))[0]
                throughput.setdefault(name, {}).setdefault(row["scheme"], {}).setdefault(int(row["threads"]), []).append(
                    float(row["ops_per_s"]))
    except OSError as error:
        raise Refusal(f"{path}: {error.strerror}", INPUT_EXIT) from None
    except (ValueError, csv.Error, UnicodeDecodeError) as error:
        raise Refusal(f"{path}: malformed CSV: {error}", INPUT_EXIT) from None
    ratios = {}
    for name, schemes in throughput.items():
        for scheme, by_threads in schemes.items():
            if 1 in by_threads and 2 in by_threads:
                ratios.setdefault(name, {})[scheme] = statistics.median(by_threads[2]) / statistics.median(by_threads[1])
    if not ratios:
        raise Refusal(f"{path}: no valid trace rows at both 1 and 2 threads", INPUT_EXIT)
    return ratios


def wall_time(python, environment, program, threads, iterations):
    """(the process's wall time, the work's own) of one run, in seconds."""
    command = [python, program, "--threads", str(threads), "--print-work-seconds"] + (
        ["--iterations", str(iterations)] if iterations else [])
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=PROGRAMS)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise Refusal(f"{os.path.basename(program)} --threads {threads} failed (exit {result.returncode}): {last}", INPUT_EXIT)
    work = [line.split("=", 1)[1] for line in result.stderr.splitlines() if line.startswith("work_seconds=")]
    if len(work) != 1:
        raise Refusal(f"{os.path.basename(program)} --threads {threads} printed no work_seconds line", INPUT_EXIT)
    return elapsed, float(work[0])


def spearman(real, predicted):
    from scipy.stats import spearmanr

    if len(real) < 3:
        return math.nan, math.nan
    result = spearmanr(real, predicted)
    return float(result.statistic), float(result.pvalue)


def number(value, digits=6):
    return "" if value is None or math.isnan(value) else f"{value:.{digits}g}"


def write_atomically(path, header, rows):
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=".programs-", suffix=".csv", dir=directory)
    try:
        with os.fdopen(descriptor, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def main(argv=None):
    parser = OneLineParser(prog="programs_313t.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("validate_csv", help="the rows file of refscale validate (model and real replaying the traces)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each program at each thread count (default 5)")
    parser.add_argument("--iterations", type=int, help="iterations of each program's work per thread (default: the program's own)")
    parser.add_argument("--out", help="the CSV to write (default: VALIDATE-programs.csv beside the input)")
    try:
        arguments = parser.parse_args(argv)
        if arguments.runs < 1:
            raise Refusal(f"--runs must be at least 1, got {arguments.runs}", USAGE_EXIT)
        if arguments.iterations is not None and arguments.iterations < 1:
            raise Refusal(f"--iterations must be at least 1, got {arguments.iterations}", USAGE_EXIT)
        out = arguments.out or os.path.splitext(arguments.validate_csv)[0] + "-programs.csv"
        if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
            raise Refusal(f"--out {out}: its directory does not exist", USAGE_EXIT)
        predicted = predicted_ratios(arguments.validate_csv)
        schemes = sorted({scheme for by_scheme in predicted.values() for scheme in by_scheme})
        programs = sorted(path for path in glob.glob(os.path.join(PROGRAMS, "*.py"))
                          if not os.path.basename(path).startswith("_"))
        python, environment = interpreter()
        rows = []
        for program in programs:
            name = os.path.splitext(os.path.basename(program))[0]
            walls = {1: [], 2: []}
            works = {1: [], 2: []}
            for _ in range(arguments.runs):
                for threads in (1, 2):
                    wall, work = wall_time(python, environment, program, threads, arguments.iterations)
                    walls[threads].append(wall)
                    works[threads].append(work)
            one, two = estimate(walls[1]), estimate(walls[2])
            real = 2 * one.median / two.median
            work_one, work_two = estimate(works[1]), estimate(works[2])
            real_work = 2 * work_one.median / work_two.median
            rows.append((name, one, two, real, {scheme: predicted.get(name, {}).get(scheme, math.nan) for scheme in schemes},
                         work_one, work_two, real_work))
            print(f"{name}: 1 thread {one.median:.3f} s, 2 threads {two.median:.3f} s, real 2/1 {real:.3f}; "
                  f"work alone {work_one.median:.3f} s and {work_two.median:.3f} s, 2/1 {real_work:.3f}", file=sys.stderr)
    except Refusal as refusal:
        sys.stderr.write(f"programs_313t.py: error: {refusal}\n")
        return refusal.code
    header = COLUMNS + [f"predicted_{scheme}" for scheme in schemes]
    table = [[name, arguments.runs, arguments.iterations or "", number(one.median), number(one.low), number(one.high),
              number(two.median), number(two.low), number(two.high), number(min(one.confidence, two.confidence), 4),
              number(real), number(work_one.median), number(work_one.low), number(work_one.high), number(work_two.median),
              number(work_two.low), number(work_two.high), number(real_work)] + [number(ratios[scheme]) for scheme in schemes]
             for name, one, two, real, ratios, work_one, work_two, real_work in rows]
    agreement = []
    for measure, index in (("wall", 3), ("work", 7)):
        for scheme in schemes:
            pairs = [(row[index], row[4][scheme]) for row in rows if not math.isnan(row[4][scheme])]
            rho, p = spearman([a for a, _ in pairs], [b for _, b in pairs])
            agreement.append((measure, scheme, len(pairs), rho, p))
    write_atomically(out, header, table)
    width = max(len(name) for name, *_ in rows)
    print(f"{'program':<{width}}  {'wall 1 s':>9}  {'wall 2 s':>9}  {'real 2/1':>8}  {'work 1 s':>9}  {'work 2 s':>9}  "
          f"{'work 2/1':>8}  " + "  ".join(f"{s:>14}" for s in schemes))
    for name, one, two, real, ratios, work_one, work_two, real_work in rows:
        print(f"{name:<{width}}  {one.median:9.3f}  {two.median:9.3f}  {real:8.3f}  {work_one.median:9.3f}  "
              f"{work_two.median:9.3f}  {real_work:8.3f}  "
              + "  ".join(f"{'-' if math.isnan(ratios[s]) else format(ratios[s], '.3f'):>14}" for s in schemes))
    for measure, scheme, count, rho, p in agreement:
        print(f"Spearman rank agreement of the real {measure}-time and {scheme}-predicted 2/1 ratios over {count} programs: "
              f"rho {number(rho, 3) or 'n/a'}, p {number(p, 3) or 'n/a'}")
    coverage = min(min(row[1].confidence, row[2].confidence) for row in rows)
    print(f"wall times: median of {arguments.runs} runs; intervals (in {out}) are the order-statistic interval of the "
          f"median, coverage {number(coverage, 4) or 'none (fewer than 3 runs)'}")
    print(f"{len(rows)} programs written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
