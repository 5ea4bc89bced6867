"""Deep-copies a structure every thread shares (copy.deepcopy): the shared structure is read
by every thread, each copy belongs to one."""

import copy

from _threads import run

TEMPLATE = {"name": "config", "sizes": [1, 2, 3, 4], "nested": {"flags": [True, False], "ratio": 0.5}}


def work(iterations):
    total = 0
    for _ in range(iterations // 10):
        duplicate = copy.deepcopy(TEMPLATE)
        total += len(duplicate["sizes"])
    return total


run(work, __doc__, iterations=100_000)
