"""Figures of refscale CSV files; Experiments/plot.py is the command, README's "Plots and
reports" describes the figures.

    rows.py       reading CSV files into a typed table (types from the catalogue)
    catalogue.py  column roles and types, scheme and workload order, from `refscale columns --json`
    intervals.py  the median of repetitions and its confidence interval
    points.py     rows grouped into points (configurations), per host
    series.py     points joined into labelled, coloured lines
    layout.py     what every figure shares: titles, captions, axes, legends
    figures/      one module per figure
    output.py     writing PNG and SVG files, all or none
    cli.py        the command line
"""
