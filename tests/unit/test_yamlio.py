"""YAML is data, and only data: no aliases, anchors, tags or duplicate keys; every error names its line."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError
from mlxkit.formats import yamlio
from mlxkit.formats.yamlio import dump_yaml, load_yaml


def refused(text: bytes | str) -> InvalidFileError:
    with pytest.raises(InvalidFileError) as info:
        load_yaml(text, "f.yaml")
    return info.value


def test_load_yaml_returns_plain_data_and_source():
    document = load_yaml(b"a: 1\nb: [x, y]\nc: {d: true}\n", "f.yaml")
    assert document.data == {"a": 1, "b": ["x", "y"], "c": {"d": True}}
    assert document.source == "f.yaml"


def test_load_yaml_of_empty_document_is_none():
    assert load_yaml(b"", "f.yaml").data is None
    assert load_yaml(b"# only a comment\n", "f.yaml").data is None


def test_load_yaml_refuses_aliases():
    error = refused(b"a: 1\nb: *x\n")
    assert (error.line, error.problem) == (2, "aliases ('*name') are not allowed")


def test_load_yaml_refuses_anchors_naming_the_line():
    error = refused(b"a: 1\nb: &x [1, 2]\nc: *x\n")
    assert str(error) == "invalid file 'f.yaml:2': anchors ('&name') are not allowed"


def test_load_yaml_refuses_the_billion_laughs():
    text = b"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\n"
    assert refused(text).line == 1


@pytest.mark.parametrize(
    ("text", "tag"),
    [
        (b"a: 1\nb: !!python/object:os.system x\n", "tag:yaml.org,2002:python/object:os.system"),
        (b"a: 1\nb: !!python/object/apply:os.system [ls]\n", "tag:yaml.org,2002:python/object/apply:os.system"),
        (b"a: 1\nb: !!binary aGVsbG8=\n", "tag:yaml.org,2002:binary"),
        (b"a: 1\nb: !custom x\n", "!custom"),
        (b"a: 1\nb: !!str 1\n", "tag:yaml.org,2002:str"),
        (b"a: 1\nb: !!map {c: 1}\n", "tag:yaml.org,2002:map"),
        (b"a: 1\nb: !!set {c: 1}\n", "tag:yaml.org,2002:set"),
    ],
)
def test_load_yaml_refuses_explicit_tags(text, tag):
    error = refused(text)
    assert (error.line, error.problem) == (2, f"tags ('{tag}') are not allowed")


def test_load_yaml_refuses_duplicate_keys_naming_the_line_of_the_second():
    error = refused(b"a: 1\nb:\n  c: 2\n  d: 3\n  c: 4\n")
    assert str(error) == "invalid file 'f.yaml:5': duplicate key 'c'"


def test_load_yaml_refuses_duplicate_top_level_keys_in_flow_style():
    assert refused(b"{a: 1,\n a: 2}\n").line == 2


def test_load_yaml_refuses_keys_that_are_not_plain_values():
    error = refused(b"a: 1\n? [x, y]\n: 2\n")
    assert (error.line, error.problem) == (2, "a mapping key must be a plain value")


def test_load_yaml_refuses_merge_keys():
    assert refused(b"a: 1\n<<: {b: 2}\n").line == 2


def test_load_yaml_refuses_documents_over_the_size_cap():
    text = b"a: " + b"x" * (yamlio.MAX_YAML_BYTES - 2)
    assert len(text) == yamlio.MAX_YAML_BYTES + 1
    error = refused(text)
    assert str(error) == "invalid file 'f.yaml': larger than the 16 MiB limit for YAML files"


def test_load_yaml_refuses_invalid_utf8_naming_its_line():
    error = refused(b"a: 1\nb: 2\nc: caf\xe9\n")
    assert str(error) == "invalid file 'f.yaml:3': not UTF-8 text (byte 16)"


def test_load_yaml_refuses_control_characters_naming_their_line():
    error = refused(b"a: 1\nb: x\x00y\n")
    assert str(error) == "invalid file 'f.yaml:2': the character U+0000 is not allowed in YAML"


def test_load_yaml_refuses_deep_nesting_without_recursion_error():
    assert refused(b"[" * 1_000).problem == "nested too deeply"


def test_load_yaml_refuses_a_number_too_long_for_python_naming_its_line():
    error = refused(b"a: 1\nsize: 1" + b"0" * 5000 + b"\n")
    assert str(error) == "invalid file 'f.yaml:2': a number with too many digits"


def test_load_yaml_reads_integers_in_every_yaml_1_1_notation():
    data = load_yaml(b"a: 12\nb: 0x1f\nc: -0b101\nd: 1_000\ne: 0o17\nf: " + b"9" * 4000 + b"\n", "f.yaml").data
    assert data == {"a": 12, "b": 31, "c": -5, "d": 1000, "e": "0o17", "f": int("9" * 4000)}


def test_load_yaml_refuses_more_than_one_document():
    assert refused(b"a: 1\n---\nb: 2\n").line == 2


def test_load_yaml_syntax_error_names_its_line():
    error = refused(b"a: 1\nb: [1, 2\nc: 3\n")
    assert error.line is not None
    assert error.line >= 2


@pytest.mark.parametrize("text", [b"d: 2024-01-01\n", b"d: 2024-01-01 10:00:00\n", b"d: 2024-01-01T10:00:00Z\n"])
def test_load_yaml_keeps_dates_as_strings(text):
    value = load_yaml(text, "f.yaml").data["d"]
    assert value == text.decode()[3:].strip()
    assert type(value) is str


def test_load_yaml_keeps_other_implicit_types():
    data = load_yaml(b"i: 1\nf: 1.5\nb: yes\nn: null\ns: '1'\n", "f.yaml").data
    assert data == {"i": 1, "f": 1.5, "b": True, "n": None, "s": "1"}


def test_line_of_nested_keys_and_list_items():
    document = load_yaml(b"top: 1\nstages:\n  train:\n    cmd: x\n    deps:\n      - a\n      - b\n", "f.yaml")
    assert document.line_of(("top",)) == 1
    assert document.line_of(("stages",)) == 2
    assert document.line_of(("stages", "train")) == 3
    assert document.line_of(("stages", "train", "cmd")) == 4
    assert document.line_of(("stages", "train", "deps")) == 5
    assert document.line_of(("stages", "train", "deps", 1)) == 7


def test_line_of_a_missing_location_falls_back_to_its_nearest_ancestor():
    document = load_yaml(b"a: 1\nb:\n  c: 2\n", "f.yaml")
    assert document.line_of(("b", "missing", "deeper")) == 2
    assert document.line_of(("missing",)) == 1
    assert document.line_of(()) == 1


def test_dump_yaml_keeps_key_order_and_unicode_and_reads_back():
    data = {"z": 1, "a": ["é", "2024-01-01"], "m": {"k": None}}
    text = dump_yaml(data)
    assert text == "z: 1\na:\n- é\n- '2024-01-01'\nm:\n  k: null\n"
    assert load_yaml(text.encode(), "f.yaml").data == data


@settings(deadline=None)
@given(st.binary(max_size=300))
@example(b"\xff")
@example(b"a: \x00")
@example(b"[" * 1000)
@example(b"? [a]\n: 1\n")
@example(b"? {a: 1}\n: 1\n")
@example(b"a: !!python/name:os.system\n")
@example(b"\xef\xbb\xbfa: 1\n")
@example(b"%YAML 1.1\n--- !!map\na: 1\n")
def test_load_yaml_of_arbitrary_bytes_raises_only_invalid_file_error(data):
    try:
        load_yaml(data, "f.yaml")
    except InvalidFileError:
        pass


_YAMLISH = st.lists(
    st.sampled_from(["a", ":", " ", "\n", "- ", "[", "]", "{", "}", ",", "&x", "*x", "!t", "!!str", "?", "'", '"', "#",
                     "|", ">", "---", "...", "%YAML 1.2", "<<", "1", "2024-01-01", "\t", "é", "\\", "\x85"]),
    max_size=30,
).map("".join)


@settings(deadline=None)
@given(_YAMLISH)
def test_load_yaml_of_yaml_like_text_raises_only_invalid_file_error(text):
    try:
        load_yaml(text.encode(), "f.yaml")
    except InvalidFileError:
        pass
