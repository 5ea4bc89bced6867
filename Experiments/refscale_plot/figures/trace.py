"""Figures `trace-<file>`: for the rows of the trace workload, one figure per trace file (the
`trace` column), ops/s of all threads against threads, one line per scheme (and whatever else
names a line), medians with the same intervals as the other figures. Each way the trace was
replayed, a (trace_sites, what_if) pair, is a panel of its own, the recorded replay
(as-recorded, none) first. A point whose replay replicated objects (trace_replicated_objects > 0:
the objects were copied per thread, so the threads no longer share them) is ringed."""

from __future__ import annotations

import math
import os

from .. import layout
from ..series import label, label_columns, natural

KIND_PREFIX = "trace"
WORKLOAD = "trace"
TRACE_COLUMN = "trace"
REPLICATED_COLUMN = "trace_replicated_objects"
COLUMNS = [REPLICATED_COLUMN]
# The replay's settings that make a panel, with the recorded replay's values.
FACETS = {"trace_sites": "as-recorded", "what_if": "none"}
REPLICATED_LABEL = "_replicated"


def trace_name(path):
    return os.path.splitext(os.path.basename(path))[0] or path


def facet_rank(facet):
    return (tuple(value != default for value, default in zip(facet, FACETS.values())), [natural(value) for value in facet])


def draw_each(plt, data, series_by_workload):
    """{kind: figure}, one per trace file of this host's trace rows."""
    from matplotlib.lines import Line2D

    lines = series_by_workload.get(WORKLOAD, [])
    varying = label_columns(data.points, data.naming_columns)
    by_trace = {}
    for item in lines:
        values = dict(zip(data.naming_columns, item.key))
        by_trace.setdefault(values.get(TRACE_COLUMN, ""), []).append((item, values))
    figures = {}
    for path in sorted(by_trace, key=natural):
        members = by_trace[path]
        facets = sorted({tuple(values.get(column, "") for column in FACETS) for _, values in members}, key=facet_rank)
        figure, axes = layout.panel_grid(plt, len(facets))
        shaded = replicated = False
        for axis, facet in zip(axes, facets):
            chosen = [(item, values) for item, values in members
                      if tuple(values.get(column, "") for column in FACETS) == facet]
            points = [point for item, _ in chosen for point in item.points]
            shaded |= layout.shade_oversubscribed(axis, points)
            for item, values in chosen:
                shown = [column for column in varying.get(item.scheme, []) if column != TRACE_COLUMN and column not in FACETS]
                xs = [point.threads for point in item.points]
                style = dict(color=item.color, marker=item.marker, markersize=5, linewidth=2, capsize=3)
                layout.draw_points(axis, xs, [point.ops for point in item.points], style,
                                   label(item.scheme, values, shown), scale=1e6)
                ringed = [(point.threads, point.ops.median / 1e6) for point in item.points
                          if point.measure(REPLICATED_COLUMN).median > 0]
                if ringed:
                    replicated = True
                    axis.plot([x for x, _ in ringed], [y for _, y in ringed], linestyle="none", marker="o",
                              markersize=13, markerfacecolor="none", markeredgecolor=item.color,
                              markeredgewidth=1.2, label=REPLICATED_LABEL)
            layout.log_axis(axis)
            axis.set_ylabel("throughput, all threads (Mops/s, log scale)")
            axis.set_title(", ".join(f"{column}: {value or '(blank)'}" for column, value in zip(FACETS, facet)))
            layout.thread_axis(axis, points)
            axis.grid(True, which="major", alpha=0.3)
        extra = []
        if replicated:
            extra.append(Line2D([], [], linestyle="none", marker="o", markersize=11, markerfacecolor="none",
                                markeredgecolor="#555555", label="ringed: objects replicated per thread"))
        if shaded:
            extra.append(layout.oversubscribed_patch(data))
        layout.finish(figure, axes, layout.title(f"trace {os.path.basename(path)}", data),
                      layout.caption(data, f"Replay of {path}. Higher is better. Ringed points replicated "
                                           f"objects ({REPLICATED_COLUMN} > 0): their threads no longer share "
                                           "those objects, so they measure another program than the one traced."),
                      extra)
        figures[f"{KIND_PREFIX}-{trace_name(path)}"] = figure
    return figures
