"""refscale's column catalogue, read from the binary with `refscale columns --json`: each CSV
column's role and type, and the schemes and workloads in registry order.

plot.py keeps no list of columns, schemes or workloads of its own: `ColumnCatalogue.swift` and
`Registry.swift` are the one list, and a new column, scheme or workload reaches the figures with
no edit here. Roles, as the catalogue defines them:
- `parameter`: what was run; a parameter that varies within a scheme and workload names a line.
- `coordinate`: where a point sits (which panel, which x).
- `measurement`, `counter`: what a run measured; they never split repetitions apart.
- `machine`: the host and build a row came from (the figure's title).
A column the catalogue does not know (a later refscale's) is a text parameter.

The binary is `$REFSCALE` when set, else `bin/refscale` of this checkout, which builds the
release binary on first use.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError

ROLES = ("parameter", "coordinate", "measurement", "counter", "machine")
TYPES = ("text", "integer", "number", "boolean")
UNKNOWN_COLUMN_ROLE = "parameter"
UNKNOWN_COLUMN_TYPE = "text"

CHECKOUT = Path(__file__).resolve().parent.parent.parent
DEFAULT_BINARY = CHECKOUT / "bin" / "refscale"
BUILT_BINARY = CHECKOUT / ".build" / "release" / "refscale"
BINARY_VARIABLE = "REFSCALE"

# Colours in a fixed order of scheme names, so that a scheme keeps its colour when the registry
# gains a scheme before it. The first nine colours belong to the registry's schemes of November
# 2026 (EARLIER_SCHEMES), Okabe-Ito, safe for colour blindness, with noop grey and cpython black.
# The rest (Tol's muted palette) go to schemes registered later, in registry order with no edit
# here, then to a scheme's second and later lines.
EARLIER_SCHEMES = ("nonatomic", "gil", "atomic", "biased", "perthread", "handle-local", "arena", "noop", "cpython")
PALETTE = [
    "#CC79A7", "#8C564B", "#D55E00", "#E69F00", "#56B4E9", "#0072B2", "#009E73", "#8C8C8C", "#000000",
    "#117733", "#882255", "#44AA99", "#999933", "#AA4499", "#332288", "#DDCC77", "#661100",
]


@dataclass(frozen=True)
class Catalogue:
    roles: dict          # column -> role
    types: dict          # column -> type
    schemes: tuple       # registry order
    workloads: tuple     # registry order

    def role(self, column):
        return self.roles.get(column, UNKNOWN_COLUMN_ROLE)

    def type(self, column):
        return self.types.get(column, UNKNOWN_COLUMN_TYPE)

    def knows(self, column):
        return column in self.roles

    def scheme_rank(self, scheme):
        """Registry order first, then schemes it does not know by name."""
        return (self.schemes.index(scheme), "") if scheme in self.schemes else (len(self.schemes), scheme)

    def workload_rank(self, workload):
        return (self.workloads.index(workload), "") if workload in self.workloads else (len(self.workloads), workload)

    def scheme_colors(self):
        """Registered scheme -> colour: EARLIER_SCHEMES' own colours, then the next free colours
        to the other registered schemes in registry order."""
        colors = {scheme: PALETTE[EARLIER_SCHEMES.index(scheme)] for scheme in self.schemes if scheme in EARLIER_SCHEMES}
        later = [scheme for scheme in self.schemes if scheme not in EARLIER_SCHEMES]
        for index, scheme in enumerate(later):
            colors[scheme] = PALETTE[(len(EARLIER_SCHEMES) + index) % len(PALETTE)]
        return colors

    def scheme_color(self, scheme):
        """The scheme's own colour, or None for a scheme the registry does not list."""
        return self.scheme_colors().get(scheme)

    def variant_colors(self):
        """Colours for lines other than a scheme's main one: those no registered scheme owns."""
        owned = set(self.scheme_colors().values())
        return [color for color in PALETTE if color not in owned] or PALETTE


def parse(text, source):
    """A Catalogue from `refscale columns --json` output; InputError naming source when the
    document is not one."""
    def bad(problem):
        return InputError(f"{source}: not refscale's column catalogue: {problem}")

    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise bad(f"invalid JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(document, dict):
        raise bad("expected a JSON object")
    for key in ("columns", "schemes", "workloads"):
        if not isinstance(document.get(key), list):
            raise bad(f"no \"{key}\" list")
    roles, types = {}, {}
    for entry in document["columns"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise bad(f"a column without a name: {entry!r}")
        name = entry["name"]
        if entry.get("role") not in ROLES:
            raise bad(f"column {name}: role {entry.get('role')!r} is not one of {', '.join(ROLES)}")
        if entry.get("type") not in TYPES:
            raise bad(f"column {name}: type {entry.get('type')!r} is not one of {', '.join(TYPES)}")
        if name in roles:
            raise bad(f"column {name} is listed twice")
        roles[name], types[name] = entry["role"], entry["type"]
    for key in ("schemes", "workloads"):
        if not all(isinstance(name, str) and name for name in document[key]):
            raise bad(f"\"{key}\" holds something other than names")
    return Catalogue(roles=roles, types=types, schemes=tuple(document["schemes"]),
                     workloads=tuple(document["workloads"]))


def binary(environ=None):
    """The refscale to ask: $REFSCALE, else bin/refscale of this checkout."""
    environ = os.environ if environ is None else environ
    return environ.get(BINARY_VARIABLE) or str(DEFAULT_BINARY)


def load(environ=None):
    """Runs `refscale columns --json` and parses it; InputError with one line when that fails."""
    path = binary(environ)
    where = f"{BINARY_VARIABLE}={path}" if path != str(DEFAULT_BINARY) else path
    if path == str(DEFAULT_BINARY) and not BUILT_BINARY.exists():
        sys.stderr.write("plot.py: note: building refscale (release) to read its column catalogue; "
                         "the first build takes a few minutes\n")
    try:
        result = subprocess.run([path, "columns", "--json"], capture_output=True, text=True)
    except FileNotFoundError:
        raise InputError(f"{where}: no such file (set {BINARY_VARIABLE} to a refscale binary)") from None
    except PermissionError:
        raise InputError(f"{where}: not executable (set {BINARY_VARIABLE} to a refscale binary)") from None
    except OSError as error:
        raise InputError(f"{where}: cannot run: {error.strerror or error}") from None
    if result.returncode != 0:
        last = next((line.strip() for line in reversed(result.stderr.splitlines()) if line.strip()), "")
        raise InputError(f"{where} columns --json failed with exit code {result.returncode}"
                         + (f": {last}" if last else ""))
    return parse(result.stdout, f"{where} columns --json")
