"""Reading refscale CSV files into one table whose columns have the catalogue's types.

Two passes. The first reads every file with the csv module and checks its shape (a header with
refscale's columns, as many fields in each row as in the header), naming the file and line of
the first problem; it needs no catalogue, so a bad file is reported before refscale is run or
built. The second gives each column its catalogue type in pandas:
- `text` stays text, so `swift_version` 6.3 and `cpus` 0;1 are not read as numbers;
- `integer` is a nullable integer (blank where a scheme has no such count); `4.0`, as pandas
  writes an integer column with blanks back, is the integer 4;
- `number` is a float, blank as NaN;
- `boolean` takes true and false in any case (`True`, as pandas writes it; `TRUE`, as
  spreadsheets do), blank as missing.
A column the catalogue does not know is text.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field

from .errors import InputError

# The columns every refscale CSV has (DESIGN.md, Output), which the figures read.
REQUIRED_COLUMNS = [
    "scheme", "workload", "threads", "rep", "ops", "elapsed_s", "ops_per_s", "ns_per_op", "valid",
]

INTEGER_TEXT = r"[+-]?\d+(\.0*)?"
BOOLEAN_TEXT = {"true": True, "false": False}


@dataclass
class RawFile:
    """One file's header and rows as text, with the line each row ends on."""

    path: str
    header: list
    records: list = field(default_factory=list)
    lines: list = field(default_factory=list)


def read_files(paths):
    """Reads and checks the shape of every file: [RawFile]; InputError naming the first problem."""
    return [_read_file(path) for path in paths]


def _read_file(path):
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory, not a CSV file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or header == [] or all(cell.strip() == "" for cell in header):
                raise InputError(f"{path}: empty file, expected refscale's CSV header")
            missing = [column for column in REQUIRED_COLUMNS if column not in header]
            if missing:
                raise InputError(f"{path}: not a refscale CSV file: missing column(s) {', '.join(missing)}")
            repeated = sorted({column for column in header if header.count(column) > 1})
            if repeated:
                raise InputError(f"{path}: column(s) named twice in the header: {', '.join(repeated)}")
            raw = RawFile(path=path, header=header)
            for record in reader:
                if not record:
                    continue
                if len(record) != len(header):
                    raise InputError(f"{path}:{reader.line_num}: {len(record)} fields, the header has {len(header)}")
                raw.records.append(record)
                raw.lines.append(reader.line_num)
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file") from None
    except csv.Error as error:
        raise InputError(f"{path}: malformed CSV: {error}") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error.strerror}") from None
    if not raw.records:
        raise InputError(f"{path}: no rows below the header")
    return raw


@dataclass
class Table:
    """Every row of every file, typed; `valid` and `invalid` split them on the valid column."""

    rows: object            # pandas DataFrame, one row per CSV row, in file order
    columns: list           # the files' columns, in first-seen order
    unknown: list           # columns the catalogue does not know (read as text parameters)
    origins: list           # (path, line) of each row
    paths: list

    @property
    def valid(self):
        return self.rows[self.rows["valid"].fillna(False).astype(bool)]

    @property
    def invalid(self):
        return self.rows[~self.rows["valid"].fillna(False).astype(bool)]


def read_table(paths, catalogue):
    """read_files, then typed: the Table of every file; InputError for the first bad value."""
    return typed_table(read_files(paths), catalogue)


def typed_table(files, catalogue):
    import pandas

    columns = []
    for raw in files:
        columns += [column for column in raw.header if column not in columns]
    frames = [pandas.DataFrame(raw.records, columns=raw.header, dtype=object).reindex(columns=columns, fill_value="")
              for raw in files]
    text = pandas.concat(frames, ignore_index=True)
    origins = [(raw.path, line) for raw in files for line in raw.lines]
    rows = pandas.DataFrame(index=text.index)
    for column in columns:
        rows[column] = _typed(text[column], catalogue.type(column), column, origins)
    threads = rows["threads"]
    _first_bad(threads.isna() | (threads < 1), text["threads"], "threads must be a positive integer", origins)
    valid = rows["valid"].fillna(False).astype(bool)
    _first_bad(valid & rows["ops_per_s"].isna(), text["ops_per_s"], "ops_per_s is not a number", origins)
    table = Table(rows=rows, columns=columns, unknown=[column for column in columns if not catalogue.knows(column)],
                  origins=origins, paths=[raw.path for raw in files])
    if table.valid.empty:
        raise InputError(f"no valid rows to plot ({len(table.invalid)} rows have valid != true)")
    return table


def _typed(text, kind, column, origins):
    import pandas

    if kind not in ("integer", "number", "boolean"):
        return text.astype(str)
    stripped = text.str.strip()
    blank = stripped == ""
    if kind == "integer":
        numeric = pandas.to_numeric(stripped.where(~blank, None), errors="coerce").notna()
        _first_bad(~blank & ~numeric, text, f"{column} is not a number", origins)
        _first_bad(~blank & ~stripped.str.fullmatch(INTEGER_TEXT), text, f"{column} is not an integer", origins)
        whole = stripped.str.replace(r"\.0*$", "", regex=True)
        try:
            return pandas.array([None if empty else int(value) for value, empty in zip(whole, blank)], dtype="Int64")
        except OverflowError:  # beyond 64 bits (a seed near 2^64): kept as Python integers
            return pandas.Series([None if empty else int(value) for value, empty in zip(whole, blank)],
                                 index=text.index, dtype=object)
    if kind == "number":
        numbers = pandas.to_numeric(stripped.where(~blank, None), errors="coerce")
        _first_bad(~blank & numbers.isna() & (stripped.str.lower() != "nan"), text, f"{column} is not a number", origins)
        return numbers.astype(float)
    lowered = stripped.str.lower()
    _first_bad(~blank & ~lowered.isin(list(BOOLEAN_TEXT)), text, f"{column} is not true or false", origins)
    return pandas.array([None if empty else BOOLEAN_TEXT[value] for value, empty in zip(lowered, blank)],
                        dtype="boolean")


def _first_bad(mask, text, problem, origins):
    flags = mask.fillna(False).to_numpy(dtype=bool)
    if flags.any():
        index = int(flags.nonzero()[0][0])
        path, line = origins[index]
        raise InputError(f"{path}:{line}: {problem}: {text.iloc[index]!r}")


def cell_text(value):
    """A typed cell as the text a label shows: integers without a decimal point, numbers in their
    shortest form, booleans as refscale writes them, missing values blank."""
    import numpy
    import pandas

    if value is None or value is pandas.NA or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (bool, numpy.bool_)):
        return "true" if value else "false"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def column_text(series):
    """cell_text of each cell of a typed column, by whole columns where the type allows."""
    if series.dtype == "boolean":
        return series.map({True: "true", False: "false"}).fillna("").tolist()
    if series.dtype == "Int64":
        return series.astype("string").fillna("").tolist()
    if series.dtype != float and series.dtype != object:
        return series.fillna("").astype(str).tolist()
    return [cell_text(value) for value in series]
