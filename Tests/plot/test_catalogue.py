"""plot.py reads column roles, types and the scheme and workload orders from the binary's
catalogue, and classifies every column as the binary does; colours follow the registry order."""

import json
import re
from pathlib import Path
from dataclasses import replace

from conftest import FIXTURE, draw, fixture_rows, line_labels, read_table, write_rows

from refscale_plot import catalogue as catalogues
from refscale_plot.points import split_hosts, splitting_columns


def test_every_column_has_the_role_and_type_the_binary_gives_it(catalogue, catalogue_json):
    document = json.loads(catalogue_json)
    assert document["columns"], "the binary lists its columns"
    for column in document["columns"]:
        assert catalogue.role(column["name"]) == column["role"], column["name"]
        assert catalogue.type(column["name"]) == column["type"], column["name"]
    assert set(catalogue.roles) == {column["name"] for column in document["columns"]}
    assert list(catalogue.schemes) == document["schemes"]
    assert list(catalogue.workloads) == document["workloads"]


def test_points_split_on_exactly_the_parameter_coordinate_and_machine_columns_the_binary_names(
        catalogue, catalogue_json, table):
    document = json.loads(catalogue_json)
    roles = {column["name"]: column["role"] for column in document["columns"]}
    splitting = splitting_columns(table, catalogue)
    assert set(splitting) == {name for name, role in roles.items()
                              if role in ("parameter", "coordinate", "machine") and name in table.columns}
    assert not {name for name in splitting if roles[name] in ("measurement", "counter")}
    [data] = split_hosts(table, catalogue, ["ops_per_s"])
    assert set(data.naming_columns) == {name for name, role in roles.items()
                                        if role in ("parameter", "machine") and name != "host" and name in table.columns}


def readme_columns():
    """The columns README.md's "The CSV file" names, in its order (the binary's catalogue is not
    read: the fixture and the catalogue are both checked against the documentation)."""
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## The CSV file", 1)[1].split("`pandas.read_csv` loads", 1)[0]
    named = [name.strip() for quoted in re.findall(r"`([^`]+)`", section) for name in quoted.split(",")]
    return named


def test_the_fixture_has_the_columns_the_readme_names_in_its_order():
    """Otherwise make-fixture.sh has to be run again: the tests would plot a CSV refscale no
    longer writes."""
    header = list(fixture_rows()[0])
    named = readme_columns()
    documented = [name for index, name in enumerate(named) if name in header and name not in named[:index]]
    assert documented == header, f"in the fixture but not named by README, or out of its order: {set(header) - set(named)}"


def test_the_catalogue_gives_the_documented_columns_their_roles_and_types(catalogue):
    """Roles and types as README.md and DESIGN.md state them, written here by hand."""
    roles = {
        "parameter": ["scheme", "objects", "dup_depth", "gil_slice", "handle_index", "seed", "pin", "placement"],
        "coordinate": ["workload", "threads", "oversubscribed"],
        "measurement": ["ops", "elapsed_s", "ops_per_s", "ns_per_op", "valid", "run_ops", "validation_error"],
        "counter": ["atomic_rmw", "cas_retries", "table_hits", "table_misses", "local_dup_close", "fallbacks",
                    "evictions", "merges", "queued", "frees", "lock_handoffs", "merge_pauses", "merge_pause_ns"],
        "machine": ["host", "cpu_model", "online_cpus", "numa_nodes", "kernel", "swift_version", "git_commit", "build_config"],
    }
    for role, names in roles.items():
        for name in names:
            assert catalogue.role(name) == role, name
    types = {"threads": "integer", "objects": "integer", "ops_per_s": "number", "elapsed_s": "number",
             "valid": "boolean", "scheme": "text", "atomic_rmw": "integer", "shared_kind": "text"}
    for name, kind in types.items():
        assert catalogue.type(name) == kind, name
    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = text.split("## Schemes", 1)[1].split("\n## ", 1)[0]
    assert set(catalogue.schemes) == set(re.findall(r"^\| `([a-z-]+)` \|", table, re.M)), "the schemes of README's table"


def test_a_column_the_catalogue_does_not_know_is_a_parameter_that_names_lines(tmp_path, catalogue):
    rows = fixture_rows()
    for row in rows:
        row["new_knob"] = "7" if row["rep"] == "1" else "9"
    path = write_rows(tmp_path / "new-column.csv", rows)
    table = read_table([str(path)], catalogue)
    assert table.unknown == ["new_knob"]
    assert catalogue.role("new_knob") == "parameter" and catalogue.type("new_knob") == "text"
    assert line_labels(path, catalogue, "private")[:2] == ["atomic new_knob=7", "atomic new_knob=9"]


def test_scheme_colours_follow_the_registry_order_and_keep_the_earlier_colours(catalogue):
    earlier = {"handle-local": "#0072B2", "arena": "#009E73", "perthread": "#56B4E9", "biased": "#E69F00",
               "atomic": "#D55E00", "gil": "#8C564B", "nonatomic": "#CC79A7", "cpython": "#000000", "noop": "#8C8C8C"}
    for scheme, colour in earlier.items():
        if scheme in catalogue.schemes:
            assert catalogue.scheme_color(scheme) == colour, scheme
    later = [scheme for scheme in catalogue.schemes if scheme not in earlier]
    assert [catalogue.scheme_color(scheme) for scheme in later] == \
        catalogues.PALETTE[len(earlier):len(earlier) + len(later)], "schemes registered later: the next colours, in registry order"
    colours = [catalogue.scheme_color(scheme) for scheme in catalogue.schemes]
    assert len(set(colours)) == len(colours), "every registered scheme has a colour of its own"
    assert not set(colours) & set(catalogue.variant_colors()), "a scheme's second line never looks like another scheme"


def test_a_new_scheme_in_the_registry_gets_a_colour_of_its_own_and_its_place_with_no_edit(tmp_path, catalogue):
    grown = replace(catalogue, schemes=catalogue.schemes + ("fresh",))
    rows = [row for row in fixture_rows() if row["workload"] == "private"]
    for row in rows:
        if row["scheme"] == "atomic":
            row["scheme"] = "fresh"
    write_rows(tmp_path / "fresh.csv", rows)
    [axis] = draw("throughput", tmp_path / "fresh.csv", grown).axes
    containers = {container.get_label(): container for container in axis.containers}
    assert list(containers) == ["handle-local", "fresh"], "registry order: fresh is last"
    fresh = containers["fresh"].lines[0].get_color()
    assert fresh == grown.scheme_color("fresh") == catalogue.variant_colors()[0], "the first colour no scheme owned"
    assert fresh not in {catalogue.scheme_color(scheme) for scheme in catalogue.schemes}
    assert containers["handle-local"].lines[0].get_color() == catalogue.scheme_color("handle-local"), \
        "the schemes before it keep their colours"


def test_the_binary_is_refscale_when_set_else_bin_refscale_of_the_checkout():
    assert catalogues.binary({"REFSCALE": "/opt/refscale"}) == "/opt/refscale"
    assert catalogues.binary({}) == str(catalogues.CHECKOUT / "bin" / "refscale")
    assert (catalogues.CHECKOUT / "bin" / "refscale").exists()
    assert FIXTURE.is_relative_to(catalogues.CHECKOUT)
