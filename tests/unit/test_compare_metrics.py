"""Metrics files read as flat dotted keys (JSON, YAML, TOML, CSV, TSV), params flattened, and the
arithmetic and text forms that metrics and params comparisons share."""

from __future__ import annotations

import pytest

from mlxkit.compare.metrics import parse_metrics
from mlxkit.compare.params import flatten_params
from mlxkit.compare.tables import Pair, aligned, cell, change, csv_text, markdown, paired, percent, relative_change, same
from mlxkit.errors import InvalidFileError, UnsupportedFormatError


def refused(data: bytes, path: str, **options: bool) -> InvalidFileError:
    with pytest.raises(InvalidFileError) as info:
        parse_metrics(data, path, f"{path}@HEAD", **options)
    return info.value


# -- JSON, YAML, TOML --------------------------------------------------------------------------------


def test_json_metrics_are_flattened_to_dotted_keys_and_lists_left_out():
    data = b'{"acc": 0.9, "train": {"loss": 0.1, "epochs": 3, "ok": true}, "history": [1, 2], "note": null}'

    assert parse_metrics(data, "m.json", "m.json") == {"acc": 0.9, "note": None, "train.epochs": 3, "train.loss": 0.1, "train.ok": True}


def test_yaml_and_toml_metrics_read_like_json():
    assert parse_metrics(b"acc: 0.9\neval:\n  f1: 0.5\n", "m.yaml", "m.yaml") == {"acc": 0.9, "eval.f1": 0.5}
    assert parse_metrics(b"acc = 0.9\n[eval]\nf1 = 0.5\n", "m.toml", "m.toml") == {"acc": 0.9, "eval.f1": 0.5}


def test_metrics_file_that_is_not_a_mapping_is_invalid_naming_file_and_revision():
    assert str(refused(b"[1, 2]", "m.json")) == "invalid file 'm.json@HEAD': a metrics file must hold a mapping of names to values, not a list"
    assert refused(b"", "m.yaml").problem == "a metrics file must hold a mapping of names to values, not nothing"


def test_malformed_json_metrics_name_the_line():
    error = refused(b'{"acc": 0.9,\n}', "m.json")
    assert (error.source, error.line) == ("m.json@HEAD", 2)


def test_metrics_file_of_unknown_format_is_refused():
    with pytest.raises(UnsupportedFormatError) as info:
        parse_metrics(b"0.9\n", "metrics.txt", "metrics.txt@v1")
    assert info.value.message == "'metrics.txt@v1' is not a metrics file mlx reads"


# -- CSV and TSV ---------------------------------------------------------------------------------------


def test_csv_metrics_are_the_last_row_by_column_with_numbers_as_numbers():
    data = b"epoch,loss,acc,note\n1,0.5,0.7,warm\n2,0.25,1e-1,\n"

    assert parse_metrics(data, "log.csv", "log.csv") == {"epoch": 2, "loss": 0.25, "acc": 0.1}


def test_csv_all_rows_are_keyed_by_row_number_from_zero():
    data = b"epoch,loss\n1,0.5\n\n2,0.25\n"

    assert parse_metrics(data, "log.csv", "log.csv", all_rows=True) == {
        "row.0.epoch": 1, "row.0.loss": 0.5, "row.1.epoch": 2, "row.1.loss": 0.25,
    }  # fmt: skip


def test_tsv_metrics_split_on_tabs_and_keep_text_cells():
    assert parse_metrics(b"\xef\xbb\xbfname\tscore\nbest, so far\t007\n", "s.tsv", "s.tsv") == {"name": "best, so far", "score": 7}


def test_csv_with_a_header_only_holds_no_metrics():
    assert parse_metrics(b"epoch,loss\n", "log.csv", "log.csv") == {}
    assert parse_metrics(b"", "log.csv", "log.csv") == {}


def test_csv_row_longer_than_its_header_is_invalid_naming_the_line():
    error = refused(b"a,b\n1,2\n1,2,3\n", "log.csv")
    assert (error.line, error.problem) == (3, "3 cells, but the header names 2 columns")


def test_csv_header_naming_a_column_twice_is_invalid():
    assert refused(b"a,a\n1,2\n", "log.csv").problem == "the header names the column 'a' twice"
    assert refused(b"a,\n1,2\n", "log.csv").problem == "column 2 of the header has no name"


def test_csv_values_that_only_resemble_numbers_stay_text():
    data = b"a,b,c,d\nnan,inf,1.2.3,0x10\n"
    assert parse_metrics(data, "m.csv", "m.csv") == {"a": "nan", "b": "inf", "c": "1.2.3", "d": "0x10"}


# -- params ----------------------------------------------------------------------------------------------


def test_params_are_flattened_with_lists_and_empty_mappings_as_values():
    data = {"train": {"lr": 0.1, "layers": [64, 32], "extra": {}}, "seed": 1, 2: "two"}
    assert flatten_params(data) == {"train.lr": 0.1, "train.layers": [64, 32], "train.extra": {}, "seed": 1, "2": "two"}


# -- arithmetic ------------------------------------------------------------------------------------------


def test_change_and_relative_change_of_numbers():
    assert change(2, 5) == 3 and isinstance(change(2, 5), int)
    assert relative_change(0.8, 0.9) == pytest.approx(0.125)
    assert relative_change(-2, -1) == pytest.approx(0.5)  # relative to |old|: a rise is positive


def test_relative_change_from_zero_is_zero_to_zero_and_none_otherwise():
    assert relative_change(0, 0) == 0.0
    assert relative_change(0, 5) is None
    assert relative_change(0.0, -1) is None


def test_values_that_are_not_numbers_have_no_change():
    for old, new in (("a", "b"), (True, False), (None, 1), (1, "2"), ([1], [2])):
        assert (change(old, new), relative_change(old, new)) == (None, None)


def test_booleans_differ_from_numbers_and_ints_equal_floats():
    assert not same(True, 1)
    assert same(1, 1.0)
    assert same(False, False)


def test_paired_lists_changed_keys_sorted_with_numbers_as_numbers():
    old = {"m.json": {"row.2.a": 1, "row.10.a": 1, "same": 1, "gone": None}}
    new = {"m.json": {"row.2.a": 2, "row.10.a": 2, "same": 1}, "n.json": {"x": None}}

    assert paired(old, new, include_unchanged=False) == [
        Pair("m.json", "gone", None, None, True),
        Pair("m.json", "row.2.a", 1, 2, True),
        Pair("m.json", "row.10.a", 1, 2, True),
        Pair("n.json", "x", None, None, True),
    ]
    assert Pair("m.json", "same", 1, 1, False) in paired(old, new, include_unchanged=True)


# -- text ------------------------------------------------------------------------------------------------


def test_cell_rounds_floats_to_significant_digits_only():
    assert [cell(0.123456789), cell(12345.678), cell(0.1 + 0.2), cell(1234567)] == ["0.12346", "12346", "0.3", "1234567"]
    assert cell(0.123456789, precision=2) == "0.12"
    assert cell(0.1 + 0.2, precision=None) == "0.30000000000000004"


def test_cell_shows_absence_booleans_and_structures_plainly():
    assert [cell(None), cell(True), cell("text"), cell([1, "a"]), cell({"b": 1, "a": 2})] == ["-", "true", "text", '[1, "a"]', '{"a": 2, "b": 1}']


def test_percent_is_signed_and_rounded():
    assert [percent(0.0625), percent(-0.5), percent(0.0), percent(None), percent(1 / 3, 3)] == ["+6.25%", "-50%", "+0%", "-", "+33.3%"]


def test_markdown_table_is_github_flavoured_with_pipes_escaped():
    assert markdown(["Path", "Metric"], [["m.json", "a|b"], ["x", "line\nbreak"]]) == (
        "| Path | Metric |\n| --- | --- |\n| m.json | a\\|b |\n| x | line break |\n"
    )


def test_csv_text_quotes_cells_that_need_it():
    assert csv_text(["Path", "Value"], [["m.json", "a, b"], ["n.json", 'say "hi"']]) == (
        'Path,Value\nm.json,"a, b"\nn.json,"say ""hi"""\n'
    )


def test_aligned_pads_columns_to_their_widest_cell_without_trailing_spaces():
    assert aligned(["Path", "v"], [["m.json", "0.5"], ["a", ""]]) == "Path    v\nm.json  0.5\na\n"
