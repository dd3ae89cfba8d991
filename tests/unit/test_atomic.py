"""Atomic writes: a reader sees the old file or the new one, and a failure leaves the old one and no temp."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlxkit.fs.atomic import TEMP_PREFIX, is_temp_name, open_temp, write_atomic


def names(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


@pytest.mark.parametrize("durable", [True, False])
def test_write_atomic_creates_the_file_with_content_and_default_mode(tmp_path, durable):
    target = tmp_path / "f.yaml"
    write_atomic(target, b"a: 1\n", durable=durable)
    assert target.read_bytes() == b"a: 1\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert names(tmp_path) == ["f.yaml"]


def test_write_atomic_sets_the_mode_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "public", b"x", mode=0o644)
        write_atomic(tmp_path / "secret", b"y", mode=0o600)
        write_atomic(tmp_path / "tool", b"z", mode=0o755)
    finally:
        os.umask(old)
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in names(tmp_path)}
    assert modes == {"public": 0o644, "secret": 0o600, "tool": 0o755}


def test_write_atomic_replaces_an_existing_file_with_a_new_inode(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"old content that is longer")
    os.chmod(target, 0o600)
    old_inode = target.stat().st_ino
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert target.stat().st_ino != old_inode
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_write_atomic_replaces_a_symlink_instead_of_following_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    link = tmp_path / "link"
    link.symlink_to(victim)
    write_atomic(link, b"replacement")
    assert not link.is_symlink()
    assert link.read_bytes() == b"replacement"
    assert victim.read_bytes() == b"precious"


def test_write_atomic_of_empty_data(tmp_path):
    write_atomic(tmp_path / "empty", b"")
    assert (tmp_path / "empty").read_bytes() == b""


def test_write_atomic_failing_mid_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    """A real short write: RLIMIT_FSIZE makes write(2) fail with EFBIG half-way, as a full disk would."""
    target = tmp_path / "f"
    target.write_bytes(b"old")
    script = textwrap.dedent(
        """
        import resource, signal, sys
        from pathlib import Path
        from mlxkit.fs.atomic import write_atomic
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        try:
            write_atomic(Path(sys.argv[1]), b"n" * 300_000)
        except OSError as exc:
            print(exc.errno)
        else:
            print("no error")
        """
    )
    result = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(errno.EFBIG)
    assert target.read_bytes() == b"old"
    assert names(tmp_path) == ["f"]


def test_write_atomic_failing_at_the_rename_leaves_no_temp(tmp_path):
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "inside").write_bytes(b"kept")
    with pytest.raises(IsADirectoryError):
        write_atomic(target, b"data")
    assert names(tmp_path) == ["occupied"]
    assert names(target) == ["inside"]


def test_write_atomic_into_a_path_whose_parent_is_a_file_fails_and_leaves_nothing(tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        write_atomic(tmp_path / "file" / "child", b"data")
    assert names(tmp_path) == ["file"]
    assert (tmp_path / "file").read_bytes() == b"x"


def test_open_temp_creates_an_exclusive_private_file_named_with_the_temp_prefix(tmp_path):
    fd, name = open_temp(tmp_path)
    path = Path(name)
    try:
        assert path.parent == tmp_path
        assert path.name.startswith(TEMP_PREFIX)
        assert is_temp_name(path.name)
        assert stat.S_IMODE(os.fstat(fd).st_mode) == 0o600
        assert os.fstat(fd).st_size == 0
    finally:
        os.close(fd)
    fd2, name2 = open_temp(tmp_path)
    os.close(fd2)
    assert Path(name2) != path
    assert names(tmp_path) == sorted([path.name, Path(name2).name])


def test_is_temp_name_only_matches_the_prefix():
    assert is_temp_name(f"{TEMP_PREFIX}abc")
    assert TEMP_PREFIX == ".mlx-tmp-"
    assert not is_temp_name("data.mlx")
    assert not is_temp_name("x.mlx-tmp-abc")


@pytest.fixture
def without_unnamed_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the path a system without O_TMPFILE or /proc takes: the temp file and rename that mlx
    falls back to."""
    from mlxkit.fs import atomic

    monkeypatch.setattr(atomic, "_proc", -1)


def test_create_new_without_unnamed_files_publishes_through_a_temp_name(tmp_path, without_unnamed_files):
    from mlxkit.fs.atomic import create_new

    target = tmp_path / "object"
    old = os.umask(0o077)
    try:
        assert create_new(str(target), b"bytes", mode=0o444, durable=False) is True
        assert create_new(str(target), b"other", mode=0o444, durable=False) is False
    finally:
        os.umask(old)
    assert target.read_bytes() == b"bytes"
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert sorted(os.listdir(tmp_path)) == ["object"]


def test_place_copy_without_unnamed_files_replaces_the_destination_whole(tmp_path, without_unnamed_files):
    from mlxkit.fs.links import place

    source = tmp_path / "source"
    source.write_bytes(b"new")
    destination = tmp_path / "destination"
    destination.write_bytes(b"old")

    assert place(source, destination, ("copy",), mode=0o640) == "copy"

    assert destination.read_bytes() == b"new"
    assert stat.S_IMODE(destination.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["destination", "source"]


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd"), reason="Linux with /proc")
def test_create_new_names_an_unnamed_file_through_proc(tmp_path):
    """The O_TMPFILE way: no temp name ever appears, an existing name is kept, and the way stays on."""
    from mlxkit.fs import atomic

    target = tmp_path / "object"
    assert atomic.create_new(str(target), b"bytes", mode=0o444, durable=True) is True
    assert atomic.create_new(str(target), b"other", mode=0o444, durable=False) is False
    assert target.read_bytes() == b"bytes"
    assert stat.S_IMODE(target.stat().st_mode) == 0o444
    assert names(tmp_path) == ["object"]
    assert atomic._proc is not None and atomic._proc >= 0


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd"), reason="Linux with /proc")
def test_link_unnamed_into_a_missing_directory_is_an_error_not_a_refusal(tmp_path):
    """ENOENT because the destination's folder is gone must surface, and must not turn unnamed files off."""
    from mlxkit.fs import atomic

    fd = atomic.open_unnamed(str(tmp_path), 0o444)
    assert fd is not None
    try:
        with pytest.raises(FileNotFoundError):
            atomic.link_unnamed(fd, str(tmp_path / "gone" / "object"))
    finally:
        os.close(fd)
    assert atomic._proc >= 0


def _kernel_at_least(major: int, minor: int) -> bool:
    release = os.uname().release.split("-")[0].split(".")
    return (int(release[0]), int(release[1])) >= (major, minor)


@pytest.mark.skipif(not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd"), reason="Linux with /proc")
def test_unnamed_files_are_named_by_descriptor_where_the_kernel_allows_it(tmp_path):
    """Linux 6.10 lets a process name an O_TMPFILE it opened with linkat(AT_EMPTY_PATH), no /proc lookup."""
    from mlxkit.fs import atomic

    target = tmp_path / "object"
    assert atomic.create_new(str(target), b"bytes", mode=0o444, durable=False) is True
    assert target.read_bytes() == b"bytes"
    assert names(tmp_path) == ["object"]
    if _kernel_at_least(6, 10):
        assert atomic._link_by_descriptor is not None
        fd = atomic.open_unnamed(str(tmp_path), 0o444)
        assert fd is not None
        try:
            atomic._link_by_descriptor(fd, os.fsencode(tmp_path / "second"))
            with pytest.raises(FileExistsError):
                atomic._link_by_descriptor(fd, os.fsencode(target))
        finally:
            os.close(fd)
        assert (tmp_path / "second").read_bytes() == b""


@pytest.mark.skipif(
    not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd") or os.geteuid() != 0 or not _kernel_at_least(6, 10),
    reason="Linux 6.10 or later with /proc, as root (to give up the right to name the file by descriptor)",
)
def test_a_kernel_that_refuses_naming_by_descriptor_hands_over_to_proc(tmp_path):
    """Where linkat(AT_EMPTY_PATH) says ENOENT (a kernel before 6.10 without CAP_DAC_READ_SEARCH;
    here: a file opened under other credentials than the caller's), /proc names the file, and
    does from then on."""
    work = tmp_path / "shared"
    work.mkdir()
    work.chmod(0o777)
    script = textwrap.dedent(
        """
        import ctypes, os, sys
        from mlxkit.fs import atomic
        os.chdir(sys.argv[1])  # nobody may not pass through pytest's folders: relative names from here
        fd = atomic.open_unnamed(".", 0o666)
        os.write(fd, b"bytes")
        os.fchmod(fd, 0o666)  # whatever the umask: fs.protected_hardlinks lets nobody link what it may write
        assert atomic._link_by_descriptor is not None
        os.setresgid(65534, 65534, 65534)
        os.setresuid(65534, 65534, 65534)  # new credentials, and no capabilities
        ctypes.CDLL(None).prctl(4, 1)  # PR_SET_DUMPABLE: /proc/self/fd stays this process's own
        assert atomic.link_unnamed(fd, "./object") is True
        assert atomic._link_by_descriptor is None and atomic._proc >= 0
        fd = atomic.open_unnamed(".", 0o666)
        os.write(fd, b"more")
        assert atomic.link_unnamed(fd, "./second") is True
        """
    )
    result = subprocess.run([sys.executable, "-c", script, str(work)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (work / "object").read_bytes() == b"bytes"
    assert (work / "second").read_bytes() == b"more"
    assert names(work) == ["object", "second"]


def test_write_atomic_can_leave_the_directory_sync_to_the_caller(tmp_path):
    """mlx.lock after each stage: the file is complete at once, its folder is synced once at the end."""
    from mlxkit.fs.atomic import sync_dirs

    pending: set[Path] = set()
    (tmp_path / "a").mkdir()
    write_atomic(tmp_path / "a" / "mlx.lock", b"one", dir_syncs=pending)
    write_atomic(tmp_path / "a" / "mlx.lock", b"two", dir_syncs=pending)
    write_atomic(tmp_path / "b.json", b"{}", dir_syncs=pending)
    assert (tmp_path / "a" / "mlx.lock").read_bytes() == b"two"
    assert pending == {tmp_path / "a", tmp_path}
    sync_dirs(pending)
    assert pending == set()
    assert names(tmp_path / "a") == ["mlx.lock"]


def test_write_atomic_not_durable_defers_nothing(tmp_path):
    pending: set[Path] = set()
    write_atomic(tmp_path / "memo", b"x", durable=False, dir_syncs=pending)
    assert pending == set()


def test_the_filesystem_syncer_imports_nothing_when_it_runs(tmp_path: Path) -> None:
    # mlx pull runs it on a thread while checkout forks workers: an import on that thread would
    # hold the import lock in the fork, and the worker would wait for it forever.
    code = (
        "import sys; from pathlib import Path; from mlxkit.fs.atomic import filesystem_syncer\n"
        "sync = filesystem_syncer(Path(sys.argv[1])); before = set(sys.modules); sync()\n"
        "print(sorted(set(sys.modules) - before))"
    )
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _set_default_acl(directory: Path, user: int, group: int, other: int) -> None:
    """A minimal default ACL (user::, group::, other::) in the kernel's xattr form: version 2, then
    (tag, perm, id) entries sorted by tag. New files in `directory` then take their mode from it,
    not from the umask."""
    import struct

    undefined = 0xFFFFFFFF
    entries = [(0x01, user), (0x04, group), (0x20, other)]  # ACL_USER_OBJ, ACL_GROUP_OBJ, ACL_OTHER
    value = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, undefined) for tag, perm in entries)
    try:
        os.setxattr(directory, "system.posix_acl_default", value)
    except OSError as exc:  # pragma: no cover - a file system without ACLs
        pytest.skip(f"no POSIX ACLs here: {exc}")


def test_creates_exactly_knows_when_the_umask_or_a_default_acl_would_change_a_mode(tmp_path):
    from mlxkit.fs.atomic import creates_exactly, current_umask

    plain, acl = tmp_path / "plain", tmp_path / "acl"
    plain.mkdir()
    acl.mkdir()
    _set_default_acl(acl, 6, 0, 0)
    old = os.umask(0o022)
    try:
        assert current_umask() == 0o022
        assert creates_exactly(str(plain), 0o444) is True
        assert creates_exactly(str(plain), 0o666) is False  # the umask clears 0o022
        assert creates_exactly(str(acl), 0o444) is False
    finally:
        os.umask(old)


def test_create_new_and_place_give_the_exact_mode_under_a_default_acl(tmp_path):
    """The ACL (user rw, nothing for the rest) would make both files 0o400: the fchmod must run."""
    from mlxkit.fs.atomic import create_new
    from mlxkit.fs.links import place

    shared = tmp_path / "shared"
    shared.mkdir()
    _set_default_acl(shared, 6, 0, 0)
    source = tmp_path / "source"
    source.write_bytes(b"data")

    assert create_new(str(shared / "object"), b"bytes", mode=0o444, durable=False) is True
    assert place(source, shared / "copy", ("copy",), mode=0o644) == "copy"

    assert stat.S_IMODE((shared / "object").stat().st_mode) == 0o444
    assert stat.S_IMODE((shared / "copy").stat().st_mode) == 0o644
