"""mlx fsck: re-hashes every object; reports corrupt, truncated and missing ones; --repair
quarantines them in .mlx/cache/bad/ so that re-adding (or fetching) replaces them."""

from __future__ import annotations

import os

import pytest

from tests.conftest import clone

from ._helpers import b3, make_writable

MODEL = "model weights\n"


@pytest.fixture
def tracked(repo, mlx):
    repo.gen({"data": {"a.csv": "aaaa\n"}, "model.bin": MODEL}, old=True)
    assert mlx("add", "data", "model.bin").code == 0
    return repo


def corrupt(path) -> None:
    make_writable(path)
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    path.write_bytes(bytes(data))


def test_fsck_clean(tracked, mlx):
    size = sum(os.path.getsize(tracked.object_path(h)) for h in tracked.objects())

    result = mlx("fsck")

    assert (result.code, result.out, result.err) == (0, f"Checked 3 objects ({size} B): no problems.\n", "")


def test_fsck_reports_a_flipped_byte_as_corrupt(tracked, mlx):
    digest = b3(MODEL)
    corrupt(tracked.object_path(digest))

    result = mlx("fsck")

    result.expect_error(21, "corrupt objects in the cache", hint="run 'mlx fsck --repair', then re-add the data")
    assert result.out.splitlines()[0] == f"corrupt: {digest} objects/{digest[7:9]}/{digest[9:]} 14 bytes"
    assert result.out.splitlines()[-1].endswith(": 1 problem.")


def test_fsck_reports_a_truncated_object(tracked, mlx):
    digest = b3("aaaa\n")
    path = tracked.object_path(digest)
    make_writable(path)
    os.truncate(path, 2)

    result = mlx("fsck", "--json")

    assert result.code == 21, result
    assert result.json["problems"] == [
        {"kind": "truncated", "object": digest, "where": f"objects/{digest[7:9]}/{digest[9:]}", "detail": "2 bytes"}
    ]
    assert result.json["is_clean"] is False


def test_fsck_repair_quarantines_bad_objects_and_re_adding_restores_them(tracked, mlx):
    bad_file, bad_member = b3(MODEL), b3("aaaa\n")
    corrupt(tracked.object_path(bad_file))
    corrupt(tracked.object_path(bad_member))

    repaired = mlx("fsck", "--repair")

    assert repaired.code == 0, repaired
    assert f"moved to cache/bad/: {bad_file}" in repaired.out.splitlines()
    assert sorted(p.name for p in (tracked.cache / "bad").iterdir()) == sorted([bad_file[7:], bad_member[7:]])
    assert bad_file[7:] not in tracked.objects()
    assert mlx("fsck").code == 20  # now missing, named by the pointers

    readd = mlx("add", "data", "model.bin")

    assert readd.code == 0, readd
    assert tracked.object_path(bad_file).read_text() == MODEL
    assert tracked.object_path(bad_member).read_text() == "aaaa\n"
    assert mlx("fsck").code == 0


def test_fsck_reports_missing_objects(tracked, mlx):
    digest = b3(MODEL)
    tracked.object_path(digest).unlink()

    result = mlx("fsck")

    result.expect_error(
        20, "objects named by pointer files or mlx.lock are missing",
        hint="fetch them ('mlx fetch'), re-add the data ('mlx add'), or run the stage that writes it again",
    )
    assert f"missing: {digest} model.bin.mlx" in result.out.splitlines()


def test_fsck_reports_leftover_temp_files_as_garbage_not_errors(tracked, mlx):
    digest = b3(MODEL)
    leftover = tracked.object_path(digest).parent / ".mlx-tmp-0123456789abcdef"
    leftover.write_bytes(b"half an obj")

    result = mlx("fsck")

    assert result.code == 0, result
    assert f"garbage: objects/{digest[7:9]}/.mlx-tmp-0123456789abcdef" in result.out.splitlines()
    assert result.out.splitlines()[-1].endswith("no problems.")
    assert leftover.exists()

    repaired = mlx("fsck", "--repair")

    assert f"garbage: objects/{digest[7:9]}/.mlx-tmp-0123456789abcdef (removed)" in repaired.out.splitlines()
    assert not leftover.exists()


def test_fsck_reports_an_invalid_pointer(tracked, mlx):
    tracked.gen({"bad.mlx": "format: 1\npath: [\n"})

    result = mlx("fsck", "--json")

    assert result.code == 1, result
    assert result.json["problems"] == [
        {"kind": "invalid pointer", "object": None, "where": "bad.mlx",
         "detail": "line 3: did not find expected node content"}
    ]


def test_add_after_repair_stores_the_quarantined_object_again(tracked, mlx):
    digest = b3("aaaa\n")
    corrupt(tracked.object_path(digest))
    assert mlx("fsck", "--repair").code == 0
    assert mlx("status").code == 0  # records the directory's fingerprint again

    result = mlx("add", "data", "--json")

    assert result.code == 0, result
    assert result.json["counters"]["objects_written"] == 1
    assert tracked.object_path(digest).read_bytes() == b"aaaa\n"
    assert mlx("fsck").code == 0


def test_status_notices_an_object_deleted_by_hand(tracked, mlx):
    assert mlx("status", "--exit-code").code == 0
    path = tracked.object_path(b3("aaaa\n"))
    os.unlink(path)

    result = mlx("status", "--exit-code")

    assert result.code == 1, result
    assert result.out == "not in cache: data\n    1 object not in the cache\n"


def test_fsck_checks_the_objects_of_the_outputs_in_mlx_lock(repo):
    from tests.conftest import run_subprocess

    from ._helpers import b3

    repo.gen({"mlx.yaml": "stages:\n  train:\n    cmd: mkdir -p out && echo weights > model.bin && echo a > out/a\n"
                          "    outs: [model.bin, out]\n"})
    assert run_subprocess(("run",), repo.path).code == 0
    assert run_subprocess(("fsck",), repo.path).out == "Checked 3 objects (137 B): no problems.\n"
    weights, a = b3("weights\n"), b3("a\n")
    repo.object_path(weights).unlink()
    repo.object_path(a).unlink()

    result = run_subprocess(("fsck",), repo.path)

    assert result.code == 20, result
    assert result.out.splitlines() == [
        f"missing: {weights} model.bin (mlx.lock)",
        f"missing: {a} out/a",
        "Checked 1 object (127 B): 2 problems.",
    ]


def test_fsck_reports_a_lockfile_the_pipeline_refuses(repo):
    from tests.conftest import run_subprocess

    repo.gen({"mlx.lock": "format: 1\nstages:\n  train:\n    cmd: x\n    out: []\n"})

    result = run_subprocess(("fsck",), repo.path)

    assert result.code == 1, result
    assert result.out.splitlines()[0] == "invalid lockfile: mlx.lock line 5: at 'stages.train': unknown key 'out'"


def test_a_fresh_clone_without_a_cache_yet_says_what_is_missing_instead_of_refusing_the_cache(tracked, mlx, tmp_path):
    """mlx makes the cache with its first object: a clone has none until its first fetch or add."""
    tracked.commit("data")
    copy = clone(tracked, tmp_path)
    assert not (copy / ".mlx/cache").exists()

    checked = mlx("fsck", cwd=copy.path)
    collected = mlx("gc", "--dry-run", cwd=copy.path)

    checked.expect_error(
        20, "objects named by pointer files or mlx.lock are missing",
        hint="fetch them ('mlx fetch'), re-add the data ('mlx add'), or run the stage that writes it again",
    )
    assert f"missing: {b3(MODEL)} model.bin.mlx" in checked.out.splitlines()
    collected.expect_error(  # fails closed, as gc does for any tracked directory whose tree is not in the cache
        12,
        f"the tree {tracked.pointer('data')['hash'][7:19]} named by 'data.mlx' is not in the cache, so its files "
        "cannot be told apart from garbage: nothing was deleted",
        hint="fetch it ('mlx fetch'), re-add the directory ('mlx add'), or stop tracking it ('mlx remove')",
    )
    assert not (copy / ".mlx/cache").exists()


def test_a_dangling_link_in_place_of_the_cache_is_still_refused(tracked, mlx, tmp_path):
    cache = tracked / ".mlx/cache"
    cache.rename(tmp_path / "moved")
    cache.symlink_to(tmp_path / "nowhere")

    for command in ("fsck", "gc"):
        result = mlx(command)
        assert result.code == 13, result
        assert "has no mlx-store.json: it is not an mlx cache" in result.err, result
