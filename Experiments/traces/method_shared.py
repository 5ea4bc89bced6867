"""Method calls on one object every thread shares: its type, its bound methods and its
attribute dictionary are counted from every thread."""

from _threads import run


class Counter:
    def __init__(self):
        self.step = 1

    def advance(self, value):
        return value + self.step


shared = Counter()


def work(iterations):
    value = 0
    for _ in range(iterations):
        value = shared.advance(value)
    return value


run(work, __doc__, iterations=1_500_000)
