"""Figure `speedup`: each line's median throughput over its own 1-thread median, against the
linear ideal; lines without a 1-thread point, or with only one thread count, are left out."""

from __future__ import annotations

from .. import layout
from ..series import FLOOR_SCHEME

KIND = "speedup"


def draw(plt, data, series_by_workload):
    from matplotlib.lines import Line2D

    workloads = list(series_by_workload)
    figure, axes = layout.panel_grid(plt, len(workloads))
    shaded = False
    for axis, workload in zip(axes, workloads):
        points = [point for item in series_by_workload[workload] for point in item.points]
        shaded |= layout.shade_oversubscribed(axis, points)
        threads = sorted({point.threads for point in points})
        axis.plot(threads, threads, linestyle="--", color="#555555", linewidth=1, label="_linear")
        drawn = 0
        for item in series_by_workload[workload]:
            one = item.at(1)
            if one is None or not one.ops.median > 0 or len(item.points) < 2:
                continue
            drawn += 1
            style = dict(color=item.color, marker=item.marker, markersize=5, linewidth=1.8, capsize=3)
            if item.scheme == FLOOR_SCHEME:
                style.update(linewidth=1.2, linestyle=":")
            layout.draw_points(axis, [point.threads for point in item.points], [point.ops for point in item.points],
                               style, item.label, scale=one.ops.median)
        if not drawn:
            axis.text(0.5, 0.5, "no series ran at 1 thread and at more", transform=axis.transAxes,
                      ha="center", va="center", color="#555555")
        axis.axhline(1, color="#999999", linewidth=0.8)
        axis.set_ylim(bottom=0)
        axis.set_ylabel("speedup over 1 thread (×)")
        axis.set_title(f"workload: {workload}")
        layout.thread_axis(axis, points)
        axis.grid(True, alpha=0.3)
    extra_handles = [Line2D([], [], color="#555555", linestyle="--", linewidth=1, label="linear scaling")]
    if shaded:
        extra_handles.append(layout.oversubscribed_patch(data))
    layout.finish(figure, axes, layout.title("speedup", data),
                  layout.caption(data, "Higher is better. Speedup: median throughput over the same series' median "
                                       "at 1 thread, the bars that throughput's interval over the same median; "
                                       "series without a 1-thread run, or with only one thread count, are left out."),
                  extra_handles)
    return figure
