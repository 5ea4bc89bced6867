"""The attribution bar chart, from attribution.csv (make-trace-fixtures.sh): a file of `refscale
trace attribute --csv` is told apart by its columns, and each row is a bar of its share."""

import csv
from pathlib import Path

import pytest
from conftest import FIXTURE, HERE, run_plot, write_rows

from refscale_plot import attribution
from refscale_plot.figures import pyplot

ATTRIBUTION_FIXTURE = HERE / "attribution.csv"


def attribution_rows():
    with open(ATTRIBUTION_FIXTURE, newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_kind_of_csv_is_told_by_its_columns():
    assert attribution.is_attribution(ATTRIBUTION_FIXTURE)
    assert not attribution.is_attribution(FIXTURE)
    assert not attribution.is_attribution(HERE / "trace.csv")


def test_a_bar_per_row_at_its_share_named_object_and_type_summary_rows_last_and_grey():
    rows = attribution_rows()
    figure = attribution.draw(pyplot(), attribution.read(ATTRIBUTION_FIXTURE), "attribution.csv")
    [axis] = figure.axes
    assert axis.get_title() == f"{rows[0]['trace']}: {rows[0]['scheme']}, {rows[0]['threads']} thread(s)"
    names = [label.get_text() for label in axis.get_yticklabels()]
    assert names == [f"{row['object']} ({row['type']})" if row["type"] else row["object"] for row in rows]
    assert names[-3:] == ["other", "transient", "none"]
    bars = axis.patches
    assert [bar.get_width() for bar in bars] == pytest.approx([100 * float(row["share"]) for row in rows])
    grey = [bar.get_facecolor() for bar, row in zip(bars, rows) if row["rank"] == ""]
    ranked = [bar.get_facecolor() for bar, row in zip(bars, rows) if row["rank"] != ""]
    assert len(set(grey)) == 1 and not set(grey) & set(ranked)


def test_plot_writes_the_bar_chart_of_an_attribution_file_without_asking_refscale(tmp_path):
    result = run_plot(ATTRIBUTION_FIXTURE, "--out", tmp_path, REFSCALE=str(tmp_path / "no-refscale"))
    assert result.returncode == 0, result.stderr
    expected = {tmp_path / f"attribution-attribution.{extension}" for extension in ("png", "svg")}
    assert {Path(line) for line in result.stdout.splitlines()} == expected
    assert set(tmp_path.iterdir()) == expected


def test_a_bad_share_is_one_line_and_no_figure(tmp_path):
    rows = attribution_rows()
    rows[2]["share"] = "lots"
    bad = write_rows(tmp_path / "bad.csv", rows)
    out = tmp_path / "out"
    result = run_plot(bad, "--out", out)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == f"plot.py: error: {bad}:4: share is not a number: 'lots'\n"
    assert not out.exists()
