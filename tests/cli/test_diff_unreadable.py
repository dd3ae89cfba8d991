"""mlx diff follows the walk's rules of the other commands (docs/design.md, "Cannot be read"): a
symbolic link to a directory of pointer files is left out with a warning and nothing behind it is
called deleted; a target at, inside or above it, or a pointer file mlx cannot read, is exit 12."""

from __future__ import annotations

import pytest

from tests.conftest import run_as_a_user, run_subprocess

LINK_WARNING = "warning: 'data' is a symbolic link to a directory: pointer files behind it are left out"
LINK_REFUSED = (
    "cannot read 'data': a symbolic link to a directory that holds pointer files ('data/b.csv.mlx'), and mlx does "
    "not follow symbolic links"
)
LINK_HINT = "move the directory back into the workspace, or replace the link by a real directory"


@pytest.fixture
def linked(repo, mlx, tmp_path):
    """a.csv and data/b.csv tracked and committed; then data/ moved out of the repository and linked
    back as `data`."""
    repo.gen({"a.csv": "a\n", "data": {"b.csv": "b\n"}}, old=True)
    assert mlx("add", "a.csv", "data/b.csv").code == 0
    repo.commit("a.csv and data/b.csv")
    (repo / "data").rename(tmp_path / "other-disk")
    (repo / "data").symlink_to(tmp_path / "other-disk")
    return repo


@pytest.mark.parametrize("args", [["diff"], ["diff", "--json"], ["diff", "-t", "a.csv"], ["diff", "workspace", "HEAD"]])
def test_diff_does_not_call_a_pointer_behind_a_link_deleted(linked, mlx, args):
    linked.gen({"a.csv": "changed\n"}, old=True)

    result = mlx(*args)

    assert result.code == 0, result
    assert "b.csv" not in result.out, result
    assert "a.csv" in result.out, result
    if "-t" in args:
        assert result.err == "", result  # the link holds none of the target's pointers: nothing to say
    else:
        assert result.err_lines == [LINK_WARNING], result


def test_diff_json_carries_the_link_warning(linked, mlx):
    result = mlx("diff", "--json")

    assert result.code == 0, result
    assert result.json["deleted"] == [] and result.json["is_clean"], result
    assert result.json["warnings"] == [LINK_WARNING.removeprefix("warning: ")]


@pytest.mark.parametrize("target", ["data", "data/b.csv", "data/b.csv.mlx"])
def test_a_diff_target_at_or_inside_the_link_is_an_error(linked, mlx, target):
    mlx("diff", "-t", target).expect_error(12, LINK_REFUSED, hint=LINK_HINT)


def test_a_diff_target_above_the_link_is_an_error(linked, mlx):
    (linked / "outer").mkdir()
    (linked / "data").rename(linked / "outer" / "data")

    result = mlx("diff", "-t", "outer")

    result.expect_error(12, LINK_REFUSED.replace("'data", "'outer/data"), hint=LINK_HINT)


@pytest.fixture
def secret(repo, mlx):
    """a.csv and secret/t.csv tracked and committed."""
    repo.gen({"a.csv": "a\n", "secret": {"t.csv": "t\n"}}, old=True)
    assert mlx("add", "a.csv", "secret/t.csv").code == 0
    repo.commit("a.csv and secret/t.csv")
    yield repo
    (repo / "secret").chmod(0o755)
    (repo / "secret" / "t.csv.mlx").chmod(0o644)


@pytest.mark.parametrize("args", [["diff"], ["diff", "-t", "secret/t.csv"], ["diff", "-t", "secret"]])
def test_diff_of_a_pointer_file_mlx_cannot_open_is_unreadable(secret, args):
    (secret / "secret" / "t.csv.mlx").chmod(0)

    run_as_a_user(secret.path, *args).expect_error(12, "cannot read 'secret/t.csv.mlx': Permission denied")


@pytest.mark.parametrize("args", [["diff"], ["diff", "-t", "secret/t.csv"], ["diff", "HEAD", "workspace", "--json"]])
def test_diff_of_a_pointer_file_in_a_directory_mlx_can_list_but_not_search_is_unreadable(secret, args):
    (secret / "secret").chmod(0o444)

    result = run_as_a_user(secret.path, *args)

    result.expect_error(12, "cannot read 'secret/t.csv.mlx': Permission denied")
    assert run_subprocess(("status",), secret.path).code == 0  # root may read it: the repository is fine


def test_diff_of_an_mlx_lock_mlx_cannot_read_is_unreadable(repo, mlx):
    repo.gen({
        "mlx.yaml": "stages:\n  build:\n    cmd: mkdir -p out && cp raw.txt out/r.txt\n    deps: [raw.txt]\n    outs: [out]\n",
        "raw.txt": "1\n",
    }, old=True)
    assert mlx("run").code == 0
    repo.commit("a run")
    (repo / "mlx.lock").chmod(0)
    try:
        run_as_a_user(repo.path, "diff").expect_error(12, "cannot read 'mlx.lock': Permission denied")
    finally:
        (repo / "mlx.lock").chmod(0o644)
