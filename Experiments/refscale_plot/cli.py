"""The command line: `plot.py FILE.csv... [--out DIR]`; a file of `refscale trace attribute --csv`
is told apart by its columns and drawn as its bar chart, and a cells file of `refscale validate`
as its ratio per cell. Usage errors exit 64, bad input (a file,
the column catalogue, the output directory) exits 1, each with one line on stderr and before any
figure is written; the paths written are printed, one a line."""

from __future__ import annotations

import argparse
import os
import sys

from . import attribution, validation
from . import catalogue as catalogues
from .errors import InputError
from .rows import read_files, typed_table

USAGE_EXIT = 64
INPUT_EXIT = 1


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"plot.py: error: {message}\n")
        sys.exit(USAGE_EXIT)


def main(argv=None):
    parser = OneLineParser(
        prog="plot.py",
        description="Plots refscale CSV files: throughput, speedup, ns/op, handle-table and memory figures, "
                    "a figure per trace file of the trace workload's rows, and the bars of a "
                    "`refscale trace attribute --csv` file and the ratios of a `refscale validate` cells file "
                    "(each told apart by its columns); "
                    f"PNG and SVG. Column roles and the scheme order come from `refscale columns --json` "
                    f"(${catalogues.BINARY_VARIABLE}, default bin/refscale).")
    parser.add_argument("csv", nargs="+", help="refscale CSV files (rows of several hosts may be mixed)")
    parser.add_argument("--out", help="directory for the figures (default: the first file's directory)")
    arguments = parser.parse_args(argv)
    out_dir = arguments.out or os.path.dirname(os.path.abspath(arguments.csv[0]))
    try:
        if os.path.exists(out_dir) and not os.path.isdir(out_dir):
            raise InputError(f"{out_dir}: --out is not a directory")
        attribution_paths = [path for path in arguments.csv if attribution.is_attribution(path)]
        validation_paths = [path for path in arguments.csv if validation.is_validation(path)]
        run_paths = [path for path in arguments.csv if path not in attribution_paths + validation_paths]
        attribution_rows = [attribution.read(path) for path in attribution_paths]
        validation_rows = [validation.read(path) for path in validation_paths]
        files = read_files(run_paths)
        from .figures import HostFigures, build_figures, pyplot
        from .output import write_figures

        host_figures = []
        if files:
            catalogue = catalogues.load()
            table = typed_table(files, catalogue)
            if table.unknown:
                sys.stderr.write("plot.py: note: columns refscale's catalogue does not know, read as parameters: "
                                 f"{', '.join(table.unknown)}\n")
            host_figures = build_figures(table, catalogue)
        for path, rows in zip(attribution_paths, attribution_rows):
            stem = os.path.splitext(os.path.basename(path))[0]
            host_figures.append(HostFigures(host=None, stem=stem,
                                            figures={attribution.KIND: attribution.draw(pyplot(), rows, path)}))
        for path, rows in zip(validation_paths, validation_rows):
            stem = os.path.splitext(os.path.basename(path))[0]
            host_figures.append(HostFigures(host=None, stem=stem,
                                            figures={validation.KIND: validation.draw(pyplot(), rows, path)}))
        paths = write_figures(run_paths or attribution_paths or validation_paths, host_figures, out_dir)
    except InputError as error:
        sys.stderr.write(f"plot.py: error: {error}\n")
        return INPUT_EXIT
    except OSError as error:
        where = error.filename or out_dir
        sys.stderr.write(f"plot.py: error: {where}: {error.strerror}\n" if error.strerror
                         else f"plot.py: error: {out_dir}: {error}\n")
        return INPUT_EXIT
    for path in paths:
        print(path)
    return 0
