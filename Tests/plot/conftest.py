"""Shared by the tests of Experiments/plot.py. fixture.csv is a small set of real runs (see
make-fixture.sh); the column catalogue comes from the refscale binary, $REFSCALE or the release
build (bin/test builds it before it runs these tests), so the tests read the same roles and
orders plot.py reads."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SCRIPT = ROOT / "Experiments" / "plot.py"
FIXTURE = HERE / "fixture.csv"
BUILT_BINARY = ROOT / ".build" / "release" / "refscale"

sys.path.insert(0, str(SCRIPT.parent))

from refscale_plot import catalogue as catalogues  # noqa: E402
from refscale_plot.figures import FIGURES, build_figures, measured_columns, pyplot  # noqa: E402
from refscale_plot.points import split_hosts  # noqa: E402
from refscale_plot.rows import read_table  # noqa: E402
from refscale_plot.series import build_series  # noqa: E402


def refscale_binary():
    """$REFSCALE, else the release build, else bin/refscale (which builds it)."""
    if os.environ.get("REFSCALE"):
        return os.environ["REFSCALE"]
    return str(BUILT_BINARY) if BUILT_BINARY.exists() else str(catalogues.DEFAULT_BINARY)


def plot_environment(**changes):
    environment = dict(os.environ, REFSCALE=refscale_binary())
    environment.update(changes)
    return environment


def run_plot(*arguments, **environment):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, arguments)], capture_output=True, text=True,
                          timeout=300, env=plot_environment(**environment))


@pytest.fixture(scope="session")
def catalogue_json():
    """The binary's own catalogue, as text."""
    result = subprocess.run([refscale_binary(), "columns", "--json"], capture_output=True, text=True, check=True)
    return result.stdout


@pytest.fixture(scope="session")
def catalogue():
    return catalogues.load({"REFSCALE": refscale_binary()})


@pytest.fixture(scope="session")
def table(catalogue):
    return read_table([str(FIXTURE)], catalogue)


@pytest.fixture(scope="session")
def figures(table, catalogue):
    [host] = build_figures(table, catalogue)
    return host


@pytest.fixture(autouse=True)
def close_new_figures():
    """Closes the figures a test made (those the fixtures share stay open for the other tests)."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    yield
    for number in set(plt.get_fignums()) - before:
        plt.close(number)


def hosts_of(path, catalogue):
    """The data of each host in the file, as the figures get it."""
    table = read_table([str(path)], catalogue)
    return split_hosts(table, catalogue, measured_columns(table, catalogue))


def draw(kind, path, catalogue):
    """One figure of the file's only host, or None when that figure has nothing to show."""
    [data] = hosts_of(path, catalogue)
    [figure] = [figure for figure in FIGURES if figure.KIND == kind]
    return figure.draw(pyplot(), data, build_series(data))


def draw_all(path, catalogue):
    """Every figure of every host of the file: [HostFigures]."""
    from refscale_plot.figures import build_figures

    return build_figures(read_table([str(path)], catalogue), catalogue)


def line_labels(path, catalogue, workload):
    """The labels of the lines of one workload, in the order the figures draw them."""
    [data] = hosts_of(path, catalogue)
    return [item.label for item in build_series(data)[workload]]


def fixture_rows():
    with FIXTURE.open(newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(path, rows, fieldnames=None):
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames or list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def legend_labels(figure):
    return [text.get_text() for legend in figure.legends for text in legend.get_texts()]


def figure_text(figure):
    """The figure's free text (the caption), with its line breaks as spaces."""
    return " ".join(" ".join(text.get_text().split()) for text in figure.texts)


def point_of(points, **values):
    """The one point whose configuration has these values (threads as a number)."""
    threads = values.pop("threads", None)
    [point] = [point for point in points
               if all(point.values.get(column) == value for column, value in values.items())
               and (threads is None or point.threads == threads)]
    return point
