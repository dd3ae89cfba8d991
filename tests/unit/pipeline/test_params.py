"""Params files: reading YAML, JSON and TOML, the values a stage records, and `mlx run -S` edits that
keep the user's comments, order and layout."""

from __future__ import annotations

import json
import os
import tomllib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, PipelineError, UnsafePathError, UnsupportedFormatError, UsageError
from mlxkit.formats.yamlio import load_yaml
from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.model import ParamRef, Stage
from mlxkit.formats.yamltext import flow
from mlxkit.pipeline.params import MISSING, find, read_params, stage_params
from mlxkit.pipeline.setparams import ParamChange, parse_assignment, parse_value, set_params

PARAMS = RepoPath("params.yaml")
COMMENTED = """\
# training settings, tuned by hand
train:
  lr: 0.1      # learning rate
  epochs: 10
  layers: [64, 32]

prepare:
  split: 0.2   # test share
"""


def read(tmp_path, name: str) -> dict:
    return read_params(tmp_path, RepoPath.parse(name))


def write(tmp_path, name: str, text: str) -> None:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# -- reading -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("params.yaml", "train:\n  lr: 0.1\n  tags: [a, b]\n"),
        ("p.yml", "train: {lr: 0.1, tags: [a, b]}\n"),
        ("conf.json", '{"train": {"lr": 0.1, "tags": ["a", "b"]}}'),
        ("more.toml", '[train]\nlr = 0.1\ntags = ["a", "b"]\n'),
        ("UPPER.YAML", "train: {lr: 0.1, tags: [a, b]}\n"),
    ],
)
def test_read_params_reads_each_format_by_its_extension(tmp_path, name, text):
    write(tmp_path, name, text)
    assert read(tmp_path, name) == {"train": {"lr": 0.1, "tags": ["a", "b"]}}


def test_an_empty_yaml_params_file_holds_nothing(tmp_path):
    write(tmp_path, "params.yaml", "# nothing yet\n")
    assert read(tmp_path, "params.yaml") == {}


def test_toml_dates_are_read_as_their_iso_text_like_yaml_dates(tmp_path):
    write(tmp_path, "p.toml", "day = 2024-01-31\nat = 2024-01-31T10:00:00Z\n")
    write(tmp_path, "p.yaml", "day: 2024-01-31\n")
    assert read(tmp_path, "p.toml") == {"day": "2024-01-31", "at": "2024-01-31T10:00:00+00:00"}
    assert read(tmp_path, "p.yaml") == {"day": "2024-01-31"}


@pytest.mark.parametrize("name", ["params.txt", "params", "params.yaml.bak", "p.ini"])
def test_read_params_refuses_other_extensions(tmp_path, name):
    write(tmp_path, name, "a: 1\n")
    with pytest.raises(UnsupportedFormatError) as info:
        read(tmp_path, name)
    assert info.value.message == f"cannot read params from '{name}': not a .yaml, .yml, .json or .toml file"


def test_a_missing_params_file_is_named(tmp_path):
    with pytest.raises(InvalidFileError) as info:
        read(tmp_path, "conf/params.yaml")
    assert str(info.value) == "invalid file 'conf/params.yaml': no such params file"


@pytest.mark.parametrize(
    ("name", "text", "line", "problem"),
    [
        ("params.yaml", "a: 1\na: 2\n", 2, "duplicate key 'a'"),
        ("params.yaml", "- a\n- b\n", 1, "a params file must hold a mapping of keys to values"),
        ("conf.json", '{\n  "a": 1,\n  "b": \n}', 4, "not valid JSON: Expecting value"),
        ("conf.json", "[1, 2]", 1, "a params file must hold a mapping of keys to values"),
        ("conf.json", '{"a": 1, "a": 2}', None, "duplicate key 'a'"),
        ("more.toml", "a = 1\nb = = 2\n", 2, "invalid value"),
        ("more.toml", "a = 1\na = 2\n", 2, "cannot overwrite a value"),
    ],
)
def test_a_malformed_params_file_names_the_file_and_the_line(tmp_path, name, text, line, problem):
    write(tmp_path, name, text)
    with pytest.raises(InvalidFileError) as info:
        read(tmp_path, name)
    assert (info.value.source, info.value.line, info.value.problem) == (name, line, problem)


def test_a_params_file_that_is_not_utf8_names_the_line(tmp_path):
    (tmp_path / "conf.json").write_bytes(b'{\n"a": "\xff"}')
    with pytest.raises(InvalidFileError) as info:
        read(tmp_path, "conf.json")
    assert (info.value.line, info.value.problem) == (2, "not UTF-8 text (byte 8)")


def test_a_params_file_reached_through_a_symbolic_link_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "params.yaml").write_text("secret: 1\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "conf").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="'conf' is a symbolic link"):
        read(repo, "conf/params.yaml")


# -- looking keys up -----------------------------------------------------------------------------

DATA = {"train": {"lr": 0.1, "layers": [{"size": 8}], "on": None}, "seed": 0}


@pytest.mark.parametrize(
    ("dotted", "value"),
    [("train.lr", 0.1), ("train.layers.0.size", 8), ("train.on", None), ("seed", 0), ("train", DATA["train"])],
)
def test_find_follows_dotted_keys_and_list_indexes(dotted, value):
    assert find(DATA, dotted) == value


@pytest.mark.parametrize("dotted", ["train.lrr", "train.layers.1", "train.layers.x", "seed.x", "", "train.", "train..lr"])
def test_find_gives_missing_for_what_is_not_there(dotted):
    assert find(DATA, dotted) is MISSING


# -- what a stage records ------------------------------------------------------------------------


def stage(*params: ParamRef) -> Stage:
    return Stage(name="train", cmd=("python train.py",), params=params)


def test_stage_params_gives_file_then_dotted_key_then_value(tmp_path):
    write(tmp_path, "params.yaml", COMMENTED)
    write(tmp_path, "conf/other.json", '{"b": 2, "a": {"x": 1}}')
    refs = (ParamRef(PARAMS, ("train.lr", "prepare")), ParamRef(RepoPath("conf/other.json")))
    assert stage_params(tmp_path, stage(*refs)) == {
        "params.yaml": {"train.lr": 0.1, "prepare": {"split": 0.2}},
        "conf/other.json": {"b": 2, "a": {"x": 1}},
    }


def test_stage_params_refuses_a_key_the_file_lacks_naming_stage_and_file(tmp_path):
    write(tmp_path, "params.yaml", COMMENTED)
    with pytest.raises(PipelineError) as info:
        stage_params(tmp_path, stage(ParamRef(PARAMS, ("train.epoch",))))
    assert info.value.message == "stage 'train' uses the param 'train.epoch', which 'params.yaml' does not define"
    assert info.value.hint == "did you mean 'train.epochs'?"


def test_stage_params_refuses_a_missing_file_naming_the_stage(tmp_path):
    with pytest.raises(InvalidFileError) as info:
        stage_params(tmp_path, stage(ParamRef(PARAMS, ("lr",))))
    assert str(info.value) == "invalid file 'params.yaml': no such params file"
    assert info.value.hint == "stage 'train' reads params from it: create it"


# -- -S values and assignments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("0.01", 0.01),
        ("1e-5", 1e-05),
        ("-3", -3),
        ("true", True),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ("[1,2]", [1, 2]),
        ("{a: 1}", {"a": 1}),
        ("'1'", "1"),
        ('"x y"', "x y"),
        ("abc", "abc"),
        ("", ""),
        ("a: b", "a: b"),
        ("#x", "#x"),
        ("a #b", "a #b"),
        ("- a", "- a"),
        ("2024-01-01", "2024-01-01"),
        ("x; touch PWNED", "x; touch PWNED"),
        ("$(id)", "$(id)"),
        ("ünï", "ünï"),
        ("*a", "*a"),
        ("&a", "&a"),
    ],
)
def test_parse_value_reads_a_yaml_scalar_or_flow_value(raw, value):
    assert parse_value(raw) == value
    assert type(parse_value(raw)) is type(value)


@pytest.mark.parametrize("raw", ["[1,", "{a: ", "'open", "[*a]"])
def test_parse_value_refuses_a_broken_flow_value(raw):
    with pytest.raises(UsageError, match=f"^cannot parse the value '{__import__('re').escape(raw)}': "):
        parse_value(raw)


def test_parse_assignment_splits_file_key_and_value():
    assert parse_assignment("train.lr=0.01") == (PARAMS, "train.lr", 0.01)
    assert parse_assignment("conf/more.toml:a=b=c") == (RepoPath("conf/more.toml"), "a", "b=c")


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("train.lr", UsageError, "'train.lr' is not an assignment"),
        ("train..lr=1", UsageError, "'train..lr' is not a params key"),
        ("=1", UsageError, "'' is not a params key"),
        ("a b=1", UsageError, "'a b' is not a params key"),
        ("x.yaml:=1", UsageError, "'' is not a params key"),
        ("../x.yaml:a=1", UnsafePathError, "unsafe path '../x.yaml': the path has a '..' component"),
        ("/etc/x.yaml:a=1", UnsafePathError, "unsafe path '/etc/x.yaml': the path is absolute"),
        ("p.txt:a=1", UnsupportedFormatError, "cannot read params from 'p.txt': not a .yaml, .yml, .json or .toml file"),
    ],
)
def test_parse_assignment_refuses_what_is_not_a_key_of_a_params_file(text, error, message):
    with pytest.raises(error) as info:
        parse_assignment(text)
    assert info.value.message == message


# -- -S on YAML: text edits ------------------------------------------------------------------------


def set_yaml(tmp_path, text: str, *assignments: str) -> str:
    write(tmp_path, "params.yaml", text)
    set_params(tmp_path, list(assignments))
    return (tmp_path / "params.yaml").read_text(encoding="utf-8")


def test_set_params_changes_a_value_and_keeps_comments_order_and_layout(tmp_path):
    assert set_yaml(tmp_path, COMMENTED, "train.lr=0.01", "prepare.split=0.3") == COMMENTED.replace("lr: 0.1", "lr: 0.01").replace(
        "split: 0.2", "split: 0.3"
    )


def test_set_params_adds_a_key_under_its_parent_with_its_indentation(tmp_path):
    text = "train:\n    lr: 0.1   # four spaces\n    epochs: 10\nseed: 1\n"
    assert (
        set_yaml(tmp_path, text, "train.momentum=0.9")
        == "train:\n    lr: 0.1   # four spaces\n    epochs: 10\n    momentum: 0.9\nseed: 1\n"
    )


def test_set_params_creates_missing_parents_two_spaces_a_level(tmp_path):
    assert set_yaml(tmp_path, COMMENTED, "model.head.units=8") == COMMENTED + "model:\n  head:\n    units: 8\n"


def test_set_params_adds_after_a_last_line_without_a_line_break(tmp_path):
    assert set_yaml(tmp_path, "a: 1", "b=2") == "a: 1\nb: 2\n"


def test_set_params_adds_after_nested_blocks_and_block_text(tmp_path):
    text = "train:\n  opt:\n    name: sgd\n  notes: |\n    keep\n    this\nz: 0\n"
    assert set_yaml(tmp_path, text, "train.lr=1") == "train:\n  opt:\n    name: sgd\n  notes: |\n    keep\n    this\n  lr: 1\nz: 0\n"


def test_set_params_fills_a_key_that_had_no_value(tmp_path):
    assert set_yaml(tmp_path, "train:\n  lr:\n  x: 1\n", "train.lr=0.5") == "train:\n  lr: 0.5\n  x: 1\n"


def test_set_params_replaces_block_text_and_block_mappings_from_the_key_on(tmp_path):
    text = "notes: |\n  old\n  text\ntrain:\n  lr: 1\n  opt: {a: 1}   # gone with it\nz: 0\n"
    assert set_yaml(tmp_path, text, "notes=new", "train=[1, 2]") == "notes: new\ntrain: [1, 2]\nz: 0\n"


def test_set_params_keeps_the_blank_lines_after_replaced_block_text(tmp_path):
    text = "notes: |\n  old\n\n# next\ntrain:\n  tags: |+\n    kept\n\n\nz: 0\n"
    assert set_yaml(tmp_path, text, "notes=new", "train.tags=x") == "notes: new\n\n# next\ntrain:\n  tags: x\n\n\nz: 0\n"


def test_set_params_adds_after_block_text_that_keeps_its_trailing_blank_lines(tmp_path):
    assert set_yaml(tmp_path, "a:\n  tags: |+\n    kept\n\nz: 0\n", "a.b=1") == "a:\n  tags: |+\n    kept\n\n  b: 1\nz: 0\n"
    assert read(tmp_path, "params.yaml") == {"a": {"tags": "kept\n\n", "b": 1}, "z": 0}


def test_set_params_rewrites_only_the_flow_mapping_that_gets_a_new_key(tmp_path):
    text = "# keep me\nprepare: {split: 0.2}   # and me\nz: 0\n"
    assert set_yaml(tmp_path, text, "prepare.seed=1") == "# keep me\nprepare: {split: 0.2, seed: 1}   # and me\nz: 0\n"


def test_set_params_replaces_a_flow_value_in_place(tmp_path):
    assert set_yaml(tmp_path, "a: {x: [1, 2], y: 3}  # c\n", "a.x=[3]", "a.y=x y") == "a: {x: [3], y: x y}  # c\n"


def test_set_params_creates_params_yaml_when_missing(tmp_path):
    changes = set_params(tmp_path, ["train.lr=0.01"])
    assert (tmp_path / "params.yaml").read_text() == "train:\n  lr: 0.01\n"
    assert changes == [ParamChange(PARAMS, "train.lr", 0.01, existed=False)]


def test_set_params_adds_below_comments_of_a_file_without_keys(tmp_path):
    assert set_yaml(tmp_path, "# only a comment", "a=1") == "# only a comment\na: 1\n"


def test_set_params_rewrites_a_file_holding_only_null(tmp_path):
    assert set_yaml(tmp_path, "~\n", "a=1") == "a: 1\n"


def test_set_params_reports_each_change_in_order(tmp_path):
    write(tmp_path, "params.yaml", COMMENTED)
    write(tmp_path, "conf.json", '{"a": 1}')
    changes = set_params(tmp_path, ["train.lr=0.01", "conf.json:a=2", "train.lr=0.02", "new=x"])
    assert changes == [
        ParamChange(PARAMS, "train.lr", 0.01, existed=True, previous=0.1),
        ParamChange(RepoPath("conf.json"), "a", 2, existed=True, previous=1),
        ParamChange(PARAMS, "train.lr", 0.02, existed=True, previous=0.01),
        ParamChange(PARAMS, "new", "x", existed=False),
    ]
    assert read(tmp_path, "params.yaml")["train"]["lr"] == 0.02


def test_set_params_does_not_rewrite_a_file_whose_text_is_unchanged(tmp_path):
    write(tmp_path, "params.yaml", COMMENTED)
    before = os.stat(tmp_path / "params.yaml")
    set_params(tmp_path, ["train.lr=0.1"])
    after = os.stat(tmp_path / "params.yaml")
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_set_params_keys_that_yaml_would_read_as_other_types_are_quoted(tmp_path):
    assert set_yaml(tmp_path, "a: 1\n", "true=1", "null.1=2") == "a: 1\n'true': 1\n'null':\n  '1': 2\n"
    assert read(tmp_path, "params.yaml") == {"a": 1, "true": 1, "null": {"1": 2}}


@pytest.mark.parametrize(
    ("text", "assignment", "message"),
    [
        ("a: 1\n", "a.b=2", "cannot set 'a.b' in 'params.yaml': 'a' is the value 1, not a mapping"),
        ("a: {b: x}\n", "a.b.c=2", "cannot set 'a.b.c' in 'params.yaml': 'a.b' is the value \"x\", not a mapping"),
        ("a:\n", "a.b=2", "cannot set 'a.b' in 'params.yaml': 'a' is the value null, not a mapping"),
        ("a: [1, 2]\n", "a.0=2", "cannot set 'a.0' in 'params.yaml': 'a' is a list, not a mapping"),
    ],
)
def test_set_params_refuses_a_key_below_a_value_that_is_not_a_mapping(tmp_path, text, assignment, message):
    write(tmp_path, "params.yaml", text)
    with pytest.raises(UsageError) as info:
        set_params(tmp_path, [assignment])
    assert (info.value.message, info.value.hint) == (message, "set the whole value instead")
    assert (tmp_path / "params.yaml").read_text() == text


def test_set_params_writes_nothing_when_a_later_assignment_fails(tmp_path):
    write(tmp_path, "params.yaml", COMMENTED)
    with pytest.raises(UsageError):
        set_params(tmp_path, ["train.lr=0.5", "train.lr.x=1"])
    assert (tmp_path / "params.yaml").read_text() == COMMENTED


def test_set_params_refuses_a_missing_file_other_than_params_yaml(tmp_path):
    with pytest.raises(UsageError) as info:
        set_params(tmp_path, ["conf.yaml:a=1"])
    assert (info.value.message, info.value.hint) == ("no such params file: 'conf.yaml'", "only params.yaml is created when missing")


def test_set_params_refuses_a_malformed_file_naming_its_line(tmp_path):
    write(tmp_path, "params.yaml", "a: 1\n  b: 2\n")
    with pytest.raises(InvalidFileError, match="^invalid file 'params.yaml:2': "):
        set_params(tmp_path, ["a=2"])


def test_set_params_never_writes_through_a_symbolic_link(tmp_path):
    (tmp_path / "elsewhere.yaml").write_text("a: 1\n")
    (tmp_path / "params.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    with pytest.raises(UnsafePathError):
        set_params(tmp_path, ["a=2"])
    assert (tmp_path / "elsewhere.yaml").read_text() == "a: 1\n"


_SCALARS = (
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
    | st.integers()
    | st.floats(allow_nan=False)
    | st.booleans()
    | st.none()
)
_VALUES = st.recursive(
    _SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6
)


@settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=_VALUES, where=st.sampled_from(["train.lr", "prepare.split", "train.new", "fresh.key", "top", "deep.er.and.deeper"]))
@example(value="line\nbreak\x85\u2028 'q' \"d\" #c: x", where="train.lr")
@example(value="\ufeffbom", where="top")
def test_any_value_set_in_yaml_reads_back_and_the_rest_of_the_file_is_kept(tmp_path, value, where):
    text = COMMENTED + "flow: {a: 1}\n"
    write(tmp_path, "params.yaml", text)
    set_params(tmp_path, [f"{where}=[{flow(value)}]"])  # a flow list, so any value parses back
    expected = load_yaml(text, "params.yaml").data
    *parents, last = where.split(".")
    mapping = expected
    for parent in parents:
        mapping = mapping.setdefault(parent, {})
    mapping[last] = [value]
    assert repr(read(tmp_path, "params.yaml")) == repr(expected)
    assert (tmp_path / "params.yaml").read_text().startswith("# training settings, tuned by hand\ntrain:\n")


# -- -S on JSON and TOML -------------------------------------------------------------------------


def test_set_params_on_json_keeps_key_order_and_indents_by_two(tmp_path):
    write(tmp_path, "conf.json", '{"z": 1, "a": {"x": "ü"}}')
    set_params(tmp_path, ["conf.json:a.x=2", "conf.json:a.y.z=[1]"])
    assert (tmp_path / "conf.json").read_text(encoding="utf-8") == json.dumps({"z": 1, "a": {"x": 2, "y": {"z": [1]}}}, indent=2) + "\n"


TOML = """\
# experiment
seed = 1
name = "base"  # shown in reports

[train]
lr = 0.1 # learning rate
"opt.name" = 'sgd'
tags = ["a", "b"]
nested.depth = 3

[[runs]]
lr = 5
"""


@pytest.mark.parametrize(
    ("assignment", "old_line", "new_line"),
    [
        ("seed=2", "seed = 1", "seed = 2"),
        ('name=x "y" \\z', 'name = "base"  # shown', 'name = "x \\"y\\" \\\\z"  # shown'),
        ("train.lr=1e-5", "lr = 0.1 # learning", "lr = 1e-05 # learning"),
        ("train.tags=[c, 1, true]", 'tags = ["a", "b"]', 'tags = ["c", 1, true]'),
        ("train.nested.depth={a: 1, b c: [x]}", "nested.depth = 3", 'nested.depth = {a = 1, "b c" = ["x"]}'),
    ],
)
def test_set_params_on_toml_edits_the_line_of_an_existing_key_only(tmp_path, assignment, old_line, new_line):
    write(tmp_path, "more.toml", TOML)
    set_params(tmp_path, [f"more.toml:{assignment}"])
    assert (tmp_path / "more.toml").read_text() == TOML.replace(old_line, new_line, 1)


def test_a_toml_key_with_a_dot_in_its_name_cannot_be_named_by_a_dotted_key(tmp_path):
    write(tmp_path, "more.toml", TOML)
    assert read(tmp_path, "more.toml")["train"]["opt.name"] == "sgd"
    with pytest.raises(UsageError, match="^cannot add the new key 'train.opt.name' to 'more.toml'$"):
        set_params(tmp_path, ["more.toml:train.opt.name=adam"])


@pytest.mark.parametrize(
    ("text", "assignment", "message", "hint"),
    [
        (
            TOML,
            "more.toml:train.momentum=0.9",
            "cannot add the new key 'train.momentum' to 'more.toml'",
            "mlx only changes keys a TOML file has: add it by hand first",
        ),
        (TOML, "more.toml:seed=null", "cannot write null to 'more.toml': TOML has no null value", None),
        (
            "train = {lr = 0.1}\n",
            "more.toml:train.lr=1",
            "cannot change 'train.lr' in 'more.toml' by editing its line",
            "mlx edits TOML values written as 'key = value' on one line: edit this one by hand",
        ),
        (
            'tags = [\n  "a",\n]\n',
            "more.toml:tags=[b]",
            "cannot change 'tags' in 'more.toml' by editing its line",
            "mlx edits TOML values written as 'key = value' on one line: edit this one by hand",
        ),
        (
            'doc = """\nlr = 1\n"""\nlr = 2\n',
            "more.toml:lr=3",
            "cannot change 'lr' in 'more.toml' by editing its line",
            "mlx edits TOML values written as 'key = value' on one line: edit this one by hand",
        ),
    ],
)
def test_set_params_on_toml_refuses_what_a_line_edit_cannot_do(tmp_path, text, assignment, message, hint):
    write(tmp_path, "more.toml", text)
    with pytest.raises(UsageError) as info:
        set_params(tmp_path, [assignment])
    assert (info.value.message, info.value.hint) == (message, hint)
    assert (tmp_path / "more.toml").read_text() == text


@settings(deadline=None, max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    value=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
    | st.floats()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
)
def test_any_string_or_number_set_in_toml_reads_back(tmp_path, value):
    write(tmp_path, "more.toml", TOML)
    set_params(tmp_path, [f"more.toml:train.lr=[{flow(value)}]"])
    data = tomllib.loads((tmp_path / "more.toml").read_text(encoding="utf-8"))
    assert repr(data["train"]["lr"]) == repr([value])
    assert data["seed"] == 1 and data["runs"] == [{"lr": 5}]


@pytest.mark.parametrize(("name", "text"), [("conf.json", "[" * 100_000 + "]" * 100_000), ("more.toml", "a = " + "[" * 100_000)])
def test_a_params_file_nested_too_deeply_is_invalid_not_a_crash(tmp_path, name, text):
    write(tmp_path, name, text)
    with pytest.raises(InvalidFileError, match=f"^invalid file '{name}': nested too deeply$"):
        read(tmp_path, name)


def test_a_directory_named_like_a_params_file_is_refused(tmp_path):
    (tmp_path / "params.yaml").mkdir()
    with pytest.raises(InvalidFileError, match="^invalid file 'params.yaml': a directory, not a params file$"):
        read(tmp_path, "params.yaml")


def test_a_value_with_line_breaks_is_written_on_one_line_escaped(tmp_path):
    text = set_yaml(tmp_path, "train:\n  lr: 0.1\n", 'train.lr="two\\nlines\\u2028"', 'train.tags=["a\\tb"]')
    assert text == 'train:\n  lr: "two\\nlines\\L"\n  tags: ["a\\tb"]\n'
    assert read(tmp_path, "params.yaml") == {"train": {"lr": "two\nlines\u2028", "tags": ["a\tb"]}}
