"""The tidy files of refscale's own commands other than runs (`trace attribute --csv`, validate's
cells file): told apart from a run CSV by their header, read as dicts of text with each row checked
by its figure's module."""

from __future__ import annotations

import csv

from .errors import InputError


def has_columns(path, columns):
    """Whether the file's header has every one of `columns`; False for anything unreadable, so the
    run CSV reader reports what is wrong with it."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return bool(header) and set(columns) <= set(header)


def read(path, check):
    """The rows as dicts, each passed through `check(row)`, which converts it in place or returns
    the problem with it as text; InputError naming the file and line of the first bad row."""
    rows = []
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                if None in row or None in row.values():
                    raise InputError(f"{path}:{reader.line_num}: the row's fields do not match the header")
                problem = check(row)
                if problem:
                    raise InputError(f"{path}:{reader.line_num}: {problem}")
                rows.append(row)
    except (UnicodeDecodeError, csv.Error) as error:
        raise InputError(f"{path}: malformed CSV: {error}") from None
    if not rows:
        raise InputError(f"{path}: no rows below the header")
    return rows
