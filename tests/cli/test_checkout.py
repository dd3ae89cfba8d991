"""mlx checkout: make the workspace match the pointers; never destroy what the cache lacks."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess

import pytest

from tests.conftest import age
from ._helpers import b3, git, mode_of, umask

CSV = "x,y\n1,2\n"
RE_ADD = "get them from a remote with 'mlx pull', or re-add the data with 'mlx add' where you still have it"


@pytest.fixture
def tracked(repo, mlx):
    repo.gen({"a.csv": CSV, "data": {"a.csv": "a\n", "b.csv": "b\n", "sub": {"c.csv": "c\n"}}}, old=True)
    result = mlx("add", "a.csv", "data")
    assert result.code == 0, result
    return repo


def test_checkout_restores_deleted_files_and_directories(tracked, mlx):
    (tracked / "a.csv").unlink()
    shutil.rmtree(tracked / "data")

    result = mlx("checkout")

    assert result.code == 0, result
    assert result.out == "updated   a.csv\nupdated   data\n4 files placed (4 by copy), 0 deleted, 0 unchanged.\n"
    assert (tracked / "a.csv").read_text() == CSV
    assert tracked.listing("data") == ["a.csv", "b.csv", "sub/", "sub/c.csv"]
    assert (tracked / "data/sub/c.csv").read_text() == "c\n"
    assert mode_of(tracked / "a.csv") == 0o666 & ~umask()  # an editable copy, not the read-only object
    assert mlx("status").out == "Everything is up to date (2 tracked paths).\n"


def test_checkout_restores_one_deleted_file_inside_a_directory(tracked, mlx):
    (tracked / "data/sub/c.csv").unlink()

    result = mlx("checkout", "data")

    assert result.out == "updated   data\n1 file placed (1 by copy), 0 deleted, 2 unchanged.\n"
    assert (tracked / "data/sub/c.csv").read_text() == "c\n"


def test_checkout_with_nothing_to_do(tracked, mlx):
    result = mlx("checkout")

    assert result.out == "0 files placed, 0 deleted, 4 unchanged.\n"


def test_checkout_of_named_targets_only(tracked, mlx):
    (tracked / "a.csv").unlink()
    shutil.rmtree(tracked / "data")

    assert mlx("checkout", "data.mlx").code == 0

    assert (tracked / "data").is_dir()
    assert not (tracked / "a.csv").exists()


def test_checkout_refuses_to_overwrite_modified_file_not_in_cache(tracked, mlx):
    path = tracked / "a.csv"
    path.write_text("precious\n")
    before = os.stat(path)

    result = mlx("checkout")

    result.expect_error(
        15,
        "refusing to overwrite 'a.csv': its content is not in the cache",
        hint="run 'mlx add a.csv' to keep it, or pass --force to discard it",
    )
    after = os.stat(path)
    assert path.read_text() == "precious\n"
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert result.out == ""


def test_checkout_refuses_everything_before_changing_anything(tracked, mlx):
    (tracked / "data/sub/c.csv").unlink()  # restorable
    tracked.gen({"a.csv": "precious\n", "data": {"b.csv": "precious too\n"}})

    result = mlx("checkout")

    result.expect_error(
        15,
        "refusing to overwrite 'a.csv' (and 1 more): its content is not in the cache",
        hint="run 'mlx add a.csv' to keep it, or pass --force to discard it",
    )
    assert not (tracked / "data/sub/c.csv").exists()
    assert (tracked / "data/b.csv").read_text() == "precious too\n"


def test_checkout_force_overwrites(tracked, mlx):
    tracked.gen({"a.csv": "precious\n"})

    result = mlx("checkout", "--force")

    assert result.code == 0, result
    assert (tracked / "a.csv").read_text() == CSV


def test_checkout_overwrites_a_modified_file_whose_content_is_in_the_cache(tracked, mlx):
    tracked.gen({"a.csv": "v2\n"}, old=True)
    assert mlx("add", "a.csv").code == 0
    v2_pointer = (tracked / "a.csv.mlx").read_text()
    tracked.gen({"a.csv": CSV, "a.csv.mlx": v2_pointer.replace(b3("v2\n"), b3(CSV)).replace("size: 3", "size: 8")})
    tracked.gen({"a.csv": "v2\n"})  # workspace holds v2 (cached); the pointer says v1

    result = mlx("checkout")

    assert result.code == 0, result
    assert (tracked / "a.csv").read_text() == CSV


def test_checkout_to_another_version_keeps_an_edit_whose_mtime_was_set_back(tracked, mlx):
    # The edit keeps the size and inode of the cached version, and its mtime is set back (as by
    # `cp -p` or `touch -r`): only its ctime says that it is not the cached content.
    tracked.gen({"a.csv": "version 2\n"}, old=True)
    assert mlx("add", "a.csv").code == 0
    path = tracked / "a.csv"
    before = os.stat(path)
    path.write_text("edited!!!\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    pointer = (tracked / "a.csv.mlx").read_text()
    v1 = pointer.replace(b3("version 2\n"), b3(CSV)).replace("size: 10", "size: 8")  # back to a.csv's first version
    assert v1.count(b3(CSV)) == 1 and "size: 8" in v1
    (tracked / "a.csv.mlx").write_text(v1)

    result = mlx("checkout")

    result.expect_error(
        15,
        "refusing to overwrite 'a.csv': its content is not in the cache",
        hint="run 'mlx add a.csv' to keep it, or pass --force to discard it",
    )
    assert path.read_text() == "edited!!!\n"


def test_checkout_deletes_extra_files_whose_content_is_in_the_cache(tracked, mlx):
    shutil.copy(tracked / "data/a.csv", tracked / "data/copy-of-a.csv")

    result = mlx("checkout")

    assert result.code == 0, result
    assert result.out == "updated   data\n0 files placed, 1 deleted, 4 unchanged.\n"
    assert not (tracked / "data/copy-of-a.csv").exists()


def test_checkout_refuses_to_delete_extra_files_not_in_the_cache(tracked, mlx):
    tracked.gen({"data": {"sub": {"new.csv": "new\n"}}})

    result = mlx("checkout")

    result.expect_error(
        15,
        "refusing to delete 'data/sub/new.csv': its content is not in the cache",
        hint="run 'mlx add data' to keep it, or pass --force to discard it",
    )
    assert (tracked / "data/sub/new.csv").read_text() == "new\n"
    assert mlx("checkout", "--force").code == 0
    assert not (tracked / "data/sub/new.csv").exists()


def test_checkout_refuses_to_replace_a_directory_where_a_file_goes(tracked, mlx):
    (tracked / "a.csv").unlink()
    tracked.gen({"a.csv": {"inner.txt": "mine\n"}})

    result = mlx("checkout")

    assert result.code == 15, result
    assert (tracked / "a.csv/inner.txt").read_text() == "mine\n"
    assert mlx("checkout", "--force").code == 0
    assert (tracked / "a.csv").read_text() == CSV


def test_checkout_replaces_a_directory_of_cached_files_where_a_file_goes(tracked, mlx):
    (tracked / "a.csv").unlink()
    tracked.gen({"a.csv": {"copy.csv": "b\n"}}, old=True)  # the bytes of data/b.csv: in the cache
    assert mlx("status").code == 0  # the stat cache now knows this directory

    result = mlx("checkout")

    assert result.code == 0, result
    assert (tracked / "a.csv").read_text() == CSV


def test_checkout_replaces_a_file_with_cached_content_where_a_directory_goes(tracked, mlx):
    shutil.rmtree(tracked / "data")
    tracked.gen({"data": CSV})  # same bytes as a.csv, so in the cache

    result = mlx("checkout")

    assert result.code == 0, result
    assert tracked.listing("data") == ["a.csv", "b.csv", "sub/", "sub/c.csv"]


def test_checkout_missing_objects_fails_with_hint_and_restores_the_rest(tracked, mlx):
    (tracked / "a.csv").unlink()
    (tracked / "data/b.csv").unlink()
    tracked.object_path(b3(CSV)).unlink()

    result = mlx("checkout")

    result.expect_error(20, "'a.csv': objects are not in the cache", hint=RE_ADD)
    assert result.out == "updated   data\n1 file placed (1 by copy), 0 deleted, 2 unchanged.\n"
    assert (tracked / "data/b.csv").read_text() == "b\n"
    assert not (tracked / "a.csv").exists()


def test_checkout_missing_tree_object_fails(tracked, mlx):
    shutil.rmtree(tracked / "data")
    tracked.object_path(tracked.pointer("data")["hash"]).unlink()

    result = mlx("checkout", "data")

    result.expect_error(20, "'data': objects are not in the cache", hint=RE_ADD)
    assert not (tracked / "data").exists()


def test_checkout_refuses_a_symlinked_parent_directory_and_writes_nothing_outside(repo, mlx, tmp_path):
    repo.gen({"data": {"a.csv": CSV}})
    assert mlx("add", "data/a.csv").code == 0
    elsewhere = tmp_path / "elsewhere"
    (repo / "data").rename(elsewhere)
    (elsewhere / "a.csv").unlink()
    os.symlink(elsewhere, repo / "data")  # data -> elsewhere, which holds the pointer a.csv.mlx

    named = mlx("checkout", "data/a.csv")
    everything = mlx("checkout", "--force")

    named.expect_error(  # as push says it (tests/cli/test_linked_directory.py)
        12,
        "cannot read 'data': a symbolic link to a directory that holds pointer files ('data/a.csv.mlx'), and mlx does "
        "not follow symbolic links",
        hint="move the directory back into the workspace, or replace the link by a real directory",
    )
    assert everything.code == 0, everything  # pointers behind a symbolic link are left out
    assert everything.err_lines == ["warning: 'data' is a symbolic link to a directory: pointer files behind it are left out"]
    assert sorted(p.name for p in elsewhere.iterdir()) == [".gitignore", "a.csv.mlx"]


def test_checkout_replaces_a_symlinked_tracked_directory_only_with_force(repo, mlx, tmp_path):
    repo.gen({"data": {"a.csv": CSV}})
    assert mlx("add", "data").code == 0
    shutil.rmtree(repo / "data")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, repo / "data")

    refused = mlx("checkout")
    forced = mlx("checkout", "--force")

    assert refused.code == 15, refused
    assert forced.code == 0, forced
    assert not (repo / "data").is_symlink()
    assert (repo / "data/a.csv").read_text() == CSV
    assert list(elsewhere.iterdir()) == []


# -- link types ----------------------------------------------------------------------------------


def test_hardlink_checkout_shares_the_cache_inode_and_is_read_only(tracked, mlx):
    assert mlx("config", "cache.type", "hardlink").code == 0
    (tracked / "a.csv").unlink()

    result = mlx("checkout")

    assert result.out == "updated   a.csv\n1 file placed (1 by hardlink), 0 deleted, 3 unchanged.\n"
    st = os.stat(tracked / "a.csv")
    assert st.st_ino == os.stat(tracked.object_path(b3(CSV))).st_ino
    assert mode_of(tracked / "a.csv") == 0o444
    assert mlx("status").out == "Everything is up to date (2 tracked paths).\n"


def test_hardlink_checkout_restores_the_mode_a_chmod_gave_the_shared_object(tracked, mlx):
    assert mlx("config", "cache.type", "hardlink").code == 0
    assert mlx("checkout", "--relink").code == 0
    os.chmod(tracked / "a.csv", 0o555)  # the workspace file and the cache object are one inode
    assert mode_of(tracked.object_path(b3(CSV))) == 0o555
    assert mlx("status").out.startswith("modified: a.csv\n")

    assert mlx("checkout").out.startswith("updated   a.csv\n")

    assert mode_of(tracked.object_path(b3(CSV))) == 0o444
    assert mode_of(tracked / "a.csv") == 0o444
    assert mlx("status").out == "Everything is up to date (2 tracked paths).\n"


def test_hardlinks_to_one_object_leave_status_nothing_to_rehash(repo, mlx):
    # Every link to an inode changes its ctime, which the stat cache compares: identical files
    # linked to one object are recorded with the ctime of the last link.
    assert mlx("config", "cache.type", "hardlink").code == 0
    repo.gen({"data": {**{f"same-{n}.csv": "same\n" for n in range(5)}, "other.csv": "other\n"}}, old=True)
    assert mlx("add", "data").code == 0
    age(repo.cache)  # objects outside the racy window, so the checkout's records are trusted
    shutil.rmtree(repo / "data")
    assert mlx("checkout").out == "updated   data\n6 files placed (6 by hardlink), 0 deleted, 0 unchanged.\n"

    report = mlx("status", "--json").json

    assert report["is_clean"]
    assert report["counters"]["files_hashed"] == 0
    assert report["counters"]["files_from_state"] == 6


def test_unprotect_gives_a_writable_copy_of_a_hardlink(tracked, mlx):
    assert mlx("config", "cache.type", "hardlink").code == 0
    shutil.rmtree(tracked / "data")
    assert mlx("checkout").code == 0

    result = mlx("unprotect", "data")

    assert result.out == "3 files made editable (0 already were).\n"
    path = tracked / "data/a.csv"
    assert os.stat(path).st_ino != os.stat(tracked.object_path(b3("a\n"))).st_ino
    assert os.stat(path).st_nlink == 1
    assert mode_of(path) == 0o666 & ~umask()
    path.write_text("edited\n")
    assert tracked.object_path(b3("a\n")).read_text() == "a\n"
    assert mlx("unprotect", "data").out == "0 files made editable (3 already were).\n"


def test_hardlink_mode_copies_executable_files(repo, mlx):
    repo.gen({"run.sh": "#!/bin/sh\n"})
    os.chmod(repo / "run.sh", 0o755)
    assert mlx("add", "run.sh").code == 0
    assert mlx("config", "cache.type", "hardlink,copy").code == 0
    (repo / "run.sh").unlink()

    result = mlx("checkout")

    assert result.out == "updated   run.sh\n1 file placed (1 by copy), 0 deleted, 0 unchanged.\n"
    assert mode_of(repo / "run.sh") == 0o777 & ~umask()


def test_symlink_checkout_links_into_the_cache(tracked, mlx):
    assert mlx("config", "cache.type", "symlink").code == 0
    (tracked / "a.csv").unlink()

    result = mlx("checkout")

    assert result.code == 0, result
    link = tracked / "a.csv"
    assert link.is_symlink()
    assert os.readlink(link) == str(tracked.object_path(b3(CSV)))
    assert link.read_text() == CSV
    assert mlx("status").out == "Everything is up to date (2 tracked paths).\n"


def test_unprotect_replaces_a_symlink_with_a_plain_editable_file(tracked, mlx):
    assert mlx("config", "cache.type", "symlink").code == 0
    (tracked / "a.csv").unlink()
    assert mlx("checkout").code == 0

    assert mlx("unprotect", "a.csv").code == 0

    path = tracked / "a.csv"
    assert not path.is_symlink()
    assert path.read_text() == CSV
    assert mode_of(path) == 0o666 & ~umask()


def test_relink_switches_a_copy_checkout_to_hardlinks(tracked, mlx):
    assert mlx("config", "cache.type", "hardlink").code == 0
    objects = {b3(CSV), b3("a\n"), b3("b\n"), b3("c\n")}

    result = mlx("checkout", "--relink")

    assert result.code == 0, result
    assert result.out.endswith("4 files placed (4 by hardlink), 0 deleted, 0 unchanged.\n")
    workspace_inodes = {os.stat(p).st_ino for p in (tracked / "a.csv", *(tracked / "data").rglob("*.csv"))}
    assert workspace_inodes == {os.stat(tracked.object_path(d)).st_ino for d in objects}


def test_relink_twice_with_hardlinks_leaves_no_temporary_files(tracked, mlx):
    assert mlx("config", "cache.type", "hardlink").code == 0
    assert mlx("checkout", "--relink").code == 0

    assert mlx("checkout", "--relink").code == 0

    assert tracked.temp_files() == []
    assert sorted(p.name for p in (tracked / "data").iterdir()) == ["a.csv", "b.csv", "sub"]


def test_relink_back_to_copy_gives_independent_files(tracked, mlx):
    assert mlx("config", "cache.type", "hardlink").code == 0
    assert mlx("checkout", "--relink").code == 0
    assert mlx("config", "cache.type", "copy").code == 0

    assert mlx("checkout", "--relink").code == 0

    assert os.stat(tracked / "a.csv").st_nlink == 1
    assert mode_of(tracked / "a.csv") == 0o666 & ~umask()


def test_unprotect_refuses_an_untracked_path(tracked, mlx):
    tracked.gen({"free.txt": "x"})

    mlx("unprotect", "free.txt").expect_error(2, "'free.txt' is not tracked by mlx")


def test_unprotect_refuses_a_link_that_only_starts_with_the_cache_path_and_changes_nothing(tracked, mlx, tmp_path):
    assert mlx("config", "cache.type", "symlink").code == 0
    shutil.rmtree(tracked / "data")
    assert mlx("checkout").code == 0
    (tmp_path / "secret.txt").write_text("outside the repository\n")
    objects = tracked.cache / "objects"
    os.symlink(f"{objects}/../../../../secret.txt", tracked / "data/evil")  # objects/ -> cache -> .mlx -> repo -> tmp

    result = mlx("unprotect", "data")

    result.expect_error(2, "'data/evil' is a symbolic link that mlx did not make")
    assert (tracked / "data/evil").is_symlink()
    assert (tracked / "data/a.csv").is_symlink()  # refused before anything was copied


def test_unprotect_of_a_link_whose_object_left_the_cache_is_a_missing_object(tracked, mlx):
    assert mlx("config", "cache.type", "symlink").code == 0
    (tracked / "a.csv").unlink()
    assert mlx("checkout").code == 0
    tracked.object_path(b3(CSV)).unlink()

    result = mlx("unprotect", "a.csv")

    result.expect_error(
        20,
        f"'a.csv' links to object {b3(CSV)[7:19]}, which is not in the cache",
        hint="re-add the data with 'mlx add' where you still have it",
    )


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("a.csv", "run 'mlx checkout a.csv' to restore it"),  # tracked, deleted
        ("data/typo.csv", "check the name, or run 'mlx checkout data'"),
        ("data/a.csv/x", "check the name, or run 'mlx checkout data'"),  # below a file
    ],
)
def test_unprotect_of_a_path_not_in_the_workspace_is_a_usage_error(tracked, mlx, path, hint):
    (tracked / "a.csv").unlink()

    mlx("unprotect", "data", path).expect_error(2, f"'{path}' is not in the workspace", hint=hint)


def test_unprotect_refuses_a_fifo_without_opening_it(tracked):
    from tests.conftest import run_subprocess

    (tracked / "a.csv").unlink()
    os.mkfifo(tracked / "a.csv", 0o444)

    result = run_subprocess(("unprotect", "a.csv"), tracked.path, timeout=20)  # in a subprocess: it used to hang

    result.expect_error(3, "'a.csv' is not a regular file or directory", hint="mlx tracks files and directories")


def test_unprotect_in_a_directory_it_cannot_write_is_a_one_line_error(tracked, mlx):
    assert mlx("config", "cache.type", "hardlink").code == 0
    assert mlx("checkout", "--relink").code == 0
    directory = tracked / "data/sub"
    with _read_only(directory) as problem:
        result = mlx("unprotect", "data/sub")

    result.expect_error(
        3, f"cannot make 'data/sub/c.csv' editable: {problem}",
        hint="the copy is written in the file's own directory, which must be writable",
    )
    assert os.stat(directory / "c.csv").st_nlink == 2
    assert tracked.temp_files() == []
    assert mlx("unprotect", "data/sub").out == "1 file made editable (0 already were).\n"


@contextlib.contextmanager
def _read_only(directory):
    """A directory no file can be created in; yields the error's text. Root ignores modes, so for
    root the directory is made immutable (chattr +i), where the file system allows it."""
    if os.geteuid() != 0:
        os.chmod(directory, 0o555)
        try:
            yield os.strerror(errno.EACCES)
        finally:
            os.chmod(directory, 0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", directory], capture_output=True).returncode != 0:
        pytest.skip("root ignores a directory's mode, and 'chattr +i' is not available here")
    try:
        yield os.strerror(errno.EPERM)
    finally:
        subprocess.run(["chattr", "-i", directory], check=True)


# -- a fresh clone -------------------------------------------------------------------------------


def test_fresh_clone_checks_out_from_a_shared_cache(tracked, mlx, tmp_path):
    tracked.commit("data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(tracked.path), str(clone))
    assert not (clone / "a.csv").exists()

    missing = mlx("checkout", cwd=clone)
    assert mlx("config", "--local", "cache.dir", str(tracked.cache), cwd=clone).code == 0
    restored = mlx("checkout", cwd=clone)

    assert missing.code == 20, missing
    assert restored.code == 0, restored
    assert (clone / "a.csv").read_text() == CSV
    assert (clone / "data/sub/c.csv").read_text() == "c\n"
    assert git(clone, "status", "--porcelain") == ""


def test_editing_a_hardlinked_file_in_place_is_caught_by_fsck(tracked, mlx):
    # Hard links are opt-in because an in-place edit changes the cache object too; fsck says so.
    assert mlx("config", "cache.type", "hardlink").code == 0
    assert mlx("checkout", "--relink").code == 0
    path = tracked / "a.csv"
    os.chmod(path, 0o644)
    with open(path, "r+b") as handle:
        handle.write(b"X")

    result = mlx("fsck")

    assert result.code == 21, result
    assert result.out.startswith(f"corrupt: {b3(CSV)} ")


def test_symlink_checkout_of_a_directory_is_clean_and_re_adding_it_changes_nothing(tracked, mlx):
    assert mlx("config", "cache.type", "symlink").code == 0
    shutil.rmtree(tracked / "data")
    assert mlx("checkout").code == 0
    assert (tracked / "data/sub/c.csv").is_symlink()
    before = (tracked / "data.mlx").read_bytes()

    status = mlx("status")
    readd = mlx("add", "data")

    assert status.out == "Everything is up to date (2 tracked paths).\n"
    assert readd.out == "unchanged data (3 files, 6 B) -> data.mlx\n"
    assert (tracked / "data.mlx").read_bytes() == before
    assert mlx("gc", "--json").json["removed_objects"] == 0


def test_large_file_round_trip(repo, mlx):
    data = os.urandom(1 << 20) * 9  # above the size hashed through mmap and copied in the kernel
    repo.gen({"big.bin": data})

    assert mlx("add", "big.bin").code == 0
    (repo / "big.bin").unlink()
    assert mlx("checkout").code == 0

    assert (repo / "big.bin").read_bytes() == data
    assert repo.object_path(b3(data)).stat().st_size == len(data)
    assert mlx("fsck").code == 0


def test_checkout_replaces_a_directory_inside_a_tracked_directory_where_the_tree_has_a_file(tracked, mlx):
    (tracked / "data/b.csv").unlink()
    (tracked / "data/b.csv/empty").mkdir(parents=True)
    shutil.copy(tracked / "a.csv", tracked / "data/b.csv/copy.csv")  # in the cache

    result = mlx("checkout")

    assert result.code == 0, result
    assert (tracked / "data/b.csv").read_text() == "b\n"
    assert mlx("status", "--exit-code").code == 0


def test_checkout_refuses_to_replace_a_directory_holding_data_not_in_the_cache(tracked, mlx):
    (tracked / "data/b.csv").unlink()
    tracked.gen({"data": {"b.csv": {"precious.txt": "mine\n"}}})

    result = mlx("checkout")

    result.expect_error(
        15,
        "refusing to delete 'data/b.csv/precious.txt': its content is not in the cache",
        hint="run 'mlx add data' to keep it, or pass --force to discard it",
    )
    assert (tracked / "data/b.csv/precious.txt").read_text() == "mine\n"


def test_checkout_replaces_a_symlinked_tracked_file_only_with_force_and_never_writes_through_it(tracked, mlx, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    (tracked / "a.csv").unlink()
    os.symlink(outside, tracked / "a.csv")

    refused = mlx("checkout")
    forced = mlx("checkout", "--force")

    assert refused.code == 15, refused
    assert forced.code == 0, forced
    assert not (tracked / "a.csv").is_symlink()
    assert (tracked / "a.csv").read_text() == CSV
    assert outside.read_text() == "not yours\n"


def test_checkout_replaces_a_symlink_inside_a_tracked_directory_only_with_force(tracked, mlx, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not yours\n")
    (tracked / "data/a.csv").unlink()
    os.symlink(outside, tracked / "data/a.csv")

    refused = mlx("checkout")

    refused.expect_error(
        15,
        "refusing to overwrite 'data/a.csv': its content is not in the cache",
        hint="run 'mlx add data' to keep it, or pass --force to discard it",
    )
    assert (tracked / "data/a.csv").is_symlink()
    assert mlx("checkout", "--force").code == 0
    assert not (tracked / "data/a.csv").is_symlink()
    assert (tracked / "data/a.csv").read_text() == "a\n"
    assert outside.read_text() == "not yours\n"


def test_checkout_of_a_changed_directory_takes_its_files_from_the_stat_cache(tracked, mlx):
    tracked.gen({"data": {"b.csv": "edited\n", "new.csv": "new\n"}}, old=True)
    assert mlx("status").code == 0  # records the changed directory, whose tree is not in the cache

    result = mlx("checkout", "--force", "--json")

    assert result.code == 0, result
    assert result.json["counters"]["files_hashed"] == 0
    assert (tracked / "data/b.csv").read_text() == "b\n"
    assert not (tracked / "data/new.csv").exists()


@pytest.mark.parametrize("where", ["data/b.csv", "a.csv"])
def test_checkout_refuses_to_remove_a_directory_holding_ignored_files(tracked, mlx, where):
    (tracked / where).unlink()
    tracked.gen({where: {"cached.csv": "a\n", "notes.tmp": "ignored, so never cached\n"}})
    (tracked / where / ".mlxignore").write_text("*.tmp\n.mlxignore\n")

    result = mlx("checkout")

    assert result.code == 15, result
    assert (tracked / where / "notes.tmp").read_text() == "ignored, so never cached\n"
    assert mlx("checkout", "--force").code == 0
    assert (tracked / where).is_file()


def test_readding_in_hardlink_mode_leaves_the_workspace_mtime_alone(repo, mlx):
    repo.gen({"data": {"a.csv": "x\n"}}, old=True)
    assert mlx("add", "data").code == 0
    assert mlx("config", "cache.type", "hardlink").code == 0
    assert mlx("checkout", "--relink").code == 0
    before = os.stat(repo / "data" / "a.csv").st_mtime_ns
    repo.age("data/a.csv")
    aged = os.stat(repo / "data" / "a.csv").st_mtime_ns

    assert mlx("add", "data").code == 0

    assert before != aged == os.stat(repo / "data" / "a.csv").st_mtime_ns


# -- what the scan does not see --------------------------------------------------------------------


def test_checkout_refuses_to_overwrite_a_file_mlxignore_now_leaves_out(tracked, mlx):
    (tracked / ".mlxignore").write_text("c.csv\n")  # the tree lists data/sub/c.csv; add would now leave it out
    tracked.gen({"data": {"sub": {"c.csv": "my only copy\n"}}})

    mlx("checkout").expect_error(
        15, "refusing to overwrite 'data/sub/c.csv': its content is not in the cache",
        hint="run 'mlx add data' to keep it, or pass --force to discard it",
    )
    assert (tracked / "data/sub/c.csv").read_text() == "my only copy\n"

    assert mlx("checkout", "--force").code == 0
    assert (tracked / "data/sub/c.csv").read_text() == "c\n"
    assert mlx("checkout").out == "0 files placed, 0 deleted, 4 unchanged.\n"  # it converges


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_checkout_refuses_a_fifo_where_the_tree_has_a_directory(tracked, mlx):
    shutil.rmtree(tracked / "data/sub")
    os.mkfifo(tracked / "data/sub")

    mlx("checkout").expect_error(
        15, "refusing to delete 'data/sub': its content is not in the cache",
        hint="run 'mlx add data' to keep it, or pass --force to discard it",
    )

    assert mlx("checkout", "--force").code == 0
    assert (tracked / "data/sub/c.csv").read_text() == "c\n"


def test_checkout_counts_the_files_of_a_directory_it_replaces(tracked, mlx):
    directory = (tracked / "data.mlx").read_text()
    shutil.rmtree(tracked / "data")
    tracked.gen({"data": "now a file\n"})
    assert mlx("add", "data").code == 0
    file = (tracked / "data.mlx").read_text()
    (tracked / "data.mlx").write_text(directory)
    assert mlx("checkout").out == "updated   data\n3 files placed (3 by copy), 1 deleted, 1 unchanged.\n"
    (tracked / "data.mlx").write_text(file)

    result = mlx("checkout")

    assert result.out == "updated   data\n1 file placed (1 by copy), 3 deleted, 1 unchanged.\n"


def test_checkout_reports_an_empty_directory_it_creates(repo, mlx):
    (repo / "empty").mkdir()
    assert mlx("add", "empty").code == 0
    (repo / "empty").rmdir()

    assert mlx("checkout").out == "updated   empty\n0 files placed, 0 deleted, 0 unchanged.\n"
    assert (repo / "empty").is_dir()


def test_the_repository_root_as_target_selects_every_tracked_path(tracked, mlx):
    (tracked / "a.csv").unlink()

    assert mlx("status", ".").out.startswith("missing: a.csv\n")
    assert mlx("checkout", ".", cwd=tracked.path).out.startswith("updated   a.csv\n")
    assert mlx("status", "..", cwd=tracked / "data").out == "Everything is up to date (2 tracked paths).\n"


def test_symlink_checkout_relinks_after_the_repository_moved(tracked, mlx, tmp_path):
    assert mlx("config", "cache.type", "symlink").code == 0
    assert mlx("checkout", "--relink").code == 0
    assert os.readlink(tracked / "a.csv").startswith(str(tracked.path))
    moved = tmp_path / "moved"
    os.rename(tracked.path, moved)  # every link now names the cache where it used to be

    assert mlx("status", cwd=moved).out.startswith("modified: a.csv (links into the cache's old location: 'a.csv')\n")
    mlx("add", "data", cwd=moved).expect_error(
        14,
        "'data' contains links into the cache's old location: 'data/a.csv', 'data/b.csv', 'data/sub/c.csv'",
        hint="the repository moved: run 'mlx checkout' to link them again"
    )
    result = mlx("checkout", "--relink", cwd=moved)

    assert result.code == 0, result
    assert result.out == "updated   a.csv\nupdated   data\n4 files placed (4 by symlink), 0 deleted, 0 unchanged.\n"
    assert os.readlink(moved / "data/sub/c.csv").startswith(str(moved))
    assert mlx("status", cwd=moved).out == "Everything is up to date (2 tracked paths).\n"


def test_unprotect_copies_the_object_of_a_link_made_before_the_repository_moved(tracked, mlx, tmp_path):
    assert mlx("config", "cache.type", "symlink").code == 0
    assert mlx("checkout", "--relink").code == 0
    moved = tmp_path / "moved"
    os.rename(tracked.path, moved)  # the links are dangling now; the objects moved with the cache

    result = mlx("unprotect", "a.csv", "data", cwd=moved)

    assert result.code == 0, result
    assert result.out == "4 files made editable (0 already were).\n"
    assert not (moved / "data/sub/c.csv").is_symlink()
    assert (moved / "a.csv").read_text() == CSV
    assert mlx("status", cwd=moved).out == "Everything is up to date (2 tracked paths).\n"


def test_a_symlink_into_another_cache_is_refused_unless_this_cache_holds_its_object(tracked, mlx, tmp_path):
    (tracked / "a.csv").unlink()
    os.symlink(tmp_path / "elsewhere/.mlx/cache/objects/00" / ("0" * 62), tracked / "a.csv")

    result = mlx("checkout")

    assert result.code == 15, result
    assert os.path.islink(tracked / "a.csv")
