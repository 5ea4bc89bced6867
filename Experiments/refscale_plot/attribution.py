"""The attribution figure, from a `refscale trace attribute ... --csv FILE` file, told apart from
a run CSV by its columns (ATTRIBUTION_COLUMNS): for each (trace, scheme, threads) in the file, a
panel of horizontal bars, one per object, its `share` of the replay's shared-memory writes
(atomic read-modify-writes, each CAS attempt, lock handoffs: TraceAttributeCommand.swift), the
objects in the file's rank order and then its summary rows (other, transient, none), which have
no rank. A bar is named "object (type)", or the object alone when the row has no type. A blank
share (a replay with no shared-memory writes at all) is drawn as no bar, marked n/a."""

from __future__ import annotations

import math

from . import tidy

KIND = "attribution"
ATTRIBUTION_COLUMNS = [
    "trace", "scheme", "threads", "rank", "object", "type", "traced_threads", "ops", "atomic_rmw",
    "cas_retries", "queued", "misses", "lock_handoffs", "shared_writes", "share",
]
GROUP_COLUMNS = ("trace", "scheme", "threads")
BAR_HEIGHT = 0.28       # inches per bar
SUMMARY_COLOR = "#8C8C8C"


def is_attribution(path):
    return tidy.has_columns(path, ATTRIBUTION_COLUMNS)


def _check(row):
    if row["share"] == "":
        return None
    try:
        share = float(row["share"])
    except ValueError:
        return f"share is not a number: {row['share']!r}"
    if not math.isfinite(share) or share < 0:
        return f"share is not a fraction: {row['share']!r}"
    return None


def read(path):
    """The rows as dicts of text; InputError naming the file and line of the first bad row."""
    return tidy.read(path, _check)


def bar_name(row):
    return f"{row['object']} ({row['type']})" if row["type"] else row["object"]


def draw(plt, rows, source):
    from .layout import finish

    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[column] for column in GROUP_COLUMNS), []).append(row)
    tallest = max(len(members) for members in groups.values())
    figure, axes = plt.subplots(len(groups), 1, figsize=(9.0, (BAR_HEIGHT * tallest + 1.1) * len(groups)), squeeze=False)
    axes = [row[0] for row in axes]
    for axis, (key, members) in zip(axes, groups.items()):
        trace, scheme, threads = key
        names = [bar_name(row) for row in members]
        shares = [100 * float(row["share"]) if row["share"] else 0.0 for row in members]
        colors = [SUMMARY_COLOR if row["rank"] == "" else "#0072B2" for row in members]
        positions = list(range(len(members)))
        axis.barh(positions, shares, color=colors, height=0.7)
        axis.set_yticks(positions, names, fontsize=8)
        axis.invert_yaxis()
        for position, share, row in zip(positions, shares, members):
            axis.annotate(f"{share:.3g}%" if row["share"] else "n/a", (share, position), xytext=(3, 0), textcoords="offset points",
                          va="center", fontsize=7)
        axis.set_xlim(0, max(max(shares) * 1.15, 1))
        axis.set_xlabel("share of the replay's shared-memory writes (%)")
        axis.set_title(f"{trace}: {scheme}, {threads} thread(s)")
        axis.grid(True, axis="x", alpha=0.3)
    finish(figure, axes, f"refscale trace attribute: {source}",
           "Bars: each object's share of the replay's shared-memory writes (atomic read-modify-writes, each CAS "
           "attempt, lock handoffs), in the file's rank order. Grey: the file's summary rows (other: the objects "
           "past the listed ones; transient: the objects born and freed by one thread, together; none: work "
           "charged to no object, at safe points, scope exits, merges and table flushes).")
    return figure
