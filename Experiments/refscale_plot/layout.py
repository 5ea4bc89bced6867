"""What every figure shares: the title, the caption, the grid of panels, the thread axis, points
with their intervals, and the legend below the panels."""

from __future__ import annotations

import math
import textwrap

from .intervals import CONFIDENCE, MINIMUM_REPETITIONS, SMALLEST_SAMPLE, coverage

PANEL_HEIGHT = 4.0      # inches of one row of panels
TITLE_HEIGHT = 0.35     # inches above the panels for the figure's title
CAPTION_HEIGHT = 0.45   # inches below the legend for the caption (two lines at 8 pt)
OVERSUBSCRIBED_ALPHA = 0.08
FEW_LABEL = "_few"      # the hollow markers over points with fewer than MINIMUM_REPETITIONS


def title(kind, data):
    cpu = data.machine.get("cpu_model", "")
    cpus = data.machine.get("online_cpus", "")
    machine = ", ".join(part for part in [cpu, f"{cpus} online CPUs" if cpus else ""] if part)
    first, last = data.dates
    date = first if first == last else f"{first} to {last}"
    return f"refscale {kind} on {data.host}" + (f" ({machine})" if machine else "") + (f", {date}" if date else "")


def interval_caption(points):
    """What the points and their bars are, for the repetition counts these points have."""
    counts = sorted({point.reps for point in points})
    span = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"
    parts = [f"Points: median of {span} repetition(s); bars: distribution-free {CONFIDENCE:.0%} confidence "
             "interval of the median (order statistics)."]
    short = [count for count in counts if MINIMUM_REPETITIONS <= count and coverage(count, 1) < CONFIDENCE]
    if short:
        levels = ", ".join(f"{100 * coverage(count, 1):.4g}% with {count}" for count in short)
        parts.append(f"Under {SMALLEST_SAMPLE} repetitions no such interval reaches {CONFIDENCE:.0%}: bars span min–max, "
                     f"whose confidence is {levels}.")
    if counts[0] < MINIMUM_REPETITIONS:
        parts.append(f"Hollow markers: fewer than {MINIMUM_REPETITIONS} repetitions, bars span min–max "
                     "and are no interval.")
    return " ".join(parts)


def caption(data, extra=""):
    parts = [interval_caption(data.points)]
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


def draw_points(axis, xs, estimates, style, label, scale=1.0, xerr=None):
    """Medians with their intervals as one error-bar line, and a hollow marker over each point
    with too few repetitions for an interval. Returns whether any point was marked."""
    medians = [estimate.median / scale for estimate in estimates]
    container = axis.errorbar(xs, medians, yerr=interval_errors(estimates, scale), xerr=xerr, label=label, **style)
    few = [(x, median) for x, median, estimate in zip(xs, medians, estimates) if estimate.few]
    if few:
        axis.plot([x for x, _ in few], [y for _, y in few], linestyle="none", marker=style.get("marker", "o"),
                  markersize=style.get("markersize", 5), markerfacecolor="white",
                  markeredgecolor=style.get("color"), markeredgewidth=1.2, label=FEW_LABEL,
                  zorder=container.lines[0].get_zorder() + 0.1)
    return bool(few)


def interval_errors(estimates, scale=1.0):
    """The [below, above] distances of matplotlib's error bars."""
    return [[(estimate.median - estimate.low) / scale for estimate in estimates],
            [(estimate.high - estimate.median) / scale for estimate in estimates]]


def few_handle():
    from matplotlib.lines import Line2D

    return Line2D([], [], color="#555555", marker="o", markerfacecolor="white", linestyle="none", markersize=5,
                  label=f"hollow: fewer than {MINIMUM_REPETITIONS} repetitions (bar: min–max)")


def log_threads(threads):
    """Thread counts past 16 (a big machine's 1, 2, 4 ... 128) go on a log2 axis, where the
    small counts stay readable; up to 16 the axis is linear, as will-it-scale draws it."""
    return max(threads) > 16


def edges(threads):
    """The x boundaries between adjacent thread counts, and half a step beyond both ends:
    midpoints on a linear axis, geometric means on a log axis."""
    if log_threads(threads):
        inner = [math.sqrt(a * b) for a, b in zip(threads, threads[1:])]
        return [threads[0] / 1.3] + inner + [threads[-1] * 1.3]
    inner = [(a + b) / 2 for a, b in zip(threads, threads[1:])]
    return [threads[0] - 0.5] + inner + [threads[-1] + 0.5]


def shade_oversubscribed(axis, points):
    """Shades the thread counts marked oversubscribed, one span per run of adjacent counts."""
    marked = {point.threads for point in points if point.oversubscribed}
    if not marked:
        return False
    threads = sorted({point.threads for point in points})
    bounds = edges(threads)
    start = None
    for index, count in enumerate(threads):
        if count in marked and start is None:
            start = bounds[index]
        if start is not None and (index + 1 == len(threads) or threads[index + 1] not in marked):
            axis.axvspan(start, bounds[index + 1], color="#000000", alpha=OVERSUBSCRIBED_ALPHA, linewidth=0, zorder=0)
            start = None
    return True


def oversubscribed_patch(data):
    import matplotlib.patches as patches

    cpus = data.machine.get("online_cpus", "")
    text = f"oversubscribed (threads > {cpus} online CPUs)" if cpus else "oversubscribed (threads > online CPUs)"
    return patches.Patch(facecolor="#000000", alpha=OVERSUBSCRIBED_ALPHA, label=text)


def thread_axis(axis, points, room_right=0.0):
    """Ticks at the thread counts run; room_right widens the axis on the right by that share of
    a step, for the labels at the lines' ends."""
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    threads = sorted({point.threads for point in points})
    bounds = edges(threads)
    if log_threads(threads):
        axis.set_xscale("log", base=2)
        axis.xaxis.set_minor_locator(NullLocator())
        right = bounds[-1] * 1.3 ** (room_right * 2)
    else:
        right = bounds[-1] + room_right
    axis.xaxis.set_major_locator(FixedLocator(threads))
    axis.xaxis.set_major_formatter(ScalarFormatter())
    axis.set_xlim(bounds[0], right)
    axis.set_xlabel("threads")


def log_axis(axis, which="y"):
    """A log axis labelled in plain numbers: 1, 2, 5, 10, 20, 50, ... over up to two and a half
    decades, powers of ten over more."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    getattr(axis, f"set_{which}scale")("log")
    axis.autoscale_view()
    low, high = getattr(axis, f"get_{which}lim")()
    decades = math.log10(high / low) if low > 0 else 0
    scale = getattr(axis, f"{which}axis")
    scale.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)))
    scale.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    scale.set_minor_formatter(NullFormatter())


def spread_labels(axis, labels, gap_points=10):
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


def panel_grid(plt, count, width=5.0, minimum_width=9.5, columns=3):
    columns = min(count, columns)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(max(width * columns, minimum_width), PANEL_HEIGHT * rows),
                                squeeze=False)
    flat = [axis for row in axes for axis in row]
    for axis in flat[count:]:
        axis.remove()
    return figure, flat[:count]


def legend_proxy(handle):
    """A plain line and marker in the style of an error-bar series: the legend draws it several
    times faster than the error bar container itself, and without the caps."""
    from matplotlib.container import ErrorbarContainer
    from matplotlib.lines import Line2D

    if not isinstance(handle, ErrorbarContainer) or handle.lines[0] is None:
        return handle
    line = handle.lines[0]
    return Line2D([], [], color=line.get_color(), marker=line.get_marker(), markersize=line.get_markersize(),
                  linestyle=line.get_linestyle(), linewidth=line.get_linewidth(), label=line.get_label())


def finish(figure, axes, figure_title, figure_caption, legend_handles=()):
    """Adds the title, one legend for all panels (below them, in as many columns as fit the
    width) and the caption, growing the figure so that the panels keep their height."""
    handles, labels = [], []
    for axis in axes:
        for handle, name in zip(*axis.get_legend_handles_labels()):
            if name not in labels and not name.startswith("_"):
                handles.append(legend_proxy(handle))
                labels.append(name)
    if any(line.get_label() == FEW_LABEL for axis in axes for line in axis.get_lines()):
        legend_handles = list(legend_handles) + [few_handle()]
    for handle in legend_handles:
        if handle.get_label() not in labels:
            handles.append(handle)
            labels.append(handle.get_label())
    width, panels_height = figure.get_size_inches()
    # An entry is its marker and line (about 0.6 in) and its text (about 0.075 in a character at 9 pt).
    entry_width = 0.75 + 0.075 * max((len(name) for name in labels), default=1)
    columns = max(1, min(len(labels), int((width - 0.3) // entry_width)))
    legend_height = 0.21 * math.ceil(len(labels) / columns) + 0.2
    # Wrapped by hand: matplotlib's own wrapping lets centred text run past the figure's edges.
    wrapped = textwrap.fill(figure_caption, width=int(width * 72 / 4.6))
    caption_height = CAPTION_HEIGHT + 0.14 * max(0, wrapped.count("\n") - 1)
    height = panels_height + TITLE_HEIGHT + legend_height + caption_height
    figure.set_size_inches(width, height)
    figure.suptitle(figure_title, fontsize=12, y=1 - 0.12 / height, va="top")
    bottom = (legend_height + caption_height) / height
    if labels:
        figure.legend(handles, labels, loc="upper center", ncol=columns, frameon=False,
                      bbox_to_anchor=(0.5, bottom), fontsize=9)
    figure.text(0.5, 0.08 / height, wrapped, ha="center", va="bottom", fontsize=8, color="#333333")
    figure.tight_layout(rect=(0, bottom, 1, 1 - TITLE_HEIGHT / height))
    # tight_layout leaves a placeholder layout engine behind, and with any engine savefig draws
    # the whole figure twice; the layout is final here, so drop it (halves the time to save).
    figure.set_layout_engine(None)
