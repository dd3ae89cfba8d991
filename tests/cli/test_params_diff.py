"""mlx params diff: every params file a revision's pipeline names, whole, compared across revisions."""

from __future__ import annotations

import pytest

PIPELINE = """\
params: [extra.json]
stages:
  train:
    cmd: echo train
    params: [train.lr, {custom.yaml: [model.depth]}]
"""


@pytest.fixture
def history(repo):
    repo.gen({
        "mlx.yaml": PIPELINE,
        "params.yaml": "train:\n  lr: 0.1\n  epochs: 3\n  layers: [64, 32]\n",
        "custom.yaml": "model:\n  depth: 4\n  width: 128\n",
        "extra.json": '{"note": "first"}',
    })  # fmt: skip
    repo.commit("one")
    repo.gen({"params.yaml": "train:\n  lr: 0.2\n  epochs: 3\n  layers: [64, 64]\n", "custom.yaml": "model:\n  depth: 4\n  width: 256\n"})
    return repo


def test_diff_shows_changed_params_of_every_file_head_against_the_workspace(history, mlx):
    result = mlx("params", "diff", "--json")

    assert result.code == 0, result  # 0 although params changed
    assert result.json == {
        "old": "HEAD", "new": "workspace", "problems": {},
        "rows": [
            {"file": "custom.yaml", "key": "model.width", "old": 128, "new": 256, "changed": True},  # not a key the stage reads
            {"file": "params.yaml", "key": "train.layers", "old": [64, 32], "new": [64, 64], "changed": True},
            {"file": "params.yaml", "key": "train.lr", "old": 0.1, "new": 0.2, "changed": True},
        ],
    }  # fmt: skip


def test_diff_all_includes_unchanged_params_as_markdown(history, mlx):
    result = mlx("params", "diff", "HEAD", "--all", "--md")

    assert (result.code, result.err) == (0, ""), result
    assert result.out == (
        "| Path | Param | HEAD | workspace |\n"
        "| --- | --- | --- | --- |\n"
        "| custom.yaml | model.depth | 4 | 4 |\n"
        "| custom.yaml | model.width | 128 | 256 |\n"
        "| extra.json | note | first | first |\n"
        "| params.yaml | train.epochs | 3 | 3 |\n"
        "| params.yaml | train.layers | [64, 32] | [64, 64] |\n"
        "| params.yaml | train.lr | 0.1 | 0.2 |\n"
    )


def test_diff_between_two_commits_as_csv(history, mlx):
    history.commit("two")
    history.gen({"params.yaml": "train:\n  lr: 0.3\n"})

    result = mlx("params", "diff", "HEAD~1", "HEAD", "--csv")

    assert result.out == (
        "Path,Param,HEAD~1,HEAD\n"
        "custom.yaml,model.width,128,256\n"
        'params.yaml,train.layers,"[64, 32]","[64, 64]"\n'
        "params.yaml,train.lr,0.1,0.2\n"
    )


def test_params_file_added_after_the_old_revision_shows_none_there(repo, mlx):
    repo.gen({"mlx.yaml": "stages:\n  s:\n    cmd: echo s\n"})
    repo.commit("no params")
    repo.gen({"params.yaml": "seed: 7\n"})

    result = mlx("params", "diff", "--json")

    assert (result.json["rows"], result.json["problems"]) == ([{"file": "params.yaml", "key": "seed", "old": None, "new": 7, "changed": True}], {})


def test_params_file_the_pipeline_names_but_lacks_is_a_problem_of_that_revision(history, mlx):
    (history / "custom.yaml").unlink()

    result = mlx("params", "diff", "--json")

    assert result.code == 0, result
    assert result.err == "warning: no such params file 'custom.yaml'\n"
    assert result.json["problems"] == {"workspace": {"custom.yaml": "no such params file 'custom.yaml'"}}
    assert {"file": "custom.yaml", "key": "model.depth", "old": 4, "new": None, "changed": True} in result.json["rows"]


def test_nothing_changed_says_so_on_stderr(history, mlx):
    history.commit("two")

    result = mlx("params", "diff")

    assert (result.code, result.out, result.err) == (0, "", "no param changed between HEAD and workspace\n")


def test_unknown_revision_is_a_usage_error(history, mlx):
    mlx("params", "diff", "HEAD~5").expect_error(2, "unknown revision 'HEAD~5'", hint="name a branch, a tag or a commit ('git log' lists them)")


def test_diff_without_git_needs_git(tmp_path, mlx):
    folder = tmp_path / "plain"
    folder.mkdir()
    assert mlx("init", "--no-git", cwd=folder).code == 0

    mlx("params", "diff", cwd=folder).expect_error(17, "reading at a revision needs a git repository", hint="run 'git init' first")
