"""Figure `ns-per-op`: ns/op at 1 thread as grouped bars, one group per workload, with the `noop`
cost (the harness's own share of every operation) hatched into each bar of its workload.
Drawn when some series ran at 1 thread."""

from __future__ import annotations

import math

from .. import layout
from ..series import FLOOR_SCHEME, natural

KIND = "ns-per-op"


def draw(plt, data, series_by_workload):
    import matplotlib.patches as patches

    workloads = [workload for workload, items in series_by_workload.items()
                 if any(item.at(1) is not None for item in items)]
    if not workloads:
        return None
    catalogue = data.catalogue
    labels = []
    for workload in workloads:
        for item in series_by_workload[workload]:
            if item.at(1) is not None and item.label not in [label for label, _ in labels]:
                labels.append((item.label, item))
    labels.sort(key=lambda entry: (catalogue.scheme_rank(entry[1].scheme), natural(entry[0])))
    width = 0.8 / max(len(labels), 1)
    figure, axis = plt.subplots(figsize=(max(6.5, 1.2 + len(workloads) * (0.9 + 0.32 * len(labels))), 6.2))
    noop_marked = False
    for group, workload in enumerate(workloads):
        noop = next((item.at(1) for item in series_by_workload[workload]
                     if item.scheme == FLOOR_SCHEME and item.at(1) is not None), None)
        present = [(label, item) for label, _ in labels
                   for item in series_by_workload[workload] if item.label == label and item.at(1) is not None]
        offset = group - 0.4 + width / 2 + (len(labels) - len(present)) * width / 2
        for index, (label, item) in enumerate(present):
            ns = item.at(1).ns
            x = offset + index * width
            axis.bar(x, ns.median, width=width * 0.92, color=item.color, label="_bar",
                     yerr=layout.interval_errors([ns]), capsize=2, error_kw=dict(linewidth=0.8))
            axis.text(x, ns.high, f"{ns.median:.3g}", ha="center", va="bottom", fontsize=7)
            if ns.few:
                axis.plot([x], [ns.median], linestyle="none", marker="o", markersize=4, markerfacecolor="white",
                          markeredgecolor="#333333", label=layout.FEW_LABEL, zorder=3)
            if noop is not None and not math.isnan(noop.ns.median):
                axis.bar(x, min(noop.ns.median, ns.median), width=width * 0.92, fill=False, hatch="////",
                         edgecolor="#ffffff" if item.scheme != FLOOR_SCHEME else "#333333", linewidth=0)
                noop_marked = True
        if noop is not None and not math.isnan(noop.ns.median):
            axis.hlines(noop.ns.median, group - 0.45, group + 0.45, colors="#333333", linestyles=":", linewidth=1)
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
                                   label=f"{FLOOR_SCHEME} cost: the harness's own share of each bar (dotted line)"))
    layout.finish(figure, [axis], layout.title("ns/op at 1 thread", data),
                  layout.caption(data, f"Hatched: the {FLOOR_SCHEME} scheme's ns/op on the same workload, i.e. what the "
                                       "harness itself costs per operation."), extra)
    return figure
