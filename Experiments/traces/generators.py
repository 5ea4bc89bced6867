"""Generators: each thread makes generator objects and iterates them to the end."""

from _threads import run


def evens(limit):
    for value in range(limit):
        if value % 2 == 0:
            yield value


def work(iterations):
    total = 0
    for _ in range(iterations // 20):
        for value in evens(20):
            total += value
    return total


run(work, __doc__, iterations=400_000)
