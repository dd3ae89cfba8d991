"""mlx add: files and directories into the cache, pointer files beside them, .gitignore lines."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import run_as_a_user

from ._helpers import b3, is_git_ignored, mode_of, tree_bytes, umask

CSV = "x,y\n1,2\n"


# -- files ---------------------------------------------------------------------------------------


def test_add_file_writes_pointer_with_format_path_hash_size(repo, mlx):
    repo.gen({"data": {"a.csv": CSV}})

    result = mlx("add", "data/a.csv")

    assert result.code == 0, result
    assert result.out == "added     data/a.csv (8 B) -> data/a.csv.mlx\n"
    assert result.err == "next: git add data/a.csv.mlx data/.gitignore\n"
    assert (repo / "data/a.csv.mlx").read_text() == f"format: 1\npath: a.csv\nhash: {b3(CSV)}\nsize: 8\n"


def test_add_file_copies_its_bytes_into_a_read_only_object(repo, mlx):
    repo.gen({"a.csv": CSV})

    assert mlx("add", "a.csv").code == 0

    obj = repo.object_path(b3(CSV))
    assert obj.read_bytes() == CSV.encode()
    assert mode_of(obj) == 0o444
    assert repo.objects() == {b3(CSV).removeprefix("blake3:")}


def test_add_never_moves_the_workspace_file(repo, mlx):
    (path,) = repo.gen({"model.bin": b"\x00weights" * 100})
    os.chmod(path, 0o640)
    before = os.stat(path)

    assert mlx("add", "model.bin").code == 0

    after = os.stat(path)
    assert (after.st_ino, after.st_nlink, after.st_mode, after.st_mtime_ns) == (
        before.st_ino, 1, before.st_mode, before.st_mtime_ns,
    )
    assert path.read_bytes() == b"\x00weights" * 100


def test_add_puts_the_name_in_the_nearest_gitignore(repo, mlx):
    repo.gen({"data": {"raw": {"a.csv": CSV}}, ".gitignore": "*.log\n"})

    assert mlx("add", "data/raw").code == 0

    assert (repo / "data/.gitignore").read_text() == "/raw\n"
    assert (repo / ".gitignore").read_text() == "*.log\n"
    assert is_git_ignored(repo.path, "data/raw/a.csv")
    assert not is_git_ignored(repo.path, "data/raw.mlx")


def test_add_appends_to_an_existing_gitignore_once(repo, mlx):
    repo.gen({"a.csv": CSV, ".gitignore": "*.log"})  # no final newline

    assert mlx("add", "a.csv").code == 0
    repo.gen({"a.csv": CSV + "3,4\n"})
    assert mlx("add", "a.csv").code == 0

    assert (repo / ".gitignore").read_text() == "*.log\n/a.csv\n"


def test_re_add_after_edit_updates_the_pointer(repo, mlx):
    repo.gen({"a.csv": CSV})
    assert mlx("add", "a.csv").code == 0
    repo.gen({"a.csv": CSV + "3,4\n"})

    result = mlx("add", "a.csv")

    assert result.code == 0, result
    assert result.out == "updated   a.csv (12 B) -> a.csv.mlx\n"
    assert repo.pointer("a.csv")["hash"] == b3(CSV + "3,4\n")
    assert repo.pointer("a.csv")["size"] == 12
    assert {b3(CSV)[7:], b3(CSV + "3,4\n")[7:]} <= repo.objects()  # the old version stays in the cache


@pytest.mark.parametrize("where", ["a.csv", "data/a.csv"], ids=["file", "in a directory"])
def test_re_add_stores_an_edit_whose_mtime_was_set_back(repo, mlx, where):
    # Same size, same inode, old mtime (as `cp -p` or `touch -r` leave it): the ctime tells, so the
    # edit is stored rather than the pointer kept at the old content.
    top = where.split("/")[0]
    repo.gen({"a.csv": CSV, "data": {"b.csv": "b\n"}} if top == "a.csv" else {"data": {"a.csv": CSV, "b.csv": "b\n"}}, old=True)
    assert mlx("add", top).code == 0
    path = repo / where
    before = os.stat(path)
    path.write_text(CSV.replace("1", "9"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    result = mlx("add", top, "--json")

    assert result.code == 0, result
    assert [(p["path"], p["change"]) for p in result.json["paths"]] == [(top, "updated")]
    assert result.json["counters"]["objects_written"] == 1
    assert b3(CSV.replace("1", "9"))[7:] in repo.objects()


def test_re_add_with_nothing_changed_is_unchanged_and_writes_nothing(repo, mlx):
    repo.gen({"data": {"a.csv": CSV, "b.csv": "b\n", "sub": {"c.csv": "c\n"}}, "m.bin": b"m"}, old=True)
    assert mlx("add", "data", "m.bin").code == 0
    pointers = {name: (repo / name).read_bytes() for name in ("data.mlx", "m.bin.mlx")}

    result = mlx("add", "data", "m.bin", "--json")

    assert result.code == 0, result
    report = result.json
    assert [(p["path"], p["change"]) for p in report["paths"]] == [("data", "unchanged"), ("m.bin", "unchanged")]
    assert report["counters"]["objects_written"] == 0
    assert report["counters"]["files_hashed"] == 0
    assert report["counters"]["objects_skipped"] == 4
    assert {name: (repo / name).read_bytes() for name in pointers} == pointers


def test_re_add_unchanged_text_output_says_unchanged_and_suggests_nothing(repo, mlx):
    repo.gen({"a.csv": CSV}, old=True)
    assert mlx("add", "a.csv").code == 0

    result = mlx("add", "a.csv")

    assert result.out == "unchanged a.csv (8 B) -> a.csv.mlx\n"
    assert result.err == ""


def test_add_json_reports_paths_and_counters(repo, mlx):
    repo.gen({"a.csv": CSV})

    result = mlx("add", "a.csv", "--json")

    assert result.code == 0, result
    assert result.json == {
        "paths": [
            {"path": "a.csv", "pointer": "a.csv.mlx", "hash": b3(CSV), "size": 8, "files": None, "change": "added"}
        ],
        "counters": {"files_hashed": 1, "files_from_state": 0, "objects_written": 1, "objects_skipped": 0},
        "gitignores_changed": [".gitignore"],
        "warnings": [],
    }


def test_add_relative_to_a_subdirectory(repo, mlx):
    repo.gen({"data": {"a.csv": CSV}})

    result = mlx("add", "a.csv", cwd=repo / "data")

    assert result.code == 0, result
    assert repo.pointer("data/a.csv")["path"] == "a.csv"


def test_add_absolute_paths_inside_the_repository(repo, mlx, tmp_path):
    repo.gen({"a.csv": CSV, "b.csv": "b\n"})
    os.symlink(repo.path, tmp_path / "via-link")  # as with a symlinked home directory

    result = mlx("add", str(repo / "a.csv"), str(tmp_path / "via-link" / "b.csv"))

    assert result.code == 0, result
    assert result.out.splitlines() == ["added     a.csv (8 B) -> a.csv.mlx", "added     b.csv (2 B) -> b.csv.mlx"]


def test_add_empty_file(repo, mlx):
    repo.gen({"empty.txt": ""})

    assert mlx("add", "empty.txt").code == 0

    assert repo.pointer("empty.txt") == {"format": 1, "path": "empty.txt", "hash": b3(b""), "size": 0}
    (repo / "empty.txt").unlink()
    assert mlx("checkout").code == 0
    assert (repo / "empty.txt").read_bytes() == b""


@pytest.mark.parametrize(
    "name", ["données été.csv", "with space", "日本語", "a#b!c[1]*?.txt", "#hash", "!bang", "trailing "]
)
def test_add_unicode_spaces_and_gitignore_specials_in_names(repo, mlx, name):
    repo.gen({"data": {name: CSV}})

    result = mlx("add", f"data/{name}")

    assert result.code == 0, result
    assert repo.pointer(f"data/{name}")["path"] == name
    assert is_git_ignored(repo.path, f"data/{name}")
    assert not is_git_ignored(repo.path, f"data/{name}.mlx")
    (repo / "data" / name).unlink()
    assert mlx("checkout").code == 0
    assert (repo / "data" / name).read_text() == CSV
    assert mlx("status").out == "Everything is up to date (1 tracked path).\n"


def test_add_refuses_names_with_a_backslash(repo, mlx):
    # A backslash is a separator on Windows: such a name could not be checked out there.
    repo.gen({"data": {"back\\slash": CSV}})

    mlx("add", "data/back\\slash").expect_error(14, "unsafe path 'data/back\\slash': the path contains a backslash")
    mlx("add", "data").expect_error(
        14, "cannot track 'data/back\\slash': the path contains a backslash", hint="rename it, or list it in .mlxignore"
    )
    assert not (repo / "data/back\\slash.mlx").exists()
    assert not (repo / "data.mlx").exists()


# -- directories ---------------------------------------------------------------------------------


def test_add_directory_writes_tree_object_and_pointer_with_files(repo, mlx):
    files = {"a.csv": CSV, "sub/b.txt": "b\n", "sub/deeper/c.bin": b"\x01\x02"}
    repo.gen({"data": {"a.csv": CSV, "sub": {"b.txt": "b\n", "deeper": {"c.bin": b"\x01\x02"}}}})

    result = mlx("add", "data")

    assert result.code == 0, result
    assert result.out == "added     data (3 files, 12 B) -> data.mlx\n"
    tree = tree_bytes(files)
    assert (repo / "data.mlx").read_text() == f"format: 1\npath: data\nhash: {b3(tree)}\nsize: 12\nfiles: 3\n"
    assert repo.object_path(b3(tree)).read_bytes() == tree
    assert repo.objects() == {b3(tree)[7:]} | {b3(content)[7:] for content in files.values()}


def test_add_directory_stores_identical_files_once(repo, mlx):
    repo.gen({"data": {"a.txt": "same", "b.txt": "same", "c.txt": "same"}})

    assert mlx("add", "data").code == 0

    assert len(repo.objects()) == 2  # one file object and the tree


def test_add_directory_honours_mlxignore(repo, mlx):
    repo.gen({
        ".mlxignore": "*.tmp\n",
        "data": {
            "keep.csv": CSV, "skip.tmp": "x",
            "logs": {"run.log": "x"},
            "sub": {".mlxignore": "secret.txt\n", "secret.txt": "s", "public.txt": "p"},
        },
    })
    (repo / "data" / ".mlxignore").write_text("logs/\n")

    assert mlx("add", "data").code == 0

    tree = json.loads(repo.object_path(repo.pointer("data")["hash"]).read_bytes())
    assert [entry["path"] for entry in tree["entries"]] == [".mlxignore", "keep.csv", "sub/.mlxignore", "sub/public.txt"]
    assert repo.pointer("data")["files"] == 4


def test_add_directory_skips_git_metadata_files_and_directories(repo, mlx):
    repo.gen({"data": {"a.csv": CSV, "module": {".git": "gitdir: ../../.git/modules/module\n", "m.txt": "m"},
                       "clone": {".git": {"HEAD": "ref: refs/heads/main\n"}, "c.txt": "c"}}})

    assert mlx("add", "data").code == 0

    tree = json.loads(repo.object_path(repo.pointer("data")["hash"]).read_bytes())
    assert [entry["path"] for entry in tree["entries"]] == ["a.csv", "clone/c.txt", "module/m.txt"]


def test_add_directory_skips_fifos_and_sockets(repo, mlx):
    import socket

    repo.gen({"data": {"a.csv": CSV}})
    os.mkfifo(repo / "data" / "pipe")  # opening it to hash it would block forever
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(repo / "data" / "sock"))
    try:
        added = mlx("add", "data")
        status = mlx("status")
    finally:
        server.close()

    assert added.code == 0, added
    assert repo.pointer("data")["hash"] == b3(tree_bytes({"a.csv": CSV}))
    assert status.out == "Everything is up to date (1 tracked path).\n"


def test_add_refuses_a_fifo(repo, mlx):
    os.mkfifo(repo / "pipe")

    mlx("add", "pipe").expect_error(3, "'pipe' is not a regular file or directory", hint="mlx tracks files and directories")


def test_add_empty_directory_tracks_an_empty_tree(repo, mlx):
    (repo / "empty").mkdir()

    result = mlx("add", "empty")

    assert result.code == 0, result
    empty_tree = tree_bytes({})
    assert empty_tree == b'{"entries":[],"format":1}'
    assert repo.pointer("empty") == {"format": 1, "path": "empty", "hash": b3(empty_tree), "size": 0, "files": 0}


def test_empty_tracked_directory_round_trips_through_checkout(repo, mlx):
    (repo / "empty").mkdir()
    assert mlx("add", "empty").code == 0
    (repo / "empty").rmdir()

    result = mlx("checkout")

    assert result.code == 0, result
    assert (repo / "empty").is_dir()
    assert list((repo / "empty").iterdir()) == []
    assert mlx("status").out == "Everything is up to date (1 tracked path).\n"


def test_empty_subdirectories_are_not_tracked(repo, mlx):
    repo.gen({"data": {"a.csv": CSV, "empty": {}, "sub": {"deeper": {}}}})

    assert mlx("add", "data").code == 0

    assert repo.pointer("data")["hash"] == b3(tree_bytes({"a.csv": CSV}))
    assert mlx("status").out == "Everything is up to date (1 tracked path).\n"  # their presence is no change
    import shutil

    shutil.rmtree(repo / "data")
    assert mlx("checkout").code == 0
    assert repo.listing("data") == ["a.csv"]


def test_executable_bit_is_recorded_and_restored_by_checkout(repo, mlx):
    repo.gen({"run.sh": "#!/bin/sh\necho hi\n", "tools": {"tool": "#!/bin/sh\n", "readme": "r\n"}})
    os.chmod(repo / "run.sh", 0o755)
    os.chmod(repo / "tools" / "tool", 0o755)

    assert mlx("add", "run.sh", "tools").code == 0

    assert repo.pointer("run.sh")["x"] is True
    tree = tree_bytes({"readme": "r\n", "tool": "#!/bin/sh\n"}, executable=frozenset({"tool"}))
    assert repo.pointer("tools")["hash"] == b3(tree)
    (repo / "run.sh").unlink()
    import shutil

    shutil.rmtree(repo / "tools")
    assert mlx("checkout").code == 0
    assert mode_of(repo / "run.sh") == 0o777 & ~umask()
    assert mode_of(repo / "tools" / "tool") == 0o777 & ~umask()
    assert mode_of(repo / "tools" / "readme") == 0o666 & ~umask()


def test_changing_only_the_executable_bit_is_a_modification(repo, mlx):
    repo.gen({"run.sh": "#!/bin/sh\n"}, old=True)
    assert mlx("add", "run.sh").code == 0
    os.chmod(repo / "run.sh", 0o755)

    result = mlx("add", "run.sh")

    assert result.out == "updated   run.sh (10 B) -> run.sh.mlx\n"
    assert repo.pointer("run.sh")["x"] is True


# -- refusals ------------------------------------------------------------------------------------


def test_add_refuses_directory_with_symlink_and_lists_it_and_writes_nothing(repo, mlx, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("secret\n")
    repo.gen({"data": {"a.csv": CSV, "sub": {"b.txt": "b"}}})
    os.symlink(outside, repo / "data" / "sub" / "link")
    os.symlink("a.csv", repo / "data" / "alias")

    result = mlx("add", "data")

    result.expect_error(
        14,
        "'data' contains symbolic links, which mlx does not follow: 'data/alias', 'data/sub/link'",
        hint="replace them with the files they point to, or list them in .mlxignore",
    )
    assert not (repo / "data.mlx").exists()
    assert not (repo / ".gitignore").exists()
    assert repo.objects() == set()


def test_add_directory_with_symlink_listed_in_mlxignore(repo, mlx, tmp_path):
    repo.gen({"data": {"a.csv": CSV, ".mlxignore": "link\n"}})
    os.symlink(tmp_path, repo / "data" / "link")

    assert mlx("add", "data").code == 0

    assert repo.pointer("data")["files"] == 2


def test_add_refuses_a_symlink(repo, mlx, tmp_path):
    (tmp_path / "outside.txt").write_text("secret\n")
    os.symlink(tmp_path / "outside.txt", repo / "link.txt")

    result = mlx("add", "link.txt")

    result.expect_error(
        14,
        "'link.txt' contains symbolic links, which mlx does not follow: 'link.txt'",
        hint="replace them with the files they point to, or list them in .mlxignore",
    )
    assert not (repo / "link.txt.mlx").exists()
    assert repo.objects() == set()


def test_add_refuses_a_path_below_a_symlinked_directory(repo, mlx, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.csv").write_text(CSV)
    os.symlink(elsewhere, repo / "data")

    result = mlx("add", "data/a.csv")

    result.expect_error(
        14,
        "unsafe path 'data/a.csv': 'data' is a symbolic link",
        hint="mlx never reads or writes through symbolic links inside the repository",
    )
    assert sorted(p.name for p in elsewhere.iterdir()) == ["a.csv"]


def test_add_refuses_a_path_inside_a_tracked_directory(repo, mlx):
    repo.gen({"data": {"a.csv": CSV}})
    assert mlx("add", "data").code == 0

    result = mlx("add", "data/a.csv")

    result.expect_error(2, "'data/a.csv' is inside the tracked directory 'data'", hint="add the whole directory: 'mlx add data'")
    assert not (repo / "data/a.csv.mlx").exists()


def test_add_refuses_a_directory_that_contains_pointer_files(repo, mlx):
    repo.gen({"data": {"raw": {"a.csv": CSV}, "b.csv": "b"}})
    assert mlx("add", "data/raw").code == 0

    result = mlx("add", "data")

    result.expect_error(
        2, "'data' contains tracked paths ('data/raw.mlx')", hint="stop tracking them first: 'mlx remove data/raw.mlx'"
    )
    assert not (repo / "data.mlx").exists()


@pytest.mark.parametrize(
    ("mlxignore", "pointer"), [("", "sub/deep/x.csv.mlx"), ("*.mlx\n", "x.csv.mlx"), ("sub/\n", "sub/deep/x.csv.mlx")]
)
def test_add_refuses_a_directory_with_a_pointer_file_before_storing_anything_ignored_or_not(repo, mlx, mlxignore, pointer):
    repo.gen({"data": {"a.csv": CSV, ".mlxignore": mlxignore, "sub": {"deep": {"b.csv": "b"}}}})
    (repo / "data" / pointer).write_text("not read: the name is enough\n")

    result = mlx("add", "data/")

    result.expect_error(
        2, f"'data/' contains tracked paths ('data/{pointer}')", hint=f"stop tracking them first: 'mlx remove data/{pointer}'"
    )
    assert not (repo / "data.mlx").exists()
    assert not (repo / ".gitignore").exists()
    assert repo.objects() == set()


def test_add_refuses_a_large_directory_with_a_pointer_file_deep_in_it(repo, mlx):
    # 4,100 files: most of the tree is listed by the scan's worker processes
    repo.gen({"data": {**tree_of(41, 100), "d40": {**tree_of(41, 100)["d40"], "sub": {"y.csv.mlx": ""}}}})

    result = mlx("add", "data", "--json")

    result.expect_error(
        2,
        "'data' contains tracked paths ('data/d40/sub/y.csv.mlx')",
        hint="stop tracking them first: 'mlx remove data/d40/sub/y.csv.mlx'",
    )
    assert not (repo / "data.mlx").exists()
    assert repo.objects() == set()


def test_add_of_several_paths_publishes_nothing_when_one_contains_pointer_files(repo, mlx):
    repo.gen({"a.csv": CSV, "data": {"b.csv": "b", "c.csv.mlx": ""}})

    result = mlx("add", "a.csv", "data")

    result.expect_error(
        2, "'data' contains tracked paths ('data/c.csv.mlx')", hint="stop tracking them first: 'mlx remove data/c.csv.mlx'"
    )
    assert not (repo / "a.csv.mlx").exists()
    assert not (repo / "data.mlx").exists()
    assert not (repo / ".gitignore").exists()


def test_add_does_not_refuse_a_directory_for_a_nested_repositorys_pointer_files(repo, mlx):
    repo.gen({"data": {"a.csv": CSV, "inner": {".mlx": {}, "b.csv.mlx": "theirs\n"}}})

    result = mlx("add", "data")

    assert result.code == 0, result
    assert (repo / "data.mlx").is_file()


@pytest.mark.parametrize("where", ["../outside.txt", "ABS"])
def test_add_refuses_paths_outside_the_repository(repo, mlx, tmp_path, where):
    (tmp_path / "outside.txt").write_text("x")
    given = str(tmp_path / "outside.txt") if where == "ABS" else where

    result = mlx("add", given)

    result.expect_error(
        14,
        f"'{given}' is outside the repository at '{repo.path.resolve()}'",
        hint="mlx only tracks paths inside the repository",
    )
    assert repo.objects() == set()


@pytest.mark.parametrize(
    ("given", "reason"),
    [(".mlx/config.yaml", "the path has the reserved name '.mlx'"), (".git/config", "the path has the reserved name '.git'")],
)
def test_add_refuses_reserved_paths(repo, mlx, given, reason):
    result = mlx("add", given)

    result.expect_error(14, f"unsafe path '{given}': {reason}")


def test_add_refuses_a_pointer_file(repo, mlx):
    repo.gen({"a.csv": CSV})
    assert mlx("add", "a.csv").code == 0

    result = mlx("add", "a.csv.mlx")

    result.expect_error(2, "'a.csv.mlx' is a pointer file", hint="add the data it tracks: 'mlx add a.csv'")


def test_add_refuses_a_missing_path(repo, mlx):
    mlx("add", "nope.csv").expect_error(2, "'nope.csv' does not exist")


def test_add_refuses_the_same_path_twice(repo, mlx):
    repo.gen({"a.csv": CSV})

    mlx("add", "a.csv", "./a.csv").expect_error(2, "'a.csv' is named twice")
    assert not (repo / "a.csv.mlx").exists()


def test_add_in_a_no_git_repository_writes_no_gitignore(tmp_path, mlx):
    assert mlx("init", "--no-git", cwd=tmp_path).code == 0
    (tmp_path / "a.csv").write_text(CSV)

    result = mlx("add", "a.csv", cwd=tmp_path)

    assert result.code == 0, result
    assert (tmp_path / "a.csv.mlx").is_file()
    assert not (tmp_path / ".gitignore").exists()
    assert result.err == "next: git add a.csv.mlx\n"


def test_add_refuses_a_name_that_is_not_utf8_naming_it(repo, mlx):
    (repo / "data").mkdir()
    (repo / "data" / b"bad\xff".decode("utf-8", "surrogateescape")).write_text("x")

    mlx("add", "data").expect_error(
        14, "cannot track 'data/bad\ufffd': the path is not valid UTF-8", hint="rename it, or list it in .mlxignore"
    )
    assert not (repo / "data.mlx").exists()


# -- adding again ----------------------------------------------------------------------------------

def tree_of(dirs: int, files: int) -> dict[str, dict[str, str]]:
    return {f"d{d:02}": {f"f{f:03}.csv": f"{d} {f}\n" for f in range(files)} for d in range(dirs)}


def test_re_add_after_one_edit_among_many_directories_stores_that_file_and_the_tree(repo, mlx):
    repo.gen({"data": tree_of(6, 3)}, old=True)
    assert mlx("add", "data").code == 0
    repo.gen({"data": {"d04": {"f002.csv": "edited\n"}}}, old=True)

    result = mlx("add", "data", "--json")

    assert result.code == 0, result
    assert result.json["paths"][0]["change"] == "updated"
    assert result.json["counters"] == {"files_hashed": 1, "files_from_state": 17, "objects_written": 1, "objects_skipped": 17}
    assert b3("edited\n")[7:] in repo.objects()
    assert mlx("status", "--exit-code").code == 0
    assert mlx("add", "data", "--json").json["counters"]["objects_skipped"] == 18


def test_re_add_stores_again_an_object_deleted_by_hand(repo, mlx):
    # Deleting an object moves the cache's generation: the records no longer vouch for the objects,
    # so each is looked for, and the missing one is stored again from the workspace.
    repo.gen({"data": tree_of(3, 2)}, old=True)
    assert mlx("add", "data").code == 0
    repo.object_path(b3("1 0\n")).unlink()

    result = mlx("add", "data", "--json")

    assert result.code == 0, result
    assert result.json["paths"][0]["change"] == "unchanged"
    assert result.json["counters"]["objects_written"] == 1
    assert repo.object_path(b3("1 0\n")).read_bytes() == b"1 0\n"
    assert mlx("add", "data", "--json").json["counters"]["objects_written"] == 0


def test_re_add_refuses_a_new_unsafe_name_before_storing_anything(repo, mlx):
    repo.gen({"data": tree_of(3, 2)}, old=True)
    assert mlx("add", "data").code == 0
    before = repo.objects()
    repo.gen({"data": {"d00": {"new.csv": "new\n"}, "d02": {"back\\slash": "b\n"}}})

    mlx("add", "data").expect_error(
        14, "cannot track 'data/d02/back\\slash': the path contains a backslash", hint="rename it, or list it in .mlxignore"
    )
    assert repo.objects() == before


def test_re_add_refuses_a_new_symlink_before_storing_anything(repo, mlx, tmp_path):
    repo.gen({"data": tree_of(3, 2)}, old=True)
    assert mlx("add", "data").code == 0
    before = repo.objects()
    repo.gen({"data": {"d00": {"new.csv": "new\n"}}})
    os.symlink(tmp_path, repo / "data" / "d01" / "link")

    mlx("add", "data").expect_error(
        14,
        "'data' contains symbolic links, which mlx does not follow: 'data/d01/link'",
        hint="replace them with the files they point to, or list them in .mlxignore",
    )
    assert repo.objects() == before


def test_add_of_the_repository_itself_says_so(repo, mlx):
    mlx("add", ".").expect_error(14, "'.' is the repository itself", "name the files or directories inside it")


@pytest.mark.parametrize("order", [("data", "data/x"), ("data/x", "data")])
def test_add_refuses_a_target_inside_another_target(repo, mlx, order):
    repo.gen({"data": {"x": "1\n", "y": "2\n"}})

    result = mlx("add", *order)

    result.expect_error(
        2, "'data/x' is inside 'data', which is also being added", hint="add the whole directory alone: 'mlx add data'"
    )
    assert repo.listing() == ["data/", "data/x", "data/y"]
    assert repo.objects() == set()


# -- ordinary bad input: a one-line error or a warning, never an internal error ------------------


def test_add_keeps_a_gitignore_that_is_not_utf8_byte_for_byte(repo, mlx):
    repo.gen({"s": {"x": "1\n", ".gitignore": b"caf\xe9\n"}})

    result = mlx("add", "s/x")

    assert result.code == 0, result
    assert (repo / "s/.gitignore").read_bytes() == b"caf\xe9\n/x\n"
    assert is_git_ignored(repo.path, "s/x")


def test_add_keeps_the_crlf_line_endings_of_a_gitignore(repo, mlx):
    repo.gen({"x": "1\n", ".gitignore": b"*.pyc\r\n"})

    assert mlx("add", "x").code == 0
    assert mlx("add", "x").code == 0

    assert (repo / ".gitignore").read_bytes() == b"*.pyc\r\n/x\r\n"
    assert is_git_ignored(repo.path, "x")


def test_add_refuses_an_unreadable_gitignore_before_writing_the_pointer(repo):
    repo.gen({"s": {"x": "1\n", ".gitignore": "*.pyc\n"}})
    os.chmod(repo / "s/.gitignore", 0)

    result = run_as_a_user(repo.path, "add", "s/x")

    result.expect_error(3, "cannot read 's/.gitignore': Permission denied", hint="make it a readable file")
    assert not (repo / "s/x.mlx").exists()


def test_add_refuses_an_mlxignore_that_is_a_directory(repo, mlx):
    repo.gen({"d": {"f": "1\n", ".mlxignore": {}}})

    result = mlx("add", "d")

    result.expect_error(12, "invalid file 'd/.mlxignore': a directory, not a file")
    assert not (repo / "d.mlx").exists()


def test_add_carries_on_without_a_state_db_that_is_a_directory(repo, mlx):
    repo.gen({"d": {"f": "1\n"}})
    (repo / ".mlx/state.db").mkdir()

    result = mlx("add", "d")

    assert result.code == 0, result
    assert result.err_lines[0] == (
        "warning: the stat cache 'state.db' is unreadable (unable to open database file) and 'state.db' "
        "cannot be removed (Is a directory): every file is hashed"
    )
    assert repo.pointer("d")["files"] == 1


def test_add_refuses_an_unreadable_file_inside_a_directory(repo):
    repo.gen({"d": {"f": "1\n", "g": "2\n"}})
    os.chmod(repo / "d/f", 0)

    result = run_as_a_user(repo.path, "add", "d")

    result.expect_error(3, "cannot read 'd/f': Permission denied", hint="give yourself read access to it, or list it in .mlxignore")
    assert not (repo / "d.mlx").exists()


@pytest.mark.parametrize("mode", [0, 0o600])  # neither listed nor searched; listed, not searched
def test_add_refuses_an_unreadable_directory_inside_a_directory(repo, mode):
    repo.gen({"d": {"f": "1\n", "sub": {"g": "2\n"}}})
    os.chmod(repo / "d/sub", mode)

    result = run_as_a_user(repo.path, "add", "d")

    shown = "d/sub" if mode == 0 else "d/sub/g"
    result.expect_error(3, f"cannot read '{shown}': Permission denied", hint="give yourself read access to it, or list it in .mlxignore")
    assert not (repo / "d.mlx").exists()
    os.chmod(repo / "d/sub", 0o755)


def test_add_honours_a_negated_directory_pattern_after_a_star_as_git_does(repo, mlx):
    repo.gen({"d": {"keep.csv": "1\n", "sub": {"keep.csv": "2\n", "junk.bin": "3\n"}, ".mlxignore": "*\n!*/\n!*.csv\n"}})

    result = mlx("add", "d")

    assert result.code == 0, result
    entries = json.loads(repo.object_path(repo.pointer("d")["hash"]).read_bytes())["entries"]
    assert [entry["path"] for entry in entries] == ["keep.csv", "sub/keep.csv"]


def test_add_refuses_a_name_ending_in_a_carriage_return_before_writing_anything(repo, mlx):
    repo.gen({"model\r": "data\n", "model": "unrelated\n"})

    result = mlx("add", "model\r")

    result.expect_error(14, "cannot keep 'model\\r' out of git: .gitignore cannot name a file that ends in a carriage return")
    assert repo.listing() == ["model", "model\r"]
    assert repo.objects() == set()


def test_add_refuses_a_gitignore_file(repo, mlx):
    repo.gen({"s": {".gitignore": "*.pyc\n"}})

    mlx("add", "s/.gitignore").expect_error(2, "'s/.gitignore' is git's own ignore file", hint="commit it to git; mlx tracks data")
    assert (repo / "s/.gitignore").read_text() == "*.pyc\n"
    assert not (repo / "s/.gitignore.mlx").exists()


def test_add_of_many_files_names_their_pointers_by_folder_in_its_next_step(repo, mlx):
    repo.gen({"data": {f"f{i:02}.csv": f"{i}\n" for i in range(12)}, "top.csv": "t\n"})

    result = mlx("add", *[f"data/f{i:02}.csv" for i in range(12)], "top.csv")

    assert result.code == 0, result
    assert result.err_lines[-1] == "next: git add data/*.mlx *.mlx data/.gitignore .gitignore"


def test_add_into_a_cache_it_cannot_write_names_the_cache_not_the_data(repo):
    repo.gen({"d": {"f": "1\n"}})
    objects = repo.cache / "objects"
    objects.mkdir(parents=True, exist_ok=True)
    objects.chmod(0o555)

    result = run_as_a_user(repo.path, "add", "d")

    assert result.code == 3, result
    assert result.err_lines[0].startswith("mlx: permission denied: '.mlx/cache/objects/"), result  # not "cannot read"
    assert not (repo / "d.mlx").exists()
