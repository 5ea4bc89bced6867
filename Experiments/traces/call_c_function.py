"""Calls functions of a C module (math): the module's function objects are shared, and the
arguments and results cross into extension code."""

import math

from _threads import run


def work(iterations):
    total = 0.0
    for index in range(iterations):
        total += math.sqrt(index) + math.fabs(-index)
    return total


run(work, __doc__, iterations=300_000)
