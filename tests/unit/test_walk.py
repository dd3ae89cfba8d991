"""walk: files and links below a tracked directory, honouring .mlxignore files, never entering .git/.mlx."""

from __future__ import annotations

import os
import time
import re
import shutil
import stat
from pathlib import Path

import pytest

from mlxkit.errors import InvalidFileError
from mlxkit.fs.walk import POINTER_SUFFIX, Group, IgnoreRules, scan, scan_with_pointer_files, walk
from mlxkit.tracking.pointer import SUFFIX, find_pointer_files

LONG_AGO = 1_600_000_000 * 10**9


def make(root: Path, files: dict[str, str]) -> None:
    for relpath, content in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def walked(root: Path, top: str, **kwargs: object) -> list[str]:
    return sorted(entry.relpath for entry in walk(root, top, **kwargs))


def test_walk_reports_every_file_below_top_relative_to_it(tmp_path):
    make(tmp_path, {"data/a.csv": "1", "data/sub/b.csv": "22", "data/sub/deeper/c": "", "other/x": ""})
    (tmp_path / "data" / "empty").mkdir()
    entries = {entry.relpath: entry for entry in walk(tmp_path, "data")}
    assert sorted(entries) == ["a.csv", "sub/b.csv", "sub/deeper/c"]
    assert entries["sub/b.csv"].size == 2
    assert entries["a.csv"].ino == os.lstat(tmp_path / "data" / "a.csv").st_ino
    assert entries["a.csv"].mtime_ns == os.lstat(tmp_path / "data" / "a.csv").st_mtime_ns
    assert not entries["a.csv"].is_link


def test_walk_reports_the_executable_bit(tmp_path):
    make(tmp_path, {"d/run.sh": "#!/bin/sh\n", "d/plain": ""})
    os.chmod(tmp_path / "d" / "run.sh", 0o755)
    entries = {entry.relpath: entry for entry in walk(tmp_path, "d")}
    assert entries["run.sh"].is_executable
    assert not entries["plain"].is_executable
    assert stat.S_IMODE(entries["run.sh"].mode) == 0o755


def test_walk_never_enters_git_or_mlx_directories(tmp_path):
    make(tmp_path, {"data/a": "", "data/.git/config": "", "data/.mlx/config.yaml": "", "data/sub/.git/HEAD": "",
                    "data/.gitignore": "", "data/.mlxignore": ""})
    assert walked(tmp_path, "data") == [".gitignore", ".mlxignore", "a"]


def test_walk_reports_symlinks_without_following_them(tmp_path):
    make(tmp_path, {"outside/secret": "s", "outside/dir/inner": "i", "data/a": ""})
    (tmp_path / "data" / "to-file").symlink_to(tmp_path / "outside" / "secret")
    (tmp_path / "data" / "to-dir").symlink_to(tmp_path / "outside" / "dir")
    (tmp_path / "data" / "dangling").symlink_to(tmp_path / "nowhere")
    entries = {entry.relpath: entry for entry in walk(tmp_path, "data")}
    assert sorted(entries) == ["a", "dangling", "to-dir", "to-file"]
    assert entries["to-file"].is_link
    assert entries["to-dir"].is_link
    assert entries["dangling"].is_link
    assert entries["to-file"].size == len(str(tmp_path / "outside" / "secret"))


def test_walk_honours_the_root_mlxignore(tmp_path):
    make(tmp_path, {".mlxignore": "*.tmp\nbuild/\n/data/secret.txt\n", "data/a.csv": "", "data/x.tmp": "",
                    "data/sub/y.tmp": "", "data/build/out": "", "data/sub/build": "file named build",
                    "data/secret.txt": "", "data/sub/secret.txt": ""})
    assert walked(tmp_path, "data") == ["a.csv", "sub/build", "sub/secret.txt"]


def test_walk_honours_a_nested_mlxignore_with_negation(tmp_path):
    make(tmp_path, {"data/sub/.mlxignore": "*.log\n!keep.log\n", "data/sub/a.log": "", "data/sub/keep.log": "",
                    "data/sub/deeper/b.log": "", "data/sub/deeper/keep.log": "", "data/top.log": ""})
    assert walked(tmp_path, "data") == ["sub/.mlxignore", "sub/deeper/keep.log", "sub/keep.log", "top.log"]


def test_walk_nested_negation_overrides_a_root_pattern(tmp_path):
    make(tmp_path, {".mlxignore": "*.csv\n", "data/a.csv": "", "data/sub/.mlxignore": "!important.csv\n",
                    "data/sub/important.csv": "", "data/sub/other.csv": ""})
    assert walked(tmp_path, "data") == ["sub/.mlxignore", "sub/important.csv"]


def test_walk_mlxignore_in_the_walked_directory_is_anchored_there(tmp_path):
    make(tmp_path, {"data/.mlxignore": "/only-here.txt\ncache/\n", "data/only-here.txt": "",
                    "data/sub/only-here.txt": "", "data/cache/x": "", "data/sub/cache/y": ""})
    assert walked(tmp_path, "data") == [".mlxignore", "sub/only-here.txt"]


def test_walk_uses_mlxignore_files_between_the_root_and_top(tmp_path):
    make(tmp_path, {"data/.mlxignore": "raw/*.bak\n", "data/raw/a.bak": "", "data/raw/a.csv": "",
                    "data/raw/sub/b.bak": ""})
    assert walked(tmp_path, "data/raw") == ["a.csv", "sub/b.bak"]


def test_walk_cannot_reinclude_a_file_inside_an_ignored_directory(tmp_path):
    make(tmp_path, {".mlxignore": "skipped/\n", "data/skipped/.mlxignore": "!keep\n", "data/skipped/keep": "",
                    "data/kept": ""})
    assert walked(tmp_path, "data") == ["kept"]


def test_ignore_rules_for_walk_anchor_each_file_at_its_directory(tmp_path):
    make(tmp_path, {".mlxignore": "/top-only\n", "a/.mlxignore": "*.x\n"})
    rules = IgnoreRules.for_walk(tmp_path, "a/b")
    assert rules.is_ignored("top-only", is_dir=False)
    assert not rules.is_ignored("a/top-only", is_dir=False)
    assert rules.is_ignored("a/b/c.x", is_dir=False)
    assert not rules.is_ignored("c.x", is_dir=False)
    assert not IgnoreRules()


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough files (4,001 listed) for walk to stat them in worker processes when jobs > 1."""
    root = tmp_path_factory.mktemp("many")
    for n in range(41):
        directory = root / "data" / f"d{n:02}"
        directory.mkdir(parents=True)
        for m in range(100):
            (directory / f"f{m:03}").touch()
    (root / "data" / ".mlxignore").write_text("d00/\n")
    return root


@pytest.mark.parametrize("jobs", [1, 2])
def test_walk_of_many_files_is_the_same_in_one_or_several_processes(many_files, jobs):
    found = walked(many_files, "data", jobs=jobs)
    assert found == [".mlxignore"] + [f"d{n:02}/f{m:03}" for n in range(1, 41) for m in range(100)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"*.tmp\n!\n", "invalid file 'data/sub/.mlxignore:2': invalid pattern '!'"),
        (b"\\\n", "invalid file 'data/sub/.mlxignore:1': invalid pattern '\\'"),
        (b"ok\ncaf\xe9\n", "invalid file 'data/sub/.mlxignore:2': not UTF-8 text (byte 6)"),
    ],
)
def test_walk_refuses_an_unreadable_mlxignore_naming_file_and_line(tmp_path, content, message):
    make(tmp_path, {"data/sub/a": ""})
    (tmp_path / "data" / "sub" / ".mlxignore").write_bytes(content)
    with pytest.raises(InvalidFileError) as info:
        walk(tmp_path, "data")
    assert str(info.value) == message


def test_walk_refuses_an_invalid_root_mlxignore(tmp_path):
    make(tmp_path, {".mlxignore": "!\n", "data/a": ""})
    with pytest.raises(InvalidFileError, match=r"^invalid file '\.mlxignore:1': invalid pattern '!'$"):
        walk(tmp_path, "data")


# -- scan: groups and fingerprints -----------------------------------------------------------------


def groups_of(root: Path, top: str, known: dict[str, str] | None = None, **kwargs: object) -> dict[str, Group]:
    return {group.key: group for group in scan(root, top, known, **kwargs)}


def test_scan_groups_files_by_directory_keyed_by_repository_path(tmp_path):
    make(tmp_path, {"data/a.csv": "1", "data/sub/b.csv": "22", "data/sub/c": "", "data/empty-sub/.keep": ""})
    (tmp_path / "data" / "nothing").mkdir()
    groups = groups_of(tmp_path, "data")
    assert sorted(groups) == ["data", "data/empty-sub", "data/sub"]
    assert sorted(st.relpath for st in groups["data/sub"].stats) == ["sub/b.csv", "sub/c"]
    assert groups["data/sub"].directory == "data/sub"
    assert [st.size for st in groups["data"].stats] == [1]


def test_scan_sends_no_stats_for_a_group_whose_fingerprint_the_caller_knows(tmp_path):
    make(tmp_path, {"data/a/x": "1", "data/b/y": "2"})
    first = groups_of(tmp_path, "data")
    again = groups_of(tmp_path, "data", {key: group.fingerprint for key, group in first.items()})
    assert {key: group.stats for key, group in again.items()} == {"data/a": None, "data/b": None}
    assert {key: group.fingerprint for key, group in again.items()} == {key: g.fingerprint for key, g in first.items()}


def test_scan_fingerprint_moves_with_any_name_or_stat_of_its_own_files_only(tmp_path):
    make(tmp_path, {"data/a/x": "1", "data/b/y": "2"})
    path = tmp_path / "data" / "a" / "x"
    os.utime(path, ns=(LONG_AGO, LONG_AGO))
    known = {key: group.fingerprint for key, group in groups_of(tmp_path, "data").items()}

    def changed() -> list[str]:
        """The groups whose fingerprints moved since the last call."""
        nonlocal known
        groups = groups_of(tmp_path, "data", known)
        known = {key: group.fingerprint for key, group in groups.items()}
        return sorted(key for key, group in groups.items() if group.stats is not None)

    assert changed() == []
    os.utime(path, ns=(LONG_AGO, LONG_AGO + 1))
    assert changed() == ["data/a"]  # mtime (and ctime)
    time.sleep(0.05)  # past a coarse clock's tick: the kernel stamps the next ctime later
    os.utime(path, ns=(LONG_AGO, LONG_AGO + 1))
    assert changed() == ["data/a"]  # ctime alone: the stats a program can set are as they were
    os.chmod(path, 0o755)
    assert changed() == ["data/a"]  # mode
    path.write_text("12")
    os.utime(path, ns=(LONG_AGO, LONG_AGO + 1))
    assert changed() == ["data/a"]  # size
    path.rename(path.with_name("z"))
    assert changed() == ["data/a"]  # name
    make(tmp_path, {"data/c/new": ""})
    assert changed() == ["data/c"]  # a new directory is a new group; the others did not move


def test_scan_splits_a_large_directory_into_shares_that_a_new_file_moves_one_of(tmp_path, monkeypatch):
    import mlxkit.fs.walk as walk_module

    monkeypatch.setattr(walk_module, "GROUP_SIZE", 10)
    make(tmp_path, {f"data/f{n:03}": "" for n in range(45)})
    first = groups_of(tmp_path, "data")
    assert all(re.fullmatch(r"data//\d/8", key) for key in first)  # 45 names: 8 shares of about 10
    assert sum(len(group.stats) for group in first.values()) == 45
    make(tmp_path, {"data/f999": ""})
    again = groups_of(tmp_path, "data", {key: group.fingerprint for key, group in first.items()})
    assert len([group for group in again.values() if group.stats is not None]) == 1


@pytest.mark.parametrize("jobs", [1, 2])
def test_scan_of_many_files_is_the_same_in_one_or_several_processes(many_files, jobs):
    groups = scan(many_files, "data", jobs=jobs)
    assert len(groups) == 41  # d01..d40 and the top's .mlxignore; d00 is ignored
    expected = {group.key: group.fingerprint for group in scan(many_files, "data", jobs=1)}
    assert {group.key: group.fingerprint for group in groups} == expected
    known = dict(list(expected.items())[::2])
    assert sorted(g.key for g in scan(many_files, "data", known, jobs=jobs) if g.stats is None) == sorted(known)


def test_scan_in_several_processes_raises_a_deep_mlxignore_error_with_its_own_type(many_files, tmp_path):
    # Most of the tree is walked in a worker (the first 4000 names are listed here): the error still
    # surfaces here as itself, not as a worker's pickled failure.
    root = tmp_path / "copy"
    shutil.copytree(many_files, root)
    for n in range(1, 41):
        (root / "data" / f"d{n:02}" / "deep").mkdir()
        (root / "data" / f"d{n:02}" / "deep" / ".mlxignore").write_bytes(b"!\n")
    with pytest.raises(InvalidFileError, match=r"^invalid file 'data/d\d\d/deep/\.mlxignore:1': invalid pattern '!'$"):
        scan(root, "data", jobs=2)


# -- scan: pointer files ---------------------------------------------------------------------------


def pointer_files_of(root: Path, top: str, **kwargs: object) -> list[str]:
    return scan_with_pointer_files(root, top, **kwargs)[1]


def test_pointer_suffix_is_the_pointer_modules():
    assert POINTER_SUFFIX == SUFFIX


def test_scan_finds_the_pointer_files_find_pointer_files_finds_ignored_ones_too(tmp_path):
    make(tmp_path, {f"top/{path}": "" for path in [
        "a.mlx", "data/raw.mlx", "data/raw/inner.mlx", ".git/x.mlx", ".mlx/y.mlx", "sub/nested/z.mlx",
        "sub/nested/deeper/w.mlx", "deep/d/e.mlx", "data/.mlx", "kept.csv", ".mlxignore", "hidden/h.mlx",
        "hidden/deeper/g.mlx", "hidden/.mlxignore", "plain/ignored.mlx", "plain/.mlx-tmp-1.mlx", "dir.mlx/f.mlx",
    ]})
    (tmp_path / "top/.mlxignore").write_text("hidden/\nignored.mlx\n")
    (tmp_path / "top/hidden/.mlxignore").write_text("!\n")  # never read: nothing in there can be included
    (tmp_path / "top/sub/nested/.mlx").mkdir()
    (tmp_path / "top/link.mlx").symlink_to(tmp_path / "top/a.mlx")
    (tmp_path / "top/empty").mkdir()
    (tmp_path / "top/empty.mlx").mkdir()  # a directory named like a pointer is no pointer

    found = pointer_files_of(tmp_path, "top")

    assert found == ["top/a.mlx", "top/data/raw.mlx", "top/deep/d/e.mlx", "top/dir.mlx/f.mlx", "top/hidden/deeper/g.mlx",
                     "top/hidden/h.mlx", "top/plain/.mlx-tmp-1.mlx", "top/plain/ignored.mlx"]
    assert found == sorted(f"top/{p.posix}" for p in find_pointer_files(tmp_path / "top"))


def test_scan_with_pointer_files_reports_the_same_groups_as_scan(tmp_path):
    make(tmp_path, {"data/a.csv": "1", "data/x.mlx": "", "data/skip/y.mlx": "", "data/sub/b": "", ".mlxignore": "skip/\n"})
    groups, found = scan_with_pointer_files(tmp_path, "data")
    assert found == ["data/skip/y.mlx", "data/x.mlx"]
    assert sorted(groups) == sorted(scan(tmp_path, "data"))


def test_scan_of_the_walked_directory_of_a_nested_repository_reports_its_pointer_files(tmp_path):
    # the walked directory is looked inside whatever it is; only what is below it can be closed
    make(tmp_path, {"inner/a.mlx": "", "inner/.mlx/config.yaml": ""})
    assert pointer_files_of(tmp_path, "inner") == ["inner/a.mlx"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_scan_finds_pointer_files_in_one_or_several_processes(many_files, tmp_path, jobs):
    # data/, the ignored d00 (for pointer files alone) and d01..d40 are listed here (4,001 names); below them, units
    root = tmp_path / "copy"
    shutil.copytree(many_files, root)
    make(root, {"data/d00/lost.mlx": "", "data/d00/deep/er.mlx": "", "data/d05/sub/a.mlx": "", "data/d07/b.mlx": "",
                "data/d09/nested/x/n.mlx": "", "data/d12/t/t/t/c.mlx": "", "data/d20/z/q.mlx": "", "data/d20/z.mlx": ""})
    (root / "data/d09/nested/.mlx").mkdir()
    (root / "data/d20/.mlx").mkdir()  # a nested repository listed here: its units' pointer files are its own

    found = pointer_files_of(root, "data", jobs=jobs)

    assert found == ["data/d00/deep/er.mlx", "data/d00/lost.mlx", "data/d05/sub/a.mlx", "data/d07/b.mlx",
                     "data/d12/t/t/t/c.mlx"]
    assert found == sorted(f"data/{p.posix}" for p in find_pointer_files(root / "data"))


DIFFERENTIAL_FILES = ["keep.csv", "junk.bin", "a/keep.csv", "a/junk.bin", "a/b/keep.csv", "a/b/junk.bin", "c/x.csv", "c/y.bin"]


@pytest.mark.parametrize(
    "rules",
    [
        ["*", "!*/", "!*.csv"],
        ["*", "!a"],
        ["*", "!a/"],
        ["*", "!a/", "!a/b/", "!*.csv"],
        ["a/", "!a/"],
        ["*.bin", "!a/"],
        ["a", "!a/"],
        ["*", "!*/", "a/b/"],
        ["/*", "!/a", "/a/*", "!/a/b"],
        ["**/b", "!a/b/"],
    ],
)
def test_walk_ignores_what_git_ignores_for_the_same_rules(tmp_path, rules):
    """Differential: d/.mlxignore against the same lines as d/.gitignore, read by git itself."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    import subprocess

    make(tmp_path, {f"d/{name}": "1" for name in DIFFERENTIAL_FILES})
    text = "".join(f"{line}\n" for line in rules)
    (tmp_path / "d" / ".mlxignore").write_text(text)
    (tmp_path / "d" / ".gitignore").write_text(text)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    listed = subprocess.run(
        ["git", "ls-files", "-o", "--exclude-standard", "--", "d"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    by_git = sorted(path.removeprefix("d/") for path in listed if path not in ("d/.gitignore", "d/.mlxignore"))

    by_mlx = [path for path in walked(tmp_path, "d") if path not in (".gitignore", ".mlxignore")]

    assert by_mlx == by_git
