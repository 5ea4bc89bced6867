"""From valid rows to points: a point is one configuration, its repetitions summarised by a
median and an interval (intervals.py) for each measured column the figures draw.

Rows are repetitions of one configuration when they agree on every column that is not a
measurement or a counter (so a new parameter column splits points by itself). The rows of each
host make one set of figures. A parameter, or a machine column other than host that varies
within one host (two builds' git_commit), may name a line; coordinates only place points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .intervals import MISSING, estimate
from .rows import column_text

HOST = "host"
SPLITTING_ROLES = ("parameter", "coordinate", "machine")
NAMING_ROLES = ("parameter", "machine")


@dataclass
class Point:
    """The repetitions of one configuration."""

    threads: int
    oversubscribed: bool
    reps: int           # valid rows, i.e. repetitions
    values: dict        # the configuration: column -> text, for every column that splits points
    estimates: dict     # measured column -> Estimate

    def measure(self, column):
        return self.estimates.get(column, MISSING)

    @property
    def ops(self):
        return self.measure("ops_per_s")

    @property
    def ns(self):
        return self.measure("ns_per_op")

    @property
    def hit(self):
        return self.measure("hit_rate")


def splitting_columns(table, catalogue):
    return [column for column in table.columns if catalogue.role(column) in SPLITTING_ROLES]


def group_points(rows, key_columns, measured_columns):
    """One Point per distinct configuration among `rows` (valid rows), in first-seen order."""
    import pandas

    if rows.empty:
        return []
    keys = pandas.DataFrame({column: column_text(rows[column]) for column in key_columns}, index=rows.index)
    points = []
    for key, members in keys.groupby(key_columns, sort=False):
        values = dict(zip(key_columns, key))
        measured = rows.loc[members.index]
        points.append(Point(
            threads=int(values["threads"]),
            oversubscribed=values.get("oversubscribed", "") == "true",
            reps=len(members),
            values=values,
            estimates={column: estimate(measured[column].astype("Float64").to_numpy(dtype=float, na_value=math.nan))
                       for column in measured_columns},
        ))
    return points


@dataclass
class HostData:
    """What one host's figures draw."""

    host: str
    points: list
    invalid: list          # rows with valid != true: dicts of text
    naming_columns: list   # columns that may name a line
    runs: int
    machine: dict          # machine column -> its value, blank when it varies within the host
    dates: tuple           # first and last day of the rows
    catalogue: object


def split_hosts(table, catalogue, measured_columns):
    """The data of each host, in first-seen order; a host with only invalid rows has no points."""
    key_columns = splitting_columns(table, catalogue)
    naming = [column for column in key_columns if catalogue.role(column) in NAMING_ROLES and column != HOST]
    machine_columns = [column for column in table.columns if catalogue.role(column) == "machine"]
    hosts = column_text(table.rows[HOST]) if HOST in table.columns else [""] * len(table.rows)
    valid = table.rows["valid"].fillna(False).astype(bool).to_numpy()
    result = []
    for host in dict.fromkeys(hosts):
        mine = [index for index, name in enumerate(hosts) if name == host]
        valid_rows = table.rows.iloc[[index for index in mine if valid[index]]]
        invalid_rows = table.rows.iloc[[index for index in mine if not valid[index]]]
        invalid = [dict(zip(table.columns, cells))
                   for cells in zip(*(column_text(invalid_rows[column]) for column in table.columns))]
        described = valid_rows if not valid_rows.empty else table.rows.iloc[mine]
        machine = {}
        for column in machine_columns:
            seen = set(column_text(described[column]))
            machine[column] = seen.pop() if len(seen) == 1 else ""
        stamps = sorted(stamp[:10] for stamp in column_text(valid_rows["timestamp"]) if stamp) \
            if "timestamp" in table.columns else []
        result.append(HostData(
            host=host or "unknown host",
            points=group_points(valid_rows, key_columns, measured_columns),
            invalid=invalid,
            naming_columns=naming,
            runs=len(valid_rows),
            machine=machine,
            dates=(stamps[0], stamps[-1]) if stamps else ("", ""),
            catalogue=catalogue,
        ))
    return result
