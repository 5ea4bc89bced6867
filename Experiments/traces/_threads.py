"""What every trace program shares: the command line (--threads N, default 2, and
--iterations M) and running the same work in N threads released together, the way
free-threaded Python code runs it. A program defines `work(iterations)` and calls `run`.
A worker that raises makes the program exit with status 1, so `trace record` keeps no trace.
With --print-work-seconds it prints `work_seconds=S` on stderr: the wall time from the threads'
release to the last one's end, the interpreter's start-up and the threads' creation left out."""

import argparse
import sys
import threading
import time


def run(work, description, iterations):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=2, help="threads running the work (default 2)")
    parser.add_argument("--iterations", type=int, default=iterations,
                        help=f"iterations of the work in each thread (default {iterations})")
    parser.add_argument("--print-work-seconds", action="store_true",
                        help="print work_seconds=S on stderr: the work's wall time, start-up left out")
    options = parser.parse_args()
    if options.threads < 1:
        parser.error("--threads must be at least 1")
    if options.iterations < 1:
        parser.error("--iterations must be at least 1")
    # Timing, the main thread joins the release, so that the clock starts with the work; without
    # it the program runs exactly as it was recorded.
    timing = options.print_work_seconds
    start = threading.Barrier(options.threads + (1 if timing else 0))
    failures = []

    def worker():
        start.wait()
        try:
            work(options.iterations)
        except BaseException as error:
            failures.append(error)
            raise

    threads = [threading.Thread(target=worker) for _ in range(options.threads)]
    for thread in threads:
        thread.start()
    if timing:
        start.wait()
        began = time.perf_counter()
    for thread in threads:
        thread.join()
    if timing:
        print(f"work_seconds={time.perf_counter() - began:.9f}", file=sys.stderr)
    if failures:
        sys.exit(1)
