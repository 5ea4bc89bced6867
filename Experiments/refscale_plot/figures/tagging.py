"""Figure `tagging`: the bit budget tag bits and the table index share (`handle-local --tag-bits`).
Per workload among `numeric` and `mixed`, against the tag bits: ns/op, objects allocated per
operation (median `objects_allocated` over median `run_ops`, both whole-run counts) and the
table hit rate; one line per index width and thread count. Drawn only when those workloads hold
`handle-local` rows at two tag-bit counts or more."""

from __future__ import annotations

import math

from .. import layout
from ..series import MARKERS

KIND = "tagging"
WORKLOADS = ("numeric", "mixed")
TAG_BITS = "tag_bits"
INDEX = "handle_index"
ALLOCATED = "objects_allocated"
RUN_OPS = "run_ops"
COLUMNS = (ALLOCATED, RUN_OPS)


def allocations_per_operation(point):
    allocated, operations = point.measure(ALLOCATED).median, point.measure(RUN_OPS).median
    return allocated / operations if operations and not math.isnan(operations) else math.nan


def tagged_points(data):
    """{workload: [points]} of handle-local rows with a tag-bit count, for workloads with several."""
    chosen = {}
    for workload in WORKLOADS:
        points = [point for point in data.points if point.values.get("workload", "") == workload
                  and point.values.get(TAG_BITS, "") != ""]
        if len({point.values[TAG_BITS] for point in points}) > 1:
            chosen[workload] = points
    return chosen


def draw(plt, data, series_by_workload):
    chosen = tagged_points(data)
    if not chosen:
        return None
    variant_colors = data.catalogue.variant_colors()
    figure, grid = plt.subplots(len(chosen), 3, figsize=(15, layout.PANEL_HEIGHT * len(chosen)), squeeze=False)
    axes = []
    for (ns_axis, allocation_axis, hit_axis), (workload, points) in zip(grid, chosen.items()):
        tag_counts = sorted({int(point.values[TAG_BITS]) for point in points})
        lines = {}
        for point in points:
            lines.setdefault((point.values.get(INDEX, ""), point.threads), []).append(point)
        for index, ((width, threads), members) in enumerate(sorted(lines.items())):
            members.sort(key=lambda point: int(point.values[TAG_BITS]))
            xs = [int(point.values[TAG_BITS]) for point in members]
            name = f"{width}, {threads} thread{'s' if threads > 1 else ''}"
            style = dict(color=variant_colors[index % len(variant_colors)], marker=MARKERS[index % len(MARKERS)],
                         markersize=5, capsize=3, linewidth=1.6)
            layout.draw_points(ns_axis, xs, [point.ns for point in members], style, name)
            allocation_axis.plot(xs, [allocations_per_operation(point) for point in members], label=name,
                                 color=style["color"], marker=style["marker"], markersize=5, linewidth=1.6)
            layout.draw_points(hit_axis, xs, [point.hit for point in members], style, name)
        for axis in (ns_axis, allocation_axis, hit_axis):
            axis.set_xticks(tag_counts)
            axis.set_xlabel("tag bits taken from the index")
            axis.set_ylim(bottom=0)
            axis.grid(True, alpha=0.3)
        ns_axis.set_ylabel("ns per operation, per thread")
        ns_axis.set_title(f"workload: {workload}: ns/op (lower is better)")
        allocation_axis.set_ylabel("objects allocated per operation")
        allocation_axis.set_title(f"workload: {workload}: objects allocated per operation")
        hit_axis.set_ylim(0, 1.05)
        hit_axis.set_ylabel("table hit rate (hits / table uses)")
        hit_axis.set_title(f"workload: {workload}: table hit rate")
        axes += [ns_axis, allocation_axis, hit_axis]
    layout.finish(figure, axes, layout.title("handle-local tag bits", data),
                  layout.caption(data, "Colour: index width and thread count. Objects allocated per operation: "
                                       "median objects_allocated over median run_ops."), [])
    return figure
