"""Decimal arithmetic (the _decimal extension module): shared constants and a shared context
default, new Decimal objects in every thread."""

from decimal import Decimal

from _threads import run

RATE = Decimal("1.0375")
START = Decimal("100.00")
LIMIT = Decimal("1000000")


def work(iterations):
    balance = START
    for _ in range(iterations):
        balance = (balance * RATE).quantize(Decimal("0.01")) - Decimal("3.70")
        if balance > LIMIT:
            balance = START
    return balance


run(work, __doc__, iterations=500_000)
