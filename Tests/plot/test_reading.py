"""Reading CSV files with the catalogue's types: text stays text, integers with blanks are
nullable integers, booleans are read as pandas and spreadsheets write them."""

import pandas
import pytest
from conftest import FIXTURE, fixture_rows, read_table, write_rows


def test_columns_get_the_catalogues_types(table, catalogue):
    rows = table.rows
    for column in table.columns:
        kind = catalogue.type(column)
        dtype = rows[column].dtype
        if kind == "integer":
            assert dtype == "Int64", column
        elif kind == "number":
            assert dtype == "float64", column
        elif kind == "boolean":
            assert dtype == "boolean", column
        else:
            assert pandas.api.types.is_string_dtype(dtype), column
    assert catalogue.type("swift_version") == "text" and set(rows["swift_version"]) == {"6.3"}
    assert catalogue.type("cpus") == "text"
    assert list(rows["cpus"]) == [row["cpus"] for row in fixture_rows()] and any(";" in cpus for cpus in rows["cpus"])
    assert catalogue.type("git_commit") == "text"
    assert rows["hit_rate"].isna().sum() == sum(1 for row in fixture_rows() if row["hit_rate"] == "")
    # Blank where a scheme has no table; 0 on private, where handle-local's timed loop makes no opens.
    assert list(rows["table_hits"].isna()) == [row["scheme"] != "handle-local" for row in fixture_rows()]
    counted = rows[rows["table_hits"].notna()]
    assert counted[counted["workload"] == "shared-hot"]["table_hits"].gt(0).all()
    assert counted[counted["workload"] == "private"]["table_hits"].eq(0).all()


def test_a_csv_saved_back_by_pandas_reads_the_same(tmp_path, table, catalogue):
    """pandas writes booleans as True/False and integer columns with blanks as 4.0."""
    saved = pandas.read_csv(FIXTURE)
    assert saved["valid"].dtype == bool and saved["table_hits"].dtype == float
    path = tmp_path / "saved.csv"
    saved.to_csv(path, index=False)
    text = path.read_text()
    assert "True" in text and ".0," in text
    again = read_table([str(path)], catalogue)
    assert len(again.valid) == len(table.valid) and len(again.invalid) == len(table.invalid) == 1
    for column in ("threads", "objects", "table_hits", "valid", "oversubscribed", "ops_per_s"):
        assert again.rows[column].equals(table.rows[column]), column


def test_booleans_in_any_case_and_blank_valid_is_not_valid(tmp_path, catalogue):
    rows = fixture_rows()[:4]
    rows[0]["valid"], rows[1]["valid"], rows[2]["valid"], rows[3]["valid"] = "TRUE", "True", "", "False"
    table = read_table([str(write_rows(tmp_path / "cases.csv", rows))], catalogue)
    assert list(table.rows["valid"].astype(object).where(table.rows["valid"].notna(), None)) == [True, True, None, False]
    assert len(table.valid) == 2 and len(table.invalid) == 2


def test_files_with_different_columns_are_read_together_blank_where_a_file_lacks_one(tmp_path, catalogue):
    rows = fixture_rows()
    first = write_rows(tmp_path / "a.csv", rows[:5])
    older = [{column: value for column, value in row.items() if column != "violations"} for row in rows[5:]]
    second = write_rows(tmp_path / "b.csv", older)
    table = read_table([str(first), str(second)], catalogue)
    assert len(table.rows) == len(rows)
    assert table.rows["violations"].iloc[5:].isna().all()
    assert table.origins[5] == (str(second), 2)


def test_no_valid_row_is_bad_input(tmp_path, catalogue):
    from refscale_plot.errors import InputError

    rows = fixture_rows()[:3]
    for row in rows:
        row["valid"] = "false"
    with pytest.raises(InputError, match=r"no valid rows to plot \(3 rows have valid != true\)"):
        read_table([str(write_rows(tmp_path / "none.csv", rows))], catalogue)


def test_a_seed_beyond_64_bits_and_a_blank_thread_count(tmp_path, catalogue):
    from refscale_plot.errors import InputError

    rows = fixture_rows()[:3]
    rows[0]["seed"] = str(2 ** 64 - 1)
    table = read_table([str(write_rows(tmp_path / "seed.csv", rows))], catalogue)
    assert list(table.rows["seed"]) == [2 ** 64 - 1, 1, 1]
    rows[1]["threads"] = ""
    with pytest.raises(InputError, match=r"blank.csv:3: threads must be a positive integer: ''"):
        read_table([str(write_rows(tmp_path / "blank.csv", rows))], catalogue)


HEADER_ONLY = "scheme,workload,threads,rep,ops,elapsed_s,ops_per_s,ns_per_op,valid\n"


@pytest.mark.parametrize("row, message", [
    ("atomic,private,1.5,1,1,1,1,1,true", "x.csv:2: threads is not an integer: '1.5'"),
    ("atomic,private,1,1,1,1,1,1,yes", "x.csv:2: valid is not true or false: 'yes'"),
    ("atomic,private,1,1,1,1,fast,1,true", "x.csv:2: ops_per_s is not a number: 'fast'"),
    ("atomic,private,1,1,1,1,,1,true", "x.csv:2: ops_per_s is not a number: ''"),
    ("atomic,private,0,1,1,1,1,1,true", "x.csv:2: threads must be a positive integer: '0'"),
])
def test_a_value_that_does_not_have_its_columns_type_is_named_with_its_line(tmp_path, catalogue, row, message):
    """test_cli checks that such an error is one line and exit 1; here, each kind of value."""
    from refscale_plot.errors import InputError

    path = tmp_path / "x.csv"
    path.write_text(HEADER_ONLY + row + "\n")
    with pytest.raises(InputError) as caught:
        read_table([str(path)], catalogue)
    assert str(caught.value) == f"{path}:{message.split(':', 1)[1]}"
