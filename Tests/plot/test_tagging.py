"""The `tagging` figure, on rows of real short runs of handle-local on numeric: what it draws is
checked against the rows' own values."""

import csv
import subprocess

import pytest
from conftest import draw, refscale_binary


@pytest.fixture(scope="module")
def tagging_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("tagging") / "numeric.csv"
    for index in ("low3", "low4"):
        for tag_bits in ("0", "1", "2"):
            subprocess.run([refscale_binary(), "run", "--scheme", "handle-local", "--workload", "numeric",
                            "--handle-index", index, "--tag-bits", tag_bits, "--threads", "1", "--duration", "0.02",
                            "--warmup", "0.01", "--reps", "1", "--csv", str(path)],
                           check=True, capture_output=True)
    return path


def rows_of(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_tagging_draws_ns_allocations_and_hit_rate_against_tag_bits_per_index_width(tagging_csv, catalogue):
    figure = draw("tagging", tagging_csv, catalogue)
    assert figure is not None
    ns_axis, allocation_axis, hit_axis = figure.axes[:3]
    assert [axis.get_title() for axis in figure.axes[:3]] == [
        "workload: numeric: ns/op (lower is better)", "workload: numeric: objects allocated per operation",
        "workload: numeric: table hit rate"]
    rows = rows_of(tagging_csv)
    for index in ("low3", "low4"):
        mine = sorted((row for row in rows if row["handle_index"] == index), key=lambda row: int(row["tag_bits"]))
        [allocations] = [line for line in allocation_axis.get_lines() if line.get_label() == f"{index}, 1 thread"]
        assert list(allocations.get_xdata()) == [0, 1, 2]
        assert list(allocations.get_ydata()) == pytest.approx(
            [int(row["objects_allocated"]) / int(row["run_ops"]) for row in mine])
        [ns] = [container for container in ns_axis.containers if container.get_label() == f"{index}, 1 thread"]
        assert list(ns.lines[0].get_ydata()) == pytest.approx([float(row["ns_per_op"]) for row in mine])
        [hit] = [container for container in hit_axis.containers if container.get_label() == f"{index}, 1 thread"]
        # A width whose table served no open of an existing object has no hit rate (blank, drawn as nothing).
        assert list(hit.lines[0].get_ydata()) == pytest.approx(
            [float(row["hit_rate"]) if row["hit_rate"] else float("nan") for row in mine], nan_ok=True)
        per_op = list(allocations.get_ydata())
        assert per_op[1] < per_op[0] / 5, "one tag bit boxes only the floats and other objects"


def test_tagging_is_not_drawn_without_rows_at_several_tag_bits(table, catalogue, tmp_path):
    from conftest import FIXTURE

    assert draw("tagging", FIXTURE, catalogue) is None
