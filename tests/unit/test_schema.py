"""Schema errors name the file, the line of the offending key, where it is, and what was expected."""

from __future__ import annotations

import pytest

from mlxkit.errors import InvalidFileError
from mlxkit.formats.schema import load_schema, validate
from mlxkit.formats.yamlio import load_yaml

HASH = "blake3:" + "a" * 64


def problem(text: str, schema: str, source: str = "f.yaml") -> InvalidFileError:
    with pytest.raises(InvalidFileError) as info:
        validate(load_yaml(text.encode(), source), schema)
    return info.value


def test_schema_accepts_a_valid_document():
    validate(load_yaml(f"format: 1\npath: raw\nhash: {HASH}\nsize: 3\n".encode(), "raw.mlx"), "pointer-1")


def test_schema_unknown_key_gets_did_you_mean_hint_and_its_own_line():
    error = problem(f"format: 1\npath: raw\nhash: {HASH}\nsize: 3\nfiels: 2\n", "pointer-1", "raw.mlx")
    assert str(error) == "invalid file 'raw.mlx:5': at 'the top level': unknown key 'fiels'"
    assert error.hint == "did you mean 'files'?"
    assert error.line == 5


def test_schema_unknown_key_with_nothing_close_lists_known_keys():
    error = problem(f"format: 1\nzzz: 0\npath: raw\nhash: {HASH}\nsize: 3\n", "pointer-1")
    assert error.line == 2
    assert error.problem == "at 'the top level': unknown key 'zzz'"
    assert error.hint == "known keys: files, format, hash, path, size, x"


def test_schema_nested_unknown_key_names_its_line_and_section():
    error = problem("core:\n  jobs: 2\ncache:\n  type: [copy]\n  tpye: [copy]\n", "config-1")
    assert str(error) == "invalid file 'f.yaml:5': at 'cache': unknown key 'tpye'"
    assert error.hint == "did you mean 'type'?"


def test_schema_wrong_type_names_the_line_of_the_key():
    error = problem(f"format: 1\npath: raw\nhash: {HASH}\nsize: lots\n", "pointer-1")
    assert str(error) == "invalid file 'f.yaml:4': at 'size': 'lots' is not of type 'integer'"


def test_schema_bool_is_not_an_integer():
    error = problem(f"format: 1\npath: raw\nhash: {HASH}\nsize: true\n", "pointer-1")
    assert (error.line, error.problem) == (4, "at 'size': True is not of type 'integer'")


def test_schema_missing_key_names_the_mapping_and_what_is_required():
    error = problem("format: 1\npath: raw\nsize: 3\n", "pointer-1")
    assert str(error) == "invalid file 'f.yaml:1': at 'the top level': 'hash' is required"


def test_schema_enum_lists_the_allowed_values():
    error = problem("core:\n  fsync: sometimes\n", "config-1")
    assert str(error) == (
        "invalid file 'f.yaml:2': at 'core.fsync': 'sometimes' is not one of 'batch', 'always', 'never'"
    )


def test_schema_list_item_error_names_the_item_line():
    error = problem("cache:\n  type:\n    - copy\n    - teleport\n", "config-1")
    assert error.line == 4
    assert error.problem == "at 'cache.type.1': 'teleport' is not one of 'reflink', 'hardlink', 'symlink', 'copy'"


def test_schema_reports_the_first_problem_in_document_order():
    error = problem(f"format: 1\npath: raw\nsize: -1\nhash: {HASH}\nextra: 1\n", "pointer-1")
    assert error.line == 3
    assert error.problem.startswith("at 'size': -1 is less than the minimum of 0")


def test_schema_unknown_key_before_a_type_error_is_reported_first():
    error = problem(f"format: 1\nextra: 1\npath: raw\nhash: {HASH}\nsize: x\n", "pointer-1")
    assert (error.line, error.problem) == (2, "at 'the top level': unknown key 'extra'")


def test_schema_unknown_key_that_yaml_reads_as_a_number_is_named_at_its_own_line():
    # jsonschema's message has no quotes around 1, and the line table keys it as the text '1'
    error = problem(f"format: 1\npath: raw\nhash: {HASH}\nsize: 3\n1: x\n", "pointer-1")
    assert (error.line, error.problem) == (5, "at 'the top level': unknown key '1'")


def test_schema_on_plain_data_names_the_source_without_a_line():
    with pytest.raises(InvalidFileError) as info:
        validate({"core": {"jobs": 0}}, "config-1", ".mlx/config.yaml")
    assert str(info.value) == "invalid file '.mlx/config.yaml': at 'core.jobs': 0 is less than the minimum of 1"
    assert info.value.line is None


def test_schema_top_level_of_the_wrong_type():
    error = problem("- a\n- b\n", "pointer-1")
    assert (error.line, error.problem) == (1, "at 'the top level': ['a', 'b'] is not of type 'object'")


@pytest.mark.parametrize("name", ["pointer-1", "tree-1", "config-1", "store-1"])
def test_every_shipped_schema_names_itself(name):
    schema = load_schema(name)
    assert schema["$id"] == f"mlx:{name}"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
