"""Calls a module-level Python function: the function object, its globals and its code are
shared by every thread."""

from _threads import run


def scale(value, factor):
    return value * factor + 1


def work(iterations):
    total = 0
    for index in range(iterations):
        total += scale(index, 3)
    return total


run(work, __doc__, iterations=400_000)
