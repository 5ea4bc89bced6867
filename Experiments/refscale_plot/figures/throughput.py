"""Figure `throughput`: ops/s of all threads against threads, one panel per workload, one line per
series, each line's linear scaling from its 1-thread median dashed in its colour (as
will-it-scale plots it), and the ratio of its last point to its first at the line's end."""

from __future__ import annotations

from .. import layout
from ..series import FLOOR_SCHEME

KIND = "throughput"


def draw(plt, data, series_by_workload):
    from matplotlib.lines import Line2D

    workloads = list(series_by_workload)
    figure, axes = layout.panel_grid(plt, len(workloads))
    shaded = False
    for axis, workload in zip(axes, workloads):
        points = [point for item in series_by_workload[workload] for point in item.points]
        shaded |= layout.shade_oversubscribed(axis, points)
        threads = sorted({point.threads for point in points})
        end_labels = []
        for item in series_by_workload[workload]:
            style = dict(color=item.color, marker=item.marker, markersize=5, linewidth=2, capsize=3)
            if item.scheme == FLOOR_SCHEME:
                style.update(linewidth=1.2, linestyle=":")
            layout.draw_points(axis, [point.threads for point in item.points], [point.ops for point in item.points],
                               style, item.label, scale=1e6)
            one = item.at(1)
            if one is not None and len(item.points) > 1:
                span = [count for count in threads if count <= item.points[-1].threads]
                axis.plot(span, [one.ops.median / 1e6 * count for count in span], linestyle="--",
                          color=item.color, linewidth=0.9, alpha=0.6, label="_linear")
                last = item.points[-1]
                end_labels.append((last.threads, last.ops.median / 1e6, f"{last.ops.median / one.ops.median:.2f}×",
                                   item.color))
        layout.log_axis(axis)
        axis.set_ylabel("throughput, all threads (Mops/s, log scale)")
        axis.set_title(f"workload: {workload}")
        layout.thread_axis(axis, points, room_right=0.4)
        axis.grid(True, which="major", alpha=0.3)
        layout.spread_labels(axis, end_labels)
    extra_handles = [Line2D([], [], color="#555555", linestyle="--", linewidth=0.9,
                            label="linear scaling from 1 thread (same colour)")]
    if shaded:
        extra_handles.append(layout.oversubscribed_patch(data))
    layout.finish(figure, axes, layout.title("throughput", data),
                  layout.caption(data, "Higher is better. A line that falls as threads are added collapses under "
                                       "contention; the number at its end is its median throughput at the most "
                                       "threads over its median at 1 thread."),
                  extra_handles)
    return figure
