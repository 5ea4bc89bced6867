"""Reads thread-local data (threading.local): the local object is shared, each thread's
attributes are its own."""

import threading

from _threads import run

local = threading.local()


def work(iterations):
    local.limit = 7
    local.name = threading.current_thread().name
    total = 0
    for index in range(iterations):
        total += local.limit + len(local.name) + index
    return total


run(work, __doc__, iterations=300_000)
