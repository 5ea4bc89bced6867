"""The command line: what is written and printed, and what bad input does (one line on stderr,
exit 1 for a bad file or catalogue, 64 for usage, no figure written)."""

import os
import stat
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
from conftest import FIXTURE, fixture_rows, run_plot, write_rows

from refscale_plot.figures import HostFigures
from refscale_plot.output import write_figures

KINDS = ["throughput", "speedup", "ns-per-op", "handle-table", "memory"]


def test_every_figure_is_written_as_png_and_svg_with_the_usual_mode_and_its_path_printed(tmp_path):
    umask = os.umask(0o022)
    try:
        result = run_plot(FIXTURE, "--out", tmp_path)
    finally:
        os.umask(umask)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    expected = {tmp_path / f"fixture-{kind}-vm.{extension}" for kind in KINDS for extension in ("png", "svg")}
    assert {Path(line) for line in result.stdout.splitlines()} == expected
    assert set(tmp_path.iterdir()) == expected, "only the figures, no temporary files"
    for path in expected:
        data = path.read_bytes()
        if path.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
        else:
            assert ElementTree.fromstring(data).tag == "{http://www.w3.org/2000/svg}svg"
    # Not the private mode of the temporary files they were written as.
    assert {path.stat().st_mode & 0o777 for path in expected} == {0o644}


def test_figures_go_next_to_the_first_csv_without_out_and_unknown_columns_are_named(tmp_path):
    # One line on one workload: the figures are small, and what is checked is where they go.
    rows = [dict(row, later_knob="1") for row in fixture_rows()
            if row["workload"] == "private" and row["scheme"] == "atomic"]
    result = run_plot(write_rows(tmp_path / "runs.csv", rows))
    assert result.returncode == 0, result.stderr
    assert result.stderr == "plot.py: note: columns refscale's catalogue does not know, read as parameters: later_knob\n"
    assert {path.name for path in tmp_path.iterdir()} == {"runs.csv"} | {
        f"runs-{kind}-vm.{extension}" for kind in ("throughput", "speedup", "ns-per-op", "memory") for extension in ("png", "svg")}


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
     "x.csv:2: threads is not a number: 'two'"),
    ("ragged row", lambda d: write(d / "x.csv", HEADER_ONLY + "atomic,private,1\n"), "3 fields, the header has 9"),
    ("column twice", lambda d: write(d / "x.csv", HEADER_ONLY.strip() + ",rep\n" + "atomic,private,1,1,1,1,1,1,true,2\n"),
     "column(s) named twice in the header: rep"),
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


@pytest.mark.parametrize("name, binary, message", [
    ("missing binary", lambda d: d / "no-refscale", "no-refscale: no such file (set REFSCALE to a refscale binary)"),
    ("failing binary", lambda d: write_script(d / "refscale", "echo 'Error: unknown command' >&2; exit 64"),
     "columns --json failed with exit code 64: Error: unknown command"),
    ("not a catalogue", lambda d: write_script(d / "refscale", "echo '{\"columns\": 3}'"),
     "not refscale's column catalogue: no \"columns\" list"),
    ("unknown role", lambda d: write_script(d / "refscale", "echo '{\"columns\": [{\"name\": \"a\", \"role\": \"x\", "
                                                            "\"type\": \"text\"}], \"schemes\": [], \"workloads\": []}'"),
     "column a: role 'x' is not one of parameter, coordinate, measurement, counter, machine"),
])
def test_a_catalogue_that_cannot_be_read_is_one_line_and_exit_1(tmp_path, name, binary, message):
    out = tmp_path / "out"
    result = run_plot(FIXTURE, "--out", out, REFSCALE=str(binary(tmp_path)))
    assert result.returncode == 1, name
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("plot.py: error: ") and message in lines[0], lines
    assert not out.exists() or not list(out.iterdir())


def write_script(path, body):
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_bad_file_is_named_before_the_catalogue_is_read(tmp_path):
    result = run_plot(tmp_path / "nope.csv", REFSCALE=str(tmp_path / "no-refscale"))
    assert result.returncode == 1
    assert result.stderr == f"plot.py: error: {tmp_path / 'nope.csv'}: no such file\n"


def test_usage_error_is_one_line_and_exit_64(tmp_path):
    result = run_plot()
    assert result.returncode == 64
    assert len(result.stderr.splitlines()) == 1
    result = run_plot(FIXTURE, "--colour", "red")
    assert result.returncode == 64
    assert len(result.stderr.splitlines()) == 1


def test_out_that_is_a_file_is_one_line_and_exit_1(tmp_path):
    target = write(tmp_path / "file", "x")
    result = run_plot(FIXTURE, "--out", target)
    assert result.returncode == 1
    assert result.stderr == f"plot.py: error: {target}: --out is not a directory\n"


def two_figures(figures):
    """Enough to be written by two processes (four files), and quicker than all of them."""
    return HostFigures(figures.host, {kind: figures.figures[kind] for kind in ("throughput", "speedup")})


def test_a_failure_while_writing_leaves_no_file_behind(tmp_path, monkeypatch, figures):
    host = two_figures(figures)

    def failing_savefig(*arguments, **keywords):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(host.figures["speedup"], "savefig", failing_savefig)
    with pytest.raises(OSError):
        write_figures([str(FIXTURE)], [host], str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_failure_in_the_forked_process_also_leaves_no_file_behind(tmp_path, monkeypatch, figures):
    host = two_figures(figures)
    figure = host.figures["speedup"]
    original = figure.savefig

    def savefig_failing_for_png(path, format=None, **keywords):
        if format == "png":
            raise OSError(28, "No space left on device")
        return original(path, format=format, **keywords)

    # The speedup PNG is the third file: the forked process writes it, this process the rest.
    monkeypatch.setattr(figure, "savefig", savefig_failing_for_png)
    with pytest.raises(OSError, match="No space left on device"):
        write_figures([str(FIXTURE)], [host], str(tmp_path))
    assert list(tmp_path.iterdir()) == []
