"""The trace figures, on trace.csv (make-trace-fixtures.sh): one figure per trace file, a panel
per replay setting, medians of the rows, replicated points ringed."""

import csv
import statistics

import pytest
from conftest import HERE, draw_all, legend_labels, write_rows

TRACE_FIXTURE = HERE / "trace.csv"


def trace_rows():
    with open(TRACE_FIXTURE, newline="") as handle:
        return list(csv.DictReader(handle))


def test_one_trace_figure_per_trace_file_with_medians_against_threads(tmp_path, catalogue):
    rows = trace_rows()
    other = [dict(row, trace="results/traces/other_program.rstrace") for row in rows]
    [host] = draw_all(write_rows(tmp_path / "two.csv", rows + other), catalogue)
    assert [kind for kind in host.figures if kind.startswith("trace-")] == ["trace-method_shared", "trace-other_program"]
    figure = host.figures["trace-method_shared"]
    assert figure._suptitle.get_text().startswith("refscale trace method_shared.rstrace on vm")
    [axis] = figure.axes
    assert axis.get_title() == "trace_sites: as-recorded, what_if: none"
    [container] = axis.containers
    assert container.get_label() == "atomic"
    assert list(container.lines[0].get_xdata()) == [1, 2]
    assert list(container.lines[0].get_ydata()) == pytest.approx(
        [statistics.median(float(row["ops_per_s"]) for row in rows if row["threads"] == count) / 1e6 for count in "12"])
    # Two repetitions: the bars span min–max, as in every other figure, and the points are hollow.
    [bars] = container.lines[2]
    assert [y for segment in bars.get_segments() for y in sorted(y for _, y in segment)] == pytest.approx(
        [y for count in "12" for y in sorted(float(row["ops_per_s"]) / 1e6 for row in rows if row["threads"] == count)])
    assert [line.get_label() for line in axis.get_lines()].count("_few") == 1


def test_each_replay_setting_is_a_panel_recorded_first_and_replicated_points_are_ringed(tmp_path, catalogue):
    rows = trace_rows()
    changed = [dict(row, what_if="immortal:top2", trace_replicated_objects="3" if row["threads"] == "2" else "0")
               for row in rows]
    [host] = draw_all(write_rows(tmp_path / "what-if.csv", changed + rows), catalogue)
    figure = host.figures["trace-method_shared"]
    assert [axis.get_title() for axis in figure.axes] == [
        "trace_sites: as-recorded, what_if: none", "trace_sites: as-recorded, what_if: immortal:top2"]
    recorded, what_if = figure.axes
    assert not [line for line in recorded.get_lines() if line.get_label() == "_replicated"]
    [ring] = [line for line in what_if.get_lines() if line.get_label() == "_replicated"]
    assert list(ring.get_xdata()) == [2]
    assert "ringed: objects replicated per thread" in legend_labels(figure)
    assert [container.get_label() for container in what_if.containers] == ["atomic"], "the setting names the panel, not the line"
