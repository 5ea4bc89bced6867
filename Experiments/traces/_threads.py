"""What every trace program shares: the command line (--threads N, default 2, and
--iterations M) and running the same work in N threads released together, the way
free-threaded Python code runs it. A program defines `work(iterations)` and calls `run`.
A worker that raises makes the program exit with status 1, so `trace record` keeps no trace."""

import argparse
import sys
import threading


def run(work, description, iterations):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=int, default=2, help="threads running the work (default 2)")
    parser.add_argument("--iterations", type=int, default=iterations,
                        help=f"iterations of the work in each thread (default {iterations})")
    options = parser.parse_args()
    if options.threads < 1:
        parser.error("--threads must be at least 1")
    if options.iterations < 1:
        parser.error("--iterations must be at least 1")
    start = threading.Barrier(options.threads)
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
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(1)
