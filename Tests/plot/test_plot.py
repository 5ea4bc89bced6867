"""Tests of Experiments/plot.py on fixture.csv, a short real run set (see make-fixture.sh): 21
rows on two workloads, 3 threads oversubscribed on its 2-CPU host, two object counts for
handle-local, and one row edited by hand to be invalid."""

import csv
import importlib.util
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCRIPT = ROOT / "Experiments" / "plot.py"
FIXTURE = HERE / "fixture.csv"
KINDS = ["throughput", "speedup", "ns-per-op", "handle-table"]

spec = importlib.util.spec_from_file_location("plot", SCRIPT)
plot = importlib.util.module_from_spec(spec)
sys.modules["plot"] = plot  # dataclasses look their module up there
spec.loader.exec_module(plot)


def run_plot(*arguments):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, arguments)],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def figures():
    [host] = plot.build_figures(plot.read_csv_files([str(FIXTURE)]))
    return host


def legend_labels(figure):
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def figure_text(figure):
    """The figure's free text (the caption), with its line breaks as spaces."""
    return " ".join(" ".join(text.get_text().split()) for text in figure.texts)


def test_every_figure_is_written_as_png_and_svg_and_its_path_printed(tmp_path):
    result = run_plot(FIXTURE, "--out", tmp_path)
    assert result.returncode == 0, result.stderr
    expected = {tmp_path / f"fixture-{kind}-vm.{extension}" for kind in KINDS for extension in ("png", "svg")}
    assert {Path(line) for line in result.stdout.splitlines()} == expected
    assert set(tmp_path.iterdir()) == expected, "only the figures, no temporary files"
    for path in expected:
        data = path.read_bytes()
        if path.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
        else:
            assert ElementTree.fromstring(data).tag == "{http://www.w3.org/2000/svg}svg"


def test_figures_go_next_to_the_first_csv_without_out(tmp_path):
    copy = tmp_path / "runs.csv"
    copy.write_bytes(FIXTURE.read_bytes())
    result = run_plot(copy)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs-throughput-vm.png").exists()


def test_one_figure_set_per_host_and_one_throughput_panel_per_workload(figures):
    assert figures.host == "vm"
    assert list(figures.figures) == KINDS
    throughput = figures.figures["throughput"]
    assert [axis.get_title() for axis in throughput.axes] == ["workload: shared-hot", "workload: private"]
    assert "refscale throughput on vm" in throughput._suptitle.get_text()
    assert "2026-11-25" in throughput._suptitle.get_text()
    speedup = figures.figures["speedup"]
    assert [axis.get_title() for axis in speedup.axes] == ["workload: shared-hot", "workload: private"]


def test_throughput_has_a_line_per_series_and_a_dashed_linear_line_per_scaling_series(figures):
    shared_hot = figures.figures["throughput"].axes[0]
    labels = [container.get_label() for container in shared_hot.containers]
    assert labels == ["handle-local objects=4", "handle-local objects=16", "atomic", "noop"]
    dashed = [line for line in shared_hot.get_lines() if line.get_label() == "_linear"]
    assert len(dashed) == 3, "one linear-scaling line for each series with more than one thread count"
    assert all(line.get_linestyle() == "--" for line in dashed)
    assert "linear scaling from 1 thread (same colour)" in legend_labels(figures.figures["throughput"])
    assert shared_hot.get_ylabel() == "throughput, all threads (Mops/s, log scale)"
    assert shared_hot.get_xlabel() == "threads"


def test_oversubscribed_threads_are_shaded_and_named_in_the_legend(figures):
    shared_hot = figures.figures["throughput"].axes[0]
    spans = [patch for patch in shared_hot.patches if patch.get_alpha() == 0.08]
    assert len(spans) == 1
    assert (spans[0].get_x(), spans[0].get_x() + spans[0].get_width()) == (2.5, 3.5)
    assert "oversubscribed (threads > 2 online CPUs)" in legend_labels(figures.figures["throughput"])
    private = figures.figures["throughput"].axes[1]
    assert not [patch for patch in private.patches if patch.get_alpha() == 0.08]


def test_invalid_row_is_left_out_and_counted_in_every_caption(figures):
    for kind in KINDS:
        assert "Invalid rows left out (valid != true): 1 (atomic shared-hot 2 thr rep 2)" in figure_text(
            figures.figures[kind]), kind
    table = plot.read_csv_files([str(FIXTURE)])
    assert len(table.runs) == 20 and len(table.invalid) == 1
    point = next(point for point in plot.group_points(table.runs, table.parameters)
                 if point.values["scheme"] == "atomic" and point.values["workload"] == "shared-hot"
                 and point.threads == 2)
    assert point.reps == 1 and point.ops == (110552805.0, 110552805.0, 110552805.0)


def test_points_are_medians_with_min_max_over_repetitions():
    table = plot.read_csv_files([str(FIXTURE)])
    point = next(point for point in plot.group_points(table.runs, table.parameters)
                 if point.values["scheme"] == "noop" and point.threads == 1)
    assert point.reps == 2
    assert point.ops == ((2217763822 + 1900754609) / 2, 1900754609, 2217763822)


def test_ns_per_op_bars_cover_every_series_at_one_thread_with_the_noop_cost_hatched(figures):
    figure = figures.figures["ns-per-op"]
    [axis] = figure.axes
    assert [label.get_text() for label in axis.get_xticklabels()] == ["shared-hot", "private"]
    solid = [patch for patch in axis.patches if patch.get_fill()]
    hatched = [patch for patch in axis.patches if not patch.get_fill() and patch.get_hatch()]
    assert len(solid) == 6, "4 series on shared-hot, 2 on private"
    assert len(hatched) == 4, "noop ran on shared-hot only, so only its bars get the hatch"
    assert any(label.startswith("noop cost") for label in legend_labels(figure))
    assert axis.get_ylabel() == "ns per operation, 1 thread"


def test_handle_table_figure_plots_hit_rate_and_ns_per_op_against_objects(figures):
    figure = figures.figures["handle-table"]
    assert [axis.get_title() for axis in figure.axes] == [
        "workload: shared-hot: table hit rate (higher is better)",
        "workload: shared-hot: ns/op (lower is better)",
    ]
    assert [label.get_text() for label in figure.axes[0].get_xticklabels()] == ["4", "16"]
    assert figure.axes[0].get_xlabel() == "objects in the workload"


def test_handle_table_figure_is_left_out_without_several_object_counts_or_widths(tmp_path):
    rows = list(csv.DictReader(FIXTURE.open()))
    kept = [row for row in rows if row["objects"] != "16"]
    path = tmp_path / "one-width.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
    [host] = plot.build_figures(plot.read_csv_files([str(path)]))
    assert list(host.figures) == ["throughput", "speedup", "ns-per-op"]


def test_rows_from_two_hosts_get_a_figure_set_each(tmp_path):
    rows = list(csv.DictReader(FIXTURE.open()))
    for row in rows[::2]:
        row["host"] = "other-box"
    path = tmp_path / "mixed.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    result = run_plot(path, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    names = {Path(line).name for line in result.stdout.splitlines()}
    assert "mixed-throughput-vm.png" in names and "mixed-throughput-other-box.png" in names


def write(path, text):
    path.write_text(text)
    return path


HEADER_ONLY = "scheme,workload,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op,valid\n"


@pytest.mark.parametrize("name, make, message", [
    ("missing columns", lambda d: write(d / "x.csv", "a,b,c\n1,2,3\n"), "not a refscale CSV file: missing column(s) scheme"),
    ("empty file", lambda d: write(d / "x.csv", ""), "empty file"),
    ("header only", lambda d: write(d / "x.csv", HEADER_ONLY), "no rows below the header"),
    ("missing file", lambda d: d / "nope.csv", "no such file"),
    ("not a number", lambda d: write(d / "x.csv", HEADER_ONLY + "atomic,private,two,1,1,1,1,1,true\n"),
     "threads is not a number"),
    ("ragged row", lambda d: write(d / "x.csv", HEADER_ONLY + "atomic,private,1\n"), "3 fields, the header has 9"),
])
def test_bad_input_is_one_line_a_failure_exit_and_no_figure(tmp_path, name, make, message):
    bad = make(tmp_path)
    out = tmp_path / "out"
    # A good file first: its figures must not be written either when a later file is bad.
    result = run_plot(FIXTURE, bad, "--out", out)
    assert result.returncode == 1, name
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("plot.py: error: ") and message in lines[0], lines
    assert not out.exists() or not list(out.iterdir())


def test_usage_error_is_one_line_and_exit_64(tmp_path):
    result = run_plot()
    assert result.returncode == 64
    assert len(result.stderr.splitlines()) == 1


def test_a_failure_while_writing_leaves_no_file_behind(tmp_path, monkeypatch):
    [host] = plot.build_figures(plot.read_csv_files([str(FIXTURE)]))
    original = host.figures["speedup"].savefig

    def failing_savefig(*arguments, **keywords):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(host.figures["speedup"], "savefig", failing_savefig)
    with pytest.raises(OSError):
        plot.write_figures([str(FIXTURE)], [host], str(tmp_path))
    assert list(tmp_path.iterdir()) == []
    host.figures["speedup"].savefig = original


def test_thread_counts_of_a_big_machine_go_on_a_log2_axis(tmp_path):
    rows = list(csv.DictReader(FIXTURE.open()))
    for row in rows:
        row["threads"] = {"1": "1", "2": "32", "3": "128"}[row["threads"]]
        row["online_cpus"] = "64"
    path = tmp_path / "big.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    [host] = plot.build_figures(plot.read_csv_files([str(path)]))
    shared_hot = host.figures["throughput"].axes[0]
    assert shared_hot.get_xscale() == "log"
    assert list(shared_hot.get_xticks()) == [1, 32, 128]
    [span] = [patch for patch in shared_hot.patches if patch.get_alpha() == 0.08]
    assert span.get_x() == pytest.approx(64.0)  # from between 32 and 128 (geometric mean) on


def test_figures_get_the_usual_file_mode_not_the_temporary_files_private_one(tmp_path):
    umask = os.umask(0o022)
    try:
        assert run_plot(FIXTURE, "--out", tmp_path).returncode == 0
    finally:
        os.umask(umask)
    assert {path.stat().st_mode & 0o777 for path in tmp_path.iterdir()} == {0o644}


def test_a_failure_in_the_helper_process_also_leaves_no_file_behind(tmp_path, monkeypatch):
    [host] = plot.build_figures(plot.read_csv_files([str(FIXTURE)]))
    figure = host.figures["speedup"]
    original = figure.savefig

    def savefig_failing_for_png(path, format=None, **keywords):
        if format == "png":
            raise OSError(28, "No space left on device")
        return original(path, format=format, **keywords)

    # The speedup PNG is the third file: the helper process writes it, this process the rest.
    monkeypatch.setattr(figure, "savefig", savefig_failing_for_png)
    with pytest.raises(OSError, match="No space left on device"):
        plot.write_figures([str(FIXTURE)], [host], str(tmp_path))
    assert list(tmp_path.iterdir()) == []
