"""Instantiates a dataclass: the class, its generated __init__ and its field defaults are
shared, each instance belongs to one thread."""

from dataclasses import dataclass, field

from _threads import run


@dataclass
class Order:
    item: str
    quantity: int = 1
    tags: list = field(default_factory=list)


def work(iterations):
    total = 0
    for index in range(iterations):
        order = Order("book", index % 5)
        total += order.quantity + len(order.tags)
    return total


run(work, __doc__, iterations=150_000)
