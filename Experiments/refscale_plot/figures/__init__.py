"""The figures, in the order their files are written; each module's `draw` returns None when its
figure has nothing to show for a host. Then the trace figures, one per trace file (`draw_each`)."""

from __future__ import annotations

import sys

from . import handle_table, memory, ns_per_op, speedup, tagging, throughput, trace
from ..points import split_hosts
from ..series import build_series

FIGURES = [throughput, speedup, ns_per_op, handle_table, tagging, memory]
KINDS = [figure.KIND for figure in FIGURES]

# The measured columns whose medians and intervals the figures draw.
MEASURED_COLUMNS = ["ops_per_s", "ns_per_op", "hit_rate", *memory.COLUMNS, *tagging.COLUMNS, *trace.COLUMNS]
NUMERIC_TYPES = ("integer", "number")


class HostFigures:
    def __init__(self, host, figures, stem=None):
        self.host = host          # None: the file names carry no host
        self.figures = figures    # kind -> matplotlib Figure
        self.stem = stem          # the file names' stem; None: the first CSV's


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    # SVG text stays text (searchable, editable, and several times faster to write than glyph
    # outlines); the fonts are matplotlib's DejaVu, which viewers substitute when missing.
    matplotlib.rcParams["svg.fonttype"] = "none"
    import matplotlib.pyplot as plt

    return plt


def measured_columns(table, catalogue):
    """The MEASURED_COLUMNS the table has as numbers; a column the catalogue does not know is a
    text parameter, and no figure draws it."""
    return [column for column in MEASURED_COLUMNS
            if column in table.columns and catalogue.type(column) in NUMERIC_TYPES]


def build_figures(table, catalogue):
    """The figures of every host, without writing anything: [HostFigures]."""
    plt = pyplot()
    measured = measured_columns(table, catalogue)
    result = []
    for data in split_hosts(table, catalogue, measured):
        if not data.points:
            sys.stderr.write(f"plot.py: note: host {data.host} has only invalid rows ({len(data.invalid)}); "
                             "no figures for it\n")
            continue
        series_by_workload = build_series(data)
        figures = {}
        for figure in FIGURES:
            drawn = figure.draw(plt, data, series_by_workload)
            if drawn is not None:
                figures[figure.KIND] = drawn
        figures.update(trace.draw_each(plt, data, series_by_workload))
        result.append(HostFigures(host=data.host, figures=figures))
    return result
