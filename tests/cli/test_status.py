"""mlx status: what differs from the pointer files; exit 0 unless --exit-code; stats, not hashes."""

from __future__ import annotations

import os
import shutil
import time

import pytest

from tests.conftest import run_as_a_user, run_subprocess

from ._helpers import b3

CSV = "x,y\n1,2\n"


@pytest.fixture
def tracked(repo, mlx):
    """A tracked file and a tracked directory, backdated so that the stat cache trusts them."""
    repo.gen({"a.csv": CSV, "data": {"a.csv": "a\n", "b.csv": "b\n", "c.csv": "c\n"}}, old=True)
    result = mlx("add", "a.csv", "data")
    assert result.code == 0, result
    return repo


def test_status_clean_is_one_line(tracked, mlx):
    result = mlx("status")

    assert (result.code, result.out, result.err) == (0, "Everything is up to date (2 tracked paths).\n", "")


def test_status_with_nothing_tracked(repo, mlx):
    assert mlx("status").out == "Everything is up to date (0 tracked paths).\n"


def test_status_lists_modified_missing_and_files_inside_directories(tracked, mlx):
    (tracked / "a.csv").unlink()
    tracked.gen({"data": {"a.csv": "changed\n", "new.csv": "new\n"}})
    (tracked / "data" / "b.csv").unlink()

    result = mlx("status")

    assert result.code == 0, result
    assert result.out == (
        "missing: a.csv\n"
        "modified: data\n"
        "    added: data/new.csv\n"
        "    modified: data/a.csv\n"
        "    deleted: data/b.csv\n"
    )


def test_status_json_lists_changes(tracked, mlx):
    tracked.gen({"a.csv": CSV + "3,4\n", "data": {"d.csv": "d\n"}})

    report = mlx("status", "--json").json

    assert report["is_clean"] is False
    assert report["tracked"] == 2
    assert [(p["path"], p["pointer"], p["changes"]) for p in report["paths"]] == [
        ("a.csv", "a.csv.mlx", ["modified"]),
        ("data", "data.mlx", ["modified"]),
    ]
    assert report["paths"][1]["added"] == ["d.csv"]
    assert report["paths"][1]["missing_objects"] == 0


def test_status_reports_objects_not_in_cache(tracked, mlx):
    obj = tracked.object_path(b3(CSV))
    obj.unlink()

    result = mlx("status")

    assert result.out == "not in cache: a.csv\n    1 object not in the cache\n"
    assert mlx("status", "--json").json["paths"][0]["changes"] == ["not in cache"]


def test_status_reports_a_directory_whose_tree_is_not_in_cache(tracked, mlx):
    tracked.object_path(tracked.pointer("data")["hash"]).unlink()
    shutil.rmtree(tracked / "data")

    result = mlx("status", "data")

    # the tree and the three files it would name
    assert result.out == "missing, not in cache: data\n    4 objects not in the cache\n"


def test_status_of_a_file_pointer_that_claims_to_be_a_directory_says_which_line_is_wrong(tracked, mlx):
    with open(tracked / "a.csv.mlx", "a", encoding="utf-8") as pointer:
        pointer.write("files: 1\n")

    result = mlx("status", "a.csv")

    assert result.code == 12, result
    assert result.err_lines[0].startswith(f"mlx: invalid file 'tree {tracked.pointer('a.csv')['hash'][7:19]}': not a JSON tree object")
    assert result.err_lines[1] == (
        "hint: 'a.csv' is recorded as a directory (a 'files:' line in its pointer or in mlx.lock), but its object is a file"
    )


def test_status_exit_code_is_1_only_when_dirty(tracked, mlx):
    assert mlx("status", "--exit-code").code == 0
    tracked.gen({"data": {"a.csv": "edited\n"}})

    assert mlx("status").code == 0
    assert mlx("status", "--exit-code").code == 1
    assert mlx("status", "--exit-code", "a.csv").code == 0


def test_second_status_on_unchanged_files_hashes_nothing(tracked, mlx):
    first = mlx("status", "--json").json
    second = mlx("status", "--json").json

    assert first["is_clean"] and second["is_clean"]
    assert second["counters"] == {"files_hashed": 0, "files_from_state": 4, "objects_written": 0, "objects_skipped": 0}


def test_status_after_one_edit_hashes_only_that_file(tracked, mlx):
    tracked.gen({"data": {"b.csv": "B\n"}}, old=True)

    report = mlx("status", "--json").json

    assert report["counters"]["files_hashed"] == 1
    assert report["counters"]["files_from_state"] == 3
    assert report["paths"][0]["modified"] == ["b.csv"]


def just_written(path) -> None:
    """Give `path` the mtime of a file written as it is being recorded. (Slightly in the future, so
    that a busy machine's slow `add` cannot make it old enough to be trusted; the sub-millisecond
    part makes it a fine timestamp, whose window is 100 ms.)"""
    when = time.time_ns() + 500_000_123
    os.utime(path, ns=(when, when))


@pytest.mark.parametrize("where", ["a.csv", "data/sub/a.csv"], ids=["file", "in a directory"])
def test_status_rehashes_files_written_within_the_racy_window(repo, mlx, where):
    # A same-size edit that keeps the mtime (as within one clock tick) is invisible to stat; it is
    # caught because the stat cache does not trust a file recorded so soon after it was written.
    repo.gen({"data": {"b.csv": "b\n", "sub": {}}}, old=True)
    path = repo / where
    path.write_text(CSV)
    just_written(path)
    assert mlx("add", where.split("/")[0]).code == 0
    before = os.stat(path)
    path.write_text(CSV.replace("1", "9"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))

    result = mlx("status", "--json")

    assert result.json["paths"][0]["changes"] == ["modified"]
    assert result.json["counters"]["files_hashed"] == 1


@pytest.mark.parametrize("where", ["a.csv", "data/sub/a.csv"], ids=["file", "in a directory"])
def test_status_sees_an_edit_whose_mtime_was_set_back(repo, mlx, where):
    # `cp -p` onto an existing file, `touch -r` or a sync tool can give an edited file of the same
    # size its old mtime (and it keeps its inode); only the ctime, which the kernel sets, tells.
    repo.gen({"data": {"b.csv": "b\n", "sub": {}}, where: CSV}, old=True)
    assert mlx("add", where.split("/")[0]).code == 0
    path = repo / where
    before = os.stat(path)
    path.write_text(CSV.replace("1", "9"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(path)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)

    result = mlx("status", "--json")

    assert result.json["paths"][0]["changes"] == ["modified"]
    assert result.json["counters"]["files_hashed"] == 1
    top = where.split("/")[0]
    mlx("checkout", top).expect_error(
        15,
        f"refusing to overwrite '{where}': its content is not in the cache",
        hint=f"run 'mlx add {top}' to keep it, or pass --force to discard it",
    )
    assert path.read_text() == CSV.replace("1", "9")


def test_status_of_named_targets_only(tracked, mlx):
    tracked.gen({"a.csv": "edited\n"})

    assert mlx("status", "data").out == "Everything is up to date (1 tracked path).\n"
    assert mlx("status", "a.csv.mlx").out == "modified: a.csv\n"
    assert mlx("status", "a.csv", cwd=tracked.path).out == "modified: a.csv\n"


def test_status_of_a_folder_holding_pointers(tracked, mlx):
    tracked.gen({"models": {"m1.bin": "1", "m2.bin": "2"}})
    assert mlx("add", "models/m1.bin", "models/m2.bin").code == 0

    assert mlx("status", "models").out == "Everything is up to date (2 tracked paths).\n"
    assert mlx("status", ".", cwd=tracked / "models").out == "Everything is up to date (2 tracked paths).\n"


def test_status_of_an_untracked_path_is_a_usage_error(tracked, mlx):
    mlx("status", "nope").expect_error(2, "'nope' is not tracked by mlx", hint="run 'mlx add nope' to track it")


def test_status_reports_symlinks_inside_a_tracked_directory_without_following_them(tracked, mlx, tmp_path):
    os.symlink(tmp_path, tracked / "data" / "link")

    result = mlx("status", "data")

    assert result.code == 0, result
    assert result.out == "modified: data (symbolic links: 'data/link')\n"


# -- bad pointer files ---------------------------------------------------------------------------

H = b3(CSV)

BAD_POINTERS = [
    ("syntax", "format: 1\npath: a.csv\nhash: [oops\nsize: 8\n", 12,
     "invalid file 'a.csv.mlx:4': did not find expected ',' or ']'"),
    ("duplicate key", f"format: 1\npath: a.csv\nhash: {H}\nhash: {H}\nsize: 8\n", 12,
     "invalid file 'a.csv.mlx:4': duplicate key 'hash'"),
    ("anchor", f"format: 1\npath: &p a.csv\nhash: {H}\nsize: 8\n", 12,
     "invalid file 'a.csv.mlx:2': anchors ('&name') are not allowed"),
    ("python tag", "format: 1\npath: a.csv\nhash: !!python/object/apply:os.system [ls]\nsize: 8\n", 12,
     "invalid file 'a.csv.mlx:3': tags ('tag:yaml.org,2002:python/object/apply:os.system') are not allowed"),
    ("missing key", "format: 1\npath: a.csv\nsize: 8\n", 12,
     "invalid file 'a.csv.mlx:1': at 'the top level': 'hash' is required"),
    ("negative size", f"format: 1\npath: a.csv\nhash: {H}\nsize: -3\n", 12,
     "invalid file 'a.csv.mlx:4': at 'size': -3 is less than the minimum of 0"),
    ("md5", "format: 1\npath: a.csv\nhash: md5:d41d8cd98f00b204e9800998ecf8427e\nsize: 8\n", 12,
     "invalid file 'a.csv.mlx:3': 'md5:d41d8cd98f00b204e9800998ecf8427e' is not a hash of the form "
     "'blake3:<64 lowercase hex digits>'"),
    ("short hex", f"format: 1\npath: a.csv\nhash: {H[:-1]}\nsize: 8\n", 12,
     f"invalid file 'a.csv.mlx:3': '{H[:-1]}' is not a hash of the form 'blake3:<64 lowercase hex digits>'"),
    ("upper hex", f"format: 1\npath: a.csv\nhash: {H.upper()}\nsize: 8\n", 12,
     f"invalid file 'a.csv.mlx:3': '{H.upper()}' is not a hash of the form 'blake3:<64 lowercase hex digits>'"),
    ("traversal hash", "format: 1\npath: a.csv\nhash: blake3:../../../../etc/passwd\nsize: 8\n", 12,
     "invalid file 'a.csv.mlx:3': 'blake3:../../../../etc/passwd' is not a hash of the form "
     "'blake3:<64 lowercase hex digits>'"),
    ("dotdot", f"format: 1\npath: ..\nhash: {H}\nsize: 8\n", 14,
     "unsafe path in 'a.csv.mlx:2': the path has a '..' component"),
    ("dotdot slash", f"format: 1\npath: ../x\nhash: {H}\nsize: 8\n", 14, None),
    ("dot git", f"format: 1\npath: .git\nhash: {H}\nsize: 8\n", 14,
     "unsafe path in 'a.csv.mlx:2': the path has the reserved name '.git'"),
    ("absolute", f"format: 1\npath: /etc/passwd\nhash: {H}\nsize: 8\n", 14, None),
    ("tilde", f"format: 1\npath: ~root\nhash: {H}\nsize: 8\n", 14,
     "unsafe path in 'a.csv.mlx:2': the path starts with '~'"),
    ("dot mlx", f"format: 1\npath: .MLX\nhash: {H}\nsize: 8\n", 14,
     "unsafe path in 'a.csv.mlx:2': the path has the reserved name '.MLX'"),
    ("slash", f"format: 1\npath: sub/a.csv\nhash: {H}\nsize: 8\n", 14,
     "unsafe path in 'a.csv.mlx:2': a pointer names a file in its own directory"),
]


@pytest.mark.parametrize(("text", "code", "message"), [case[1:] for case in BAD_POINTERS], ids=[c[0] for c in BAD_POINTERS])
def test_status_refuses_a_bad_pointer_with_one_line_naming_file_and_line(repo, mlx, text, code, message):
    repo.gen({"a.csv": CSV, "a.csv.mlx": text})

    result = mlx("status")

    if message is None:  # the reason given may vary; the refusal, the file and the line may not
        assert (result.code, len(result.err_lines)) == (code, 1), result
        assert result.err.startswith("mlx: unsafe path in 'a.csv.mlx:2': "), result
    else:
        result.expect_error(code, message)


def test_status_refuses_a_pointer_whose_path_does_not_match_its_name(repo, mlx):
    repo.gen({"a.csv.mlx": f"format: 1\npath: b.csv\nhash: {H}\nsize: 8\n"})

    mlx("status").expect_error(
        12,
        "invalid file 'a.csv.mlx:2': 'path' is 'b.csv' but the pointer file is named 'a.csv.mlx'",
        hint="rename the pointer to 'b.csv.mlx', or use 'mlx move'",
    )


def test_status_refuses_a_newer_pointer_format(repo, mlx):
    repo.gen({"a.csv.mlx": f"format: 2\npath: a.csv\nhash: {H}\nsize: 8\n"})

    mlx("status").expect_error(13, "'a.csv.mlx' uses pointer format 2, this mlx reads 1", hint="upgrade mlx")


def test_status_bad_pointer_traceback_only_with_verbose(repo, mlx):
    repo.gen({"a.csv.mlx": "format: 1\npath: [\n"})

    quiet = mlx("status")
    verbose = mlx("-v", "status")

    assert quiet.code == verbose.code == 12
    assert "Traceback" not in quiet.err
    assert "Traceback" in verbose.err


def test_status_names_a_zip_archive_that_is_not_a_pointer(repo, mlx):
    (repo / "analysis.mlx").write_bytes(b"PK\x03\x04 a MATLAB Live Script")

    mlx("status").expect_error(
        12, "invalid file 'analysis.mlx': a zip archive, not an mlx pointer file",
        hint="mlx reads every *.mlx file as a pointer: rename this one",
    )


# -- large directories: a scan by groups -----------------------------------------------------------

def tree_of(dirs: int, files: int) -> dict[str, dict[str, str]]:
    return {f"d{d:02}": {f"f{f:03}.csv": f"{d} {f}\n" for f in range(files)} for d in range(dirs)}


def test_status_after_one_edit_among_many_directories_hashes_that_file_only(repo, mlx):
    repo.gen({"data": tree_of(6, 3)}, old=True)
    assert mlx("add", "data").code == 0
    repo.gen({"data": {"d02": {"f001.csv": "edited\n"}}}, old=True)

    first = mlx("status", "--json").json
    second = mlx("status", "--json").json

    assert first["paths"][0]["modified"] == ["d02/f001.csv"]
    assert first["counters"] == {"files_hashed": 1, "files_from_state": 17, "objects_written": 0, "objects_skipped": 0}
    assert second["paths"] == first["paths"]
    assert second["counters"] == {"files_hashed": 0, "files_from_state": 18, "objects_written": 0, "objects_skipped": 0}


def test_status_lists_a_new_directory_and_a_removed_one(repo, mlx):
    repo.gen({"data": tree_of(3, 2)}, old=True)
    assert mlx("add", "data").code == 0
    shutil.rmtree(repo / "data" / "d01")
    repo.gen({"data": {"d09": {"new.csv": "n\n"}}}, old=True)

    entry = mlx("status", "--json").json["paths"][0]

    assert (entry["added"], entry["modified"], entry["deleted"]) == (["d09/new.csv"], [], ["d01/f000.csv", "d01/f001.csv"])


def test_status_of_a_tree_scanned_by_worker_processes_costs_stats_only(repo, mlx):
    # 4,100 files: enough to be shared out to forked workers (mlxkit.parallel).
    repo.gen({"data": tree_of(41, 100)}, old=True)
    assert mlx("add", "data").code == 0

    clean = mlx("status", "--json").json
    repo.gen({"data": {"d40": {"f099.csv": "edited\n"}}}, old=True)
    edited = mlx("status", "--json").json

    assert clean["is_clean"] is True
    assert clean["counters"]["files_hashed"] == 0
    assert clean["counters"]["files_from_state"] == 4100
    assert edited["paths"][0]["modified"] == ["d40/f099.csv"]
    assert edited["counters"]["files_hashed"] == 1


def test_status_without_the_stat_cache_hashes_everything_once_and_is_right(tracked, mlx):
    (tracked / ".mlx" / "state.db").unlink()

    first = mlx("status", "--json").json
    second = mlx("status", "--json").json

    assert first["is_clean"] and second["is_clean"]
    assert first["counters"]["files_hashed"] == 4
    assert second["counters"]["files_hashed"] == 0


def test_status_refuses_an_mlxignore_that_is_a_directory(tracked, mlx):
    (tracked / "data/.mlxignore").mkdir()

    mlx("status").expect_error(12, "invalid file 'data/.mlxignore': a directory, not a file")


def test_status_carries_on_without_a_state_db_that_is_a_directory(tracked, mlx):
    for suffix in ("", "-wal", "-shm"):
        (tracked / f".mlx/state.db{suffix}").unlink(missing_ok=True)
    (tracked / ".mlx/state.db").mkdir()

    result = mlx("status")

    assert result.code == 0, result
    assert result.out == "Everything is up to date (2 tracked paths).\n"
    assert "cannot be removed (Is a directory): every file is hashed" in result.err


def test_status_refuses_an_unreadable_directory_inside_a_tracked_directory(tracked):
    (tracked / "data/sub").mkdir()
    os.chmod(tracked / "data/sub", 0)

    result = run_as_a_user(tracked.path, "status")

    os.chmod(tracked / "data/sub", 0o755)
    result.expect_error(3, "cannot read 'data/sub': Permission denied", hint="give yourself read access to it, or list it in .mlxignore")


def test_status_and_add_notice_an_object_deleted_by_hand_despite_a_future_dated_fanout_directory(tracked, mlx):
    # a cache restored with `cp -a` from a machine whose clock ran ahead
    future = tracked.cache / "objects" / "ff"
    future.mkdir(exist_ok=True)
    os.utime(future, (2_000_000_000, 2_000_000_000))
    assert mlx("status").out == "Everything is up to date (2 tracked paths).\n"  # marks the trees complete
    tracked.object_path(b3("b\n")).unlink()

    assert mlx("status").out == "not in cache: data\n    1 object not in the cache\n"
    added = mlx("add", "data", "--json")
    assert added.json["counters"]["objects_written"] == 1, added
    assert tracked.object_path(b3("b\n")).is_file()


@pytest.mark.parametrize(("key", "line"), [("format", 1), ("size", 4)])
def test_status_names_the_line_of_a_whole_number_written_as_a_float_in_a_pointer(repo, key, line):
    fields = {"format": "1", "path": "f.txt", "hash": "blake3:" + "0" * 64, "size": "3"}
    fields[key] += ".0"
    repo.gen({"f.txt.mlx": "".join(f"{name}: {value}\n" for name, value in fields.items())})

    result = run_subprocess(("status",), repo.path)

    result.expect_error(12, f"invalid file 'f.txt.mlx:{line}': at '{key}': {fields[key]} is not a whole number")
