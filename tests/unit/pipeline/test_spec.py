"""mlx.yaml: what a pipeline file becomes, and how each mistake in it is named (file, line, stage)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, UnsafePathError, UnsupportedFormatError
from mlxkit.formats.schema import conforms, load_schema
from mlxkit.fs.confine import RepoPath
from mlxkit.pipeline.model import Out, ParamRef, Pipeline, Stage
from mlxkit.pipeline.spec import load_pipeline, pipeline_from_text
from tests.unit.mutations import mutations

P = RepoPath.parse
PARAMS = "train:\n  lr: 0.01\n  seed: 7\nfiles: [a.csv, b.csv]\nmodels: {small: 1, large: 2}\n"


@pytest.fixture
def root(tmp_path):
    (tmp_path / "params.yaml").write_text(PARAMS)
    return tmp_path


def parse(root, text: str) -> Pipeline:
    return pipeline_from_text(textwrap.dedent(text), root)


def stages(root, text: str) -> dict[str, Stage]:
    return parse(root, text).stages


def invalid(root, text: str) -> InvalidFileError:
    with pytest.raises(InvalidFileError) as info:
        parse(root, text)
    return info.value


def unsafe(root, text: str) -> UnsafePathError:
    with pytest.raises(UnsafePathError) as info:
        parse(root, text)
    return info.value


# -- the file ------------------------------------------------------------------------------------


def test_load_pipeline_is_none_without_mlx_yaml(tmp_path):
    assert load_pipeline(tmp_path) is None


def test_load_pipeline_reads_mlx_yaml_at_the_root(root):
    (root / "mlx.yaml").write_text("stages:\n  hello:\n    cmd: echo hi\n")
    assert load_pipeline(root) == Pipeline(
        {"hello": Stage("hello", ("echo hi",), line=2)}, context_files=(RepoPath("params.yaml"),)
    )  # params.yaml is always looked for: a no-op memo records it, present or not


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "stages:\n", "stages: {}\n"])
def test_a_pipeline_without_stages_is_empty(root, text):
    assert stages(root, text) == {}


def test_a_stage_becomes_a_stage_value_with_every_field(root):
    result = stages(
        root,
        """\
        stages:
          train:
            desc: Fit the model
            cmd: [python train.py, python report.py]
            wdir: src/../models
            deps: [../data/prepared, ./train.py, ../data/prepared]
            params: [train.lr, {../conf/extra.json: []}, train.seed]
            outs: [model.pkl, {cache_dir: {persist: true}}]
            metrics: [{metrics.json: {cache: true}}]
            plots: [roc.csv]
            env: [CUDA_VISIBLE_DEVICES, SEED]
            frozen: false
            always_changed: true
        """,
    )
    assert result == {
        "train": Stage(
            name="train",
            cmd=("python train.py", "python report.py"),
            wdir=P("models"),
            deps=(P("data/prepared"), P("models/train.py")),
            outs=(
                Out(P("models/model.pkl"), "out"),
                Out(P("models/cache_dir"), "out", persist=True),
                Out(P("models/metrics.json"), "metric", cache=True),
                Out(P("models/roc.csv"), "plot", cache=False),
            ),
            params=(ParamRef(P("models/params.yaml"), ("train.lr", "train.seed")), ParamRef(P("conf/extra.json"))),
            env=("CUDA_VISIBLE_DEVICES", "SEED"),
            desc="Fit the model",
            frozen=False,
            always_changed=True,
            line=2,
        )
    }


def test_outs_are_cached_and_metrics_and_plots_are_not_by_default(root):
    (stage,) = stages(root, "stages:\n  s:\n    cmd: x\n    outs: [o]\n    metrics: [m]\n    plots: [p]\n").values()
    assert [(out.kind, out.cache, out.persist) for out in stage.outs] == [
        ("out", True, False),
        ("metric", False, False),
        ("plot", False, False),
    ]


def test_a_whole_file_entry_wins_over_keys_of_the_same_file(root):
    (stage,) = stages(root, "stages:\n  s:\n    cmd: x\n    params: [train.lr, {params.yaml: []}, train.seed]\n").values()
    assert stage.params == (ParamRef(P("params.yaml")),)


def test_stage_lines_and_order_follow_the_file(root):
    result = stages(root, "stages:\n  b:\n    cmd: x\n\n  a:\n    cmd: y\n")
    assert [(name, stage.line) for name, stage in result.items()] == [("b", 2), ("a", 5)]


def test_top_level_params_lists_files_tracked_as_a_whole(root):
    assert parse(root, "params: [params.yaml, conf/other.json]\nstages: {}\n").params == (P("params.yaml"), P("conf/other.json"))


# -- schema errors: file, line, place ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "problem", "hint"),
    [
        ("stagez: {}\n", 1, "at 'the top level': unknown key 'stagez'", "did you mean 'stages'?"),
        ("stages:\n  t:\n    cmd: x\n    outz: [a]\n", 4, "at 'stages.t': unknown key 'outz'", "did you mean 'outs'?"),
        ("stages:\n  t:\n    deps: [a]\n", 2, "at 'stages.t': 'cmd' is required", None),
        ("stages:\n  t:\n    cmd: []\n", 3, "at 'stages.t.cmd': [] should be non-empty", None),
        ("stages:\n  t:\n    cmd: x\n    outs: [a, 3]\n", 4, "at 'stages.t.outs.1': 3 is not a path, or {path: {cache: false}}", None),
        (
            "stages:\n  t:\n    cmd: x\n    outs:\n      - a: {cache: no, persit: true}\n",
            5,
            "at 'stages.t.outs.0.a': unknown key 'persit'",
            "did you mean 'persist'?",
        ),
        ("stages:\n  t:\n    cmd: x\n    deps: 3\n", 4, "at 'stages.t.deps': 3 is not a list of paths", None),
        ("stages:\n  t:\n    cmd: x\n    deps: data/raw\n", 4, "at 'stages.t.deps': 'data/raw' is not a list of paths", None),
        (
            "stages:\n  t:\n    cmd: x\n    env: [A-B]\n",
            4,
            "at 'stages.t.env.0': 'A-B' is not an environment variable name (letters, digits and '_', not starting with a digit)",
            None,
        ),
        ("stages:\n  t:\n    cmd: x\n    frozen: 1\n", 4, "at 'stages.t.frozen': 1 is not true or false", None),
        ("stages:\n  t:\n    cmd: x\n    frozen: yes please\n", 4, "at 'stages.t.frozen': 'yes please' is not true or false", None),
        ("stages:\n  t:\n    cmd: x\n    outs: [m: {cache: nope}]\n", 4, "at 'stages.t.outs.0.m.cache': 'nope' is not true or false", None),
        ("stages:\n  t: python t.py\n", 2, "at 'stages.t': 'python t.py' is not a stage (a mapping with 'cmd', 'deps', 'outs', ...)", None),
        ("stages:\n  e:\n    foreach: [a]\n", 2, "at 'stages.e': 'do' is required", None),
        ("stages:\n  e:\n    foreach: [a]\n    do: {cmd: x, outz: 1}\n", 4, "at 'stages.e.do': unknown key 'outz'", "did you mean 'outs'?"),
        ("vars: [3]\n", 1, "at 'vars.0': 3 is not a params file ('file.yaml' or 'file.yaml:key1,key2') or a mapping", None),
        ("stages: [a]\n", 1, "at 'stages': ['a'] is not a mapping of stage names to stages", None),
    ],
)
def test_schema_errors_name_the_line_and_the_place_in_the_file(root, text, line, problem, hint):
    error = invalid(root, text)
    assert (error.source, error.line, error.problem, error.hint) == ("mlx.yaml", line, problem, hint)


@pytest.mark.parametrize("name", ["a b", "-x", "eval@1", ".hidden", "ü"])
def test_a_stage_name_outside_the_allowed_characters_is_an_error(root, name):
    error = invalid(root, f"stages:\n  x: {{cmd: a}}\n  '{name}':\n    cmd: x\n")
    assert (error.line, error.problem) == (3, f"at 'stages.{name}': '{name}' is not a valid stage name")
    assert error.hint == "stage names are letters, digits, '_', '.' and '-' ('@' joins a stage and its foreach item)"


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (
            "stages:\n  e:\n    foreach: [a]\n    matrix: {x: [1]}\n    do: {cmd: x}\n",
            2,
            "at 'stages.e': a stage has 'foreach' or 'matrix', not both",
        ),
        ("stages:\n  e:\n    do: {cmd: x}\n", 3, "at 'stages.e.do': 'do' needs 'foreach' or 'matrix' beside it"),
        ("stages:\n  e:\n    foreach: [a]\n    deps: [x]\n    do: {cmd: x}\n", 4, "at 'stages.e.deps': 'deps' belongs inside 'do'"),
    ],
)
def test_a_generated_stage_has_exactly_one_generator_and_do(root, text, line, problem):
    error = invalid(root, text)
    assert (error.line, error.problem) == (line, problem)


# -- interpolation -------------------------------------------------------------------------------


def test_values_of_params_yaml_fill_commands_paths_and_whole_values(root):
    (stage,) = stages(
        root,
        """\
        stages:
          train:
            cmd: python train.py --lr ${train.lr} --files ${files}
            deps: ${files}
            outs: ["model-${train.seed}.pkl"]
            desc: seed ${train.seed}
        """,
    ).values()
    assert stage.cmd == ("python train.py --lr 0.01 --files a.csv b.csv",)
    assert stage.deps == (P("a.csv"), P("b.csv"))
    assert stage.outs == (Out(P("model-7.pkl")),)
    assert stage.desc == "seed 7"


def test_a_hostile_param_stays_one_quoted_argument_of_the_command(root):
    (root / "params.yaml").write_text("msg: 'x; touch PWNED $(id)'\n")
    (stage,) = stages(root, 'stages:\n  t:\n    cmd: echo ${msg} "${msg}"\n').values()
    assert stage.cmd == ("echo 'x; touch PWNED $(id)' \"x; touch PWNED \\$(id)\"",)


def test_a_missing_key_names_line_stage_and_a_close_key(root):
    error = invalid(root, "stages:\n  t:\n    cmd: x\n  train:\n    cmd: python t.py --lr ${train.lrr}\n")
    assert str(error) == "invalid file 'mlx.yaml:5': at 'stages.train.cmd': '${train.lrr}' is not defined"
    assert error.hint == "did you mean 'train.lr'?"


def test_a_whole_value_of_the_wrong_type_is_named_by_the_schema_at_the_stage(root):
    error = invalid(root, "stages:\n  t:\n    cmd: x\n    deps: ${train}\n")
    assert (error.line, error.problem) == (4, "at 'stages.t.deps': {'lr': 0.01, 'seed': 7} is not a list of paths")


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        pytest.param(
            "stages:\n  t:\n    cmd: x\n    deps: ${looks}\n    frozen: ${looks}\n",
            4,
            "at 'stages.t.deps': 'deps' needs a list, not '${other}'",
            id="list",
        ),
        pytest.param(
            "stages:\n  t:\n    cmd: x\n    outs:\n      - o: {cache: '${looks}'}\n",
            5,
            "at 'stages.t.outs.0.o.cache': 'cache' needs true or false, not '${other}'",
            id="flag",
        ),
    ],
)
def test_a_param_that_reads_like_an_expression_is_not_taken_for_a_list_or_a_flag(root, text, line, problem):
    (root / "params.yaml").write_text("looks: ${other}\n")
    error = invalid(root, text)
    assert (error.line, error.problem) == (line, problem)


def test_without_params_yaml_only_vars_are_known(tmp_path):
    error = invalid(tmp_path, "stages:\n  t:\n    cmd: echo ${x}\n")
    assert error.problem == "at 'stages.t.cmd': '${x}' is not defined"


# -- vars ----------------------------------------------------------------------------------------


def test_vars_add_mappings_and_files_in_order(root):
    (root / "conf").mkdir()
    (root / "conf" / "a.json").write_text('{"model": {"name": "m"}, "unused": 1}')
    (root / "conf" / "b.toml").write_text("[model]\ndepth = 3\n")
    (stage,) = stages(
        root,
        """\
        vars:
          - {batch: 32}
          - conf/a.json:model
          - conf/b.toml
          - params.yaml
        stages:
          t:
            cmd: train ${batch} ${model.name} ${model.depth} ${train.lr}
        """,
    ).values()
    assert stage.cmd == ("train 32 m 3 0.01",)


def test_the_pipeline_names_the_params_files_its_context_read_even_absent_ones(tmp_path):
    (tmp_path / "a.yaml").write_text("x: 1\n")
    pipeline = parse(tmp_path, "vars: [a.yaml, {y: 2}]\nstages:\n  t:\n    cmd: echo ${x} ${y}\n")
    assert pipeline.context_files == (RepoPath("params.yaml"), RepoPath("a.yaml"))


@pytest.mark.parametrize(
    ("text", "line", "problem", "hint"),
    [
        pytest.param(
            "vars:\n  - seed: 1\n  - train: {lr: 0.5}\nstages: {}\n",
            3,
            "at 'vars.1': 'train.lr' is already defined by 'params.yaml'",
            "a value may come from one source only: remove one of them",
            id="a key also in params.yaml",
        ),
        pytest.param("stages: {}\nvars:\n  - nope.yaml\n", 3, "at 'vars.0': no such params file 'nope.yaml'", None, id="no file"),
        pytest.param("vars: ['c.yaml:modle']\n", 1, "at 'vars.0': 'c.yaml' has no key 'modle'", "did you mean 'model'?", id="no key"),
    ],
)
def test_a_vars_entry_that_cannot_be_used_is_named_at_its_line(root, text, line, problem, hint):
    (root / "c.yaml").write_text("model: 1\n")
    error = invalid(root, text)
    assert (error.line, error.problem, error.hint) == (line, problem, hint)


def test_a_vars_file_outside_the_repository_is_refused(root):
    error = unsafe(root, "vars: ['../secrets.yaml']\n")
    assert error.message == (
        "unsafe path '../secrets.yaml' in 'mlx.yaml:1' at 'vars.0': the path leaves the repository (it is '../secrets.yaml' from the root)"
    )


@pytest.mark.parametrize(
    ("text", "line", "where"),
    [
        ("vars: [c.ini]\n", 1, "vars.0"),
        ("params: [p.yaml, c.ini]\n", 1, "params.1"),
        ("stages:\n  t:\n    cmd: x\n    wdir: w\n    params:\n      - c.ini: []\n", 6, "stages.t.params.0.c.ini"),
    ],
)
def test_a_params_file_of_another_format_is_named_at_its_line(root, text, line, where):
    with pytest.raises(UnsupportedFormatError) as info:  # exit 13, as for 'mlx run -S c.ini:key=value'
        parse(root, text)
    file = "w/c.ini" if "wdir" in text else "c.ini"
    assert info.value.message == (
        f"cannot read params from '{file}' in 'mlx.yaml:{line}' at '{where}': not a .yaml, .yml, .json or .toml file"
    )
    assert info.value.hint == "params files are YAML, JSON or TOML, named by their extension"


# -- foreach and matrix --------------------------------------------------------------------------


def test_foreach_over_a_list_of_scalars_names_stages_by_item(root):
    result = stages(
        root, "stages:\n  eval:\n    foreach: [small, 2, 0.5, true]\n    do:\n      cmd: eval ${item}\n      outs: ['out/${item}.json']\n"
    )
    assert list(result) == ["eval@small", "eval@2", "eval@0.5", "eval@true"]
    assert result["eval@small"] == Stage("eval@small", ("eval small",), outs=(Out(P("out/small.json")),), line=2)


def test_foreach_over_a_mapping_names_stages_by_key_and_gives_key_and_item(root):
    result = stages(root, "stages:\n  fit:\n    foreach: ${models}\n    do:\n      cmd: fit ${key} --size ${item}\n")
    assert {name: stage.cmd for name, stage in result.items()} == {
        "fit@small": ("fit small --size 1",),
        "fit@large": ("fit large --size 2",),
    }


def test_foreach_over_a_list_of_mappings_names_stages_by_index(root):
    result = stages(
        root,
        "stages:\n  s:\n    foreach:\n      - {name: a, n: 1}\n      - {name: b, n: 2}\n    do:\n      cmd: run ${item.name} ${item.n}\n",
    )
    assert {name: stage.cmd for name, stage in result.items()} == {"s@0": ("run a 1",), "s@1": ("run b 2",)}


def test_foreach_of_a_var_that_is_not_a_list_or_mapping_is_an_error(root):
    error = invalid(root, "stages:\n  s:\n    foreach: ${train.seed}\n    do: {cmd: x}\n")
    assert (error.line, error.problem) == (3, "at 'stages.s.foreach': foreach needs a list or a mapping, not '7'")


def test_an_empty_foreach_makes_no_stage(root):
    assert stages(root, "stages:\n  s:\n    foreach: []\n    do: {cmd: x}\n") == {}


def test_matrix_makes_the_product_in_declaration_order(root):
    result = stages(
        root, "stages:\n  grid:\n    matrix:\n      model: [a, b]\n      lr: [0.1, 1]\n    do:\n      cmd: fit ${item.model} ${item.lr}\n"
    )
    assert {name: stage.cmd[0] for name, stage in result.items()} == {
        "grid@a-0.1": "fit a 0.1",
        "grid@a-1": "fit a 1",
        "grid@b-0.1": "fit b 0.1",
        "grid@b-1": "fit b 1",
    }
    assert {stage.line for stage in result.values()} == {2}


def test_matrix_axes_may_come_from_vars_and_name_mappings_by_axis_and_index(root):
    result = stages(
        root,
        "stages:\n  g:\n    matrix:\n      f: ${files}\n      opt: [{lr: 1}, {lr: 2}]\n    do:\n      cmd: fit ${item.f} ${item.opt.lr}\n",
    )
    assert {name: stage.cmd[0] for name, stage in result.items()} == {
        "g@a.csv-opt0": "fit a.csv 1",
        "g@a.csv-opt1": "fit a.csv 2",
        "g@b.csv-opt0": "fit b.csv 1",
        "g@b.csv-opt1": "fit b.csv 2",
    }


@pytest.mark.parametrize("matrix", ["${files}", "${nothing}"])
def test_a_matrix_from_a_var_must_be_a_mapping_with_axes(root, matrix):
    (root / "params.yaml").write_text("files: [a]\nnothing: {}\n")
    error = invalid(root, f"stages:\n  g:\n    matrix: {matrix}\n    do: {{cmd: x}}\n")
    assert (error.line, error.problem) == (3, "at 'stages.g.matrix': matrix needs a mapping of axis names to lists of values")


def test_a_matrix_axis_that_is_not_a_list_is_an_error(root):
    error = invalid(root, "stages:\n  g:\n    matrix:\n      a: ${train.lr}\n    do: {cmd: x}\n")
    assert (error.line, error.problem) == (4, "at 'stages.g.matrix.a': the matrix axis 'a' needs a list of values, not '0.01'")


def test_two_items_with_one_name_are_an_error(root):
    error = invalid(root, "stages:\n  e:\n    foreach: [1, '1']\n    do: {cmd: x}\n")
    assert (error.line, error.problem) == (3, "at 'stages.e.foreach': two items make the stage name 'e@1'")


@pytest.mark.parametrize("item", ["'a b'", "'a/b'", "''", "'x@y'"])
def test_an_item_that_makes_an_invalid_name_is_an_error(root, item):
    error = invalid(root, f"stages:\n  e:\n    foreach: [{item}]\n    do: {{cmd: x}}\n")
    assert error.problem.startswith("at 'stages.e.foreach': an item makes the stage name 'e@")


def test_an_error_in_a_generated_stage_names_it_at_the_line_of_the_template(root):
    error = invalid(root, "stages:\n  e:\n    foreach: [a, b]\n    do:\n      cmd: x\n      deps: ['${item}', '${nope}']\n")
    assert (error.line, error.problem) == (6, "at 'stages.e@a.deps.1': '${nope}' is not defined")


def test_a_generated_stage_is_checked_against_the_schema_after_interpolation(root):
    error = invalid(root, "stages:\n  e:\n    foreach: [a]\n    do:\n      cmd: x\n      deps: ${train.seed}\n")
    assert (error.line, error.problem) == (6, "at 'stages.e@a.deps': 7 is not a list of paths")


def test_item_defined_by_params_yaml_is_refused_in_a_foreach_stage(root):
    (root / "params.yaml").write_text("item: 1\n")
    error = invalid(root, "stages:\n  e:\n    foreach: [a]\n    do: {cmd: x}\n")
    assert error.problem == "at 'stages.e.foreach': 'item' is reserved in foreach and matrix stages, but 'params.yaml' defines it"


# -- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wdir", "dep", "path"),
    [
        (None, "a/./b", "a/b"),
        (None, "a//b/", "a/b"),
        ("sub", "../x", "x"),
        ("sub/deeper", "../../x/y", "x/y"),
        (".", "a", "a"),
        ("./sub/..", "a", "a"),
    ],
)
def test_paths_are_normalised_against_wdir(root, wdir, dep, path):
    text = f"stages:\n  t:\n    cmd: x\n    deps: ['{dep}']\n" + (f"    wdir: '{wdir}'\n" if wdir else "")
    assert stages(root, text)["t"].deps == (P(path),)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("deps", "/etc/passwd", "the path is absolute"),
        ("deps", "C:/x", "the path is absolute"),
        ("deps", "~/x", "the path starts with '~'"),
        ("deps", "../x", "the path leaves the repository (it is '../x' from the root)"),
        ("outs", "a/../../x", "the path leaves the repository (it is '../x' from the root)"),
        ("outs", ".git/hooks/post-checkout", "the path has the reserved name '.git'"),
        ("metrics", ".mlx/cache/x", "the path has the reserved name '.mlx'"),
        ("plots", "a/.GIT./b", "the path has the reserved name '.GIT.'"),
        ("outs", ".", "the path is empty"),
        ("deps", "a\\\\b", "the path contains a backslash"),
    ],
)
def test_a_path_that_leaves_the_repository_or_is_reserved_is_refused(root, field, value, reason):
    error = unsafe(root, f'stages:\n  t:\n    cmd: x\n    {field}: ["{value}"]\n')
    shown = value.replace("\\\\", "\\")
    assert error.message == f"unsafe path '{shown}' in 'mlx.yaml:4' at 'stages.t.{field}.0': {reason}"
    assert error.hint == "paths in mlx.yaml are relative to the stage's wdir and stay inside the repository"


def test_a_wdir_outside_the_repository_is_refused(root):
    error = unsafe(root, "stages:\n  t:\n    cmd: x\n    wdir: ../elsewhere\n")
    assert error.message.startswith("unsafe path '../elsewhere' in 'mlx.yaml:4' at 'stages.t.wdir': the path leaves the repository")


def test_a_params_file_outside_the_repository_is_refused_naming_its_entry(root):
    error = unsafe(root, "stages:\n  t:\n    cmd: x\n    wdir: sub\n    params:\n      - ../../p.yaml: [a]\n")
    assert error.message == (
        "unsafe path '../../p.yaml' in 'mlx.yaml:6' at 'stages.t.params.0.../../p.yaml': "
        "the path leaves the repository (it is '../p.yaml' from the root)"
    )


def test_an_out_listed_twice_in_a_stage_is_an_error(root):
    error = invalid(root, "stages:\n  t:\n    cmd: x\n    outs: [a]\n    metrics: [./a]\n")
    assert (error.line, error.problem) == (5, "at 'stages.t.metrics.0': 'a' is already an output of this stage")


def test_a_param_key_that_is_not_a_dotted_key_is_an_error(root):
    error = invalid(root, "stages:\n  t:\n    cmd: x\n    params: ['train lr']\n")
    assert (error.line, error.problem) == (4, "at 'stages.t.params.0': 'train lr' is not a params key")


# -- the schema check without jsonschema ---------------------------------------------------------

VALID = """\
vars: [{a: 1}, params.yaml]
params: [params.yaml]
stages:
  t:
    cmd: [x]
    wdir: w
    desc: d
    deps: [a]
    outs: [b, {c: {cache: false}}]
    metrics: [m]
    plots: [{p: {persist: true}}]
    params: [train.lr, {o.yaml: []}]
    env: [A_1]
    always_changed: false
  e:
    foreach: [1, 2]
    do: {cmd: x, frozen: true, deps: "${files}"}
  g:
    matrix: {x: [1], y: "${files}"}
    do: {cmd: y}
"""


def test_parsing_a_valid_pipeline_does_not_import_jsonschema(root):
    (root / "mlx.yaml").write_text(VALID)
    code = (
        "import sys; from pathlib import Path; from mlxkit.pipeline.spec import load_pipeline; "
        "load_pipeline(Path(sys.argv[1])); print('jsonschema' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, check=True)
    assert done.stdout == "False\n"


_LEAVES = st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["", "x", "${a}", "A_1", "a-b", "${", "a/b", "$x}", "1A"])
_KEYS = st.sampled_from(
    [
        "stages",
        "vars",
        "params",
        "t",
        "cmd",
        "deps",
        "outs",
        "metrics",
        "plots",
        "wdir",
        "desc",
        "frozen",
        "always_changed",
        "env",
        "foreach",
        "matrix",
        "do",
        "cache",
        "persist",
        "x",
        "params.yaml",
    ]
)
_DOCS = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=4), max_leaves=12)


def _mutations():
    """The valid document with one part replaced, so that most examples are near the rules' edges."""
    from mlxkit.formats.yamlio import load_yaml

    return mutations(load_yaml(VALID, "mlx.yaml").data, _DOCS)


@settings(deadline=None, max_examples=400)
@given(doc=st.one_of(_DOCS, _mutations(), _mutations(), _mutations()))
def test_the_quick_schema_check_agrees_with_jsonschema(doc):
    import jsonschema

    assert conforms(doc, "pipeline-1") == jsonschema.Draft202012Validator(load_schema("pipeline-1")).is_valid(doc)


def test_names_and_paths_that_yaml_reads_as_numbers_are_taken_as_written(root):
    result = stages(root, "stages:\n  1:\n    cmd: x\n    outs:\n      - 2024: {cache: false}\n")
    assert result == {"1": Stage("1", ("x",), outs=(Out(P("2024"), cache=False),), line=2)}


@settings(deadline=None, max_examples=300)
@given(
    text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
    | st.sampled_from(["..", "a/..", "./x", "x/../..", "~", "C:x", ".git", ".MLX/x"]),
    wdir=st.sampled_from([None, "sub", "a/b", "./sub/../c"]),
)
def test_a_path_in_mlx_yaml_is_refused_or_lands_inside_the_repository(tmp_path_factory, text, wdir):
    import json

    from mlxkit.fs.confine import unsafe_reason

    stage = {"cmd": "x", "deps": [text], **({"wdir": wdir} if wdir else {})}
    try:
        (result,) = pipeline_from_text(json.dumps({"stages": {"t": stage}}), tmp_path_factory.getbasetemp()).stages.values()
    except (UnsafePathError, InvalidFileError):
        return
    (dep,) = result.deps
    assert unsafe_reason(dep.posix) is None
    assert not dep.posix.startswith("../") and dep.posix != ".."
