"""A workspace directory mlx cannot list (another user's folder, a mount point): the commands that
read every pointer file, or write only what they see, leave it out with a warning, as `git status`
does; gc still deletes nothing; a target at, inside or above it is still an error."""

from __future__ import annotations

import pytest

from tests.conftest import run_as_a_user, run_subprocess

WARNING = "warning: cannot read 'secret' (Permission denied): pointer files in it, if any, are left out"
REFUSED = "cannot read 'secret': Permission denied"
HINT = "let mlx read it: it may hold pointer files"


@pytest.fixture
def walled(repo, mlx, tmp_path):
    """a.csv tracked, committed and pushed to a directory remote; secret/x, nothing of mlx's, that
    nobody but root may read (mode 000)."""
    repo.gen({"a.csv": "a\n", "secret": {"x": {"notes.txt": "mine\n"}}}, old=True)
    assert mlx("add", "a.csv").code == 0
    assert mlx("remote", "add", "-d", "origin", str(tmp_path / "remote")).code == 0
    repo.commit("a.csv")
    (repo / "secret").chmod(0)
    yield repo
    (repo / "secret").chmod(0o755)


def expect_warned(result, out: str | None = None) -> None:
    assert result.code == 0, result
    assert result.err_lines == [WARNING], result
    if out is not None:
        assert result.out == out, result


def test_status_warns_and_answers_for_what_it_can_read(walled):
    expect_warned(run_as_a_user(walled.path, "status"), "Everything is up to date (1 tracked path).\n")
    expect_warned(run_as_a_user(walled.path, "status", "--exit-code"))
    expect_warned(run_as_a_user(walled.path, "status", "."))


def test_status_json_carries_the_warning(walled):
    result = run_as_a_user(walled.path, "status", "--json")

    expect_warned(result)
    assert result.json["warnings"] == [WARNING.removeprefix("warning: ")]
    assert result.json["tracked"] == 1


def test_status_with_exit_code_still_says_what_it_found(walled):
    walled.gen({"a.csv": "changed\n"}, old=True)

    result = run_as_a_user(walled.path, "status", "--exit-code")

    assert result.code == 1, result
    assert result.err_lines == [WARNING], result
    assert result.out.startswith("modified: a.csv"), result


def test_checkout_warns_and_places_what_it_can_see(walled):
    (walled / "a.csv").unlink()

    result = run_as_a_user(walled.path, "checkout")

    expect_warned(result)
    assert (walled / "a.csv").read_text() == "a\n"


def test_fsck_warns_and_checks_what_it_can_see(walled):
    expect_warned(run_as_a_user(walled.path, "fsck"), "Checked 1 object (2 B): no problems.\n")


def test_push_fetch_and_pull_warn_once_and_transfer(walled):
    pushed = run_as_a_user(walled.path, "push")
    expect_warned(pushed)
    assert pushed.out.startswith("1 object pushed to 'origin'"), pushed
    (objects,) = walled.objects()
    walled.object_path(objects).unlink()

    fetched = run_as_a_user(walled.path, "fetch")
    expect_warned(fetched)
    assert fetched.out.startswith("1 object fetched from 'origin'"), fetched
    (walled / "a.csv").unlink()

    pulled = run_as_a_user(walled.path, "pull")  # two walks (fetch, then checkout): one warning
    expect_warned(pulled)
    assert (walled / "a.csv").read_text() == "a\n"


def test_diff_warns_and_compares_what_it_can_see(walled):
    walled.gen({"a.csv": "changed\n"}, old=True)

    result = run_as_a_user(walled.path, "diff", "--json")

    expect_warned(result)
    assert [change["path"] for change in result.json["modified"]] == ["a.csv"]


def test_diff_does_not_call_a_pointer_it_cannot_see_deleted(walled, mlx):
    (walled / "secret").chmod(0o755)
    walled.gen({"secret": {"s.csv": "s\n"}}, old=True)
    assert mlx("add", "secret/s.csv").code == 0
    walled.commit("secret/s.csv")
    (walled / "secret").chmod(0)

    expect_warned(run_as_a_user(walled.path, "diff"), "No changes between HEAD and workspace.\n")


@pytest.mark.parametrize("args", [["gc"], ["gc", "-n"], ["gc", "--all-commits"]])
def test_gc_still_deletes_nothing(walled, args):
    walled.gen({"old.bin": "old\n"}, old=True)
    assert run_subprocess(("add", "old.bin"), walled.path).code == 0
    (walled / "old.bin.mlx").unlink()  # its object is garbage now
    before = walled.objects()

    result = run_as_a_user(walled.path, *args)

    result.expect_error(12, "cannot read 'secret', so nothing was deleted: Permission denied", hint=HINT)
    assert walled.objects() == before


def test_gc_cloud_still_deletes_nothing(walled, mlx, tmp_path):
    walled.gen({"old.bin": "old\n"}, old=True)
    assert mlx("add", "old.bin").code == 0
    assert mlx("push").code == 0  # as root, who may read 'secret'
    (walled / "old.bin.mlx").unlink()  # its object on the remote is garbage now
    remote = tmp_path / "remote"
    before = sorted(path.relative_to(remote) for path in remote.rglob("*"))

    result = run_as_a_user(walled.path, "gc", "--cloud", "--all-commits")

    result.expect_error(12, "cannot read 'secret', so nothing was deleted: Permission denied", hint=HINT)
    assert sorted(path.relative_to(remote) for path in remote.rglob("*")) == before


@pytest.mark.parametrize(
    "args",
    [["status", "secret"], ["checkout", "secret"], ["push", "secret"], ["fetch", "secret/x"], ["status", "--cloud", "secret"],
     ["diff", "-t", "secret/x"], ["status", "secret/x"], ["checkout", "secret/x.mlx"]],
)
def test_a_target_at_or_inside_the_directory_is_still_an_error(walled, args):
    run_as_a_user(walled.path, *args).expect_error(12, REFUSED, hint=HINT)


def track_inside(walled, mode: int) -> None:
    """secret/t.csv tracked, then `secret` given `mode`."""
    (walled / "secret").chmod(0o755)
    walled.gen({"secret": {"t.csv": "t\n"}}, old=True)
    assert run_subprocess(("add", "secret/t.csv"), walled.path).code == 0
    (walled / "secret").chmod(mode)


@pytest.mark.parametrize(
    "args",
    [["status", "secret/t.csv"], ["status", "secret/t.csv.mlx"], ["checkout", "secret/t.csv"], ["push", "secret/t.csv"],
     ["fetch", "secret/t.csv"], ["pull", "secret/t.csv"], ["diff", "-t", "secret/t.csv"], ["status", "--cloud", "secret/t.csv"]],
)
def test_a_tracked_target_in_the_directory_is_refused_as_unreadable_by_every_command(walled, args):
    track_inside(walled, 0)

    run_as_a_user(walled.path, *args).expect_error(12, REFUSED, hint=HINT)


@pytest.mark.parametrize("args", [["status", "secret/t.csv"], ["checkout", "secret/t.csv"], ["push", "secret/t.csv"], ["status"]])
def test_a_pointer_file_in_a_directory_mlx_can_list_but_not_search_is_unreadable(walled, args):
    track_inside(walled, 0o444)

    run_as_a_user(walled.path, *args).expect_error(12, "cannot read 'secret/t.csv.mlx': Permission denied")


def test_a_target_above_the_directory_is_still_an_error(walled):
    walled.gen({"outer": {"b.csv": "b\n"}}, old=True)
    assert run_subprocess(("add", "outer/b.csv"), walled.path).code == 0
    (walled / "secret").chmod(0o755)
    (walled / "secret").rename(walled / "outer/secret")
    (walled / "outer/secret").chmod(0)
    try:
        result = run_as_a_user(walled.path, "status", "outer")
    finally:
        (walled / "outer/secret").rename(walled / "secret")

    result.expect_error(12, "cannot read 'outer/secret': Permission denied", hint=HINT)


def test_a_target_elsewhere_is_answered_without_a_warning(walled):
    walled.gen({"data": {"b.csv": "b\n"}}, old=True)
    assert run_subprocess(("add", "data/b.csv"), walled.path).code == 0

    result = run_as_a_user(walled.path, "status", "data")

    assert result.code == 0 and result.err == "", result
    assert result.out == "Everything is up to date (1 tracked path).\n", result
    pushed = run_as_a_user(walled.path, "push", "data")
    assert pushed.code == 0 and pushed.err == "", pushed


# A directory mlx may enter but not list (mode 111): a tracked path the user names in it is answered
# by every command, its pointer file read directly, as `git status secret/t.csv` answers; what needs
# the directory listed (the directory itself as a target, a walk of everything) is refused or warned
# about as above.


def test_every_command_answers_for_a_tracked_target_in_a_directory_it_can_enter_but_not_list(walled):
    track_inside(walled, 0o755)
    walled.commit("secret/t.csv")
    (walled / "secret/t.csv").write_text("changed\n")
    (walled / "secret").chmod(0o111)

    status = run_as_a_user(walled.path, "status", "secret/t.csv")
    diffed = run_as_a_user(walled.path, "diff", "--json", "-t", "secret/t.csv")
    pushed = run_as_a_user(walled.path, "push", "secret/t.csv")
    cloud = run_as_a_user(walled.path, "status", "--cloud", "secret/t.csv")

    assert (status.code, status.err, status.out) == (0, "", "modified: secret/t.csv\n"), status
    assert diffed.code == 0 and diffed.err == "", diffed
    assert [change["path"] for change in diffed.json["modified"]] == ["secret/t.csv"], diffed
    assert pushed.code == 0 and pushed.err == "", pushed
    assert pushed.out.startswith("1 object pushed to 'origin'"), pushed
    assert (cloud.code, cloud.err) == (0, ""), cloud
    assert cloud.out == "Cache and remote 'origin' are in sync (1 object of 1 path).\n", cloud


def test_fetch_and_pull_bring_back_a_tracked_target_in_a_directory_they_can_enter_but_not_list(walled):
    track_inside(walled, 0o755)
    assert run_subprocess(("push", "secret/t.csv"), walled.path).code == 0
    walled.object_path(walled.pointer("secret/t.csv")["hash"]).unlink()
    (walled / "secret/t.csv").unlink()
    (walled / "secret").chmod(0o311)  # may be entered and written, not listed

    fetched = run_as_a_user(walled.path, "fetch", "secret/t.csv")
    pulled = run_as_a_user(walled.path, "pull", "secret/t.csv")

    assert fetched.code == 0 and fetched.err == "", fetched
    assert fetched.out.startswith("1 object fetched from 'origin'"), fetched
    assert pulled.code == 0 and pulled.err == "", pulled
    assert (walled / "secret/t.csv").read_text() == "t\n"


@pytest.mark.parametrize("command", ["status", "checkout", "push", "fetch", "pull", "status --cloud", "diff -t"])
def test_the_directory_itself_is_still_refused_when_it_can_be_entered_but_not_listed(walled, command):
    track_inside(walled, 0o111)

    run_as_a_user(walled.path, *command.split(), "secret").expect_error(12, REFUSED, hint=HINT)


@pytest.mark.parametrize("args", [["status"], ["checkout"], ["push"], ["diff"]])
def test_a_walk_of_everything_still_leaves_it_out_with_a_warning(walled, args):
    track_inside(walled, 0o111)

    expect_warned(run_as_a_user(walled.path, *args))
