"""Lines: the points of one configuration at each thread count, in one workload, with a label,
a colour and a marker.

A line is a scheme plus whatever naming column tells two of its configurations apart within one
workload (`handle-local low4 objects=16`); columns that never vary stay out of the labels, as in
`refscale report`. Lines are ordered by the registry's scheme order, workloads by its workload
order; a scheme's main line (the one with the most points) takes the scheme's own colour, so a
scheme looks the same in every figure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">"]
# The scheme that counts nothing: its figure is what the harness itself costs, and its lines are
# drawn dotted and its ns/op hatched into every bar of its workload.
FLOOR_SCHEME = "noop"


@dataclass
class Series:
    key: tuple
    scheme: str
    label: str
    points: list      # sorted by threads
    color: str = ""
    marker: str = "o"

    def at(self, threads):
        return next((point for point in self.points if point.threads == threads), None)


def natural(text):
    """Sort key that puts objects=4 before objects=16."""
    return [(0, float(part), "") if re.fullmatch(r"\d+(\.\d+)?", part) else (1, 0.0, part)
            for part in re.split(r"(\d+(?:\.\d+)?)", text) if part]


def label_columns(points, naming_columns):
    """For each scheme, the naming columns whose value differs between two of its points in one
    workload: {scheme: [column]}. Those name its lines; a column that varies only between
    schemes (handle_index is blank for atomic) or between workloads would only add noise."""
    seen = {}
    for point in points:
        bucket = seen.setdefault(point.values.get("scheme", ""), {})
        for column in naming_columns:
            if column != "scheme":
                bucket.setdefault((point.values.get("workload", ""), column), set()).add(point.values.get(column, ""))
    return {scheme: [column for column in naming_columns
                     if any(len(bucket.get((workload, column), ())) > 1 for workload, _ in bucket)]
            for scheme, bucket in seen.items()}


def label(scheme, values, varying):
    """The scheme, then the varying columns' values: a word names itself (low3, lazy), a number
    carries its column's name (objects=16)."""
    words, numbers = [], []
    for column in varying:
        value = values.get(column, "")
        if value == "":
            continue
        if re.fullmatch(r"[A-Za-z][\w-]*", value):
            words.append(value)
        else:
            numbers.append(f"{column}={value}")
    return " ".join(([scheme] if scheme else []) + words + numbers)


def build_series(data):
    """The lines of each workload, {workload: [Series]}, workloads and lines in registry order."""
    catalogue = data.catalogue
    naming = data.naming_columns
    varying = label_columns(data.points, naming)
    by_workload = {}
    for point in data.points:
        key = tuple(point.values.get(column, "") for column in naming)
        by_workload.setdefault(point.values.get("workload", ""), {}).setdefault(key, []).append(point)
    result = {}
    for workload in sorted(by_workload, key=catalogue.workload_rank):
        lines = []
        for key, members in by_workload[workload].items():
            values = dict(zip(naming, key))
            scheme = values.get("scheme", "")
            lines.append(Series(key=key, scheme=scheme, label=label(scheme, values, varying.get(scheme, [])),
                                points=sorted(members, key=lambda point: point.threads)))
        lines.sort(key=lambda item: (catalogue.scheme_rank(item.scheme), natural(item.label)))
        result[workload] = lines
    assign_styles([item for lines in result.values() for item in lines], catalogue)
    return result


def assign_styles(all_series, catalogue):
    """The same label gets the same colour and marker in every panel and figure of a host. Of a
    scheme's lines, the one with the most points gets the scheme's own colour; the others, and
    schemes the registry does not list, take the colours no registered scheme owns."""
    points = {}
    for item in all_series:
        points[item.label] = points.get(item.label, 0) + len(item.points)
    labels = sorted({(catalogue.scheme_rank(item.scheme), item.label, item.scheme) for item in all_series},
                    key=lambda entry: (entry[0], natural(entry[1])))
    main = {}
    for _, name, scheme in labels:
        if scheme not in main or points[name] > points[main[scheme]]:
            main[scheme] = name
    variant_colors = catalogue.variant_colors()
    styles = {}
    extra = 0
    for index, (_, name, scheme) in enumerate(labels):
        own = catalogue.scheme_color(scheme)
        if own is not None and main[scheme] == name:
            color = own
        else:
            color = variant_colors[extra % len(variant_colors)]
            extra += 1
        styles[name] = (color, MARKERS[index % len(MARKERS)])
    for item in all_series:
        item.color, item.marker = styles[item.label]
