"""The validation figure, from the cells file of `refscale validate` (`...-cells.csv`), told apart
from a run CSV by its columns (VALIDATION_COLUMNS): for each (model, real) pair in the file, one
panel with a row per cell, its ratio (model ns/op over real ns/op) as a point on a log axis with
the ratio's interval as its bar, and the band of agreement drawn behind. Cells whose real runs made
objects (births_per_op above BIRTHS_NOTED) are drawn hollow: their ratio is counting and making a
real object together. A cell that cannot run, or has no valid rows on a side, has no point; its
status is written where the point would be."""

from __future__ import annotations

import math

from . import tidy

KIND = "validate"
VALIDATION_COLUMNS = [
    "model", "real", "cell", "workload", "threads", "status", "reason", "model_ns_per_op", "real_ns_per_op",
    "ratio", "ratio_low", "ratio_high", "ratio_coverage", "model_atomics_per_op", "births_per_op",
]
NUMBER_COLUMNS = ("model_ns_per_op", "real_ns_per_op", "ratio", "ratio_low", "ratio_high", "ratio_coverage",
                  "model_atomics_per_op", "births_per_op")
AGREEMENT = (0.8, 1.25)      # ValidationTable.agreement in Sources/RefScaleHarness/Output/ValidationTable.swift
BIRTHS_NOTED = 0.001         # births per operation above which a cell's ratio includes making objects
ROW_HEIGHT = 0.26            # inches per cell
POINT_COLOR = "#0072B2"
BAND_COLOR = "#009E73"


def is_validation(path):
    return tidy.has_columns(path, VALIDATION_COLUMNS)


def _check(row):
    """Makes the number columns floats (NaN when blank)."""
    for column in NUMBER_COLUMNS:
        text = row[column]
        try:
            row[column] = float(text) if text != "" else math.nan
        except ValueError:
            return f"{column} is not a number: {text!r}"
    if row["status"] == "measured" and not (row["ratio"] > 0 and math.isfinite(row["ratio"])):
        return "a measured cell without a positive ratio"
    return None


def read(path):
    """The rows as dicts, the number columns as floats (NaN when blank); InputError naming the file
    and line of the first bad row."""
    return tidy.read(path, _check)


def has_births(row):
    return not math.isnan(row["births_per_op"]) and row["births_per_op"] > BIRTHS_NOTED


def draw(plt, rows, source):
    from .layout import finish

    groups = {}
    for row in rows:
        groups.setdefault((row["model"], row["real"]), []).append(row)
    tallest = max(len(members) for members in groups.values())
    figure, axes = plt.subplots(1, len(groups), figsize=(7.5 * len(groups), ROW_HEIGHT * tallest + 1.2), squeeze=False)
    axes = list(axes[0])
    measured = [row for row in rows if row["status"] == "measured"]
    bounds = [value for row in measured for value in (row["ratio"], row["ratio_low"], row["ratio_high"]) if value > 0]
    low = min(bounds + [AGREEMENT[0]]) / 1.3
    high = max(bounds + [AGREEMENT[1]]) * 1.3
    for axis, ((model, real), members) in zip(axes, groups.items()):
        axis.set_xscale("log")
        axis.set_xlim(low, high)
        axis.axvspan(*AGREEMENT, color=BAND_COLOR, alpha=0.15, label=f"agreement [{AGREEMENT[0]}, {AGREEMENT[1]}]")
        axis.axvline(1, color=BAND_COLOR, linewidth=0.8)
        positions = list(range(len(members)))
        for position, row in zip(positions, members):
            if row["status"] != "measured":
                axis.annotate(row["status"], (1, position), ha="center", va="center", fontsize=7, color="#8C8C8C")
                continue
            births = has_births(row)
            if not math.isnan(row["ratio_low"]):
                axis.plot([row["ratio_low"], row["ratio_high"]], [position, position], color=POINT_COLOR, linewidth=1.2)
            axis.plot([row["ratio"]], [position], "o", color=POINT_COLOR, markerfacecolor="white" if births else POINT_COLOR,
                      label="real runs make objects (births/op > 0)" if births else "counting only")
        axis.set_yticks(positions, [row["cell"] for row in members], fontsize=8)
        axis.set_ylim(len(members) - 0.5, -0.5)
        axis.set_xlabel(f"{model} ns/op over {real} ns/op (log)")
        axis.set_title(f"{model} beside {real}")
        axis.grid(True, axis="x", alpha=0.3)
    finish(figure, axes, f"refscale validate: {source}",
           "Points: the model's median ns/op over the real runtime's, per cell (workload/kind/trace@threads); bars: "
           "Moses' distribution-free interval of that ratio (95% with 5 or more repetitions a side, less with fewer: "
           "column ratio_coverage). Shaded: the band of agreement. Hollow: the real runs make real objects where the "
           "model takes pool blocks, so the ratio is counting and making together. Cells that cannot run, or have no "
           "valid rows on a side, are named by their status.")
    return figure
