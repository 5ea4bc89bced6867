"""The validation figure, from validate-cells.csv (make-validate-fixture.sh): a cells file of
`refscale validate` is told apart by its columns; each measured cell is a point at its ratio with
its interval, the band of agreement is drawn, and a cell that cannot run has no point but its
status."""

import csv
import math
from pathlib import Path

import pytest
from conftest import FIXTURE, HERE, run_plot, write_rows

from refscale_plot import attribution, validation
from refscale_plot.figures import pyplot

VALIDATION_FIXTURE = HERE / "validate-cells.csv"


def fixture_rows():
    with open(VALIDATION_FIXTURE, newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_kind_of_csv_is_told_by_its_columns():
    assert validation.is_validation(VALIDATION_FIXTURE)
    assert not validation.is_validation(FIXTURE)
    assert not validation.is_validation(HERE / "attribution.csv")
    assert not attribution.is_attribution(VALIDATION_FIXTURE)


def test_the_reader_keeps_every_cell_with_its_status_reason_and_numbers():
    """validation.read against the csv module's own reading of the same file: every cell, in order,
    with its words as written and its numbers as floats (NaN where blank), measured cells and
    cells that cannot run (with their reason) among them."""
    written = fixture_rows()
    read = validation.read(VALIDATION_FIXTURE)
    assert [(row["cell"], row["status"], row["reason"]) for row in read] == \
        [(row["cell"], row["status"], row["reason"]) for row in written]
    assert {"measured", "cannot run"} <= {row["status"] for row in read}
    assert all(row["reason"] for row in read if row["status"] == "cannot run")
    for mine, theirs in zip(read, written):
        for column in ("model_ns_per_op", "real_ns_per_op", "ratio", "ratio_low", "ratio_high", "ratio_coverage",
                       "model_atomics_per_op", "births_per_op"):
            expected = float(theirs[column]) if theirs[column] else math.nan
            assert mine[column] == pytest.approx(expected, nan_ok=True), (theirs["cell"], column, mine[column])


def test_a_point_per_measured_cell_at_its_ratio_and_the_band_of_agreement():
    rows = validation.read(VALIDATION_FIXTURE)
    figure = validation.draw(pyplot(), rows, "validate-cells.csv")
    [axis] = figure.axes
    assert [label.get_text() for label in axis.get_yticklabels()] == [row["cell"] for row in rows]
    points = [line for line in axis.get_lines() if line.get_marker() == "o"]
    measured = [(position, row) for position, row in enumerate(rows) if row["status"] == "measured"]
    assert len(points) == len(measured)
    for point, (position, row) in zip(points, measured):
        assert list(point.get_xdata()) == pytest.approx([row["ratio"]])
        assert list(point.get_ydata()) == [position]
        hollow = point.get_markerfacecolor() in ("white", (1.0, 1.0, 1.0, 1.0))
        assert hollow == validation.has_births(row)
    [band] = [patch for patch in axis.patches]
    left, _, width, _ = band.get_bbox().bounds
    assert left == pytest.approx(0.8) and left + width == pytest.approx(1.25)
    statuses = [text.get_text() for text in axis.texts]
    assert statuses == [row["status"] for row in rows if row["status"] != "measured"]


def test_plot_writes_the_validation_figure_without_asking_refscale(tmp_path):
    result = run_plot(VALIDATION_FIXTURE, "--out", tmp_path, REFSCALE=str(tmp_path / "no-refscale"))
    assert result.returncode == 0, result.stderr
    expected = {tmp_path / f"validate-cells-validate.{extension}" for extension in ("png", "svg")}
    assert {Path(line) for line in result.stdout.splitlines()} == expected
    assert set(tmp_path.iterdir()) == expected


def test_a_measured_cell_without_a_ratio_is_one_line_and_no_figure(tmp_path):
    rows = fixture_rows()
    index = next(i for i, row in enumerate(rows) if row["status"] == "measured")
    rows[index]["ratio"] = ""
    bad = write_rows(tmp_path / "bad.csv", rows)
    out = tmp_path / "out"
    result = run_plot(bad, "--out", out)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"plot.py: error: {bad}:{index + 2}: a measured cell without a positive ratio\n"
    assert not out.exists()
