"""Figure `memory`: what deferral costs in memory against what it buys in time. Per workload, the
median throughput of each series against the most objects it held alive at once
(`peak_live_objects`), and against the mean delay, in operations, between an object's last
reference being dropped and its free (`free_delay_mean_ops`, 0 for a scheme that frees at once),
with the maximum delay (`free_delay_max_ops`) drawn out to a tick. Each series' thread counts are
joined in order and labelled. Drawn only when the rows carry these columns with values."""

from __future__ import annotations

import math

from .. import layout

KIND = "memory"
PEAK = "peak_live_objects"
DELAY_MEAN = "free_delay_mean_ops"
DELAY_MAX = "free_delay_max_ops"
COLUMNS = (PEAK, DELAY_MEAN, DELAY_MAX)


def has_values(point):
    return all(not math.isnan(point.measure(column).median) for column in COLUMNS)


def draw(plt, data, series_by_workload):
    from matplotlib.lines import Line2D

    drawn = {workload: [(item, [point for point in item.points if has_values(point)]) for item in items]
             for workload, items in series_by_workload.items()}
    drawn = {workload: [(item, points) for item, points in entries if points]
             for workload, entries in drawn.items() if any(points for _, points in entries)}
    if not drawn:
        return None
    left_out = sum(1 for point in data.points if not has_values(point))
    figure, grid = plt.subplots(len(drawn), 2, figsize=(11, layout.PANEL_HEIGHT * len(drawn)), squeeze=False)
    axes = []
    for (peak_axis, delay_axis), (workload, entries) in zip(grid, drawn.items()):
        for item, points in entries:
            style = dict(color=item.color, marker=item.marker, markersize=5, linewidth=1.0, capsize=2,
                         elinewidth=0.8)
            throughput = [point.ops for point in points]
            for axis, column in ((peak_axis, PEAK), (delay_axis, DELAY_MEAN)):
                xs = [point.measure(column) for point in points]
                layout.draw_points(axis, [x.median for x in xs], throughput, style, item.label, scale=1e6,
                                   xerr=layout.interval_errors(xs))
                for x, point in zip(xs, points):
                    axis.annotate(f"{point.threads}", (x.median, point.ops.median / 1e6), xytext=(4, 3),
                                  textcoords="offset points", fontsize=6, color=item.color)
            for point in points:
                y = point.ops.median / 1e6
                mean, worst = point.measure(DELAY_MEAN).median, point.measure(DELAY_MAX).median
                delay_axis.plot([mean, worst], [y, y], color=item.color, linewidth=0.7, alpha=0.6, label="_max")
                delay_axis.plot([worst], [y], color=item.color, marker="|", markersize=7, linestyle="none",
                                label="_max")
        for axis, name in ((peak_axis, "peak live objects"), (delay_axis, "free delay, operations (mean; tick: max)")):
            values = [x for line in axis.get_lines() for x in line.get_xdata()]
            if values and min(values) > 0:
                layout.log_axis(axis, which="x")
            else:
                axis.set_xscale("symlog", linthresh=1)
            layout.log_axis(axis)
            axis.set_xlabel(name + " (log scale)")
            axis.set_ylabel("throughput, all threads (Mops/s, log scale)")
            axis.grid(True, which="major", alpha=0.3)
        peak_axis.set_title(f"workload: {workload}: throughput against retained objects")
        delay_axis.set_title(f"workload: {workload}: throughput against free delay")
        axes += [peak_axis, delay_axis]
    extra = f" Configurations without these columns' values left out: {left_out}." if left_out else ""
    layout.finish(figure, axes, layout.title("memory retained by deferral", data),
                  layout.caption(data, "Up and to the left is better. Each series' points are its thread counts "
                                       "(the small numbers), joined in order; bars: the intervals of both medians. "
                                       "Free delay: operations between an object's last reference being dropped "
                                       "and its free, 0 for a scheme that frees at once." + extra),
                  [Line2D([], [], color="#555555", marker="|", markersize=7, linewidth=0.7,
                          label="free delay: mean to maximum (tick)")])
    return figure
