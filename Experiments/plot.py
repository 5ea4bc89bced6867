#!/usr/bin/env python3
"""Plots refscale CSV files.

    python3 Experiments/plot.py FILE.csv [FILE.csv ...] [--out DIR]

Writes, for each host in the files, the figures README's "Plots and reports" lists as PNG and
SVG into DIR (default: the first file's directory). The code is the refscale_plot package beside
this file; which columns are parameters and which measurements, and the order of schemes and
workloads, come from `refscale columns --json` of $REFSCALE, or of bin/refscale.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from refscale_plot.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
