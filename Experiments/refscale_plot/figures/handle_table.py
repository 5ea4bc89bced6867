"""Figure `handle-table`: per workload, the table hit rate and ns/op of the schemes with a handle
table (rows whose `handle_index` is not blank) against `objects`, or against the index width when
only that varies: one colour per configuration, one line style per thread count. Drawn only when
those rows hold several object counts or index widths."""

from __future__ import annotations

from .. import layout
from ..series import MARKERS, label, label_columns, natural

KIND = "handle-table"
TABLE_COLUMN = "handle_index"   # blank for schemes without a handle table
OBJECTS_COLUMN = "objects"


def x_columns(data):
    """{workload: the column on the x axis} for the workloads with something to show."""
    seen = {}
    for point in data.points:
        if point.values.get(TABLE_COLUMN, "") == "":
            continue
        entry = seen.setdefault(point.values.get("workload", ""), {OBJECTS_COLUMN: set(), TABLE_COLUMN: set()})
        entry[OBJECTS_COLUMN].add(point.values.get(OBJECTS_COLUMN, ""))
        entry[TABLE_COLUMN].add(point.values.get(TABLE_COLUMN, ""))
    chosen = {}
    for workload in sorted(seen, key=data.catalogue.workload_rank):
        if len(seen[workload][OBJECTS_COLUMN]) > 1:
            chosen[workload] = OBJECTS_COLUMN
        elif len(seen[workload][TABLE_COLUMN]) > 1:
            chosen[workload] = TABLE_COLUMN
    return chosen


def draw(plt, data, series_by_workload):
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    columns = x_columns(data)
    if not columns:
        return None
    catalogue = data.catalogue
    variant_colors = catalogue.variant_colors()
    workloads = list(columns)
    figure, grid = plt.subplots(len(workloads), 2, figsize=(11, layout.PANEL_HEIGHT * len(workloads)), squeeze=False)
    axes = []
    thread_styles = {}
    configuration_handles = {}
    for row, workload in enumerate(workloads):
        x_column = columns[workload]
        points = [point for point in data.points
                  if point.values.get("workload", "") == workload and point.values.get(TABLE_COLUMN, "") != ""]
        naming = [column for column in data.naming_columns if column != x_column]
        by_scheme = label_columns(points, naming)
        varying = [column for column in naming if any(column in names for names in by_scheme.values())]
        schemes = {point.values.get("scheme", "") for point in points}
        groups = {}
        for point in points:
            key = tuple(point.values.get(column, "") for column in naming) + (point.threads,)
            groups.setdefault(key, []).append(point)
        configurations = sorted({key[:-1] for key in groups},
                                key=lambda key: natural(label("", dict(zip(naming, key)), varying)))
        thread_counts = sorted({key[-1] for key in groups})
        if x_column == OBJECTS_COLUMN:
            categories = sorted({point.values.get(OBJECTS_COLUMN, "") for point in points}, key=float)
        else:
            categories = sorted({point.values.get(TABLE_COLUMN, "") for point in points})
        position = {category: index for index, category in enumerate(categories)}
        hit_axis, ns_axis = grid[row]
        for key, members in groups.items():
            values = dict(zip(naming, key[:-1]))
            scheme = values.get("scheme", "")
            index = configurations.index(key[:-1])
            name = label(scheme if len(schemes) > 1 else "", values, varying) or scheme
            own = catalogue.scheme_color(scheme)
            color = own if len(configurations) == 1 and own else variant_colors[index % len(variant_colors)]
            dashes = ["-", "--", ":", "-."][thread_counts.index(key[-1]) % 4]
            thread_styles[key[-1]] = dashes
            members = sorted(members, key=lambda point: position[point.values.get(x_column, "")])
            xs = [position[point.values.get(x_column, "")] for point in members]
            style = dict(color=color, marker=MARKERS[index % len(MARKERS)], markersize=5, capsize=3,
                         linewidth=1.6, linestyle=dashes)
            configuration_handles.setdefault(name, Line2D([], [], color=color, marker=style["marker"],
                                                          markersize=5, linewidth=1.6, label=name))
            layout.draw_points(hit_axis, xs, [point.hit for point in members], style, "_configuration")
            layout.draw_points(ns_axis, xs, [point.ns for point in members], style, "_configuration")
        axis_name = "objects in the workload" if x_column == OBJECTS_COLUMN else "handle index width"
        for axis in (hit_axis, ns_axis):
            axis.set_xticks(range(len(categories)))
            axis.set_xticklabels(categories)
            axis.set_xlim(-0.3, len(categories) - 0.7)
            axis.set_xlabel(axis_name)
            axis.grid(True, alpha=0.3)
        hit_axis.set_ylim(0, 1.05)
        hit_axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0%}"))
        hit_axis.set_ylabel("table hit rate (hits / table uses)")
        hit_axis.set_title(f"workload: {workload}: table hit rate (higher is better)")
        ns_axis.set_ylim(bottom=0)
        ns_axis.set_ylabel("ns per operation, per thread")
        ns_axis.set_title(f"workload: {workload}: ns/op (lower is better)")
        axes += [hit_axis, ns_axis]
    thread_handles = [Line2D([], [], color="#555555", linestyle=dashes, linewidth=1.6,
                             label=f"{count} thread{'s' if count > 1 else ''}")
                      for count, dashes in sorted(thread_styles.items())] if len(thread_styles) > 1 else []
    schemes = sorted({point.values.get("scheme", "") for point in data.points if point.values.get(TABLE_COLUMN, "")},
                     key=catalogue.scheme_rank)
    layout.finish(figure, axes, layout.title(f"{', '.join(schemes)} table", data),
                  layout.caption(data, "Colour: configuration; line style: thread count."),
                  list(configuration_handles.values()) + thread_handles)
    return figure
