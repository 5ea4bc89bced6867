"""One test (or more) per figure, on fixture.csv: what each figure draws, checked against medians
computed here from the fixture's rows."""

import os
import statistics
from dataclasses import replace

import pytest
from conftest import (draw, figure_text, fixture_rows, hosts_of, legend_labels, line_labels,
                      read_table, write_rows)

from refscale_plot.figures import KINDS, HostFigures
from refscale_plot.output import output_names


def median_ops(**values):
    """The median ops/s of the fixture's valid rows with these values."""
    return statistics.median(float(row["ops_per_s"]) for row in fixture_rows()
                             if row["valid"] == "true" and all(row[column] == value for column, value in values.items()))


def line(axis, label):
    [container] = [container for container in axis.containers if container.get_label() == label]
    return container.lines[0]


def test_one_figure_set_per_host_with_one_panel_per_workload_in_registry_order(figures, catalogue):
    assert figures.host == "vm"
    assert list(figures.figures) == ["throughput", "speedup", "ns-per-op", "handle-table", "memory"]
    workloads = sorted({row["workload"] for row in fixture_rows()}, key=catalogue.workloads.index)
    assert workloads == ["private", "shared-hot"]
    for kind in ("throughput", "speedup"):
        figure = figures.figures[kind]
        assert [axis.get_title() for axis in figure.axes] == [f"workload: {workload}" for workload in workloads]
        days = sorted({row["timestamp"][:10] for row in fixture_rows()})
        date = days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"
        assert figure._suptitle.get_text() == f"refscale {kind} on vm (AMD EPYC, 2 online CPUs), {date}"


def test_throughput_has_a_line_per_series_at_its_medians_and_a_dashed_linear_line_per_scaling_series(figures):
    shared_hot = figures.figures["throughput"].axes[1]
    labels = [container.get_label() for container in shared_hot.containers]
    assert labels == ["atomic", "handle-local objects=4", "handle-local objects=16", "noop"], "registry order"
    atomic = line(shared_hot, "atomic")
    assert list(atomic.get_xdata()) == [1, 2, 3]
    assert list(atomic.get_ydata()) == pytest.approx(
        [median_ops(scheme="atomic", workload="shared-hot", threads=str(count)) / 1e6 for count in (1, 2, 3)])
    dashed = [line for line in shared_hot.get_lines() if line.get_label() == "_linear"]
    assert len(dashed) == 3, "one linear-scaling line for each series with more than one thread count"
    assert all(line.get_linestyle() == "--" for line in dashed)
    assert "linear scaling from 1 thread (same colour)" in legend_labels(figures.figures["throughput"])
    assert shared_hot.get_ylabel() == "throughput, all threads (Mops/s, log scale)"
    assert shared_hot.get_xlabel() == "threads"


def test_oversubscribed_threads_are_shaded_and_named_in_the_legend(figures):
    shared_hot = figures.figures["throughput"].axes[1]
    spans = [patch for patch in shared_hot.patches if patch.get_alpha() == 0.08]
    assert len(spans) == 1
    assert (spans[0].get_x(), spans[0].get_x() + spans[0].get_width()) == (2.5, 3.5)
    assert "oversubscribed (threads > 2 online CPUs)" in legend_labels(figures.figures["throughput"])
    private = figures.figures["throughput"].axes[0]
    assert not [patch for patch in private.patches if patch.get_alpha() == 0.08]


def test_speedup_is_each_median_over_the_same_series_median_at_one_thread(figures):
    shared_hot = figures.figures["speedup"].axes[1]
    assert [container.get_label() for container in shared_hot.containers] == ["atomic", "handle-local objects=4", "noop"], \
        "handle-local objects=16 ran at 1 thread only"
    for scheme, label in (("atomic", "atomic"), ("noop", "noop")):
        one = median_ops(scheme=scheme, workload="shared-hot", threads="1")
        expected = [median_ops(scheme=scheme, workload="shared-hot", threads=str(count)) / one for count in (1, 2, 3)]
        assert list(line(shared_hot, label).get_ydata()) == pytest.approx(expected)
    private = figures.figures["speedup"].axes[0]
    assert not private.containers
    assert [text.get_text() for text in private.texts] == ["no series ran at 1 thread and at more"]
    assert shared_hot.get_ylabel() == "speedup over 1 thread (×)"


def test_ns_per_op_bars_cover_every_series_at_one_thread_with_the_noop_cost_hatched(figures, catalogue):
    from matplotlib.colors import to_hex

    figure = figures.figures["ns-per-op"]
    [axis] = figure.axes
    assert [label.get_text() for label in axis.get_xticklabels()] == ["private", "shared-hot"]
    solid = [patch for patch in axis.patches if patch.get_fill()]
    hatched = [patch for patch in axis.patches if not patch.get_fill() and patch.get_hatch()]
    assert len(solid) == 6, "2 series on private, 4 on shared-hot"
    assert len(hatched) == 4, "noop ran on shared-hot only, so only its bars get the hatch"
    noop = statistics.median(float(row["ns_per_op"]) for row in fixture_rows()
                             if row["scheme"] == "noop" and row["threads"] == "1")
    [noop_bar] = [patch for patch in solid if to_hex(patch.get_facecolor()) == catalogue.scheme_color("noop").lower()]
    assert noop_bar.get_height() == pytest.approx(noop)
    assert all(patch.get_height() == pytest.approx(min(noop, bar.get_height()))
               for patch, bar in zip(hatched, solid[2:])), "the hatch is noop's share of each shared-hot bar"
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
    hit_rates = {objects: statistics.median(float(row["hit_rate"]) for row in fixture_rows()
                                            if row["scheme"] == "handle-local" and row["workload"] == "shared-hot"
                                            and row["threads"] == "1" and row["objects"] == objects)
                 for objects in ("4", "16")}
    [one_thread] = [container.lines[0] for container in figure.axes[0].containers
                    if container.lines[0].get_linestyle() == "-"]
    assert list(one_thread.get_ydata()) == pytest.approx([hit_rates["4"], hit_rates["16"]])
    assert "refscale handle-local table on vm" in figure._suptitle.get_text()


def test_handle_table_figure_is_left_out_without_several_object_counts_or_widths(tmp_path, catalogue):
    path = write_rows(tmp_path / "one-width.csv", [row for row in fixture_rows() if row["objects"] != "16"])
    assert draw("handle-table", path, catalogue) is None


def test_rows_from_two_hosts_get_a_figure_set_each(tmp_path, catalogue):
    rows = fixture_rows()
    for row in rows[::2]:
        row["host"] = "other-box"
    path = write_rows(tmp_path / "mixed.csv", rows)
    hosts = hosts_of(path, catalogue)
    assert [data.host for data in hosts] == ["other-box", "vm"]
    assert [data.runs for data in hosts] == [20, 20]
    planned = output_names([str(path)], [HostFigures(data.host, {"throughput": None}) for data in hosts], str(tmp_path))
    names = {os.path.basename(name) for *_, name in planned}
    assert "mixed-throughput-vm.png" in names and "mixed-throughput-other-box.svg" in names


def test_a_machine_column_that_varies_within_a_host_names_the_lines(tmp_path, catalogue):
    rows = fixture_rows()
    for row in rows:
        row["git_commit"] = "0a23ef7" if row["rep"] in ("1", "2") else "bf89186"
    labels = line_labels(write_rows(tmp_path / "two-builds.csv", rows), catalogue, "private")
    # A value that starts with a letter names itself, as handle_index's low3 does.
    assert labels == ["atomic bf89186", "atomic git_commit=0a23ef7",
                      "handle-local bf89186 objects=1", "handle-local objects=1 git_commit=0a23ef7"]
    assert catalogue.role("git_commit") == "machine"


def test_thread_counts_of_a_big_machine_go_on_a_log2_axis(tmp_path, catalogue):
    rows = fixture_rows()
    for row in rows:
        row["threads"] = {"1": "1", "2": "32", "3": "128"}[row["threads"]]
        row["online_cpus"] = "64"
    shared_hot = draw("throughput", write_rows(tmp_path / "big.csv", rows), catalogue).axes[1]
    assert shared_hot.get_xscale() == "log"
    assert list(shared_hot.get_xticks()) == [1, 32, 128]
    [span] = [patch for patch in shared_hot.patches if patch.get_alpha() == 0.08]
    assert span.get_x() == pytest.approx(64.0)  # from between 32 and 128 (geometric mean) on


# --- memory --------------------------------------------------------------------------------

MEMORY_COLUMNS = {"peak_live_objects": "integer", "free_delay_mean_ops": "number", "free_delay_max_ops": "integer"}


def with_memory_columns(catalogue):
    """The catalogue with the memory columns as measurements, as refscale declares them once it
    writes them (the binary's own declaration is used when it has one)."""
    roles, types = dict(catalogue.roles), dict(catalogue.types)
    for column, kind in MEMORY_COLUMNS.items():
        roles.setdefault(column, "measurement")
        types.setdefault(column, kind)
    return replace(catalogue, roles=roles, types=types)


def memory_rows():
    """fixture.csv with the three memory columns filled in by rule, not measured: a deferring
    scheme (handle-local here) keeps objects past their last reference, the others free at once."""
    rows = fixture_rows()
    for row in rows:
        deferring = row["scheme"] == "handle-local"
        objects, threads, rep = int(row["objects"]), int(row["threads"]), int(row["rep"])
        row["peak_live_objects"] = str(objects * threads * (8 if deferring else 1) + rep)
        row["free_delay_mean_ops"] = f"{(12.5 * threads + rep) if deferring else 0.0}"
        row["free_delay_max_ops"] = str((200 * threads + rep) if deferring else 0)
    return rows


def test_memory_figure_plots_throughput_against_peak_live_objects_and_free_delay(tmp_path, catalogue):
    catalogue = with_memory_columns(catalogue)
    assert all(catalogue.role(column) == "measurement" for column in MEMORY_COLUMNS)
    rows = memory_rows()
    path = write_rows(tmp_path / "memory.csv", rows)
    assert KINDS == ["throughput", "speedup", "ns-per-op", "handle-table", "tagging", "memory"], "written last"
    figure = draw("memory", path, catalogue)
    assert [axis.get_title() for axis in figure.axes] == [
        "workload: private: throughput against retained objects", "workload: private: throughput against free delay",
        "workload: shared-hot: throughput against retained objects", "workload: shared-hot: throughput against free delay"]
    peak_axis, delay_axis = figure.axes[2:]
    valid = [row for row in rows if row["valid"] == "true" and row["workload"] == "shared-hot"]

    def medians(scheme, column, objects="4"):
        return [statistics.median(float(row[column]) for row in valid if row["scheme"] == scheme
                                  and row["threads"] == str(count) and row["objects"] == objects) for count in (1, 2, 3)]

    handle_local = line(peak_axis, "handle-local objects=4")
    assert list(handle_local.get_xdata()) == pytest.approx(medians("handle-local", "peak_live_objects"))
    assert list(handle_local.get_ydata()) == pytest.approx([value / 1e6 for value in medians("handle-local", "ops_per_s")])
    assert list(line(delay_axis, "atomic").get_xdata()) == [0.0, 0.0, 0.0]
    assert delay_axis.get_xscale() == "symlog", "0, a free at once, stays on the axis"
    ticks = [mark for mark in delay_axis.get_lines() if mark.get_label() == "_max" and mark.get_marker() == "|"]
    assert sorted(mark.get_xdata()[0] for mark in ticks if mark.get_color() == handle_local.get_color()) == \
        pytest.approx(sorted(medians("handle-local", "free_delay_max_ops")))
    assert "free delay: mean to maximum (tick)" in legend_labels(figure)
    assert "Free delay: operations between an object's last reference being dropped" in figure_text(figure)


def test_memory_figure_is_left_out_without_the_columns_or_with_them_blank(tmp_path, catalogue, figures):
    assert "memory" in figures.figures, "the fixture has the columns, as refscale writes them"
    rows = memory_rows()
    without = [{column: value for column, value in row.items() if column not in MEMORY_COLUMNS} for row in rows]
    assert draw("memory", write_rows(tmp_path / "without.csv", without), catalogue) is None
    for row in rows:
        row["peak_live_objects"] = row["free_delay_mean_ops"] = row["free_delay_max_ops"] = ""
    assert draw("memory", write_rows(tmp_path / "blank.csv", rows), with_memory_columns(catalogue)) is None


def test_memory_columns_the_catalogue_does_not_know_draw_no_memory_figure(tmp_path, catalogue):
    """Rows from a later refscale read with an earlier one: the columns are text parameters."""
    roles = {column: role for column, role in catalogue.roles.items() if column not in MEMORY_COLUMNS}
    types = {column: kind for column, kind in catalogue.types.items() if column not in MEMORY_COLUMNS}
    earlier = replace(catalogue, roles=roles, types=types)
    path = write_rows(tmp_path / "later.csv", memory_rows())
    assert draw("memory", path, earlier) is None
    assert set(read_table([str(path)], earlier).unknown) == set(MEMORY_COLUMNS)
