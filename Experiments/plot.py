#!/usr/bin/env python3
"""Plots refscale CSV files.

    python3 Experiments/plot.py FILE.csv [FILE.csv ...] [--out DIR]

Reads one or more CSV files written by `refscale run --csv` or `refscale sweep` (rows from
several machines may be mixed: each host gets its own set of figures) and writes, for each
host, PNG and SVG files into DIR (default: the directory of the first file), named
`<first file's stem>-<kind>-<host>.{png,svg}`:

- throughput: ops/s against threads, one line per series, one panel per workload, with each
  series' linear scaling from its 1-thread figure dashed (as will-it-scale plots it);
- speedup: throughput over the series' 1-thread throughput, same layout;
- ns-per-op: ns/op at 1 thread as grouped bars, the `noop` cost (the harness's own) hatched
  into every bar of its workload;
- handle-table: handle-local hit rate and ns/op against `objects` (or `handle_index`), only
  when the rows hold several object counts or index widths.

A point is the median over the repetitions of one configuration: rows are grouped by every
column that is not a measurement (so a new parameter column splits groups by itself), and the
error bars span min to max. Rows with valid != true are left out and counted in each figure's
caption. Thread counts beyond the machine's online CPUs (`oversubscribed`) are shaded.

A series is a scheme plus whatever parameter tells two of its configurations apart within one
workload (for example `handle_index` or `objects`); parameters that never vary stay out of the
labels.

Bad input (a missing file, an empty file, a CSV without refscale's columns, a value that is
not a number) prints one line on stderr and exits 1 before any figure is drawn; usage errors
exit 64, as refscale's do. Figures are written under temporary names and renamed only when
all of them have been written, so a failure leaves no partial figure behind. The paths
written are printed, one a line.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import statistics
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field

REQUIRED_COLUMNS = [
    "scheme", "workload", "threads", "rep", "ops", "elapsed_s", "ops_per_s", "ns_per_op", "valid",
]

# Columns that hold a run's outcome rather than its configuration: they never split groups.
# Every other column (including any column a later refscale adds) is a parameter.
MEASUREMENT_COLUMNS = {
    "rep", "ops", "elapsed_s", "ops_per_s", "ns_per_op", "valid", "run_ops",
    "atomic_rmw", "cas_retries", "table_hits", "table_misses", "fallbacks", "evictions",
    "merges", "queued", "frees", "lock_handoffs", "local_dup_close", "hit_rate", "validation_error", "timestamp",
    "stream_digest", "cpus", "cpus_end", "cpu_moved",
}

# Parameters that place a point rather than name a series.
PLACEMENT_COLUMNS = {"host", "workload", "threads", "oversubscribed"}

# Machine metadata: constant for a host in practice; shown in the title, not in labels.
MACHINE_COLUMNS = {
    "host", "cpu_model", "online_cpus", "numa_nodes", "kernel", "swift_version",
    "build_config",
}

# The order schemes are listed in (DESIGN.md's), and a fixed colour for each so a scheme
# looks the same in every figure. Colours are the Okabe-Ito palette, safe for colour blindness.
SCHEME_ORDER = [
    "handle-local", "arena", "perthread", "biased", "atomic", "gil", "nonatomic", "cpython", "noop",
]
SCHEME_COLORS = {
    "handle-local": "#0072B2",
    "arena": "#009E73",
    "perthread": "#56B4E9",
    "biased": "#E69F00",
    "atomic": "#D55E00",
    "gil": "#8C564B",
    "nonatomic": "#CC79A7",
    "cpython": "#000000",
    "noop": "#8C8C8C",
}
EXTRA_COLORS = ["#117733", "#882255", "#44AA99", "#999933", "#AA4499", "#332288", "#DDCC77", "#661100"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">"]

FIGURE_KINDS = ["throughput", "speedup", "ns-per-op", "handle-table"]


class InputError(Exception):
    """Bad input: reported as one line, exit 1."""


# --- reading -------------------------------------------------------------------------------


@dataclass
class Run:
    """One valid CSV row, with the numbers parsed."""

    values: dict
    threads: int
    ops_per_s: float
    ns_per_op: float
    hit_rate: float


@dataclass
class Table:
    """Every row of every file, valid and not, and the parameter columns seen."""

    runs: list = field(default_factory=list)      # valid rows
    invalid: list = field(default_factory=list)   # dicts of rows with valid != true
    parameters: list = field(default_factory=list)
    paths: list = field(default_factory=list)


def _number(text, path, line, column, required=True):
    if text == "" and not required:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputError(f"{path}:{line}: {column} is not a number: {text!r}") from None


def read_csv_files(paths) -> Table:
    """Reads and checks every file; raises InputError naming the first problem."""
    table = Table(paths=list(paths))
    seen_parameters = {}
    for path in paths:
        if not os.path.exists(path):
            raise InputError(f"{path}: no such file")
        if os.path.isdir(path):
            raise InputError(f"{path}: is a directory, not a CSV file")
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle)
                header = next(reader, None)
                if header is None or header == [] or all(cell.strip() == "" for cell in header):
                    raise InputError(f"{path}: empty file, expected refscale's CSV header")
                missing = [column for column in REQUIRED_COLUMNS if column not in header]
                if missing:
                    raise InputError(
                        f"{path}: not a refscale CSV file: missing column(s) {', '.join(missing)}")
                for column in header:
                    if column not in MEASUREMENT_COLUMNS:
                        seen_parameters.setdefault(column, None)
                count = 0
                for record in reader:
                    if not record:
                        continue
                    line = reader.line_num
                    if len(record) != len(header):
                        raise InputError(
                            f"{path}:{line}: {len(record)} fields, the header has {len(header)}")
                    values = dict(zip(header, record))
                    count += 1
                    threads = _number(values["threads"], path, line, "threads")
                    if threads < 1 or threads != int(threads):
                        raise InputError(f"{path}:{line}: threads must be a positive integer: {values['threads']!r}")
                    if values["valid"] != "true":
                        table.invalid.append(values)
                        continue
                    table.runs.append(Run(
                        values=values,
                        threads=int(threads),
                        ops_per_s=_number(values["ops_per_s"], path, line, "ops_per_s"),
                        ns_per_op=_number(values["ns_per_op"], path, line, "ns_per_op", required=False),
                        hit_rate=_number(values.get("hit_rate", ""), path, line, "hit_rate", required=False),
                    ))
        except UnicodeDecodeError:
            raise InputError(f"{path}: not a text file") from None
        except csv.Error as error:
            raise InputError(f"{path}: malformed CSV: {error}") from None
        except OSError as error:
            raise InputError(f"{path}: cannot read: {error.strerror}") from None
        if count == 0:
            raise InputError(f"{path}: no rows below the header")
    table.parameters = list(seen_parameters)
    if not table.runs:
        raise InputError(f"no valid rows to plot ({len(table.invalid)} rows have valid != true)")
    return table


# --- grouping ------------------------------------------------------------------------------


@dataclass
class Point:
    """The median of one configuration's repetitions, with their range."""

    threads: int
    oversubscribed: bool
    reps: int
    ops: tuple        # (median, min, max) ops/s
    ns: tuple         # (median, min, max) ns/op
    hit: tuple        # (median, min, max) hit rate, NaN when the scheme has no table
    values: dict      # the configuration's parameter values


def _spread(numbers):
    numbers = [number for number in numbers if not math.isnan(number)]
    if not numbers:
        return (math.nan, math.nan, math.nan)
    return (statistics.median(numbers), min(numbers), max(numbers))


def group_points(runs, parameters):
    """One Point per distinct parameter tuple, in first-seen order."""
    groups = {}
    for run in runs:
        key = tuple(run.values.get(column, "") for column in parameters)
        groups.setdefault(key, []).append(run)
    points = []
    for key, members in groups.items():
        first = members[0]
        points.append(Point(
            threads=first.threads,
            oversubscribed=first.values.get("oversubscribed", "") == "true",
            reps=len(members),
            ops=_spread([run.ops_per_s for run in members]),
            ns=_spread([run.ns_per_op for run in members]),
            hit=_spread([run.hit_rate for run in members]),
            values=dict(zip(parameters, key)),
        ))
    return points


@dataclass
class Series:
    """The points of one configuration at each thread count, in one workload."""

    key: tuple
    scheme: str
    label: str
    points: list      # sorted by threads
    color: str = ""
    marker: str = "o"

    def at(self, threads):
        return next((point for point in self.points if point.threads == threads), None)


def _natural(text):
    """Sort key that puts objects=4 before objects=16."""
    return [(0, float(part), "") if re.fullmatch(r"\d+(\.\d+)?", part) else (1, 0.0, part)
            for part in re.split(r"(\d+(?:\.\d+)?)", text) if part]


def _scheme_rank(scheme):
    return (SCHEME_ORDER.index(scheme), "") if scheme in SCHEME_ORDER else (len(SCHEME_ORDER), scheme)


def label_columns(points, naming_columns):
    """For each scheme, the naming columns whose value differs between two of its points in one
    workload: {scheme: [column]}. Those name its series; a column that varies only between
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


def _label(scheme, values, varying):
    words, numbers = [], []
    for column in varying:
        value = values.get(column, "")
        if value == "":
            continue
        # An option's value names itself when it is a word (low3, lazy); a number needs its name.
        if re.fullmatch(r"[A-Za-z][\w-]*", value):
            words.append(value)
        else:
            numbers.append(f"{column}={value}")
    return " ".join(([scheme] if scheme else []) + words + numbers)


def build_series(points, naming_columns, varying):
    """Series per workload: {workload: [Series]}, ordered by scheme then label."""
    by_workload = {}
    for point in points:
        workload = point.values.get("workload", "")
        key = tuple(point.values.get(column, "") for column in naming_columns)
        by_workload.setdefault(workload, {}).setdefault(key, []).append(point)
    result = {}
    for workload, groups in by_workload.items():
        series = []
        for key, members in groups.items():
            values = dict(zip(naming_columns, key))
            scheme = values.get("scheme", "")
            series.append(Series(key=key, scheme=scheme, label=_label(scheme, values, varying.get(scheme, [])),
                                 points=sorted(members, key=lambda point: point.threads)))
        series.sort(key=lambda item: (_scheme_rank(item.scheme), _natural(item.label)))
        result[workload] = series
    return result


def assign_styles(all_series):
    """The same label gets the same colour and marker in every panel and figure of a host. Of a
    scheme's series, the one with the most points (its main line) gets the scheme's own colour;
    other variants take extra colours."""
    points = {}
    for item in all_series:
        points[item.label] = points.get(item.label, 0) + len(item.points)
    labels = sorted({(_scheme_rank(item.scheme), item.label, item.scheme) for item in all_series},
                    key=lambda entry: (entry[0], _natural(entry[1])))
    main = {}
    for _, label, scheme in labels:
        if scheme not in main or points[label] > points[main[scheme]]:
            main[scheme] = label
    styles = {}
    extra = 0
    for index, (_, label, scheme) in enumerate(labels):
        if scheme in SCHEME_COLORS and main[scheme] == label:
            color = SCHEME_COLORS[scheme]
        else:
            color = EXTRA_COLORS[extra % len(EXTRA_COLORS)]
            extra += 1
        styles[label] = (color, MARKERS[index % len(MARKERS)])
    for item in all_series:
        item.color, item.marker = styles[item.label]


# --- drawing -------------------------------------------------------------------------------


@dataclass
class HostData:
    host: str
    points: list
    invalid: list
    naming_columns: list
    varying: list
    runs: int
    machine: dict
    dates: tuple


def split_hosts(table):
    """The rows of each host, in first-seen order."""
    hosts = {}
    for run in table.runs:
        hosts.setdefault(run.values.get("host", ""), []).append(run)
    for row in table.invalid:
        hosts.setdefault(row.get("host", ""), [])
    result = []
    for host, runs in hosts.items():
        invalid = [row for row in table.invalid if row.get("host", "") == host]
        points = group_points(runs, table.parameters)
        naming = [column for column in table.parameters
                  if column not in PLACEMENT_COLUMNS and column not in MACHINE_COLUMNS]
        stamps = sorted(run.values.get("timestamp", "")[:10] for run in runs if run.values.get("timestamp"))
        first = runs[0].values if runs else (invalid[0] if invalid else {})
        result.append(HostData(
            host=host or "unknown host",
            points=points,
            invalid=invalid,
            naming_columns=naming,
            varying=label_columns(points, naming),
            runs=len(runs),
            machine={column: first.get(column, "") for column in MACHINE_COLUMNS},
            dates=(stamps[0], stamps[-1]) if stamps else ("", ""),
        ))
    return result


def _title(kind, data):
    cpu = data.machine.get("cpu_model", "")
    cpus = data.machine.get("online_cpus", "")
    machine = ", ".join(part for part in [cpu, f"{cpus} online CPUs" if cpus else ""] if part)
    first, last = data.dates
    date = first if first == last else f"{first} to {last}"
    return f"refscale {kind} on {data.host}" + (f" ({machine})" if machine else "") + (f", {date}" if date else "")


def _caption(data, extra=""):
    reps = sorted({point.reps for point in data.points})
    rep_text = f"{reps[0]}" if len(reps) == 1 else f"{reps[0]}–{reps[-1]}"
    parts = [f"Points: median of {rep_text} repetition(s); error bars: min–max."]
    if extra:
        parts.append(extra)
    if data.invalid:
        named = "; ".join(
            f"{row.get('scheme', '')} {row.get('workload', '')} {row.get('threads', '')} thr rep {row.get('rep', '')}"
            for row in data.invalid[:3])
        more = f"; and {len(data.invalid) - 3} more" if len(data.invalid) > 3 else ""
        parts.append(f"Invalid rows left out (valid != true): {len(data.invalid)} ({named}{more}).")
    else:
        parts.append("Invalid rows left out: 0.")
    return " ".join(parts)


def _log_threads(threads):
    """Thread counts past 16 (a big machine's 1, 2, 4 ... 128) go on a log2 axis, where the
    small counts stay readable; up to 16 the axis is linear, as will-it-scale draws it."""
    return max(threads) > 16


def _edges(threads):
    """The x boundaries between adjacent thread counts, and half a step beyond both ends:
    midpoints on a linear axis, geometric means on a log axis."""
    if _log_threads(threads):
        inner = [math.sqrt(a * b) for a, b in zip(threads, threads[1:])]
        return [threads[0] / 1.3] + inner + [threads[-1] * 1.3]
    inner = [(a + b) / 2 for a, b in zip(threads, threads[1:])]
    return [threads[0] - 0.5] + inner + [threads[-1] + 0.5]


def _shade_oversubscribed(axis, points):
    """Shades the thread counts marked oversubscribed, one span per run of adjacent counts."""
    marked = {point.threads for point in points if point.oversubscribed}
    if not marked:
        return False
    threads = sorted({point.threads for point in points})
    edges = _edges(threads)
    start = None
    for index, count in enumerate(threads):
        if count in marked and start is None:
            start = edges[index]
        if start is not None and (index + 1 == len(threads) or threads[index + 1] not in marked):
            axis.axvspan(start, edges[index + 1], color="#000000", alpha=0.08, linewidth=0, zorder=0)
            start = None
    return True


def _thread_axis(axis, points, room_right=0.0):
    """Ticks at the thread counts run; room_right widens the axis on the right by that share of
    a step, for the labels at the lines' ends."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    threads = sorted({point.threads for point in points})
    edges = _edges(threads)
    if _log_threads(threads):
        axis.set_xscale("log", base=2)
        axis.xaxis.set_minor_locator(NullLocator())
        right = edges[-1] * 1.3 ** (room_right * 2)
    else:
        right = edges[-1] + room_right
    axis.xaxis.set_major_locator(FixedLocator(threads))
    axis.xaxis.set_major_formatter(ScalarFormatter())
    axis.set_xlim(edges[0], right)
    axis.set_xlabel("threads")


def _errors(points, select, scale=1.0):
    medians = [select(point)[0] / scale for point in points]
    lower = [(select(point)[0] - select(point)[1]) / scale for point in points]
    upper = [(select(point)[2] - select(point)[0]) / scale for point in points]
    return medians, [lower, upper]


PANEL_HEIGHT = 4.0      # inches of one row of panels
TITLE_HEIGHT = 0.35     # inches above the panels for the figure's title
CAPTION_HEIGHT = 0.45   # inches below the legend for the caption (two lines at 8 pt)


def _panel_grid(plt, count, width=5.0, minimum_width=9.5):
    columns = min(count, 3)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(max(width * columns, minimum_width), PANEL_HEIGHT * rows),
                                squeeze=False)
    flat = [axis for row in axes for axis in row]
    for axis in flat[count:]:
        axis.remove()
    return figure, flat[:count]


def _legend_proxy(handle):
    """A plain line and marker in the style of an error-bar series: the legend draws it several
    times faster than the error bar container itself, and without the caps."""
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D

    if not isinstance(handle, ErrorbarContainer) or handle.lines[0] is None:
        return handle
    line = handle.lines[0]
    return Line2D([], [], color=line.get_color(), marker=line.get_marker(), markersize=line.get_markersize(),
                  linestyle=line.get_linestyle(), linewidth=line.get_linewidth(), label=line.get_label())


def _finish(figure, axes, title, caption, legend_handles=()):
    """Adds the title, one legend for all panels (below them, in as many columns as fit the
    width) and the caption, growing the figure so that the panels keep their height."""
    handles, labels = [], []
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            if label not in labels and not label.startswith("_"):
                handles.append(_legend_proxy(handle))
                labels.append(label)
    for handle in legend_handles:
        if handle.get_label() not in labels:
            handles.append(handle)
            labels.append(handle.get_label())
    width, panels_height = figure.get_size_inches()
    # An entry is its marker and line (about 0.6 in) and its text (about 0.075 in a character at 9 pt).
    entry_width = 0.75 + 0.075 * max((len(label) for label in labels), default=1)
    columns = max(1, min(len(labels), int((width - 0.3) // entry_width)))
    legend_height = 0.21 * math.ceil(len(labels) / columns) + 0.2
    # Wrapped by hand: matplotlib's own wrapping lets centred text run past the figure's edges.
    caption = textwrap.fill(caption, width=int(width * 72 / 4.6))
    caption_height = CAPTION_HEIGHT + 0.14 * max(0, caption.count("\n") - 1)
    height = panels_height + TITLE_HEIGHT + legend_height + caption_height
    figure.set_size_inches(width, height)
    figure.suptitle(title, fontsize=12, y=1 - 0.12 / height, va="top")
    bottom = (legend_height + caption_height) / height
    if labels:
        figure.legend(handles, labels, loc="upper center", ncol=columns, frameon=False,
                      bbox_to_anchor=(0.5, bottom), fontsize=9)
    figure.text(0.5, 0.08 / height, caption, ha="center", va="bottom", fontsize=8, color="#333333")
    figure.tight_layout(rect=(0, bottom, 1, 1 - TITLE_HEIGHT / height))
    # tight_layout leaves a placeholder layout engine behind, and with any engine savefig draws
    # the whole figure twice; the layout is final here, so drop it (halves the time to save).
    figure.set_layout_engine(None)


def _oversubscribed_patch(data):
    import matplotlib.patches as patches

    cpus = data.machine.get("online_cpus", "")
    text = f"oversubscribed (threads > {cpus} online CPUs)" if cpus else "oversubscribed (threads > online CPUs)"
    return patches.Patch(facecolor="#000000", alpha=0.08, label=text)


def _log_axis(axis):
    """A log axis labelled in plain numbers: 1, 2, 5, 10, 20, 50, ... over up to two and a half
    decades, powers of ten over more."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis.set_yscale("log")
    axis.autoscale_view()
    low, high = axis.get_ylim()
    decades = math.log10(high / low) if low > 0 else 0
    axis.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)))
    axis.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.yaxis.set_minor_formatter(NullFormatter())


def _spread_labels(axis, labels, gap_points=10):
    """Places end-of-line labels at their points' heights, moved apart vertically so that none
    overlaps another. labels: [(x, y, text, color)] in data units on a log y axis."""
    if not labels:
        return
    figure_height = axis.figure.get_size_inches()[1]
    height_points = axis.get_position().height * figure_height * 72
    if len(labels) * gap_points > height_points:
        return  # more lines than fit: the speedup figure has the same numbers
    axis.autoscale_view()
    low, high = (math.log10(limit) for limit in axis.get_ylim())
    placed = []
    for x, y, text, color in sorted(labels, key=lambda entry: entry[1]):
        at = (math.log10(y) - low) / (high - low) * height_points
        wanted = max(at, placed[-1][0] + gap_points) if placed else at
        placed.append((wanted, at, x, y, text, color))
    # Shift the stack down if it ran off the top, keeping the gaps.
    overflow = placed[-1][0] - height_points + gap_points / 2
    if overflow > 0:
        for index in range(len(placed) - 1, -1, -1):
            ceiling = height_points - gap_points / 2 if index == len(placed) - 1 else placed[index + 1][0] - gap_points
            placed[index] = (min(placed[index][0], ceiling),) + placed[index][1:]
    for wanted, at, x, y, text, color in placed:
        axis.annotate(text, (x, y), xytext=(7, wanted - at), textcoords="offset points", va="center",
                      fontsize=8, color=color, fontweight="bold")


def figure_throughput(plt, data, series_by_workload):
    from matplotlib.lines import Line2D

    workloads = list(series_by_workload)
    figure, axes = _panel_grid(plt, len(workloads))
    shaded = False
    for axis, workload in zip(axes, workloads):
        points = [point for item in series_by_workload[workload] for point in item.points]
        shaded |= _shade_oversubscribed(axis, points)
        threads = sorted({point.threads for point in points})
        end_labels = []
        for item in series_by_workload[workload]:
            xs = [point.threads for point in item.points]
            medians, errors = _errors(item.points, lambda point: point.ops, scale=1e6)
            style = dict(color=item.color, marker=item.marker, markersize=5, linewidth=2, capsize=3)
            if item.scheme == "noop":
                style.update(linewidth=1.2, linestyle=":")
            axis.errorbar(xs, medians, yerr=errors, label=item.label, **style)
            one = item.at(1)
            if one is not None and len(item.points) > 1:
                span = [count for count in threads if count <= item.points[-1].threads]
                axis.plot(span, [one.ops[0] / 1e6 * count for count in span], linestyle="--",
                          color=item.color, linewidth=0.9, alpha=0.6, label="_linear")
                last = item.points[-1]
                end_labels.append((last.threads, last.ops[0] / 1e6, f"{last.ops[0] / one.ops[0]:.2f}×", item.color))
        _log_axis(axis)
        axis.set_ylabel("throughput, all threads (Mops/s, log scale)")
        axis.set_title(f"workload: {workload}")
        _thread_axis(axis, points, room_right=0.4)
        axis.grid(True, which="major", alpha=0.3)
        _spread_labels(axis, end_labels)
    extra_handles = [Line2D([], [], color="#555555", linestyle="--", linewidth=0.9,
                            label="linear scaling from 1 thread (same colour)")]
    if shaded:
        extra_handles.append(_oversubscribed_patch(data))
    _finish(figure, axes, _title("throughput", data),
            _caption(data, "Higher is better. A line that falls as threads are added collapses under "
                           "contention; the number at its end is its throughput at the most threads over 1 thread."),
            extra_handles)
    return figure


def figure_speedup(plt, data, series_by_workload):
    from matplotlib.lines import Line2D

    workloads = list(series_by_workload)
    figure, axes = _panel_grid(plt, len(workloads))
    shaded = False
    for axis, workload in zip(axes, workloads):
        points = [point for item in series_by_workload[workload] for point in item.points]
        shaded |= _shade_oversubscribed(axis, points)
        threads = sorted({point.threads for point in points})
        axis.plot(threads, threads, linestyle="--", color="#555555", linewidth=1, label="_linear")
        drawn = 0
        for item in series_by_workload[workload]:
            one = item.at(1)
            if one is None or one.ops[0] <= 0 or len(item.points) < 2:
                continue
            drawn += 1
            xs = [point.threads for point in item.points]
            medians, errors = _errors(item.points, lambda point: point.ops, scale=one.ops[0])
            style = dict(color=item.color, marker=item.marker, markersize=5, linewidth=1.8, capsize=3)
            if item.scheme == "noop":
                style.update(linewidth=1.2, linestyle=":")
            axis.errorbar(xs, medians, yerr=errors, label=item.label, **style)
        if not drawn:
            axis.text(0.5, 0.5, "no series ran at 1 thread and at more", transform=axis.transAxes,
                      ha="center", va="center", color="#555555")
        axis.axhline(1, color="#999999", linewidth=0.8)
        axis.set_ylim(bottom=0)
        axis.set_ylabel("speedup over 1 thread (×)")
        axis.set_title(f"workload: {workload}")
        _thread_axis(axis, points)
        axis.grid(True, alpha=0.3)
    extra_handles = [Line2D([], [], color="#555555", linestyle="--", linewidth=1, label="linear scaling")]
    if shaded:
        extra_handles.append(_oversubscribed_patch(data))
    _finish(figure, axes, _title("speedup", data),
            _caption(data, "Higher is better. Speedup: median throughput over the same series' median at 1 thread; "
                           "series without a 1-thread run, or with only one thread count, are left out."),
            extra_handles)
    return figure


def figure_ns_per_op(plt, data, series_by_workload):
    import matplotlib.patches as patches

    workloads = [workload for workload, items in series_by_workload.items()
                 if any(item.at(1) is not None for item in items)]
    labels = []
    for workload in workloads:
        for item in series_by_workload[workload]:
            if item.at(1) is not None and item.label not in [label for label, _ in labels]:
                labels.append((item.label, item))
    labels.sort(key=lambda entry: (_scheme_rank(entry[1].scheme), _natural(entry[0])))
    width = 0.8 / max(len(labels), 1)
    figure, axis = plt.subplots(figsize=(max(6.5, 1.2 + len(workloads) * (0.9 + 0.32 * len(labels))), 6.2))
    noop_marked = False
    for group, workload in enumerate(workloads):
        noop = next((item.at(1) for item in series_by_workload[workload]
                     if item.scheme == "noop" and item.at(1) is not None), None)
        present = [(label, item) for label, _ in labels
                   for item in series_by_workload[workload] if item.label == label and item.at(1) is not None]
        offset = group - 0.4 + width / 2 + (len(labels) - len(present)) * width / 2
        for index, (label, item) in enumerate(present):
            point = item.at(1)
            x = offset + index * width
            axis.bar(x, point.ns[0], width=width * 0.92, color=item.color, label="_bar",
                     yerr=[[point.ns[0] - point.ns[1]], [point.ns[2] - point.ns[0]]], capsize=2,
                     error_kw=dict(linewidth=0.8))
            axis.text(x, point.ns[2], f"{point.ns[0]:.3g}", ha="center", va="bottom", fontsize=7)
            if noop is not None and not math.isnan(noop.ns[0]):
                axis.bar(x, min(noop.ns[0], point.ns[0]), width=width * 0.92, fill=False, hatch="////",
                         edgecolor="#ffffff" if item.scheme != "noop" else "#333333", linewidth=0)
                noop_marked = True
        if noop is not None and not math.isnan(noop.ns[0]):
            axis.hlines(noop.ns[0], group - 0.45, group + 0.45, colors="#333333", linestyles=":", linewidth=1)
    axis.set_xticks(range(len(workloads)))
    axis.set_xticklabels(workloads)
    axis.set_xlim(-0.5, len(workloads) - 0.5)
    axis.set_xlabel("workload")
    axis.set_ylabel("ns per operation, 1 thread")
    axis.set_ylim(bottom=0)
    axis.grid(True, axis="y", alpha=0.3)
    axis.set_title("latency of one handle operation (lower is better)")
    extra = [patches.Patch(facecolor=item.color, label=label) for label, item in labels]
    if noop_marked:
        extra.append(patches.Patch(facecolor="#bbbbbb", hatch="////", edgecolor="#ffffff",
                                   label="noop cost: the harness's own share of each bar (dotted line)"))
    _finish(figure, [axis], _title("ns/op at 1 thread", data),
            _caption(data, "Hatched: the noop scheme's ns/op on the same workload, i.e. what the harness "
                           "itself costs per operation."), extra)
    return figure


def handle_table_workloads(data):
    """Workloads whose table rows (non-blank handle_index) hold several object counts or index
    widths, each with the column to put on the x axis; empty when figure (d) has nothing to show."""
    result = {}
    for point in data.points:
        if point.values.get("handle_index", "") == "":
            continue
        entry = result.setdefault(point.values.get("workload", ""), {"objects": set(), "handle_index": set()})
        entry["objects"].add(point.values.get("objects", ""))
        entry["handle_index"].add(point.values.get("handle_index", ""))
    chosen = {}
    for workload, entry in result.items():
        if len(entry["objects"]) > 1:
            chosen[workload] = "objects"
        elif len(entry["handle_index"]) > 1:
            chosen[workload] = "handle_index"
    return chosen


def figure_handle_table(plt, data, x_columns):
    """Per workload, hit rate and ns/op against objects (or the index width): one colour per
    configuration, a solid line at 1 thread and dashed ones at more."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    workloads = list(x_columns)
    figure, grid = plt.subplots(len(workloads), 2, figsize=(11, PANEL_HEIGHT * len(workloads)), squeeze=False)
    axes = []
    thread_styles = {}
    configuration_handles = {}
    for row, workload in enumerate(workloads):
        x_column = x_columns[workload]
        points = [point for point in data.points
                  if point.values.get("workload", "") == workload and point.values.get("handle_index", "") != ""]
        naming = [column for column in data.naming_columns if column != x_column]
        by_scheme = label_columns(points, naming)
        varying = [column for column in naming if any(column in columns for columns in by_scheme.values())]
        schemes = {point.values.get("scheme", "") for point in points}
        groups = {}
        for point in points:
            key = tuple(point.values.get(column, "") for column in naming) + (point.threads,)
            groups.setdefault(key, []).append(point)
        configurations = sorted({key[:-1] for key in groups},
                                key=lambda key: _natural(_label("", dict(zip(naming, key)), varying)))
        thread_counts = sorted({key[-1] for key in groups})
        if x_column == "objects":
            categories = sorted({point.values.get("objects", "") for point in points}, key=float)
        else:
            categories = sorted({point.values.get("handle_index", "") for point in points})
        position = {category: index for index, category in enumerate(categories)}
        hit_axis, ns_axis = grid[row]
        for key, members in groups.items():
            values = dict(zip(naming, key[:-1]))
            index = configurations.index(key[:-1])
            label = _label(values.get("scheme", "") if len(schemes) > 1 else "", values, varying) or "handle-local"
            color = SCHEME_COLORS["handle-local"] if len(configurations) == 1 else EXTRA_COLORS[index % len(EXTRA_COLORS)]
            dashes = ["-", "--", ":", "-."][thread_counts.index(key[-1]) % 4]
            thread_styles[key[-1]] = dashes
            members = sorted(members, key=lambda point: position[point.values.get(x_column, "")])
            xs = [position[point.values.get(x_column, "")] for point in members]
            style = dict(color=color, marker=MARKERS[index % len(MARKERS)], markersize=5, capsize=3,
                         linewidth=1.6, linestyle=dashes, label="_configuration")
            configuration_handles.setdefault(label, Line2D([], [], color=color, marker=style["marker"],
                                                           markersize=5, linewidth=1.6, label=label))
            medians, errors = _errors(members, lambda point: point.hit)
            hit_axis.errorbar(xs, medians, yerr=errors, **style)
            medians, errors = _errors(members, lambda point: point.ns)
            ns_axis.errorbar(xs, medians, yerr=errors, **style)
        name = "objects in the workload" if x_column == "objects" else "handle index width"
        for axis in (hit_axis, ns_axis):
            axis.set_xticks(range(len(categories)))
            axis.set_xticklabels(categories)
            axis.set_xlim(-0.3, len(categories) - 0.7)
            axis.set_xlabel(name)
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
    _finish(figure, axes, _title("handle-local table", data),
            _caption(data, "Colour: configuration; line style: thread count."),
            list(configuration_handles.values()) + thread_handles)
    return figure


@dataclass
class HostFigures:
    host: str
    figures: dict     # kind -> matplotlib Figure


def build_figures(table):
    """The figures of every host, without writing anything: [HostFigures]."""
    import matplotlib

    matplotlib.use("Agg")
    # SVG text stays text (searchable, editable, and several times faster to write than glyph
    # outlines); the fonts are matplotlib's DejaVu, which viewers substitute when missing.
    matplotlib.rcParams["svg.fonttype"] = "none"
    import matplotlib.pyplot as plt

    result = []
    for data in split_hosts(table):
        if not data.points:
            sys.stderr.write(f"plot.py: note: host {data.host} has only invalid rows ({len(data.invalid)}); "
                             "no figures for it\n")
            continue
        series_by_workload = build_series(data.points, data.naming_columns, data.varying)
        assign_styles([item for items in series_by_workload.values() for item in items])
        figures = {
            "throughput": figure_throughput(plt, data, series_by_workload),
            "speedup": figure_speedup(plt, data, series_by_workload),
        }
        if any(item.at(1) is not None for items in series_by_workload.values() for item in items):
            figures["ns-per-op"] = figure_ns_per_op(plt, data, series_by_workload)
        x_columns = handle_table_workloads(data)
        if x_columns:
            figures["handle-table"] = figure_handle_table(plt, data, x_columns)
        result.append(HostFigures(host=data.host, figures=figures))
    return result


# --- writing -------------------------------------------------------------------------------


def _safe(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "host"


def output_names(paths, host_figures, out_dir):
    stem = os.path.splitext(os.path.basename(paths[0]))[0]
    names = []
    for entry in host_figures:
        for kind in entry.figures:
            for extension in ("png", "svg"):
                names.append((entry, kind, extension,
                              os.path.join(out_dir, f"{stem}-{kind}-{_safe(entry.host)}.{extension}")))
    return names


def _save(jobs, umask):
    for figure, temporary, extension in jobs:
        figure.savefig(temporary, format=extension, dpi=110 if extension == "png" else None)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes files private; figures are not


def _save_in_two_processes(jobs, umask):
    """Saves half of the files in a forked copy of this process and half here: drawing is all
    Python and one core's worth, and with many series it is most of the run time. Falls back
    to one process where there is no fork or too little to share."""
    if not hasattr(os, "fork") or len(jobs) < 4 or (os.cpu_count() or 1) < 2:
        _save(jobs, umask)
        return
    # Jobs come as (PNG, SVG) pairs of one figure, and a PNG takes two or three times as long
    # as its SVG: each process takes the PNG of every other figure and the SVG of the rest.
    mine = [job for index, job in enumerate(jobs) if (index // 2 + index % 2) % 2 == 0]
    theirs = [job for index, job in enumerate(jobs) if (index // 2 + index % 2) % 2 == 1]
    reader, writer = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(reader)
        try:
            _save(theirs, umask)
            code = 0
        except BaseException as error:  # reported by the parent, as one line
            os.write(writer, (getattr(error, "strerror", None) or str(error) or type(error).__name__).encode())
            code = 1
        os._exit(code)
    os.close(writer)
    try:
        _save(mine, umask)
    finally:
        with os.fdopen(reader, "rb") as pipe:
            message = pipe.read().decode(errors="replace")
        _, status = os.waitpid(child, 0)
    if status != 0:
        raise OSError(f"writing figures failed: {message or 'the helper process died'}")


def write_figures(paths, host_figures, out_dir):
    """Saves every figure under a temporary name in out_dir, then renames them all; on any error
    removes what it wrote. Returns the final paths."""
    os.makedirs(out_dir, exist_ok=True)
    planned = output_names(paths, host_figures, out_dir)
    umask = os.umask(0)
    os.umask(umask)
    written = []
    try:
        jobs = []
        for entry, kind, extension, final in planned:
            descriptor, temporary = tempfile.mkstemp(prefix=".plot-", suffix=f".{extension}", dir=out_dir)
            os.close(descriptor)
            written.append((temporary, final))
            jobs.append((entry.figures[kind], temporary, extension))
        _save_in_two_processes(jobs, umask)
        for temporary, final in written:
            os.replace(temporary, final)
    except BaseException:
        for temporary, _ in written:
            if os.path.exists(temporary):
                os.remove(temporary)
        raise
    return [final for _, _, _, final in planned]


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"plot.py: error: {message}\n")
        sys.exit(64)


def main(argv=None):
    parser = _OneLineParser(
        prog="plot.py",
        description="Plots refscale CSV files: throughput, speedup, ns/op and handle-table figures, PNG and SVG.")
    parser.add_argument("csv", nargs="+", help="refscale CSV files (rows of several hosts may be mixed)")
    parser.add_argument("--out", help="directory for the figures (default: the first file's directory)")
    arguments = parser.parse_args(argv)
    out_dir = arguments.out or os.path.dirname(os.path.abspath(arguments.csv[0]))
    try:
        if os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise InputError(f"{out_dir}: --out is not a directory")
        table = read_csv_files(arguments.csv)
        host_figures = build_figures(table)
        paths = write_figures(arguments.csv, host_figures, out_dir)
    except InputError as error:
        sys.stderr.write(f"plot.py: error: {error}\n")
        return 1
    except OSError as error:
        where = error.filename or out_dir
        sys.stderr.write(f"plot.py: error: {where}: {error.strerror}\n" if error.strerror
                         else f"plot.py: error: {out_dir}: {error}\n")
        return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
