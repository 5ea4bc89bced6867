"""One object duplicated K times in each of two threads, for Tests/trace-tests.sh: in each
worker, list(itertools.repeat(marker, K)) takes K references to `marker` (repeat_next) and
dropping the list ends them. Usage: known_counts.py K"""

import itertools
import sys
import threading

K = int(sys.argv[1])


class Marker:
    pass


marker = Marker()


def duplicate():
    copies = list(itertools.repeat(marker, K))
    del copies


workers = [threading.Thread(target=duplicate) for _ in range(2)]
for worker in workers:
    worker.start()
    worker.join()
