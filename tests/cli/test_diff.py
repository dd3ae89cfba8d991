"""mlx diff: tracked files added, modified, deleted and renamed between revisions and the workspace,
down to the files inside tracked directories; a tree missing from the cache is said, not guessed."""

from __future__ import annotations

import pytest

from ._helpers import b3, tree_bytes

DATA = {"a.csv": "a\n", "b.csv": "b\n", "c.csv": "c\n"}
EDITED = {"a.csv": "a changed\n", "c.csv": "c\n", "new.csv": "new\n"}  # b.csv deleted

WORKSPACE_EDITS = """\
Added:
    data/new.csv

Deleted:
    data/b.csv

Modified:
    data/
    data/a.csv

files summary: 1 added, 1 deleted, 1 modified
"""


@pytest.fixture
def committed(repo, mlx):
    """A tracked directory and a tracked file, committed."""
    repo.gen({"data": DATA, "one.txt": "one\n"}, old=True)
    assert mlx("add", "data", "one.txt").code == 0
    repo.commit("data")
    return repo


def edit(repo) -> None:
    """Modify one file of data/, add one, delete one (backdated, so the stat cache may vouch for them)."""
    (repo / "data" / "b.csv").unlink()
    repo.gen({"data": {"a.csv": EDITED["a.csv"], "new.csv": EDITED["new.csv"]}}, old=True)


def test_diff_of_head_and_workspace_shows_workspace_edits_before_they_are_added(committed, mlx):
    edit(committed)

    result = mlx("diff")

    assert (result.code, result.out, result.err) == (0, WORKSPACE_EDITS, "")


def test_diff_between_two_commits_reads_their_pointers_and_trees(committed, mlx):
    edit(committed)
    assert mlx("add", "data").code == 0
    committed.commit("edited")

    assert mlx("diff", "HEAD~1", "HEAD").out == WORKSPACE_EDITS
    assert mlx("diff", "HEAD~1").out == WORKSPACE_EDITS  # B defaults to the workspace
    assert mlx("diff").out == "No changes between HEAD and workspace.\n"


def test_diff_of_the_reverse_direction_swaps_added_and_deleted(committed, mlx):
    edit(committed)
    assert mlx("add", "data").code == 0
    committed.commit("edited")

    result = mlx("diff", "HEAD", "HEAD~1")

    assert result.out == (
        "Added:\n    data/b.csv\n\n"
        "Deleted:\n    data/new.csv\n\n"
        "Modified:\n    data/\n    data/a.csv\n\n"
        "files summary: 1 added, 1 deleted, 1 modified\n"
    )


def test_a_clean_diff_is_one_line_and_exits_0(committed, mlx):
    result = mlx("diff")

    assert (result.code, result.out, result.err) == (0, "No changes between HEAD and workspace.\n", "")
    assert mlx("diff", "--md").out == "No changes between HEAD and workspace.\n"


def test_diff_md_is_a_markdown_table_of_status_and_path(committed, mlx):
    edit(committed)
    committed.gen({"one.txt": "one | two\n"}, old=True)

    result = mlx("diff", "--md")

    assert (result.code, result.err) == (0, "")
    assert result.out == (
        "| Status   | Path         |\n"
        "|----------|--------------|\n"
        "| added    | data/new.csv |\n"
        "| deleted  | data/b.csv   |\n"
        "| modified | data/        |\n"
        "| modified | data/a.csv   |\n"
        "| modified | one.txt      |\n"
    )


def test_diff_json_gives_digests_sizes_and_per_directory_counts(committed, mlx):
    edit(committed)

    report = mlx("diff", "--json").json

    old_tree, new_tree = b3(tree_bytes(DATA)), b3(tree_bytes(EDITED))
    assert (report["a"], report["b"], report["is_clean"]) == ("HEAD", "workspace", False)
    assert report["added"] == [{"path": "data/new.csv", "old": None, "new": b3("new\n"), "size": 4, "is_dir": False}]
    assert report["deleted"] == [{"path": "data/b.csv", "old": b3("b\n"), "new": None, "size": 2, "is_dir": False}]
    assert report["modified"] == [
        {"path": "data", "old": old_tree, "new": new_tree, "size": 16, "is_dir": True},
        {"path": "data/a.csv", "old": b3("a\n"), "new": b3("a changed\n"), "size": 10, "is_dir": False},
    ]
    assert report["directories"] == [{"path": "data", "added": 1, "modified": 1, "deleted": 1, "renamed": 0}]
    assert (report["renamed"], report["not_in_cache"], report["warnings"]) == ([], [], [])


def test_a_second_diff_hashes_nothing(committed, mlx):
    edit(committed)

    first = mlx("diff", "--json").json["counters"]
    second = mlx("diff", "--json").json["counters"]

    assert first["files_hashed"] == 2  # the edited file and the new one
    assert second["files_hashed"] == 0
    assert second["files_from_state"] > 0


def test_a_file_moved_with_its_content_unchanged_is_renamed(committed, mlx):
    (committed / "data" / "c.csv").rename(committed / "data" / "d.csv")

    result = mlx("diff")

    assert result.out == (
        "Modified:\n    data/\n\n"
        "Renamed:\n    data/c.csv -> data/d.csv\n\n"
        "files summary: 0 added, 0 deleted, 0 modified, 1 renamed\n"
    )


def test_copies_of_one_content_are_not_guessed_as_renames(repo, mlx):
    repo.gen({"data": {"x1": "same\n", "x2": "same\n"}}, old=True)
    assert mlx("add", "data").code == 0
    repo.commit("copies")
    (repo / "data" / "x1").rename(repo / "data" / "y1")
    (repo / "data" / "x2").rename(repo / "data" / "y2")
    repo.age("data")

    report = mlx("diff", "--json").json

    assert report["renamed"] == []
    assert [c["path"] for c in report["added"]] == ["data/y1", "data/y2"]
    assert [c["path"] for c in report["deleted"]] == ["data/x1", "data/x2"]


def test_a_tree_missing_from_the_cache_is_reported_as_a_whole(committed, mlx):
    old_tree = committed.pointer("data")["hash"]
    edit(committed)
    assert mlx("add", "data").code == 0
    committed.commit("edited")
    committed.object_path(old_tree).unlink()

    result = mlx("diff", "HEAD~1", "HEAD")

    assert result.code == 0, result
    assert result.out == (
        "Modified:\n    data/\n\n"
        f"Not in cache:\n    data/ (tree {old_tree[7:19]} at HEAD~1: its files are not listed)\n\n"
        "files summary: 0 added, 0 deleted, 0 modified, 1 not in cache\n"
    )
    assert result.err == "hint: bring the missing trees with 'mlx fetch' at that revision (or 'mlx fetch --all-commits')\n"
    report = mlx("diff", "HEAD~1", "HEAD", "--json").json
    assert report["not_in_cache"] == [{"path": "data", "digest": old_tree, "revision": "HEAD~1"}]
    assert report["directories"] == []
    assert mlx("diff", "HEAD~1", "HEAD", "--hide-missing").out == "Modified:\n    data/\n\nfiles summary: 0 added, 0 deleted, 0 modified\n"


def test_a_stage_out_recorded_only_in_the_lockfile_is_compared_and_git_kept_metrics_are_not(repo, mlx):
    repo.gen({
        "mlx.yaml": "stages:\n  build:\n    cmd: mkdir -p out && cp raw.txt out/r.txt && cp raw.txt m.json\n"
                    "    deps: [raw.txt]\n    outs: [out]\n    metrics: [m.json]\n",
        "raw.txt": "1\n",
    }, old=True)
    assert mlx("run").code == 0
    repo.commit("first run")
    repo.gen({"raw.txt": "2\n"}, old=True)
    assert mlx("run").code == 0
    repo.age("out")

    before_commit = mlx("diff")
    repo.commit("second run")

    expected = "Modified:\n    out/\n    out/r.txt\n\nfiles summary: 0 added, 0 deleted, 1 modified\n"
    assert before_commit.out == expected
    assert mlx("diff", "HEAD~1", "HEAD").out == expected


def test_targets_limit_the_diff_to_paths_below_them(committed, mlx):
    edit(committed)
    committed.gen({"one.txt": "two\n"}, old=True)

    assert mlx("diff", "-t", "data/a.csv").out == "Modified:\n    data/a.csv\n\nfiles summary: 0 added, 0 deleted, 1 modified\n"
    assert mlx("diff", "--targets", "one.txt").out == "Modified:\n    one.txt\n\nfiles summary: 0 added, 0 deleted, 1 modified\n"
    mlx("diff", "-t", "nothing").expect_error(
        2, "'nothing' is not tracked by mlx at HEAD or workspace", "name a tracked path, or a directory holding some"
    )


def test_diff_of_an_unknown_revision_is_a_usage_error(committed, mlx):
    mlx("diff", "no-such-branch").expect_error(
        2, "unknown revision 'no-such-branch'", "name a branch, a tag or a commit ('git log' lists them)"
    )


def test_diff_needs_git(tmp_path, mlx):
    assert mlx("init", "--no-git", cwd=tmp_path).code == 0

    mlx("diff", cwd=tmp_path).expect_error(17, "mlx diff needs a git repository", "run 'git init' first")


def test_json_and_md_together_are_refused(committed, mlx):
    mlx("diff", "--json", "--md").expect_error(2, "--json and --md cannot be used together")


def test_a_moved_directory_is_renamed_with_its_files(committed, mlx):
    assert mlx("move", "data", "moved").code == 0

    result = mlx("diff")

    assert result.out == (
        "Renamed:\n    data/ -> moved/\n    data/a.csv -> moved/a.csv\n    data/b.csv -> moved/b.csv\n    data/c.csv -> moved/c.csv\n\n"
        "files summary: 0 added, 0 deleted, 0 modified, 3 renamed\n"
    )


def test_a_tracked_path_gone_from_the_disk_is_deleted_as_the_workspace_holds_it(committed, mlx):
    (committed / "one.txt").unlink()

    report = mlx("diff", "--json").json

    assert report["deleted"] == [{"path": "one.txt", "old": b3("one\n"), "new": None, "size": 4, "is_dir": False}]


def test_pointer_files_of_a_nested_repository_are_its_own(committed, mlx):
    nested = committed / "sub"
    nested.mkdir()
    assert mlx("init", cwd=nested).code == 0
    committed.gen({"sub": {"inner.txt": "inner\n"}}, old=True)
    assert mlx("add", "inner.txt", cwd=nested).code == 0
    committed.commit("nested")

    assert mlx("diff").out == "No changes between HEAD and workspace.\n"
    assert mlx("diff", "HEAD~1", "HEAD").out == "No changes between HEAD~1 and HEAD.\n"
