"""Encodes and decodes JSON of a structure every thread shares (the _json extension module
does the work): extension code counts the shared structure's objects."""

import json

from _threads import run

SHARED = {"users": [{"id": index, "name": f"user{index}", "active": index % 2 == 0} for index in range(20)],
          "version": 3, "tags": ["a", "b", "c"]}


def work(iterations):
    total = 0
    for _ in range(iterations // 100):
        text = json.dumps(SHARED)
        total += len(json.loads(text)["users"])
    return total


run(work, __doc__, iterations=200_000)
