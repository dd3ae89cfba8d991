"""mlx metrics show / diff: metrics at git revisions without checking them out, and how they changed."""

from __future__ import annotations

import pytest

PIPELINE = "stages:\n  train:\n    cmd: echo train\n    metrics: [m.json]\n"
CACHED = "stages:\n  s:\n    cmd: cp src.json m.json\n    deps: [src.json]\n    metrics: [{m.json: {cache: true}}]\n"


@pytest.fixture
def history(repo):
    """Three commits of m.json (kept in git), the workspace changed after the last."""
    repo.gen({"mlx.yaml": PIPELINE, "m.json": '{"acc": 0.5, "eval": {"loss": 0.4}, "epochs": 3}'})
    repo.commit("one")
    repo.gen({"m.json": '{"acc": 0.6, "eval": {"loss": 0.3}, "epochs": 3}'})
    repo.commit("two")
    repo.gen({"m.json": '{"acc": 0.8, "eval": {"loss": 0.2}, "epochs": 3}'})
    repo.commit("three")
    repo.gen({"m.json": '{"acc": 0.9, "eval": {"loss": 0.2}, "epochs": 4, "f1": 0.7}'})
    return repo


def short(repo, rev: str) -> str:
    return repo.git("rev-parse", "--short=7", rev).strip()


def test_show_without_options_reads_the_workspace(history, mlx):
    result = mlx("metrics", "show", "--json")

    assert result.code == 0, result
    assert result.json == {"revisions": [{
        "revision": "workspace", "commit": None, "files": {"m.json": {"acc": 0.9, "epochs": 4, "eval.loss": 0.2, "f1": 0.7}},
        "problems": {},
    }]}  # fmt: skip


def test_show_all_commits_lists_the_workspace_then_every_commit_newest_first(history, mlx):
    result = mlx("metrics", "show", "--all-commits", "--json")

    assert result.code == 0, result
    revisions = result.json["revisions"]
    assert [r["revision"] for r in revisions] == ["workspace", "main", short(history, "HEAD~1"), short(history, "HEAD~2")]
    assert [r["files"]["m.json"]["acc"] for r in revisions] == [0.9, 0.8, 0.6, 0.5]
    assert revisions[1]["commit"] == history.git("rev-parse", "HEAD").strip()


def test_show_all_branches_and_all_tags_name_each_tip_once(history, mlx):
    history.git("branch", "old", "HEAD~2")
    history.git("tag", "v1", "HEAD~1")
    history.git("tag", "-a", "-m", "annotated", "v2", "HEAD")  # the same commit as main

    branches = mlx("metrics", "show", "--all-branches", "--json").json["revisions"]
    tags = mlx("metrics", "show", "--all-tags", "--json").json["revisions"]
    both = mlx("metrics", "show", "-a", "-T", "--csv")

    assert [(r["revision"], r["files"]["m.json"]["acc"]) for r in branches] == [("workspace", 0.9), ("main", 0.8), ("old", 0.5)]
    assert [(r["revision"], r["files"]["m.json"]["acc"]) for r in tags] == [("workspace", 0.9), ("v1", 0.6), ("v2", 0.8)]
    assert both.out.splitlines()[1:] == ["workspace,m.json,0.9,4,0.2,0.7", "main,m.json,0.8,3,0.2,-", "old,m.json,0.5,3,0.4,-", "v1,m.json,0.6,3,0.3,-"]


def test_show_named_revisions_only_with_rev(history, mlx):
    result = mlx("metrics", "show", "-r", "HEAD~2", "-r", "workspace", "--md")

    assert (result.code, result.err) == (0, ""), result
    assert result.out == (
        "| Revision | Path | acc | epochs | eval.loss | f1 |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| HEAD~2 | m.json | 0.5 | 3 | 0.4 | - |\n"
        "| workspace | m.json | 0.9 | 4 | 0.2 | 0.7 |\n"
    )


def test_show_rounds_to_precision_in_tables_but_not_in_json(repo, mlx):
    repo.gen({"mlx.yaml": PIPELINE, "m.json": '{"acc": 0.123456789}'})

    assert mlx("metrics", "show", "--csv").out == "Revision,Path,acc\nworkspace,m.json,0.12346\n"
    assert mlx("metrics", "show", "--csv", "--precision", "2").out == "Revision,Path,acc\nworkspace,m.json,0.12\n"
    assert mlx("metrics", "show", "--json").json["revisions"][0]["files"]["m.json"]["acc"] == 0.123456789


def test_show_prints_aligned_columns_when_not_on_a_terminal(history, mlx):
    result = mlx("metrics", "show", "-r", "HEAD", "-r", "workspace")

    assert (result.code, result.err) == (0, ""), result
    assert result.out == (
        "Revision   Path    acc  epochs  eval.loss  f1\n"
        "HEAD       m.json  0.8  3       0.2        -\n"
        "workspace  m.json  0.9  4       0.2        0.7\n"
    )


def test_revision_without_the_metrics_file_is_a_problem_of_that_revision_only(repo, mlx):
    repo.gen({"mlx.yaml": PIPELINE})
    repo.commit("declared, not yet produced")
    repo.gen({"m.json": '{"acc": 0.5}'})
    repo.commit("produced")

    result = mlx("metrics", "show", "-r", "HEAD~1", "-r", "HEAD", "--json")

    assert result.code == 0, result
    assert result.err == "warning: no such metrics file 'm.json@HEAD~1'\n"
    assert [(r["files"], r["problems"]) for r in result.json["revisions"]] == [
        ({}, {"m.json": "no such metrics file 'm.json@HEAD~1'"}),
        ({"m.json": {"acc": 0.5}}, {}),
    ]


def test_show_names_three_revisions_per_broken_file_and_counts_the_rest(repo, mlx):
    for n in range(5):
        repo.gen({"bad.json": "{broken", "m.json": f'{{"acc": 0.{n}}}'})
        repo.commit(f"commit {n}")
    repo.gen({"bad.json": '{"acc": 1}'})  # the workspace reads

    result = mlx("metrics", "show", "--all-commits", "bad.json", "m.json")

    assert result.code == 0, result
    lines = result.err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["warning"] * 4, result
    assert all("bad.json@" in line and "not valid JSON" in line for line in lines[:3])
    assert lines[3] == "warning: 'bad.json' could not be read at 2 more revisions (--json lists them)"
    assert len(result.out.splitlines()) == 1 + 2 + 5  # a header, the workspace's two files, m.json of 5 commits
    problems = mlx("metrics", "show", "--all-commits", "bad.json", "--json").json["revisions"]
    assert sum(1 for revision in problems if "bad.json" in revision["problems"]) == 5


def test_cached_metrics_out_is_read_from_the_cache_at_an_older_commit(repo, mlx):
    repo.gen({"mlx.yaml": CACHED, "src.json": '{"acc": 0.5}'})
    assert mlx("run").code == 0
    repo.commit("first run")
    repo.gen({"src.json": '{"acc": 0.75}'})
    assert mlx("run").code == 0
    repo.commit("second run")
    assert repo.git("ls-files", "m.json") == ""  # a cached out: git has only mlx.lock's digest

    result = mlx("metrics", "diff", "HEAD~1", "HEAD", "--csv")

    assert (result.code, result.err) == (0, ""), result
    assert result.out == "Path,Metric,HEAD~1,HEAD,Change,Relative\nm.json,acc,0.5,0.75,0.25,+50%\n"


def test_cached_metrics_out_missing_from_the_cache_is_reported_not_fatal(repo, mlx):
    from ._helpers import b3

    repo.gen({"mlx.yaml": CACHED, "src.json": '{"acc": 0.5}'})
    assert mlx("run").code == 0
    repo.commit("run")
    repo.object_path(b3('{"acc": 0.5}')).unlink()

    result = mlx("metrics", "show", "-r", "HEAD", "-r", "workspace", "--json")

    assert result.code == 0, result
    short_digest = b3('{"acc": 0.5}').removeprefix("blake3:")[:12]
    assert result.json["revisions"][0]["problems"] == {"m.json": f"'m.json' at HEAD is not in the cache ({short_digest})"}
    assert result.json["revisions"][1]["files"] == {"m.json": {"acc": 0.5}}


def test_targets_name_files_outside_the_pipeline_and_csv_rows(repo, mlx):
    repo.gen({"log.csv": "epoch,loss\n1,0.5\n2,0.25\n"})
    repo.commit("log")

    last = mlx("metrics", "show", "log.csv", "-r", "HEAD", "--json")
    every = mlx("metrics", "show", "log.csv", "--all-rows", "--csv")

    assert last.json["revisions"][0]["files"] == {"log.csv": {"epoch": 2, "loss": 0.25}}
    assert every.out == "Revision,Path,row.0.epoch,row.0.loss,row.1.epoch,row.1.loss\nworkspace,log.csv,1,0.5,2,0.25\n"


def test_malformed_metrics_at_one_revision_leave_the_others_shown(history, mlx):
    history.gen({"m.json": "{not json"})

    result = mlx("metrics", "show", "-r", "workspace", "-r", "HEAD", "--csv")

    assert result.code == 0, result
    assert result.err == "warning: invalid file 'm.json:1': not valid JSON: Expecting property name enclosed in double quotes\n"
    assert result.out == "Revision,Path,acc,epochs,eval.loss\nHEAD,m.json,0.8,3,0.2\n"


def test_unknown_revision_is_a_usage_error_on_one_line(history, mlx):
    for args in (("metrics", "show", "-r", "nope"), ("metrics", "diff", "nope")):
        mlx(*args).expect_error(2, "unknown revision 'nope'", hint="name a branch, a tag or a commit ('git log' lists them)")


def test_output_formats_cannot_be_combined(history, mlx):
    mlx("metrics", "diff", "--md", "--json").expect_error(2, "--json and --md cannot be combined", hint="choose one output format")


# -- diff ----------------------------------------------------------------------------------------------


def test_diff_compares_head_with_the_workspace_by_default(history, mlx):
    result = mlx("metrics", "diff", "--json")

    assert result.code == 0, result  # 0 although metrics changed
    assert result.json["old"] == "HEAD" and result.json["new"] == "workspace"
    assert result.json["rows"] == [
        {"file": "m.json", "key": "acc", "old": 0.8, "new": 0.9, "change": pytest.approx(0.1), "relative": pytest.approx(0.125), "changed": True},
        {"file": "m.json", "key": "epochs", "old": 3, "new": 4, "change": 1, "relative": pytest.approx(1 / 3), "changed": True},
        {"file": "m.json", "key": "f1", "old": None, "new": 0.7, "change": None, "relative": None, "changed": True},
    ]


def test_diff_markdown_for_a_ci_comment(history, mlx):
    result = mlx("metrics", "diff", "HEAD~2", "HEAD", "--md")

    assert (result.code, result.err) == (0, ""), result
    assert result.out == (
        "| Path | Metric | HEAD~2 | HEAD | Change | Relative |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| m.json | acc | 0.5 | 0.8 | 0.3 | +60% |\n"
        "| m.json | eval.loss | 0.4 | 0.2 | -0.2 | -50% |\n"
    )


def test_diff_all_includes_unchanged_metrics_in_csv(history, mlx):
    result = mlx("metrics", "diff", "HEAD~1", "HEAD", "--all", "--csv", "--precision", "3")

    assert result.out == (
        "Path,Metric,HEAD~1,HEAD,Change,Relative\n"
        "m.json,acc,0.6,0.8,0.2,+33.3%\n"
        "m.json,epochs,3,3,0,+0%\n"
        "m.json,eval.loss,0.3,0.2,-0.1,-33.3%\n"
    )


def test_diff_without_changes_says_so_on_stderr(history, mlx):
    result = mlx("metrics", "diff", "HEAD", "main")

    assert (result.code, result.out, result.err) == (0, "", "no metric changed between HEAD and main\n")
