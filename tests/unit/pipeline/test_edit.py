"""Editing mlx.yaml from the command line: the new text is inserted, every other byte stays."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from mlxkit.errors import InvalidFileError, PipelineError, UnsafePathError, UnsupportedFormatError, UsageError
from mlxkit.fs.confine import unsafe_reason
from mlxkit.pipeline.edit import AddStageResult, FreezeResult, add_stage, set_frozen

PIPELINE = """\
# The churn pipeline.
vars:
  - params.yaml   # defaults

stages:
    prepare:   # reads the raw export
        cmd: python src/prepare.py
        deps: [data/raw]
        outs:
          - data/prepared

    train:
        cmd: |
          python src/train.py
          echo done

# keep evaluation last
"""


def write(root: Path, text: str) -> Path:
    path = root / "mlx.yaml"
    path.write_bytes(text.encode())
    return path


def read(root: Path) -> str:
    return (root / "mlx.yaml").read_bytes().decode()


# -- mlx stage add --------------------------------------------------------------------------


def test_add_stage_creates_mlx_yaml_with_stages(tmp_path):
    result = add_stage(tmp_path, "prepare", "python src/prepare.py", deps=["src/prepare.py", "data/raw"], outs=["data/prepared"])
    assert result == AddStageResult("prepare", replaced=False, created=True)
    assert read(tmp_path) == (
        "stages:\n"
        "  prepare:\n"
        "    cmd: python src/prepare.py\n"
        "    deps:\n"
        "    - src/prepare.py\n"
        "    - data/raw\n"
        "    outs:\n"
        "    - data/prepared\n"
    )


def test_add_stage_keeps_comments_blank_lines_and_order_and_follows_the_files_indentation(tmp_path):
    write(tmp_path, PIPELINE)
    add_stage(
        tmp_path, "evaluate", "python src/evaluate.py --split 'test set'",
        deps=["src/evaluate.py", "models/model.pkl"], outs=["eval/preds.csv"], params=["evaluate", "thresholds.yaml:low,high"],
        metrics=["metrics.json"], plots=["plots/roc.csv"], outs_no_cache=["eval/big.csv"], wdir=".",
    )  # fmt: skip
    head, tail = PIPELINE.split("\n# keep evaluation last\n")
    assert read(tmp_path) == (
        head + "\n"
        "    evaluate:\n"
        "        cmd: python src/evaluate.py --split 'test set'\n"
        "        wdir: .\n"
        "        deps:\n"
        "          - src/evaluate.py\n"
        "          - models/model.pkl\n"
        "        params:\n"
        "          - evaluate\n"
        "          - thresholds.yaml: [low, high]\n"
        "        outs:\n"
        "          - eval/preds.csv\n"
        "          - eval/big.csv: {cache: false}\n"
        "        metrics:\n"
        "          - metrics.json\n"
        "        plots:\n"
        "          - plots/roc.csv\n"
        "\n# keep evaluation last\n" + tail
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param(
            "stages:\n  a:\n    cmd: x\n  b:\n    cmd: w\nparams:\n- extra.yaml\n",
            "stages:\n  a:\n    cmd: x\n  b:\n    cmd: w\n  c:\n    cmd: y\n    deps:\n    - a\nparams:\n- extra.yaml\n",
            id="no blank line between stages: none added",
        ),
        pytest.param(
            "stages:\n  a:\n    cmd: x\n    deps:\n      # none yet\n  # more stages below\n",
            "stages:\n  a:\n    cmd: x\n    deps:\n      # none yet\n  c:\n    cmd: y\n    deps:\n    - a\n  # more stages below\n",
            id="comments indented into the last stage stay with it",
        ),
        pytest.param(
            "stages:\n  a:\n    cmd: x  # no newline",
            "stages:\n  a:\n    cmd: x  # no newline\n  c:\n    cmd: y\n    deps:\n    - a\n",
            id="after a last line without a line break",
        ),
        pytest.param(
            "stages:\r\n  a:\r\n    cmd: x\r\n",
            "stages:\r\n  a:\r\n    cmd: x\r\n  c:\r\n    cmd: y\r\n    deps:\r\n    - a\r\n",
            id="windows line endings kept",
        ),
    ],
)
def test_add_stage_goes_below_the_last_stage_in_the_files_own_style(tmp_path, before, after):
    write(tmp_path, before)
    add_stage(tmp_path, "c", "y", deps=["a"])
    assert read(tmp_path) == after


def test_add_stage_adds_the_stages_key_at_the_end_when_missing(tmp_path):
    write(tmp_path, "# settings first\nvars:\n- params.yaml\n")
    add_stage(tmp_path, "a", "x")
    assert read(tmp_path) == "# settings first\nvars:\n- params.yaml\nstages:\n  a:\n    cmd: x\n"


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "\n\n"])
def test_add_stage_to_a_file_with_no_document(tmp_path, text):
    write(tmp_path, text)
    add_stage(tmp_path, "a", "x")
    assert read(tmp_path) == text + "stages:\n  a:\n    cmd: x\n"


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("stages:\nvars: []\n", "stages:\n  a:\n    cmd: x\nvars: []\n"),
        ("stages: ~  # later\nvars: []\n", "stages:  # later\n  a:\n    cmd: x\nvars: []\n"),
        ("stages: {}\n", "stages:\n  a:\n    cmd: x\n"),
        ("stages: {}", "stages:\n  a:\n    cmd: x\n"),
    ],
)
def test_add_stage_replaces_an_empty_stages_value_with_a_block(tmp_path, before, after):
    write(tmp_path, before)
    add_stage(tmp_path, "a", "x")
    assert read(tmp_path) == after


def test_add_stage_appends_to_stages_written_in_flow_style(tmp_path):
    write(tmp_path, "stages: {a: {cmd: x}}  # compact\n")
    add_stage(tmp_path, "b", "y", deps=["a b", "c,d"], outs_no_cache=["o"])
    assert read(tmp_path) == "stages: {a: {cmd: x}, b: {cmd: y, deps: [a b, 'c,d'], outs: [{o: {cache: false}}]}}  # compact\n"


def test_add_stage_refuses_an_existing_name_without_force(tmp_path):
    write(tmp_path, PIPELINE)
    with pytest.raises(UsageError) as info:
        add_stage(tmp_path, "train", "python other.py")
    assert (info.value.message, info.value.hint) == ("stage 'train' already exists in mlx.yaml", "pass --force to replace it")
    assert read(tmp_path) == PIPELINE


def test_add_stage_with_force_replaces_that_stage_and_nothing_else(tmp_path):
    write(tmp_path, PIPELINE)
    result = add_stage(tmp_path, "prepare", "python src/prepare2.py", deps=["data/raw2"], outs=["data/prepared"], force=True)
    assert result == AddStageResult("prepare", replaced=True, created=False)
    assert read(tmp_path) == PIPELINE.replace(
        "    prepare:   # reads the raw export\n        cmd: python src/prepare.py\n        deps: [data/raw]\n",
        "    prepare:\n        cmd: python src/prepare2.py\n        deps:\n          - data/raw2\n",
    )


def test_add_stage_in_flow_style_writes_keys_in_the_order_of_a_block_stage(tmp_path):
    write(tmp_path, "stages: {a: {cmd: x}}\n")
    add_stage(tmp_path, "b", "y", outs=["o"], deps=["d"], wdir="w")
    assert read(tmp_path) == "stages: {a: {cmd: x}, b: {cmd: y, wdir: w, deps: [d], outs: [o]}}\n"


def test_add_stage_with_force_in_flow_style_replaces_in_place(tmp_path):
    write(tmp_path, "stages: {a: {cmd: x}, b: {cmd: y}}\n")
    add_stage(tmp_path, "a", "z", force=True)
    assert read(tmp_path) == "stages: {a: {cmd: z}, b: {cmd: y}}\n"


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("eval@small", "'@' is reserved for the stages that foreach and matrix generate"),
        ("-x", "a stage name is letters, digits, '_', '.' and '-', and starts with a letter, digit or '_'"),
        ("a b", "a stage name is letters, digits, '_', '.' and '-', and starts with a letter, digit or '_'"),
        ("", "a stage name is letters, digits, '_', '.' and '-', and starts with a letter, digit or '_'"),
    ],
)
def test_add_stage_refuses_invalid_names(tmp_path, name, hint):
    with pytest.raises(UsageError) as info:
        add_stage(tmp_path, name, "x")
    assert (info.value.message, info.value.hint) == (f"invalid stage name '{name}'", hint)
    assert not (tmp_path / "mlx.yaml").exists()


@pytest.mark.parametrize(
    ("wdir", "path", "why"),
    [
        (None, "/etc/passwd", "the path is absolute"),
        (None, "../outside", "the path leaves the repository (it is '../outside' from the root)"),
        ("sub", "../../outside", "the path leaves the repository (it is '../outside' from the root)"),
        ("sub", "~/x", "the path starts with '~'"),
        ("sub", "C:x", "the path is absolute"),
        (None, ".git/hooks/x", "the path has the reserved name '.git'"),
        (None, "", "the path is empty"),
    ],
)
def test_add_stage_refuses_paths_that_leave_the_repository(tmp_path, wdir, path, why):
    with pytest.raises(UnsafePathError) as info:
        add_stage(tmp_path, "a", "x", deps=[path], wdir=wdir)
    assert info.value.message == f"unsafe path '{path}': {why}"
    assert not (tmp_path / "mlx.yaml").exists()


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        (["a b"], UsageError, "'a b' is not a params key"),
        (["conf.yaml:lr,x..y"], UsageError, "'x..y' is not a params key"),
        (["conf.ini:lr"], UnsupportedFormatError, "cannot read params from 'conf.ini': not a .yaml, .yml, .json or .toml file"),
    ],
)
def test_add_stage_refuses_params_that_reading_mlx_yaml_would_refuse(tmp_path, params, error, message):
    with pytest.raises(error) as info:
        add_stage(tmp_path, "a", "x", params=params)
    assert info.value.message == message
    assert not (tmp_path / "mlx.yaml").exists()


def test_add_stage_refuses_an_empty_wdir_and_takes_dot_slash_for_the_root(tmp_path):
    with pytest.raises(UnsafePathError, match="^unsafe path '': the path is empty$"):
        add_stage(tmp_path, "a", "x", wdir="")
    add_stage(tmp_path, "a", "x", deps=["d"], wdir="./")
    assert yaml.safe_load(read(tmp_path))["stages"]["a"] == {"cmd": "x", "wdir": "./", "deps": ["d"]}


def test_add_stage_accepts_a_path_that_leaves_wdir_but_stays_inside(tmp_path):
    add_stage(tmp_path, "a", "x", deps=["../data"], wdir="sub")
    assert yaml.safe_load(read(tmp_path))["stages"]["a"] == {"cmd": "x", "wdir": "sub", "deps": ["../data"]}


def test_add_stage_refuses_an_empty_command(tmp_path):
    with pytest.raises(UsageError, match="^the stage has no command$"):
        add_stage(tmp_path, "a", "  ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("stages:\n  a: {}\n  a: {}\n", "invalid file 'mlx.yaml:3': duplicate key 'a'"),
        ("- a\n", "invalid file 'mlx.yaml:1': the top level is not a mapping"),
        ("stages:\n- a\n", "invalid file 'mlx.yaml:2': 'stages' is not a mapping of stage names to stages"),
    ],
)
def test_add_stage_refuses_a_file_it_cannot_read_and_leaves_it_alone(tmp_path, text, message):
    write(tmp_path, text)
    with pytest.raises(InvalidFileError) as info:
        add_stage(tmp_path, "b", "y")
    assert str(info.value) == message
    assert read(tmp_path) == text


def test_add_stage_refuses_when_the_edit_would_not_read_back_as_intended(tmp_path):
    write(tmp_path, "{vars: []}\n")
    with pytest.raises(PipelineError) as info:
        add_stage(tmp_path, "a", "x")
    assert (info.value.message, info.value.hint) == (
        "could not edit mlx.yaml without changing other parts of it", "edit mlx.yaml by hand"
    )
    assert read(tmp_path) == "{vars: []}\n"


def test_add_stage_keeps_the_files_mode(tmp_path):
    path = write(tmp_path, "stages: {}\n")
    path.chmod(0o600)
    add_stage(tmp_path, "a", "x")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_add_stage_refuses_an_mlx_yaml_that_is_a_symbolic_link(tmp_path):
    (tmp_path / "elsewhere.yaml").write_text("stages: {}\n")
    (tmp_path / "mlx.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    with pytest.raises(UnsafePathError, match="'mlx.yaml' is a symbolic link"):
        add_stage(tmp_path, "a", "x")
    assert (tmp_path / "elsewhere.yaml").read_text() == "stages: {}\n"


_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30).filter(lambda text: text.strip() != "")
_PATH = st.from_regex(r"[A-Za-z0-9_@%+=,-][A-Za-z0-9_.@%+=, #:*&!'\"-]{0,12}", fullmatch=True).filter(
    lambda path: unsafe_reason(path) is None  # 'c:x' reads as a drive
)
_KEY = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,8}(\.[A-Za-z0-9_][A-Za-z0-9_-]{0,8})?", fullmatch=True)


@settings(deadline=None, max_examples=200)  # timings are not what this property checks
@given(cmd=_TEXT, deps=st.lists(_PATH, max_size=3), outs=st.lists(_PATH, max_size=2), keys=st.lists(_KEY, max_size=2))
def test_add_stage_of_any_values_reads_back_and_leaves_the_rest_byte_identical(cmd, deps, outs, keys):
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        write(root, PIPELINE)
        add_stage(root, "new", cmd, deps=deps, outs=outs, params=keys)
        text = read(root)
    head, tail = PIPELINE.split("\n# keep evaluation last\n")
    assert text.startswith(head + "\n") and text.endswith("\n# keep evaluation last\n" + tail)
    stages = yaml.safe_load(text)["stages"]
    assert list(stages) == ["prepare", "train", "new"]
    expected = {"cmd": cmd, "deps": deps, "params": keys, "outs": outs}
    assert stages["new"] == {key: value for key, value in expected.items() if value}
    assert stages["train"] == {"cmd": "python src/train.py\necho done\n"}


# -- mlx freeze / unfreeze ------------------------------------------------------------------


def test_freeze_inserts_frozen_as_the_first_key_line(tmp_path):
    write(tmp_path, PIPELINE)
    assert set_frozen(tmp_path, "train", True) == FreezeResult("train", True, changed=True)
    assert read(tmp_path) == PIPELINE.replace("    train:\n", "    train:\n        frozen: true\n")


def test_freeze_and_unfreeze_edit_the_existing_value_in_place(tmp_path):
    original = "stages:\n  a:\n    cmd: x\n    frozen: false   # until v2\n    deps: [y]\n"
    write(tmp_path, original)
    set_frozen(tmp_path, "a", True)
    assert read(tmp_path) == original.replace("frozen: false", "frozen: true")
    set_frozen(tmp_path, "a", False)
    assert read(tmp_path) == original


def test_freeze_of_a_frozen_stage_does_not_rewrite_the_file(tmp_path):
    path = write(tmp_path, "stages:\n  a:\n    frozen: yes\n    cmd: x\n  b:\n    cmd: y\n")
    inode = os.stat(path).st_ino
    assert set_frozen(tmp_path, "a", True) == FreezeResult("a", True, changed=False)
    assert set_frozen(tmp_path, "b", False) == FreezeResult("b", False, changed=False)
    assert os.stat(path).st_ino == inode
    assert read(tmp_path) == "stages:\n  a:\n    frozen: yes\n    cmd: x\n  b:\n    cmd: y\n"


def test_freeze_fills_an_empty_frozen_value(tmp_path):
    write(tmp_path, "stages:\n  a:\n    cmd: x\n    frozen:\n")
    set_frozen(tmp_path, "a", True)
    assert read(tmp_path) == "stages:\n  a:\n    cmd: x\n    frozen: true\n"


def test_freeze_a_stage_written_in_flow_style(tmp_path):
    write(tmp_path, "stages:\n  a: {cmd: x}\n  b: {}\n")
    set_frozen(tmp_path, "a", True)
    set_frozen(tmp_path, "b", True)
    assert read(tmp_path) == "stages:\n  a: {frozen: true, cmd: x}\n  b: {frozen: true}\n"


def test_freeze_a_foreach_template_freezes_its_do(tmp_path):
    write(tmp_path, "stages:\n  eval:\n    foreach: [small, large]\n    do:\n      cmd: python eval.py ${item}\n")
    set_frozen(tmp_path, "eval", True)
    assert read(tmp_path) == (
        "stages:\n  eval:\n    foreach: [small, large]\n    do:\n      frozen: true\n      cmd: python eval.py ${item}\n"
    )


def test_freeze_of_a_generated_stage_points_to_its_template(tmp_path):
    write(tmp_path, PIPELINE)
    with pytest.raises(UsageError) as info:
        set_frozen(tmp_path, "eval@small", True)
    assert info.value.message == "cannot freeze 'eval@small' on its own: it is generated by the foreach or matrix of 'eval'"
    assert info.value.hint == "freeze all its items with 'mlx freeze eval'"
    with pytest.raises(UsageError, match="^cannot unfreeze 'eval@small' on its own"):
        set_frozen(tmp_path, "eval@small", False)


def test_freeze_of_an_unknown_stage_suggests_a_name(tmp_path):
    write(tmp_path, PIPELINE)
    with pytest.raises(UsageError) as info:
        set_frozen(tmp_path, "trian", True)
    assert (info.value.message, info.value.hint) == ("there is no stage 'trian' in mlx.yaml", "did you mean 'train'?")
    assert read(tmp_path) == PIPELINE


def test_freeze_without_mlx_yaml_says_there_is_no_such_stage(tmp_path):
    with pytest.raises(UsageError, match="^there is no stage 'a' in mlx.yaml$"):
        set_frozen(tmp_path, "a", True)


def test_freeze_refuses_a_stage_that_is_not_a_mapping(tmp_path):
    write(tmp_path, "stages:\n  a: python x.py\n")
    with pytest.raises(InvalidFileError, match=r"^invalid file 'mlx.yaml:2': stage 'a' is not a mapping$"):
        set_frozen(tmp_path, "a", True)
