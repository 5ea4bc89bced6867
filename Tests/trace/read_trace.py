"""A second reader of the trace format, written from Experiments/traces/FORMAT.md alone, for
Tests/trace-tests.sh: it checks that the document describes the files refscale writes.
Usage: read_trace.py FILE TYPE_NAME
Prints, as JSON, the threads, and for each thread the increments and decrements (by site) of
objects of type TYPE_NAME, and the total events by kind and site."""

import json
import sys

KINDS = ["birth", "incref", "decref", "death"]
SITES = ["interpreter", "extension"]


class Reader:
    def __init__(self, data):
        self.data = data
        self.offset = 0

    def take(self, count):
        if self.offset + count > len(self.data):
            raise SystemExit("truncated")
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk

    def varint(self):
        value, shift = 0, 0
        while True:
            byte = self.take(1)[0]
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def text(self):
        return self.take(self.varint()).decode("utf-8")


def main():
    path, type_name = sys.argv[1], sys.argv[2]
    reader = Reader(open(path, "rb").read())
    if reader.take(8) != b"RSTRACE\0":
        raise SystemExit("wrong magic")
    version = int.from_bytes(reader.take(2), "little")
    if version != 1:
        raise SystemExit(f"version {version}")
    header = {"interpreter": reader.text(), "program": reader.text()}
    header["arguments"] = [reader.text() for _ in range(reader.varint())]
    thread_count, event_count = reader.varint(), reader.varint()
    types = [reader.text() for _ in range(reader.varint())]
    objects = []
    for _ in range(reader.varint()):
        type_index, first_count, flags = reader.varint(), reader.varint(), reader.take(1)[0]
        objects.append((types[type_index], first_count, flags))
    totals = {f"{kind}/{site}": 0 for kind in KINDS for site in SITES}
    threads = []
    covered = []
    for _ in range(thread_count):
        events = reader.varint()
        end = 0
        for _ in range(reader.varint()):
            start = end + reader.varint()
            length = reader.varint()
            covered.append((start, length))
            end = start + length
        body = Reader(reader.take(reader.varint()))
        previous = 0
        counts = {f"{kind}/{site}": 0 for kind in ("incref", "decref") for site in SITES}
        for _ in range(events):
            byte = body.take(1)[0]
            code = byte >> 3
            if code == 31:
                zigzag = body.varint()
                distance = (zigzag >> 1) ^ -(zigzag & 1)
            else:
                distance = code - 15
            previous += distance
            key = f"{KINDS[byte & 3]}/{SITES[(byte >> 2) & 1]}"
            totals[key] += 1
            if objects[previous][0] == type_name and key in counts:
                counts[key] += 1
        if body.offset != len(body.data):
            raise SystemExit("bytes after a thread's events")
        threads.append(counts)
    if reader.offset != len(reader.data):
        raise SystemExit("bytes after the last thread")
    covered.sort()
    if [start for start, _ in covered] != [sum(length for _, length in covered[:i]) for i in range(len(covered))] \
            or sum(length for _, length in covered) != event_count:
        raise SystemExit("segments do not cover the order")
    print(json.dumps({"header": header, "threads": threads, "totals": totals,
                      "objects_of_type": sum(1 for name, _, _ in objects if name == type_name)}))


main()
