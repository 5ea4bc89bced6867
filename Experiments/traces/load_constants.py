"""Loads constants: module constants, literal tuples and strings, None, True and small ints,
the objects 3.12 makes immortal or that every thread reads."""

from _threads import run

LIMITS = (3, 5, 8)
GREETING = "hello"


def work(iterations):
    count = 0
    for _ in range(iterations):
        values = (1, 2, 3)
        if values is not None and GREETING and True:
            count += LIMITS[0] + values[1] + len("abc")
    return count


run(work, __doc__, iterations=300_000)
