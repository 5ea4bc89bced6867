"""Creates objects, dicts and closures in a loop and drops them: births and deaths of
short-lived objects in every thread."""

from _threads import run


class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


def work(iterations):
    kept = 0
    for index in range(iterations):
        point = Point(index, index + 1)
        record = {"x": point.x, "y": point.y}
        offset = lambda value: value + record["x"]
        kept += offset(point.y)
    return kept


run(work, __doc__, iterations=150_000)
