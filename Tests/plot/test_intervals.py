"""Each point is the median of its repetitions with a distribution-free 95% confidence interval;
with too few repetitions the figures say so and mark the point."""

import math
import random
import statistics

import pytest
from conftest import figure_text, fixture_rows, legend_labels, point_of

from refscale_plot.intervals import CONFIDENCE, MINIMUM_REPETITIONS, coverage, estimate
from refscale_plot.points import split_hosts


def test_the_interval_is_scipys_order_statistic_interval_of_the_median():
    from scipy.stats import quantile_test

    generator = random.Random(13)
    for n in range(1, 61):
        values = [generator.lognormvariate(0, 0.3) for _ in range(n)]
        ours = estimate(values)
        assert ours.median == statistics.median(values)
        theirs = quantile_test(values, q=statistics.median(values), p=0.5).confidence_interval(CONFIDENCE)
        if math.isnan(theirs.low):
            assert n < 6 and (ours.low, ours.high) == (min(values), max(values)), n
        else:
            assert (ours.low, ours.high) == (theirs.low, theirs.high), n
            assert ours.confidence >= CONFIDENCE


def test_the_interval_is_the_narrowest_that_reaches_95_percent():
    for n in range(6, 200):
        result = estimate([float(index) for index in range(n)])
        rank = int(result.low) + 1
        assert result.high == n - rank, "symmetric: x(k) to x(n+1-k)"
        assert coverage(n, rank) >= CONFIDENCE > coverage(n, rank + 1), n


def test_points_carry_median_and_interval_of_their_repetitions(table, catalogue):
    [data] = split_hosts(table, catalogue, ["ops_per_s"])
    six = [float(row["ops_per_s"]) for row in fixture_rows() if row["scheme"] == "atomic" and row["workload"] == "private"]
    point = point_of(data.points, scheme="atomic", workload="private", threads=1)
    assert point.reps == len(six) == 6
    assert (point.ops.median, point.ops.low, point.ops.high) == (statistics.median(six), min(six), max(six))
    assert point.ops.confidence == 1 - 2 / 2 ** 6
    three = [float(row["ops_per_s"]) for row in fixture_rows() if row["scheme"] == "noop" and row["threads"] == "1"]
    point = point_of(data.points, scheme="noop", workload="shared-hot", threads=1)
    assert (point.reps, point.ops.median, point.ops.low, point.ops.high) == (3, statistics.median(three), min(three), max(three))
    assert point.ops.confidence == 0.75 and not point.ops.few


def test_an_invalid_row_is_left_out_of_its_point_and_counted_in_every_caption(figures, table, catalogue):
    for kind, figure in figures.figures.items():
        assert "Invalid rows left out (valid != true): 1 (atomic shared-hot 2 thr rep 2)" in figure_text(figure), kind
    assert len(table.valid) == 40 and len(table.invalid) == 1
    [data] = split_hosts(table, catalogue, ["ops_per_s"])
    point = point_of(data.points, scheme="atomic", workload="shared-hot", threads=2)
    kept = [float(row["ops_per_s"]) for row in fixture_rows()
            if row["scheme"] == "atomic" and row["workload"] == "shared-hot" and row["threads"] == "2" and row["rep"] != "2"]
    assert point.reps == 2 and point.ops.few and math.isnan(point.ops.confidence)
    assert (point.ops.low, point.ops.high) == (min(kept), max(kept))


def test_captions_name_the_method_and_the_confidence_of_short_samples(figures):
    for kind, figure in figures.figures.items():
        text = figure_text(figure)
        assert "Points: median of 2–6 repetition(s); bars: distribution-free 95% confidence interval of the " \
               "median (order statistics)." in text, kind
        assert "Under 6 repetitions no such interval reaches 95%: bars span min–max, whose confidence is 75% " \
               "with 3." in text, kind
        assert f"Hollow markers: fewer than {MINIMUM_REPETITIONS} repetitions, bars span min–max and are no " \
               "interval." in text, kind


def test_points_with_too_few_repetitions_are_hollow_in_every_figure(figures):
    throughput = figures.figures["throughput"]
    shared_hot = throughput.axes[1]
    hollow = sorted((line.get_markeredgecolor(), tuple(int(x) for x in line.get_xdata())) for line in shared_hot.get_lines()
                    if line.get_label() == "_few")
    colours = {container.get_label(): container.lines[0].get_color() for container in shared_hot.containers}
    assert hollow == sorted([(colours["atomic"], (2,)), (colours["handle-local objects=16"], (1,))])
    assert all(line.get_markerfacecolor() == "white" for line in shared_hot.get_lines() if line.get_label() == "_few")
    assert not [line for line in throughput.axes[0].get_lines() if line.get_label() == "_few"], "6 repetitions each"
    for kind, figure in figures.figures.items():
        assert "hollow: fewer than 3 repetitions (bar: min–max)" in legend_labels(figure), kind
    [bars] = figures.figures["ns-per-op"].axes
    assert len([line for line in bars.get_lines() if line.get_label() == "_few"]) == 1, "handle-local objects=16"


@pytest.mark.parametrize("values, expected", [
    ([], (math.nan, math.nan, math.nan)),
    ([5.0], (5.0, 5.0, 5.0)),
    ([4.0, 6.0, math.nan], (5.0, 4.0, 6.0)),
])
def test_blank_values_are_left_out_and_one_value_is_its_own_range(values, expected):
    result = estimate(values)
    assert [value if not math.isnan(value) else "nan" for value in (result.median, result.low, result.high)] == \
        [value if not math.isnan(value) else "nan" for value in expected]
